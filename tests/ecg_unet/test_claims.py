"""The tiny claims see what F1 at ±150 ms cannot: a constant shift and swapped QRS boundaries."""
import pytest

from common.claims import NOT_REPRODUCED, REPRODUCED, check_claims, claims_path, load_claims
from papers.ecg_unet.data import MODEL_RATE, generate_records
from papers.ecg_unet.delineation import QRS, DelineationScorer, Wave

TINY = [c for c in load_claims(claims_path("ecg_unet")) if c.scale == "tiny"]


def _score(transform) -> dict[str, float]:
    scorer = DelineationScorer(MODEL_RATE, tolerance_ms=150)
    for record in generate_records(6, seed=0, seconds=6.0, n_leads=1):
        truth = record.waves[0]
        scorer.add(truth, [transform(w) for w in truth], record.spans[0])
    return scorer.metrics(prefix="test/")


def _verdicts(metrics):
    return {v.claim.id: v.status for v in check_claims(TINY, metrics, "tiny") if v.measured is not None}


def test_exact_delineation_reproduces_every_scored_tiny_claim():
    verdicts = _verdicts(_score(lambda w: w))
    assert verdicts and set(verdicts.values()) == {REPRODUCED}


def test_a_constant_60ms_shift_keeps_f1_but_fails_the_bias_claims():
    shift = int(0.060 * MODEL_RATE)
    metrics = _score(lambda w: Wave(w.kind, w.onset + shift, w.offset + shift))
    assert metrics["test/qrs_onset_f1"] == pytest.approx(1.0)  # F1 at ±150 ms cannot see it
    verdicts = _verdicts(metrics)
    for claim in ("tiny_qrs_onset_bias_low", "tiny_qrs_offset_bias_low", "tiny_p_onset_bias", "tiny_t_offset_bias"):
        assert verdicts[claim] == NOT_REPRODUCED, claim


def test_swapped_qrs_onsets_and_offsets_fail_the_bias_claims():
    def swap(wave):
        # The QRS onset reported where the offset is and vice versa (as a wave, sorted back).
        return Wave(QRS, wave.offset, wave.offset + (wave.offset - wave.onset)) if wave.kind == QRS else wave

    metrics = _score(swap)
    assert metrics["test/qrs_onset_f1"] > 0.95 and metrics["test/qrs_offset_f1"] > 0.95
    verdicts = _verdicts(metrics)
    assert verdicts["tiny_qrs_onset_bias_low"] == NOT_REPRODUCED
    assert verdicts["tiny_qrs_offset_bias_low"] == NOT_REPRODUCED


def test_full_claims_carry_both_sets_of_the_papers_numbers():
    full = {c.id: c for c in load_claims(claims_path("ecg_unet")) if c.scale == "full"}
    assert full["t_offset_f1"].paper_value == pytest.approx(0.995)
    assert full["table_t_offset_f1"].paper_value == pytest.approx(0.9921)
    assert full["table_qrs_onset_error_sd"].paper_value == pytest.approx(9.8)
    assert all(c.close_reason for c in full.values() if c.close is not None)
