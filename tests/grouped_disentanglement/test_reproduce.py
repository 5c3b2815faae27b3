"""End to end: `make reproduce-grouped_disentanglement SCALE=tiny` trains both arms over the seeds and the
group-size sweep, draws the figures and judges every tiny claim (slow: minutes).

The tiny record does not reproduce the style-accuracy drop over seeds (see the README: p = 0.13 over 4
seeds) nor, by 0.003, the reconstruction floor, so the run exits 1; the test checks that every
claim is measured and that the claims the record passes keep passing."""
import pytest

from common.claims import PASSING
from tests.conftest import reproduce_tiny

# the tiny claims today's record reproduces (results/grouped_disentanglement/tiny/metrics.json)
REPRODUCED = {"tiny_style_near_chance", "tiny_content_kept", "tiny_nll_within"}


@pytest.mark.slow
def test_tiny_reproduction_measures_every_claim(tiny_dirs):
    results_dir = tiny_dirs("grouped_disentanglement")
    summary, _ = reproduce_tiny("grouped_disentanglement", results_dir, overrides=["logger=none"], expect_pass=False)
    for figure in ("style_transfer.png", "traversals.png", "accuracy_vs_group_size.png"):
        assert 5_000 < (results_dir / figure).stat().st_size < 300_000
    metrics = summary["metrics"]
    assert metrics["style_drop/n"] == 4 and "g5/mi_on/style_acc" in metrics
    verdicts = {c["id"]: c["verdict"] for c in summary["claims"]}
    assert all(verdicts[claim] in PASSING for claim in REPRODUCED), verdicts
