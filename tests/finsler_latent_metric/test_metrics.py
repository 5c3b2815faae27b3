"""The metric core against known answers: 1F1, the Nakagami mean, the two norms, curves, geodesics."""
import math

import mpmath
import numpy as np
import pytest
import scipy.special
import torch

from common.errors import ConfigError
from papers.finsler_latent_metric import metrics as M

DT = torch.float64


@pytest.mark.parametrize("b", [0.5, 1.5, 5.0, 50.0, 500.0])
def test_hyp1f1_matches_scipy_and_mpmath(b):
    x = -np.array([0.0, 1e-3, 0.49, 0.51, 3.0, 10.0, 50.0, 100.0, 300.0, 1000.0, 5000.0])
    ours = M.hyp1f1(-0.5, b, torch.tensor(x)).numpy()
    with mpmath.workdps(40):
        reference = np.array([float(mpmath.hyp1f1(-0.5, b, v)) for v in x])
    np.testing.assert_allclose(ours, reference, rtol=1e-11)
    with np.errstate(all="ignore"):
        scipy_values = scipy.special.hyp1f1(-0.5, b, x)
    finite = np.isfinite(scipy_values)  # scipy overflows for large b in the middle range; mpmath does not
    assert finite.sum() >= 5
    np.testing.assert_allclose(ours[finite], scipy_values[finite], rtol=1e-10)


@pytest.mark.parametrize("a,b", [(-0.5, 1.5), (-0.5, 24.0), (0.3, 2.0)])
def test_hyp1f1_derivative_autograd_and_identity(a, b):
    x = -torch.tensor([0.0, 0.2, 0.7, 4.0, 80.0, 700.0], dtype=DT)
    reference = np.array([float(mpmath.diff(lambda t: mpmath.hyp1f1(a, b, t), float(v))) for v in x])
    np.testing.assert_allclose(M.hyp1f1_derivative(a, b, x).numpy(), reference, rtol=1e-10)
    x = x.clone().requires_grad_(True)
    M.hyp1f1(a, b, x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), reference, rtol=1e-9)


def test_hyp1f1_rejects_positive_argument_and_nan():
    with pytest.raises(ConfigError, match="x <= 0"):
        M.hyp1f1(-0.5, 1.5, torch.tensor([1.0]))
    with pytest.raises(ConfigError, match="NaN"):
        M.hyp1f1(-0.5, 1.5, torch.tensor([float("nan")]))


@pytest.mark.parametrize("D,var,mean_sq", [(1, 1.0, 0.0), (3, 0.7, 2.0), (10, 2.0, 40.0), (48, 0.3, 5.0)])
def test_nakagami_mean_against_monte_carlo(D, var, mean_sq):
    """E||x||, x ~ N(mu, var I_D), against 10^6 samples: relative error < 1e-3."""
    torch.manual_seed(D)
    n = 1_000_000
    # ||x||^2 = (||mu|| + sqrt(var) z)^2 + var chi2_{D-1}: rotate mu onto the first axis
    first = math.sqrt(mean_sq) + math.sqrt(var) * torch.randn(n, dtype=DT)
    rest = var * torch.distributions.Chi2(torch.tensor(float(D - 1), dtype=DT)).sample((n,)) if D > 1 else 0.0
    norms = torch.sqrt(first**2 + rest)
    closed = float(M.nakagami_mean(torch.tensor(var), torch.tensor(mean_sq), D))
    assert abs(closed / float(norms.mean()) - 1) < 1e-3
    # |v|_G^2 - F^2 is the variance of the norm
    gap = float(M.nakagami_variance(torch.tensor(var), torch.tensor(mean_sq), D))
    assert abs(gap / float(norms.var()) - 1) < 1e-2


