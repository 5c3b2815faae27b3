"""The mathematical core against known answers: the product of Gaussians, the Donsker-Varadhan bound on
correlated Gaussians, the adaptive lambda, the critic's pairs."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from common.errors import ConfigError
from papers.grouped_disentanglement.core import (
    average_of_gaussians,
    check_group_size,
    critic_pairs,
    donsker_varadhan,
    gaussian_log_density,
    kl_standard_normal,
    product_of_gaussians,
    scheduled_lambda,
    update_lambda,
)


def test_product_of_two_gaussians_closed_form():
    # N(1, 1) x N(3, 4): precision 1 + 1/4 = 5/4, variance 4/5, mean (1/1 + 3/4) / (5/4) = 7/5
    mean = torch.tensor([[[1.0], [3.0]]])
    logvar = torch.log(torch.tensor([[[1.0], [4.0]]]))
    group_mean, group_logvar = product_of_gaussians(mean, logvar)
    assert group_mean.item() == pytest.approx(1.4)
    assert group_logvar.exp().item() == pytest.approx(0.8)


def test_product_of_gaussians_is_the_normalised_product_of_densities():
    torch.manual_seed(0)
    mean, logvar = torch.randn(1, 4, 3, dtype=torch.float64), torch.randn(1, 4, 3, dtype=torch.float64)
    group_mean, group_logvar = product_of_gaussians(mean, logvar)
    z = torch.randn(50, 3, dtype=torch.float64)
    # sum of the members' log densities minus the product's: a constant in z
    members = sum(gaussian_log_density(z, mean[0, g], logvar[0, g]) for g in range(4))
    difference = members - gaussian_log_density(z, group_mean[0], group_logvar[0])
    assert torch.allclose(difference, difference[0].expand_as(difference), atol=1e-9)


def test_product_of_identical_gaussians_divides_the_variance():
    mean = torch.full((2, 5, 4), 0.7)
    logvar = torch.full((2, 5, 4), math.log(2.0))
    group_mean, group_logvar = product_of_gaussians(mean, logvar)
    assert torch.allclose(group_mean, mean[:, 0]) and torch.allclose(group_logvar.exp(), torch.full((2, 4), 0.4))


def test_average_of_gaussians():
    mean = torch.tensor([[[1.0], [3.0]]])
    logvar = torch.log(torch.tensor([[[1.0], [4.0]]]))
    group_mean, group_logvar = average_of_gaussians(mean, logvar)
    assert group_mean.item() == pytest.approx(2.0) and group_logvar.exp().item() == pytest.approx(2.5)


def test_kl_standard_normal_closed_form():
    # KL(N(1, 4) || N(0, 1)) = 0.5 (1 + 4 - 1 - log 4)
    kl = kl_standard_normal(torch.tensor([[1.0]]), torch.log(torch.tensor([[4.0]])))
    assert kl.item() == pytest.approx(0.5 * (4 - math.log(4)))
    assert kl_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max() == 0


def test_donsker_varadhan_of_the_optimal_critic_is_the_mutual_information():
    # T* = log p(x, y) / (p(x) p(y)) makes the bound tight: E_P[T*] - log E_Q[exp T*] = I
    rho = 0.8
    rng = np.random.default_rng(0)
    n = 400_000
    x = rng.standard_normal(n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    y_shuffled = rng.permutation(y)

    def log_ratio(a, b):
        return (-0.5 * math.log(1 - rho**2) - (rho**2 * (a**2 + b**2) - 2 * rho * a * b) / (2 * (1 - rho**2)))

    bound = donsker_varadhan(torch.tensor(log_ratio(x, y)), torch.tensor(log_ratio(x, y_shuffled)))
    assert bound.item() == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.02)


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_trained_critic_recovers_gaussian_mutual_information(rho):
    """A critic trained to climb the bound on samples of correlated Gaussians reaches -0.5 log(1 - rho^2)."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 1))
    optimizer = torch.optim.Adam(critic.parameters(), lr=3e-3)

    def sample(n):
        x = torch.randn(n, 1)
        return x, rho * x + math.sqrt(1 - rho**2) * torch.randn(n, 1)

    for _ in range(600):
        x, y = sample(512)
        loss = -donsker_varadhan(critic(torch.cat([x, y], 1)), critic(torch.cat([x, y[torch.randperm(512)]], 1)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        x, y = sample(50_000)
        estimate = donsker_varadhan(critic(torch.cat([x, y], 1)), critic(torch.cat([x, y[torch.randperm(50_000)]], 1)))
    assert estimate.item() == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.06)


def test_lambda_stays_non_negative_and_settles_at_the_target():
    assert update_lambda(0.05, 0.0, 0.2, 0.1) == 0.0  # would go to -0.05: clipped
    assert update_lambda(0.0, 0.0, 0.2, 0.1) == 0.0
    assert update_lambda(3.0, 0.2, 0.2, 0.1) == 3.0  # the estimate at I*: lambda does not move
    assert update_lambda(1.0, 0.4, 0.2, 0.1) == pytest.approx(1.1)  # above I*: lambda grows
    # a sequence of estimates: lambda never negative, and constant once the estimate sits at I*
    lam, history = 1.0, []
    for estimate in [0.0] * 30 + [1.0] * 5 + [0.2] * 10:
        lam = update_lambda(lam, estimate, 0.2, 0.1)
        history.append(lam)
    assert min(history) >= 0 and len(set(history[-10:])) == 1 and history[-1] == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="mi_target"):
        update_lambda(1.0, 0.1, 0.0, 0.1)


def test_lambda_is_held_during_the_warm_up_then_adapts():
    # an untrained critic's estimate (0) would take lambda from 1 to 0 in 10 steps at rate 0.1;
    # during the warm-up it is held, whatever the estimate
    lam, history = 1.0, []
    for step, estimate in enumerate([0.0] * 20 + [0.4] * 5 + [0.2] * 5):
        lam = scheduled_lambda(lam, estimate, 0.2, 0.1, step, warmup=20)
        history.append(lam)
    assert history[:20] == [1.0] * 20  # held for steps 0..19
    assert history[24] == pytest.approx(1.5) and history[-1] == pytest.approx(1.5)  # then adapts, settles at I*
    assert scheduled_lambda(1.0, 0.0, 0.2, 0.1, step=5, warmup=0) == pytest.approx(0.9)  # no warm-up: the author's
    lam = 0.3
    for step in range(30):  # after the warm-up an estimate below I* drives it to 0, never below
        lam = scheduled_lambda(lam, -0.5, 0.2, 0.1, step + 20, warmup=20)
        assert lam >= 0
    assert lam == 0
    with pytest.raises(ConfigError, match="lambda_warmup"):
        scheduled_lambda(1.0, 0.0, 0.2, 0.1, 0, warmup=-1)


def test_critic_pairs_positive_within_group_negative_across_groups():
    style = torch.arange(3 * 2).float().view(3, 2, 1)  # group b, member g -> 2b + g
    positive, negative = critic_pairs(style)
    assert positive[:, :, 0].tolist() == [[1, 0], [3, 2], [5, 4]]  # the other member of the same group
    assert negative[:, :, 0].tolist() == [[2, 3], [4, 5], [0, 1]]  # the same position in the next group
    with pytest.raises(ValueError, match="members >= 2"):
        critic_pairs(torch.zeros(3, 1, 2))


def test_group_size_errors_are_named():
    with pytest.raises(ConfigError, match="one member"):
        check_group_size(1)
    with pytest.raises(ConfigError, match="not a multiple of the group size 3"):
        check_group_size(3, 100)
    check_group_size(5, 100)
