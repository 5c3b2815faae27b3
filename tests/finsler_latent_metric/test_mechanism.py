"""The convergence experiment, and the claims with the decoder's variance switched off (Sigma = 0):
claims.yaml lists the variant (`mechanism_off.sigma_zero`) and the claims it must fail;
tests/test_mechanism_off.py runs it at tiny scale (here: the fast checks, and the tiny end-to-end run)."""
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from common import PROJECT_ROOT
from common.claims import (
    NOT_REPRODUCED,
    REPRODUCED,
    check_claims,
    claims_path,
    load_claims,
    mechanism_variants,
)
from papers.finsler_latent_metric.convergence import bound, loglog_slope, run_convergence
from papers.finsler_latent_metric.geodesics import geodesic_pairs, latent_grid, pointwise_gap
from papers.finsler_latent_metric.model import StochasticDecoderVAE

PAPER = "finsler_latent_metric"
PLAN = OmegaConf.load(PROJECT_ROOT / "configs" / "paper" / f"{PAPER}.yaml").scales.tiny


def verdicts(metrics: dict) -> dict[str, str]:
    claims = load_claims(claims_path(PAPER), ("tiny", "full"))
    return {v.claim.id: v.status for v in check_claims(claims, metrics, "tiny")}


    assert "sigma_zero" in mechanism_variants(PAPER)


def test_loglog_slope_and_bound_known_answers():
    dims = np.array([3, 10, 30, 100])
    assert loglog_slope(dims, 0.7 / dims) == pytest.approx(-1.0)
    assert np.isnan(loglog_slope(dims, np.zeros(4)))
    # central case (E[J] = 0): w = 0, the bound is 1 - (1 - 1/D)^q
    eye = torch.eye(2, dtype=torch.float64)
    assert bound(4, 0 * eye, eye) == pytest.approx(1 - (3 / 4) ** 2)
    assert bound(4, eye, 0 * eye) == 0.0


def test_convergence_slope_and_bound_on_tiny_plan():
    conv = PLAN.convergence
    metrics, raw = run_convergence(list(conv.seeds), list(conv.dims), int(conv.samples), count=90)
    assert -1.2 <= metrics["convergence/closed_form/slope"] <= -0.8
    assert -1.2 <= metrics["convergence/monte_carlo/slope"] <= -0.8
    assert (raw["closed_form"] <= raw["bound"]).all() and (raw["monte_carlo"] <= raw["bound"]).all()
    assert (raw["closed_form"] > 0).all()


def test_convergence_claims_fail_with_variance_off():
    conv = PLAN.convergence
    metrics, raw = run_convergence(list(conv.seeds), list(conv.dims), int(conv.samples), count=90, stochastic=False)
    assert np.abs(raw["closed_form"]).max() < 1e-12 and np.abs(raw["monte_carlo"]).max() < 1e-12
    status = verdicts(metrics)
    for claim in ("tiny_convergence_slope_low", "tiny_convergence_slope_high", "tiny_convergence_slope_mc_low",
                  "tiny_convergence_floor_D3"):
        assert status[claim] == NOT_REPRODUCED, claim


def _decoder(stochastic: bool) -> StochasticDecoderVAE:
    torch.manual_seed(0)
    model = StochasticDecoderVAE(data_dim=3, hidden=16, prior_features=16, n_centres=6, stochastic=stochastic,
                                 optimizer=torch.optim.Adam)
    model.fit_centres(torch.randn(60, 2))
    return model


def test_geodesic_claims_fail_with_variance_off():
    """Sigma = 0: every Finsler/Riemann length ratio is exactly 1, so the [mechanism] claims are not reproduced."""
    codes = torch.randn(10, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    results = {}
    for stochastic in (True, False):
        manifold = _decoder(stochastic).geometry()
        metrics, _ = geodesic_pairs(manifold, codes, pairs=1, points=8, iterations=10, resolution=6)
        grid = pointwise_gap(manifold, latent_grid(((-3, 3), (-3, 3)), 6))
        results[stochastic] = {f"starfish/{k}": v for k, v in metrics.items()} | {"starfish/gap/grid_max": grid["max"]}
    off = results[False]
    assert off["starfish/geodesics/ratio_mean"] == pytest.approx(1.0, abs=1e-5)  # two separate optimisations
    assert off["starfish/gap/grid_max"] == pytest.approx(0.0, abs=1e-12)
    off |= {k.replace("starfish/", "circles/"): v for k, v in off.items()}  # the same decoder stands in for circles
    status = verdicts(off)
    assert status["tiny_finsler_shorter"] == NOT_REPRODUCED
    assert status["tiny_circles_finsler_shorter"] == NOT_REPRODUCED
    assert status["tiny_pointwise_gap"] == NOT_REPRODUCED
    # with the variance on, the same untrained decoder already has a Finsler/Riemann gap off the data
    on = results[True]
    assert on["starfish/gap/grid_max"] > 0.01
    assert on["starfish/geodesics/ratio_max"] <= 1.001
    assert verdicts(on)["tiny_pointwise_gap"] == REPRODUCED


# At tiny the Fisher-Rao ordering over 5 seeds is not significant (one seed of five goes the other way,
# p = 0.062 in the tiny record): not reproduced there, so it is left out of what the end-to-end test asks.
TINY_NOT_REPRODUCED = {"tiny_fisher_beats_mean_pullback"}


@pytest.mark.slow
def test_tiny_reproduce_passes(tiny_dirs):
    results_dir = tiny_dirs("finsler_latent_metric")
    from common.claims import PASSING
    from tests.conftest import reproduce_tiny

    summary, stderr = reproduce_tiny(PAPER, results_dir, expect_pass=False)
    assert summary is not None, stderr[-3000:]
    assert (results_dir / "convergence.png").is_file() and (results_dir / "starfish_latent.png").is_file()
    tiny = {c.id for c in load_claims(claims_path(PAPER)) if c.scale == "tiny"}
    status = {c["id"]: c["verdict"] for c in summary["claims"]}
    assert set(status) == tiny
    for claim_id in tiny - TINY_NOT_REPRODUCED:
        assert status[claim_id] in PASSING, (claim_id, status[claim_id])
    assert summary["metrics"]["starfish/geodesics/ratio_mean"] < 1
