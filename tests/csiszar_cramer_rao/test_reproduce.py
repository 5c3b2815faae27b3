"""End to end: `make reproduce-csiszar_cramer_rao SCALE=tiny` runs the grid, trains the learned
estimator, draws both figures and passes every tiny claim."""
import pytest

from tests.conftest import reproduce_tiny

PAPER = "csiszar_cramer_rao"


@pytest.mark.slow
def test_tiny_reproduce_passes(tiny_dirs):
    tmp_path = tiny_dirs(PAPER)  # shared with the mechanism-off variant (tests/test_mechanism_off.py)
    summary, _ = reproduce_tiny(PAPER, tmp_path)
    for name in ("crb_vs_alpha.png", "metric_vs_theta.png"):
        assert 10_000 < (tmp_path / name).stat().st_size < 300_000
    assert summary["figures"] == ["crb_vs_alpha.png", "metric_vs_theta.png"]
    metrics = summary["metrics"]
    assert metrics["geometry/metric_max_rel_diff"] < 1e-9 and metrics["geometry/connection_max_rel_diff"] < 1e-8
    assert metrics["geometry/curvature/power_law_at_alpha_1"] < 1e-10 < 0.1 < metrics["geometry/curvature/power_law_min_alpha_ne_1"]
    # the bound variants: the alpha-metric is never significantly undercut, the two others are
    assert metrics["crb/variant_escort/violations"] == 0
    assert metrics["crb/variant_fisher/violations"] > 0 and metrics["crb/variant_eguchi/violations"] > 0
    report = (tmp_path / "report.md").read_text()
    assert "## The alpha-Cramér-Rao inequality, cell by cell" in report and "| student_t | 1 | 10 | learned |" in report
