"""End to end: `make reproduce-treatment_effects SCALE=tiny` trains, compares, draws, passes its claims."""
import pytest

from tests.conftest import reproduce_tiny


@pytest.mark.slow
def test_reproduce_treatment_effects_tiny(tmp_path):
    _, stderr = reproduce_tiny("treatment_effects", tmp_path, ["logger=none"])
    assert (tmp_path / "treatment_effects.png").stat().st_size > 10_000
    report = (tmp_path / "report.md").read_text()
    assert "| S-learner (RF) |" in report and "DKLITE without variance term" in report
    assert "replication" in stderr  # the progress bar over replications
