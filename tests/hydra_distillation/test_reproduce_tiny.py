"""End to end: reproduce.py paper=hydra_distillation scale=tiny trains the ensembles, KD, Hydra and
the variants on the regression toy and the spiral, checks every tiny claim and draws the figures;
the tied-heads run measured in the same reproduction fails the mechanism claims (test_mechanism.py
reruns the whole tiny reproduction with every Hydra run tied)."""
import pytest

from common.claims import REPRODUCED, check_claims, claims_path, load_claims
from tests.conftest import reproduce_tiny

# Claims that only Hydra's per-member matching can meet.
MECHANISM_CLAIMS = {
    "tiny_reg_hydra_tracks_ensemble_uncertainty", "tiny_reg_hydra_ood_auroc",
    "tiny_spiral_hydra_tracks_ensemble_mi", "tiny_spiral_hydra_tracks_ensemble_mi_map", "tiny_spiral_hydra_keeps_ood_mi",
}


@pytest.mark.slow
def test_reproduce_hydra_distillation_tiny(tiny_dirs):
    results_dir = tiny_dirs("hydra_distillation")
    summary, _ = reproduce_tiny("hydra_distillation", results_dir)
    for figure in ("regression_bands.png", "spiral_mi_maps.png", "spiral_mi_histograms.png"):
        assert (results_dir / figure).stat().st_size > 10_000
    metrics = summary["metrics"] if "metrics" in summary else summary
    # The same claims judged on the tied-heads run of the same reproduction: all mechanism claims fail.
    tied = {k.replace("/hydra_tied/", "/hydra/"): v for k, v in metrics.items() if "/hydra_tied/" in k}
    tied.update({k.replace("hydra_tied_minus_kd", "hydra_minus_kd"): v for k, v in metrics.items()
                 if "hydra_tied_minus_kd" in k})
    claims = [c for c in load_claims(claims_path("hydra_distillation")) if c.id in MECHANISM_CLAIMS]
    verdicts = {v.claim.id: v.status for v in check_claims(claims, tied, "tiny")}
    assert set(verdicts) == MECHANISM_CLAIMS
    assert all(status != REPRODUCED for status in verdicts.values()), verdicts
