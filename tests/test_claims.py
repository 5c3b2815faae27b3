import json

import pytest

from common import PROJECT_ROOT, manifest, run
from common.claims import (
    CLOSE,
    NOT_MEASURED,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    check_claims,
    load_claims,
    verdict_table,
)
from common.errors import ConfigError
from common.report import is_stale, results_block, write_report
from tests.conftest import QUICK_ECG

PAPERS_WITH_CLAIMS = sorted(p.parent.name for p in (PROJECT_ROOT / "papers").glob("*/claims.yaml"))


def _claim(**overrides):
    fields = dict(id="c", source="s", metric="m", compare="at_least", scale="tiny", paper_value=0.9)
    return Claim(**{**fields, **overrides})


def test_three_levels_against_the_papers_value():
    claim = _claim(close=0.02, close_reason="fewer records")
    assert claim.judge(0.9) == REPRODUCED and claim.judge(0.95) == REPRODUCED
    assert claim.judge(0.885) == CLOSE and claim.judge(0.88) == CLOSE
    assert claim.judge(0.879) == NOT_REPRODUCED
    assert claim.judge(float("nan")) == NOT_REPRODUCED and claim.judge(None) == NOT_MEASURED
    # Below the paper's value without a close margin is never "reproduced".
    assert _claim().judge(0.899) == NOT_REPRODUCED


def test_papers_own_spread_counts_as_reproduced():
    claim = _claim(compare="at_most", paper_value=10.0, spread=1.0)
    assert claim.judge(10.9) == REPRODUCED and claim.judge(11.1) == NOT_REPRODUCED


def test_within_and_our_own_thresholds():
    within = _claim(compare="within", paper_value=1.0, tolerance=0.1, close=0.1, close_reason="r")
    assert within.judge(1.1) == REPRODUCED and within.judge(0.85) == CLOSE and within.judge(1.21) == NOT_REPRODUCED
    own = _claim(paper_value=None, threshold=0.8)
    assert own.judge(0.8) == REPRODUCED and own.judge(0.79) == NOT_REPRODUCED
    assert _claim(paper_value=None, threshold=5.0, compare="at_most").judge(5.1) == NOT_REPRODUCED


def test_an_ordering_needs_its_permutation_p_value():
    claim = _claim(paper_value=None, threshold=0.3, n=7, p_value="rho_p")
    assert claim.judge(0.5, 0.01) == REPRODUCED and claim.judge(0.5, 0.05) == REPRODUCED
    # The effect is large enough but chance could have given it: not reproduced, however close.
    assert claim.judge(0.9, 0.06) == NOT_REPRODUCED and claim.judge(0.9, float("nan")) == NOT_REPRODUCED
    assert claim.judge(0.2, 0.001) == NOT_REPRODUCED
    assert claim.judge(0.5, None) == NOT_MEASURED
    verdict = check_claims([claim], {"m": 0.5, "rho_p": 0.2}, "tiny")[0]
    assert verdict.status == NOT_REPRODUCED and verdict.measured_p == 0.2
    table = verdict_table(check_claims([claim], {"m": 0.5, "rho_p": 0.012}, "tiny"))
    assert "0.5 (n = 7, p = 0.012)" in table and "n = 7, permutation p ≤ 0.05" in table and "| reproduced |" in table


def test_verdicts_table_shows_mean_and_sd():
    claims = [_claim(id="a", metric="x"), _claim(id="b", metric="y"), _claim(id="c", metric="z", scale="full")]
    verdicts = check_claims(claims, {"x": 0.95, "x.sd": 0.01, "y": 0.5}, scale="tiny")
    assert [v.status for v in verdicts] == [REPRODUCED, NOT_REPRODUCED]
    assert check_claims(claims, {}, scale="full")[0].status == NOT_MEASURED
    table = verdict_table(verdicts)
    assert "| a |" in table and "0.95 ± 0.01" in table and "| not reproduced |" in table


def test_report_records_its_manifest_and_goes_stale(tmp_path):
    verdicts = check_claims([_claim(metric="x")], {"x": 0.95}, "tiny")
    record_manifest = manifest.build("ecg_unet", run.config_files("train", ["experiment=ecg_unet/tiny"]))
    report = write_report("ecg_unet", "tiny", {"x": 0.95}, verdicts, tmp_path, "cmd", 12.0, record_manifest)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["claims"][0]["verdict"] == REPRODUCED and summary["metrics"] == {"x": 0.95}
    assert summary["manifest"] == record_manifest and "dirty" in summary and "commit" in summary
    assert "claim | source | paper | rule | reproduced | verdict" in report.read_text()
    assert not is_stale(summary) and "Stale" not in "\n".join(results_block(summary))
    summary["manifest"]["files"]["common/data.py"] = "0" * 16
    block = "\n".join(results_block(summary))
    assert is_stale(summary) and "Stale**: common/data.py changed;" in block


@pytest.mark.parametrize(("text", "message"), [
    ("claims:\n  - {id: a, source: s, metric: m, compare: roughly, paper: 1, scale: tiny}\n", "compare must be"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: within, paper: 1, scale: tiny}\n", "needs both"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: at_least, paper: 1, scale: huge}\n", "scale must be"),
    ("claims:\n  - {id: a, metric: m, compare: at_least, paper: 1, scale: tiny}\n", "lacks"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: at_least, paper: 1, threshold: 0.9, scale: tiny}\n", "not both"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: at_least, paper: 1, close: 0.1, scale: tiny}\n", "close_reason"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: at_least, paper: 1, margin: 0.1, scale: tiny}\n", "unknown keys"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: at_least, threshold: 1, p_value: p, scale: tiny}\n", "go together"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: at_least, threshold: 1, n: 1, p_value: p, scale: tiny}\n", "n must be"),
])
def test_bad_claims_files_are_named(tmp_path, text, message):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_claims(path, scales=("tiny", "full"))


@pytest.mark.parametrize("paper", PAPERS_WITH_CLAIMS)
def test_paper_claims_load_and_cover_its_scales(paper):
    scales = tuple(run.compose("reproduce", [f"paper={paper}"]).scales)
    claims = load_claims(PROJECT_ROOT / "papers" / paper / "claims.yaml", scales)
    assert {c.scale for c in claims} == set(scales)


def test_tiny_claims_fail_on_an_undertrained_network(tmp_path):
    metrics = run.train(run.compose("train", [*QUICK_ECG, "trainer.max_epochs=1", f"paths.output_dir={tmp_path}"]))
    tiny = [c for c in load_claims(PROJECT_ROOT / "papers" / "ecg_unet" / "claims.yaml") if c.scale == "tiny"]
    verdicts = {v.claim.id: v.status for v in check_claims(tiny, metrics, "tiny")}
    assert verdicts["tiny_p_onset_f1"] == NOT_REPRODUCED and verdicts["tiny_t_offset_f1"] == NOT_REPRODUCED
    assert verdicts["tiny_sample_accuracy"] == NOT_REPRODUCED
