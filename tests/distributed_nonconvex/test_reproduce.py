"""End to end: `make reproduce-distributed_nonconvex SCALE=tiny` starts 4 gloo workers (8 for the gossip),
passes every tiny claim and draws its figures."""
import pytest

from tests.conftest import reproduce_tiny

PAPER = "distributed_nonconvex"
FIGURES = ["quadratic.png", "topology.png", "training_batch.png"]


@pytest.mark.slow
def test_tiny_reproduce_passes(tiny_dirs):
    results_dir = tiny_dirs("distributed_nonconvex")
    summary, _ = reproduce_tiny(PAPER, results_dir)
    assert summary["figures"] == FIGURES
    for name in FIGURES:
        assert 5_000 < (results_dir / name).stat().st_size < 300_000
    metrics = summary["metrics"]
    assert metrics["quadratic/gt/error"] < 1e-10 and metrics["quadratic/dgd/closed_form_max_error"] < 1e-10
    assert metrics["topology/ring/gap"] < metrics["topology/torus/gap"] < metrics["topology/complete/gap"] == pytest.approx(1.0)
    report = (results_dir / "report.md").read_text()
    assert "## The quadratic: DGD's fixed point and gradient tracking" in report and "| ring 8 (gap 0.1953) |" in report
