"""The mathematical core against hand-computed answers: effect errors, the closed-form GP."""
import math
import warnings

import numpy as np
import pytest
import torch

from papers.treatment_effects.gp import GaussianProcess, rbf_kernel
from papers.treatment_effects.metrics import ate_error, effect_errors, mean_and_stderr, sqrt_pehe


def test_sqrt_pehe_and_ate_error_by_hand():
    true = [1.0, 2.0, 3.0, 4.0]
    estimated = [1.0, 3.0, 3.0, 2.0]  # errors 0, 1, 0, -2: PEHE = 5/4, ATE error = |-1/4|
    assert sqrt_pehe(estimated, true) == pytest.approx(math.sqrt(1.25))
    assert ate_error(estimated, true) == pytest.approx(0.25)
    # A constant shift c gives sqrt(PEHE) = |ATE error| = |c|.
    assert sqrt_pehe(np.array(true) + 0.3, true) == pytest.approx(0.3)
    assert ate_error(np.array(true) - 0.3, true) == pytest.approx(0.3)
    # Errors that cancel on average: ATE exact, PEHE not.
    assert ate_error([2.0, 0.0], [1.0, 1.0]) == 0.0 and sqrt_pehe([2.0, 0.0], [1.0, 1.0]) == 1.0


def test_effect_errors_from_potential_outcomes():
    scores = effect_errors([0, 0], [1, 3], [0, 1], [2, 2], prefix="out_")
    # estimated effects 1, 3; true 2, 1: errors -1, 2
    assert scores == {"out_sqrt_pehe": pytest.approx(math.sqrt(2.5)), "out_ate_error": pytest.approx(0.5)}


def test_mean_and_stderr():
    mean, stderr = mean_and_stderr([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and stderr == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert mean_and_stderr([7.0]) == (7.0, 0.0)
    with pytest.raises(ValueError):
        mean_and_stderr([])
    with pytest.raises(ValueError):
        sqrt_pehe([1.0], [1.0, 2.0])


def test_rbf_kernel_by_hand():
    a = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    value = rbf_kernel(a, b, torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64))
    assert value.item() == pytest.approx(3.0 * math.exp(-0.5 * (1.0 + 1.0)))


def test_gp_posterior_matches_dense_formulas():
    torch.manual_seed(0)
    gp = GaussianProcess(2, lengthscale=0.7, scale=1.3, noise=0.05)
    x, y, xs = torch.randn(12, 2), torch.randn(12), torch.randn(5, 2)
    posterior = gp.condition(x, y)
    mean, variance = gp.predict(posterior, xs)
    with torch.no_grad():
        k = gp.kernel(x, x) + 0.05 * torch.eye(12, dtype=torch.float64)
        ks = gp.kernel(x, xs)
        kinv = torch.linalg.inv(k)
        y64 = y.double()
        assert torch.allclose(mean, ks.T @ kinv @ y64, atol=1e-9)
        assert torch.allclose(variance, 1.3 - torch.diagonal(ks.T @ kinv @ ks), atol=1e-9)
        nll = 0.5 * y64 @ kinv @ y64 + 0.5 * torch.logdet(k) + 6 * math.log(2 * math.pi)
        assert posterior.negative_log_likelihood.item() == pytest.approx(nll.item() / 12, rel=1e-9)


def test_gp_interpolates_and_forgets():
    gp = GaussianProcess(1, lengthscale=0.5, scale=1.0, noise=1e-6)
    x = torch.tensor([[0.0], [1.0]])
    posterior = gp.condition(x, torch.tensor([2.0, -1.0]))
    mean, variance = gp.predict(posterior, torch.tensor([[0.0], [1.0], [50.0]]))
    assert mean[:2].tolist() == pytest.approx([2.0, -1.0], abs=1e-4)
    assert variance[:2].max() < 1e-4  # certain at the data
    assert mean[2].item() == pytest.approx(0.0, abs=1e-9) and variance[2].item() == pytest.approx(1.0)  # prior far away


def test_gp_gradients_reach_hyperparameters_and_inputs():
    gp = GaussianProcess(2)
    x = torch.randn(8, 2, requires_grad=True)
    posterior = gp.condition(x, torch.randn(8))
    _, variance = gp.predict(posterior, torch.randn(3, 2))
    (posterior.negative_log_likelihood + variance.mean()).backward()
    for tensor in (x, gp.log_lengthscales, gp.log_scale, gp.log_noise):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


def test_cholesky_retries_with_jitter_and_warns_once():
    gp = GaussianProcess(1, noise=1e-300)  # vanishes next to the kernel in float64
    duplicates = torch.zeros(6, 1)  # identical inputs: a rank-one kernel, singular without jitter
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            posterior = gp.condition(duplicates, torch.ones(6))
    jitter_warnings = [w for w in caught if "jitter" in str(w.message)]
    assert len(jitter_warnings) == 1 and torch.isfinite(posterior.weights).all()


def test_cholesky_gives_up_with_a_clear_error():
    gp = GaussianProcess(1)
    with pytest.raises(torch.linalg.LinAlgError, match="singular"):
        gp._cholesky(-torch.eye(3, dtype=torch.float64))
