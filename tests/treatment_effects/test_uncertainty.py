"""DKLITE's predictive variance and the public code's pieces, against hand-computed answers: dropping
the most uncertain units, the learned noise precision, the public code's data-fit term and stop rule."""
import numpy as np
import pytest
import torch

from papers.treatment_effects.gp import BayesianLinearRegression
from papers.treatment_effects.metrics import sqrt_pehe_keeping
from papers.treatment_effects.model import Dklite
from papers.treatment_effects.reproduce import uncertainty_scores


def test_keeping_drops_the_units_of_highest_variance():
    estimated, true = np.zeros(10), np.zeros(10)
    true[9] = 10.0  # one unit with a large error
    rising = np.arange(10.0)  # the wrong unit is the most uncertain: dropping 10 % (1 unit) removes it
    assert sqrt_pehe_keeping(estimated, true, rising, 0.9) == 0.0
    assert sqrt_pehe_keeping(estimated, true, -rising, 0.9) == pytest.approx(np.sqrt(100 / 9))
    # 80 units: int(0.1 * 80) = 8 dropped, as the public tutorial counts (not 7 from float rounding)
    errors = np.arange(80.0)
    kept = sqrt_pehe_keeping(errors, np.zeros(80), errors, 0.9)
    assert kept == pytest.approx(np.sqrt(np.mean(errors[:72] ** 2)))
    with pytest.raises(ValueError, match="variance must match"):
        sqrt_pehe_keeping(estimated, true, rising[:5], 0.9)


def test_uncertainty_scores_are_ratios_to_all_units():
    rng = np.random.default_rng(0)
    true, estimated = rng.normal(size=50), rng.normal(size=50)
    variance = np.abs(estimated - true)  # a perfect ranking of the errors
    train = np.arange(50) < 30
    scores = uncertainty_scores(estimated, true, variance, train)
    assert scores["in_keep90_ratio"] < 1 and scores["out_keep90_ratio"] < 1
    all_out = np.sqrt(np.mean((estimated - true)[~train] ** 2))
    assert scores["out_sqrt_pehe_keep90"] == pytest.approx(scores["out_keep90_ratio"] * all_out)


def test_learned_noise_precision_finds_the_noise_level():
    """Type-II maximum likelihood over beta on fixed features recovers 1 / noise variance."""
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(400, 3, generator=generator, dtype=torch.float64)
    y = z @ torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64) + 0.2 * torch.randn(400, generator=generator, dtype=torch.float64)
    blr = BayesianLinearRegression(3, prior_precision=1.0, noise_precision=1.0, learn_noise=True)
    optimizer = torch.optim.Adam(blr.parameters(), lr=0.1)
    for _ in range(150):
        optimizer.zero_grad()
        blr.condition(z, y).negative_log_likelihood.backward()
        optimizer.step()
    assert float(blr.noise_precision) == pytest.approx(1 / 0.2**2, rel=0.25)
    fixed = BayesianLinearRegression(3, noise_precision=1.0)
    assert not any(p.requires_grad for p in fixed.parameters())


def test_released_fit_is_the_public_codes_term():
    """-(1/d) |L^-1 Z'y|^2 with L L' = (beta/lambda) Z'Z + I, written out with numpy."""
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    lam, beta = 1000.0, 1.0
    factor = np.linalg.cholesky(beta / lam * z.T @ z + np.eye(4))
    expected = -np.mean(np.linalg.solve(factor, z.T @ y) ** 2)
    posterior = BayesianLinearRegression(4, lam, beta).condition(torch.as_tensor(z), torch.as_tensor(y))
    assert float(posterior.released_fit) == pytest.approx(expected, rel=1e-10)


def test_plateau_rule_of_the_public_code():
    model = Dklite(optimizer=torch.optim.Adam, input_dim=3, stopping="loss_plateau")
    model.loss_history = [float(v) for v in range(200, 0, -1)]  # steady descent: equal changes, std 0
    assert not model._plateaued()
    model.loss_history = list(np.cumsum(np.random.default_rng(0).normal(size=52)))  # changes that are noise
    assert model._plateaued()
    model.loss_history = model.loss_history[:51]  # "i > 50": never before the 52nd loss
    assert not model._plateaued()