def test_nakagami_mean_closed_forms_and_branches():
    # central chi: E||x|| = sqrt(2) Gamma((D+1)/2) / Gamma(D/2)
    for D in (1, 2, 3, 7, 100, 2000):
        expected = math.sqrt(2) * math.exp(math.lgamma((D + 1) / 2) - math.lgamma(D / 2))
        assert float(M.nakagami_mean(torch.tensor(1.0), torch.tensor(0.0), D)) == pytest.approx(expected, rel=1e-9)
    # no variance: F = ||E[J] v|| exactly
    assert float(M.nakagami_mean(torch.tensor(0.0), torch.tensor(9.0), 5)) == pytest.approx(3.0, rel=1e-14)
    # the two evaluation branches agree where they meet (D + m/s = threshold)
    for D in (1, 3, 50, 500):
        m = M.EXPANSION_THRESHOLD - D
        for value, rel in ((m * (1 - 1e-6), 1e-12), (m, 1e-9), (10 * m, 1e-11)):
            ours = M.nakagami_mean(torch.tensor(1.0, dtype=DT), torch.tensor(value, dtype=DT), D)
            with mpmath.workdps(40):
                reference = (mpmath.sqrt(2) * mpmath.gamma(mpmath.mpf(D + 1) / 2) / mpmath.gamma(mpmath.mpf(D) / 2)
                             * mpmath.hyp1f1(-0.5, mpmath.mpf(D) / 2, -mpmath.mpf(value) / 2))
            assert float(ours) == pytest.approx(float(reference), rel=rel)


def test_nakagami_gradients_finite_everywhere():
    var = torch.tensor([0.0, 1e-8, 1.0, 1.0, 1.0], dtype=DT, requires_grad=True)
    mean_sq = torch.tensor([4.0, 4.0, 0.0, 3.0, 5e4], dtype=DT, requires_grad=True)
    M.nakagami_mean(var, mean_sq, 3).sum().backward()
    assert torch.isfinite(var.grad).all() and torch.isfinite(mean_sq.grad).all()
    assert torch.autograd.gradcheck(lambda s, m: M.nakagami_mean(s, m, 3),
                                    (torch.tensor([0.5, 2.0], dtype=DT, requires_grad=True),
                                     torch.tensor([1.0, 3000.0], dtype=DT, requires_grad=True)))


def random_jacobian(D, q=2, seed=0, rank=None):
    generator = torch.Generator().manual_seed(seed)
    mean_jac = torch.randn(D, q, generator=generator, dtype=DT)
    root = torch.randn(rank or q, q, generator=generator, dtype=DT)
    return mean_jac, root.T @ root / q


@pytest.mark.parametrize("D", [1, 3, 20, 1000])
def test_finsler_below_riemann_homogeneous_convex(D):
    mean_jac, cov = random_jacobian(D, seed=D)
    generator = torch.Generator().manual_seed(1)
    u, v = torch.randn(2, 200, 2, generator=generator, dtype=DT)
    F = lambda w: M.finsler_norm(mean_jac, cov, w)  # noqa: E731
    G = M.expected_metric(mean_jac, cov)
    riemann = torch.sqrt(torch.einsum("nq,qr,nr->n", v, G, v))
    assert torch.allclose(M.riemann_norm(mean_jac, cov, v), riemann, rtol=1e-12)
    assert (F(v) <= riemann * (1 + 1e-12)).all()
    assert (M.norm_gap(mean_jac, cov, v) >= -1e-10 * riemann**2).all()
    for c in (-3.0, 0.1, 7.0):
        assert torch.allclose(F(c * v), abs(c) * F(v), rtol=1e-10)
    for t in (0.25, 0.5):
        assert (F(t * u + (1 - t) * v) <= t * F(u) + (1 - t) * F(v) + 1e-10).all()
    # the relative gap shrinks with D: 1 - F^2/|v|_G^2 <= 1 - 2 Gamma((D+1)/2)^2 / (D Gamma(D/2)^2) (central case)
    central = 1 - 2 * math.exp(2 * (math.lgamma((D + 1) / 2) - math.lgamma(D / 2))) / D
    assert (1 - F(v) ** 2 / riemann**2 <= central + 1e-9).all()


