"""The closed form of the loss graph's scalar curvature against known answers."""
import math

import pytest
import torch
from torch import nn

from papers.curvature_generalization.curvature import (
    brute_force_riemann,
    brute_force_scalar_curvature,
    critical_point_curvature,
    gauss_riemann,
    induced_metric,
    scalar_curvature,
    scalar_curvature_of,
)
from papers.curvature_generalization.estimator import FlatLoss

D = torch.float64


def sphere(r):
    return lambda x: -torch.sqrt(r**2 - (x * x).sum())


@pytest.mark.parametrize("r", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("point", [(0.0, 0.0), (0.2, -0.1), (0.3, 0.35)])
def test_two_sphere_patch_has_curvature_two_over_r_squared(r, point):
    x = torch.tensor(point, dtype=D) * r
    assert float(scalar_curvature_of(sphere(r), x)) == pytest.approx(2 / r**2, rel=1e-10)
    assert float(brute_force_scalar_curvature(sphere(r), x)) == pytest.approx(2 / r**2, rel=1e-9)


def test_three_sphere_patch():
    r, x = 2.0, torch.tensor([0.3, -0.5, 0.4], dtype=D)
    assert float(scalar_curvature_of(sphere(r), x)) == pytest.approx(6 / r**2, rel=1e-10)


@pytest.mark.parametrize("point", [(0.0, 0.0), (0.5, 0.2), (-1.0, 2.0)])
def test_saddle(point):
    x, y = point
    expected = -8 / (1 + 4 * x * x + 4 * y * y) ** 2
    saddle = lambda v: v[0] ** 2 - v[1] ** 2  # noqa: E731
    v = torch.tensor(point, dtype=D)
    assert float(scalar_curvature_of(saddle, v)) == pytest.approx(expected, rel=1e-12)
    assert float(brute_force_scalar_curvature(saddle, v)) == pytest.approx(expected, rel=1e-9)


def test_sign_flipped_formula_fails_the_known_answers():
    """A closed form with the gradient term's sign flipped must not pass the saddle and the sphere."""
    def flipped(g, H):
        w = 1 + g @ g
        tr, Hg = torch.trace(H), H @ g
        return ((tr**2 - (H * H).sum()) / w + 2 * (tr * (g @ Hg) - Hg @ Hg) / w**2)

    g, H = torch.tensor([1.0, -0.4], dtype=D), torch.diag(torch.tensor([2.0, -2.0], dtype=D))
    assert float(flipped(g, H)) != pytest.approx(-8 / (1 + 4 * 0.25 + 4 * 0.04) ** 2, rel=1e-3)
    assert float(scalar_curvature(g, H)) == pytest.approx(-8 / (1 + 4 * 0.25 + 4 * 0.04) ** 2, rel=1e-12)
    f = sphere(1.0)
    x = torch.tensor([0.3, 0.4], dtype=D)
    gs, Hs = torch.func.grad(f)(x), torch.func.hessian(f)(x)
    assert float(flipped(gs, Hs)) != pytest.approx(2.0, rel=1e-3)


def _random_cubic(n, seed):
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=gen, dtype=D)
    C = torch.randn(n, n, n, generator=gen, dtype=D) * 0.3
    b = torch.randn(n, generator=gen, dtype=D)
    return lambda x: 0.5 * x @ A @ x + b @ x + torch.einsum("ijk,i,j,k->", C, x, x, x) / 6 + torch.sin(x).sum()


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_brute_force_riemann_tensor_matches_gauss_equation(n, seed):
    f = _random_cubic(n, seed)
    x = torch.randn(n, generator=torch.Generator().manual_seed(100 + seed), dtype=D)
    g, H = torch.func.grad(f)(x), torch.func.hessian(f)(x)
    G, riemann, _, scalar = brute_force_riemann(induced_metric(f), x)
    assert torch.allclose(G, torch.eye(n, dtype=D) + torch.outer(g, g))
    assert torch.allclose(riemann, gauss_riemann(g, H), atol=1e-10)
    assert float(scalar) == pytest.approx(float(scalar_curvature(g, H)), rel=1e-8, abs=1e-12)
    # the tensor's symmetries
    assert torch.allclose(riemann, -riemann.transpose(0, 1), atol=1e-10)
    assert torch.allclose(riemann, riemann.permute(2, 3, 0, 1), atol=1e-10)


@pytest.mark.parametrize("n", [2, 3, 6])
def test_random_quadratics_closed_form_equals_brute_force(n):
    gen = torch.Generator().manual_seed(n)
    for _ in range(3):
        A = torch.randn(n, n, generator=gen, dtype=D)
        A = A + A.T
        b = torch.randn(n, generator=gen, dtype=D)
        f = lambda x, A=A, b=b: 0.5 * x @ A @ x + b @ x  # noqa: E731
        x = torch.randn(n, generator=gen, dtype=D)
        exact = float(scalar_curvature_of(f, x))
        assert float(brute_force_scalar_curvature(f, x)) == pytest.approx(exact, rel=1e-6, abs=1e-12)


def test_small_mlp_loss_closed_form_equals_brute_force():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2)).double()
    x, y = torch.randn(20, 2, dtype=D), torch.randint(0, 2, (20,))
    flat = FlatLoss(net, nn.functional.cross_entropy, x, y)
    assert flat.n_params == 12
    exact = float(scalar_curvature_of(flat, flat.theta))
    brute = float(brute_force_scalar_curvature(flat, flat.theta))
    assert abs(brute - exact) <= 1e-6 * max(1.0, abs(exact))


def test_critical_point_identity():
    gen = torch.Generator().manual_seed(3)
    for n in (2, 4, 7):
        Q = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=D))[0]
        lam = torch.randn(n, generator=gen, dtype=D)
        H = Q @ torch.diag(lam) @ Q.T
        pairs = sum(float(lam[i] * lam[j]) for i in range(n) for j in range(i + 1, n))
        R = float(scalar_curvature(torch.zeros(n, dtype=D), H))
        assert R == pytest.approx(2 * pairs, rel=1e-10, abs=1e-12)
        assert float(critical_point_curvature(lam)) == pytest.approx(2 * pairs, rel=1e-10, abs=1e-12)


def test_convex_graph_has_nonnegative_curvature_and_indefinite_can_be_negative():
    gen = torch.Generator().manual_seed(5)
    for _ in range(200):
        n = int(torch.randint(2, 8, (1,), generator=gen))
        A = torch.randn(n, n, generator=gen, dtype=D)
        g = torch.randn(n, generator=gen, dtype=D) * 3
        assert float(scalar_curvature(g, A @ A.T)) >= -1e-12
    assert float(scalar_curvature(torch.zeros(2, dtype=D), torch.diag(torch.tensor([1.0, -1.0], dtype=D)))) < 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="scalar"):
        scalar_curvature_of(lambda x: x * 2, torch.ones(3, dtype=D))
    with pytest.raises(ValueError, match="shape"):
        scalar_curvature(torch.ones(3), torch.ones(2, 2))
    assert math.isfinite(float(scalar_curvature(torch.ones(2), torch.eye(2))))
