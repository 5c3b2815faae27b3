"""End to end: `make reproduce-treatment_effects SCALE=tiny` trains, compares, draws, passes its claims;
then, on the same runs, the predictive-variance claims fail when units are ranked at random, and the
heavy-tail robustness claims fail with the public code's fixed precisions (lambda = 1000, beta = 1)
throughout, in place of the default's switch to the evidence and of the evidence variant."""
import pytest

from tests.conftest import reproduce_tiny

VARIANCE_CLAIMS = {"tiny_variance_drop", "heavy_variance_drop"}
ROBUSTNESS_CLAIMS = {"tiny_heavy_evidence_within_2x_tarnet", "tiny_heavy_evidence_floor",
                     "tiny_heavy_median_within_tarnet", "tiny_heavy_median_floor"}


@pytest.mark.slow
def test_reproduce_treatment_effects_tiny(tmp_path):
    summary, stderr = reproduce_tiny("treatment_effects", tmp_path, ["logger=none"])
    assert (tmp_path / "treatment_effects.png").stat().st_size > 10_000
    report = (tmp_path / "report.md").read_text()
    assert "| S-learner (RF, OOB-tuned) |" in report and "heavy-tailed" in report and "median" in report
    assert "replication" in stderr  # the progress bar over replications
    # Mechanism off: the same trained runs (reused: same config and code), units ranked at random.
    off, _ = reproduce_tiny("treatment_effects", tmp_path, ["logger=none"], ["scales.tiny.uncertainty=random"],
                            expect_pass=False)
    verdicts = {c["id"]: c["verdict"] for c in off["claims"]}
    assert all(verdicts[c] == "not reproduced" for c in VARIANCE_CLAIMS), verdicts
    assert verdicts["tiny_out_sqrt_pehe"] == "reproduced"  # only the variance claims depend on the ranking
    assert summary["metrics"]["heavy/dklite/out_sqrt_pehe"] != summary["metrics"]["heavy/variant_fixed_precisions/out_sqrt_pehe"]
    # Mechanism off for the robustness claims: every DKLITE run with the public code's fixed lambda and beta
    # (on the heavy replications the same config as the fixed_precisions variant, so reused, not retrained).
    fixed, _ = reproduce_tiny("treatment_effects", tmp_path, ["logger=none", "model.precisions=fixed"], expect_pass=False)
    verdicts = {c["id"]: c["verdict"] for c in fixed["claims"]}
    assert all(verdicts[c] == "not reproduced" for c in ROBUSTNESS_CLAIMS), verdicts
    metrics = fixed["metrics"]
    assert (metrics["heavy/dklite/out_sqrt_pehe"] == metrics["heavy/variant_evidence/out_sqrt_pehe"]
            == metrics["heavy/variant_fixed_precisions/out_sqrt_pehe"])
