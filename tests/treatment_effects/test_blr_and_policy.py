"""Bayesian linear regression (DKLITE's default regressor) and the Jobs metrics, against hand-computed answers."""
import math

import numpy as np
import pytest
import torch

from papers.treatment_effects.gp import BayesianLinearRegression
from papers.treatment_effects.metrics import att_error, effect_scores, policy_risk


def test_blr_matches_the_dual_gp_with_a_linear_kernel():
    """Weight-space answers equal the function-space GP with kernel z.z'/alpha plus noise 1/beta."""
    torch.manual_seed(0)
    alpha, beta = 4.0, 2.5
    blr = BayesianLinearRegression(3, prior_precision=alpha, noise_precision=beta)
    z, y, zs = torch.randn(9, 3, dtype=torch.float64), torch.randn(9, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    posterior = blr.condition(z, y)
    mean, variance = blr.predict(posterior, zs)
    k = z @ z.T / alpha + torch.eye(9, dtype=torch.float64) / beta
    ks = z @ zs.T / alpha
    assert torch.allclose(mean, ks.T @ torch.linalg.solve(k, y), atol=1e-10)
    assert torch.allclose(variance, torch.diagonal(zs @ zs.T / alpha - ks.T @ torch.linalg.solve(k, ks)), atol=1e-10)
    nll = -torch.distributions.MultivariateNormal(torch.zeros(9, dtype=torch.float64), k).log_prob(y)
    assert posterior.negative_log_likelihood.item() == pytest.approx(nll.item() / 9, rel=1e-10)
    assert torch.allclose(blr.prior_variance(zs), (zs**2).sum(1) / alpha)


def test_blr_strong_prior_shrinks_and_gradients_flow():
    z = torch.randn(20, 2, requires_grad=True)
    y = z.detach() @ torch.tensor([1.0, -2.0])
    loose = BayesianLinearRegression(2, prior_precision=1e-6, noise_precision=1e6)
    mean, _ = loose.predict(loose.condition(z, y), z)
    assert torch.allclose(mean.float(), y, atol=1e-3)  # almost no prior, no noise: least squares
    tight = BayesianLinearRegression(2, prior_precision=1e6, noise_precision=1.0)
    posterior = tight.condition(z, y)
    assert posterior.weights.abs().max() < 1e-3  # the prior wins
    posterior.negative_log_likelihood.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    with pytest.raises(ValueError, match="prior_precision"):
        BayesianLinearRegression(2, prior_precision=0.0)


def test_policy_risk_by_hand():
    t = np.array([1, 1, 0, 0, 1, 0])
    y = np.array([1, 0, 1, 0, 1, 1])
    effects = np.array([0.5, 0.2, -0.1, 0.3, -0.2, -0.4])  # treats units 0, 1, 3
    # treated and treated by the policy: units 0, 1 -> mean y 0.5; control and withheld: 2, 5 -> 1.0
    assert policy_risk(effects, t, y) == pytest.approx(1 - (0.5 * 0.5 + 0.5 * 1.0))
    # treat everyone: value = mean y of the treated = 2/3; the empty control group adds 0
    assert policy_risk(np.ones(6), t, y) == pytest.approx(1 - 2 / 3)
    assert policy_risk(-np.ones(6), t, y) == pytest.approx(1 - 2 / 3)  # withhold all: controls' mean 2/3


def test_att_error_by_hand_and_scores_on_randomised_units():
    t = np.array([1, 1, 0, 0])
    y = np.array([1.0, 1.0, 0.0, 1.0])  # true ATT = 1 - 0.5 = 0.5
    assert att_error(np.array([0.2, 0.4, 9.0, 9.0]), t, y) == pytest.approx(0.2)  # |0.3 - 0.5|
    train = np.array([True, True, True, True, False, False, False, False])
    scores = effect_scores(np.r_[[0.2, 0.4, 9, 9], [1, 1, 1, 1]], np.r_[t, t], np.r_[y, y], train,
                           randomised=np.r_[[True] * 4, [True, False, True, True]])
    assert scores["in_att_error"] == pytest.approx(0.2)
    assert scores["out_att_error"] == pytest.approx(abs(1 - (1.0 - 0.5)))  # unit 5 is not randomised
    assert set(scores) == {"in_policy_risk", "out_policy_risk", "in_att_error", "out_att_error"}
    with pytest.raises(ValueError, match="randomised"):
        effect_scores(np.zeros(4), t, y, train[:4])
    assert math.isclose(effect_scores([1, 2], [0, 1], [0, 0], [True, False], true_effects=[1, 1])["out_sqrt_pehe"], 1.0)