def test_variance_off_metrics_coincide():
    """Sigma = 0 (no decoder variance): F(v) = |v|_G, gap 0: the Finsler < Riemann claim cannot hold."""
    mean_jac, _ = random_jacobian(3)
    v = torch.randn(100, 2, dtype=DT, generator=torch.Generator().manual_seed(0))
    zero = torch.zeros(2, 2, dtype=DT)
    assert torch.allclose(M.finsler_norm(mean_jac, zero, v), M.riemann_norm(mean_jac, zero, v), rtol=1e-13)


def test_bad_inputs_give_clear_errors():
    mean_jac, cov = random_jacobian(3)
    with pytest.raises(ConfigError, match="positive semi-definite"):
        M.expected_metric(mean_jac, torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=DT))
    with pytest.raises(ConfigError, match="symmetric"):
        M.LinearGaussianManifold(mean_jac, torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=DT))
    with pytest.raises(ConfigError, match="D must be"):
        M.nakagami_mean(torch.tensor(1.0), torch.tensor(1.0), 0)
    manifold = M.LinearGaussianManifold(mean_jac, cov)
    curve = M.straight_line(torch.zeros(2), torch.ones(2), 5)
    curve[2, 0] = float("nan")
    with pytest.raises(ConfigError, match="NaN"):
        M.curve_length(manifold, curve, "finsler")
    with pytest.raises(ConfigError, match="metric must be"):
        M.curve_length(manifold, M.straight_line(torch.zeros(2), torch.ones(2), 5), "euclid")


def test_constant_metric_geodesics_are_straight_lines():
    mean_jac, cov = random_jacobian(3, seed=4)
    manifold = M.LinearGaussianManifold(mean_jac, cov)
    z0, z1 = torch.tensor([-1.0, 0.5], dtype=DT), torch.tensor([2.0, -1.0], dtype=DT)
    line = M.straight_line(z0, z1, 12)
    bent = line.clone()
    bent[1:-1] += 0.3 * torch.sin(torch.linspace(0, math.pi, 12, dtype=DT))[1:-1, None]
    for metric in ("finsler", "riemann"):
        geodesic = M.optimise_geodesic(manifold, z0, z1, metric, points=12, initial=bent)
        assert torch.allclose(geodesic, line, atol=1e-5)
        length = float(M.curve_length(manifold, geodesic, metric))
        closed = float(M.NORMS[metric](mean_jac, cov, z1 - z0))
        assert length == pytest.approx(closed, rel=1e-9)
        # energy of a constant-speed curve = length^2
        assert float(M.curve_energy(manifold, geodesic, metric)) == pytest.approx(length**2, rel=1e-7)


def test_sphere_geodesics_are_great_circles():
    sphere = M.DeterministicManifold(M.sphere_embedding, D=3, q=2)
    z0, z1 = torch.tensor([0.6, -1.0], dtype=DT), torch.tensor([2.2, 1.3], dtype=DT)
    exact = M.great_circle_distance(z0, z1)
    straight = float(M.curve_length(sphere, M.straight_line(z0, z1, 40), "riemann"))
    initial = M.graph_geodesic(sphere, z0, z1, "riemann", bounds=((0.3, 2.8), (-1.5, 1.8)), resolution=16)
    geodesic = M.optimise_geodesic(sphere, z0, z1, "riemann", points=40, initial=initial)
    length = float(M.curve_length(sphere, geodesic, "riemann"))
    assert straight > exact * 1.02  # the latent straight line is not the great circle
    assert length == pytest.approx(exact, rel=2e-3)
    # the points lie on the great circle: the plane through x0, x1 and the origin
    normal = torch.linalg.cross(M.sphere_embedding(z0), M.sphere_embedding(z1))
    assert (M.sphere_embedding(geodesic) @ normal).abs().max() < 1e-2 * normal.norm()
    # with Sigma = 0 the Finsler geodesic has the same length
    finsler = M.optimise_geodesic(sphere, z0, z1, "finsler", points=40, initial=geodesic)
    assert float(M.curve_length(sphere, finsler, "finsler")) == pytest.approx(length, rel=1e-6)


