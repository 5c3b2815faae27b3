"""End to end: `make reproduce-active_learning SCALE=tiny` runs digits, breast cancer, diabetes and the
scikit-activeml peer, draws the learning curves and passes every tiny claim."""
import pytest

from tests.conftest import reproduce_tiny

PAPER = "active_learning"
FIGURES = ["digits_cold.png", "breast_cancer_random10.png", "diabetes_cold.png"]


@pytest.mark.slow
def test_tiny_reproduce_passes(tiny_dirs):
    results_dir = tiny_dirs("active_learning")
    summary, _ = reproduce_tiny(PAPER, results_dir)
    assert summary["figures"] == FIGURES
    for name in FIGURES:
        assert 10_000 < (results_dir / name).stat().st_size < 300_000
    metrics = summary["metrics"]
    # every strategy starts from the same labelled set of a seed
    firsts = {metrics[k] for k in metrics if k.startswith("digits/cold/") and k.endswith("/first")}
    assert len(firsts) == 1
    # BALD over a forest of fully grown trees (0/1 votes) ranks as least confidence does (binary task)
    assert metrics["breast_cancer/random10/bald/auc"] == pytest.approx(metrics["breast_cancer/random10/least_confidence/auc"])
    report = (results_dir / "report.md").read_text()
    assert "## Peer: scikit-activeml 1.0.1" in report and "labels to reach random's final" in report
