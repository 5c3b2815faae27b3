"""Hutchinson / Lanczos / Gauss-Newton estimators against the dense Hessian of a small net."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from papers.curvature_generalization.estimator import (
    FlatLoss,
    estimate_curvature,
    exact_curvature,
    gradient_alignment,
    sharpness,
    top_eigenvalue,
)


@pytest.fixture(scope="module")
def flat():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(60, 8, dtype=torch.float64), torch.randint(0, 3, (60,))
    return FlatLoss(net, F.cross_entropy, x, y)


@pytest.fixture(scope="module")
def exact(flat):
    return exact_curvature(flat)


def test_hvp_and_dense_hessian_agree_with_autograd(flat):
    H = torch.func.hessian(flat)(flat.theta)
    assert torch.allclose(flat.matrix("full"), H, atol=1e-10)
    v = torch.randn(flat.n_params, dtype=torch.float64)
    assert torch.allclose(flat.hvp(v), H @ v, atol=1e-10)


def test_gauss_newton_is_psd_and_equals_jt_hout_j(flat):
    G = flat.matrix("gauss_newton")
    assert torch.allclose(G, G.T, atol=1e-10)
    assert float(torch.linalg.eigvalsh(G)[0]) > -1e-10
    J = torch.func.jacrev(flat.outputs)(flat.theta).reshape(-1, flat.n_params)  # (N*C, n)
    out = flat.outputs(flat.theta).detach()
    H_out = torch.func.hessian(flat.output_loss)(out).reshape(J.shape[0], J.shape[0])
    assert torch.allclose(G, J.T @ H_out @ J, atol=1e-10)
    # the functional part carries the negative eigenvalues here
    assert float(torch.linalg.eigvalsh(flat.matrix("functional"))[0]) < 0


def test_estimator_interval_covers_exact_curvature(flat, exact):
    covered, z_scores = 0, []
    for seed in range(20):
        est = estimate_curvature(flat, probes=48, seed=seed)
        assert est.gHg == pytest.approx(exact["gHg"], rel=1e-9)
        assert est.Hg_sq == pytest.approx(exact["Hg_sq"], rel=1e-9)
        z = (est.R - exact["R"]) / est.R_se
        z_scores.append(z)
        covered += abs(z) <= 1.96
    assert covered >= 17
    # unbiased: the mean of 20 estimates within 3 standard errors of the mean
    assert abs(sum(z_scores) / len(z_scores)) < 3 / len(z_scores) ** 0.5 * 1.5


def test_hutchinson_trace_within_standard_errors(flat, exact):
    est = estimate_curvature(flat, probes=64, seed=1)
    assert abs(est.trace - exact["trace"]) <= 4 * est.trace_se
    assert abs(est.trace_sq - exact["trace_sq"]) <= 4 * est.trace_sq_se


def test_lanczos_top_eigenvalue(flat, exact):
    assert top_eigenvalue(flat, iterations=25) == pytest.approx(exact["lambda_max"], rel=1e-6)


def test_gradient_alignment_parts_add_up(flat):
    a = gradient_alignment(flat)
    assert a["full"] == pytest.approx(a["gauss_newton"] + a["functional"], rel=1e-9, abs=1e-12)
    assert a["gauss_newton"] > 0
    assert -1 <= a["cos_functional"] <= 1


def test_sharpness_is_positive_and_grows_with_epsilon(flat):
    assert 0 < sharpness(flat, 1e-4, steps=3) < sharpness(flat, 1e-2, steps=3)


def test_bad_input_gets_clear_errors(flat):
    with pytest.raises(ValueError, match="probes"):
        estimate_curvature(flat, probes=0)
    with pytest.raises(ValueError, match="probes"):
        estimate_curvature(flat, probes=1)
    net = nn.Linear(3, 2)
    for p in net.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        FlatLoss(net, F.cross_entropy, torch.randn(4, 3), torch.randint(0, 2, (4,)))
    with pytest.raises(ValueError, match="scalar"):
        FlatLoss(nn.Linear(3, 2), lambda out, y: out.sum(0), torch.randn(4, 3), torch.randint(0, 2, (4,)))
    with pytest.raises(ValueError, match="hessian part"):
        flat.part_vp(flat.theta, "bogus")
