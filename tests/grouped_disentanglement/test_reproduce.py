"""End to end: `make reproduce-grouped_disentanglement SCALE=tiny` trains both arms over the seeds and the
group-size sweep, draws the figures and passes every tiny claim (slow: minutes)."""
import pytest

from tests.conftest import reproduce_tiny


@pytest.mark.slow
def test_tiny_reproduction_passes_every_claim(tmp_path):
    summary, _ = reproduce_tiny("grouped_disentanglement", tmp_path, overrides=["logger=none"])
    for figure in ("style_transfer.png", "traversals.png", "accuracy_vs_group_size.png"):
        assert 5_000 < (tmp_path / figure).stat().st_size < 300_000
    metrics = summary["metrics"]
    assert metrics["style_drop/n"] == 4 and "g5/mi_on/style_acc" in metrics