def test_each_kept_geodesic_is_no_longer_than_the_other_metrics():
    """geodesic_pairs' final cross-check: per pair, the kept Finsler geodesic is no longer under F than the
    kept Riemann geodesic, and vice versa (before it, on this decoder, Riemann geodesics ended up to 1 %
    longer under G than the Finsler ones). The decoder is untrained: what it passes (every length ratio in
    [0.92, 1], each metric's solve no longer than the other's geodesic) holds by construction, so these are
    tests, not claims."""
    from papers.finsler_latent_metric.geodesics import geodesic_pairs
    from papers.finsler_latent_metric.model import StochasticDecoderVAE

    torch.manual_seed(0)
    model = StochasticDecoderVAE(data_dim=3, hidden=16, prior_features=16, n_centres=6, optimizer=torch.optim.Adam)
    model.fit_centres(torch.randn(60, 2))
    manifold = model.geometry()
    codes = 2 * torch.randn(12, 2, dtype=DT, generator=torch.Generator().manual_seed(1))
    metrics, raw = geodesic_pairs(manifold, codes, pairs=4, points=10, iterations=15, resolution=8)
    assert 0.92 <= metrics["geodesics/ratio_min"] <= metrics["geodesics/ratio_max"] <= 1.001
    assert metrics["geodesics/finsler_optimality_gap_max"] <= 1.001
    assert metrics["geodesics/riemann_optimality_gap_max"] <= 1.001
    for row in raw["rows"]:
        assert row["finsler_length"] <= row["finsler_of_riemann_curve"] * (1 + 1e-9)
        assert row["riemann_length"] <= row["riemann_of_finsler_curve"] * (1 + 1e-9)
    assert any(row["riemann_kept"].startswith(("final_", "from_final_")) for row in raw["rows"])  # the check acted


@pytest.mark.parametrize("D", [1, 3, 48])
def test_finsler_over_riemann_floor_is_the_central_case(D):
    """F(v) / |v|_G >= sqrt(2/D) Gamma((D+1)/2) / Gamma(D/2) (0.9213 for D = 3), for any (E[J], Sigma): a
    theorem (the ratio grows with the non-centrality), so no geodesic length ratio can fall below it either.
    It was a claim (`*_ratio_floor`); by construction, it is a test."""
    floor = math.sqrt(2 / D) * math.exp(math.lgamma((D + 1) / 2) - math.lgamma(D / 2))
    v = torch.randn(300, 2, dtype=DT, generator=torch.Generator().manual_seed(2))
    for seed in range(4):
        mean_jac, cov = random_jacobian(D, seed=seed)
        for scale in (0.0, 0.1, 1.0):
            ratio = M.finsler_norm(scale * mean_jac, cov, v) / M.riemann_norm(scale * mean_jac, cov, v)
            assert (ratio >= floor * (1 - 1e-9)).all() and (ratio <= 1 + 1e-12).all()
    if D == 3:
        assert floor == pytest.approx(0.92132, abs=1e-5)


def test_named_pairs_and_bad_pairs():
    from papers.finsler_latent_metric.geodesics import geodesic_pairs

    mean_jac, cov = random_jacobian(3, seed=5)
    manifold = M.LinearGaussianManifold(mean_jac, cov)
    ends = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=DT)
    _, raw = geodesic_pairs(manifold, ends, pairs=2, points=6, iterations=5, resolution=5,
                            pair_indices=[(0, 1), (0, 2)], bounds=((-2, 2), (-2, 2)))
    assert raw["pairs"] == [(0, 1), (0, 2)] and raw["bounds"] == ((-2, 2), (-2, 2))
    for curve, end in zip(raw["curves"]["riemann"], ends[1:], strict=True):
        assert torch.allclose(curve[0], ends[0]) and torch.allclose(curve[-1], end)
    with pytest.raises(ConfigError, match="pair_indices"):
        geodesic_pairs(manifold, ends, pairs=2, pair_indices=[(0, 1), (0, 3)])
    with pytest.raises(ConfigError, match="pair_indices"):
        geodesic_pairs(manifold, ends, pairs=1, pair_indices=[(0, 1), (0, 2)])
