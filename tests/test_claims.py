import json

import pytest

from common import PROJECT_ROOT, run
from common.claims import Claim, check_claims, load_claims, verdict_table, write_report
from common.errors import ConfigError
from tests.conftest import QUICK_ECG

PAPERS_WITH_CLAIMS = sorted(p.parent.name for p in (PROJECT_ROOT / "papers").glob("*/claims.yaml"))


def _claim(**overrides):
    fields = dict(id="c", source="s", metric="m", compare="at_least", scale="tiny", paper_value=0.9)
    return Claim(**{**fields, **overrides})


def test_comparisons():
    assert _claim().holds(0.9) and not _claim().holds(0.89)
    assert _claim(threshold=0.8).holds(0.85)
    assert _claim(compare="at_most", paper_value=10.0).holds(9.0) and not _claim(compare="at_most", paper_value=10.0).holds(11)
    within = _claim(compare="within", paper_value=1.0, tolerance=0.1)
    assert within.holds(1.1) and within.holds(0.9) and not within.holds(1.11)
    assert not _claim().holds(float("nan"))


def test_verdicts_and_table():
    claims = [_claim(id="a", metric="x"), _claim(id="b", metric="y"), _claim(id="c", metric="z", scale="full")]
    verdicts = check_claims(claims, {"x": 0.95, "y": 0.5}, scale="tiny")
    assert [v.status for v in verdicts] == ["PASS", "FAIL"]
    assert check_claims(claims, {}, scale="full")[0].status == "NOT MEASURED"
    table = verdict_table(verdicts)
    assert "| a |" in table and "PASS" in table and "FAIL" in table


def test_report_files(tmp_path):
    verdicts = check_claims([_claim(metric="x")], {"x": 0.95}, "tiny")
    report = write_report("paper", "tiny", {"x": 0.95}, verdicts, tmp_path, "cmd", 12.0)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["claims"][0]["verdict"] == "PASS" and summary["metrics"] == {"x": 0.95}
    assert "claim | source | paper | rule | reproduced | verdict" in report.read_text()


@pytest.mark.parametrize(("text", "message"), [
    ("claims:\n  - {id: a, source: s, metric: m, compare: roughly, paper: 1, scale: tiny}\n", "compare must be"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: within, paper: 1, scale: tiny}\n", "needs both"),
    ("claims:\n  - {id: a, source: s, metric: m, compare: at_least, paper: 1, scale: huge}\n", "scale must be"),
    ("claims:\n  - {id: a, metric: m, compare: at_least, paper: 1, scale: tiny}\n", "lacks"),
])
def test_bad_claims_files_are_named(tmp_path, text, message):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_claims(path)


@pytest.mark.parametrize("paper", PAPERS_WITH_CLAIMS)
def test_paper_claims_load_with_both_scales(paper):
    claims = load_claims(PROJECT_ROOT / "papers" / paper / "claims.yaml")
    assert {c.scale for c in claims} == {"tiny", "full"}


def test_tiny_claims_fail_on_an_undertrained_network(tmp_path):
    metrics = run.train(run.compose("train", [*QUICK_ECG, "trainer.max_epochs=1", f"paths.output_dir={tmp_path}"]))
    tiny = [c for c in load_claims(PROJECT_ROOT / "papers" / "ecg_unet" / "claims.yaml") if c.scale == "tiny"]
    verdicts = {v.claim.id: v.status for v in check_claims(tiny, metrics, "tiny")}
    assert verdicts["tiny_p_onset_f1"] == "FAIL" and verdicts["tiny_t_offset_f1"] == "FAIL"
    assert verdicts["tiny_sample_accuracy"] == "FAIL"
