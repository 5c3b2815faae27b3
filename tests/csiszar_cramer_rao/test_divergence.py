"""I_alpha, escorts and the families against known answers."""
import math

import numpy as np
import pytest
import torch

from common.errors import ConfigError
from papers.csiszar_cramer_rao.divergence import (
    Support,
    csiszar_f_alpha,
    escort,
    generalized_csiszar,
    kl_divergence,
    normalise,
    relative_alpha_entropy,
    renyi_divergence,
)
from papers.csiszar_cramer_rao.families import (
    DiscretePowerLaw,
    NormalLocation,
    PowerLaw,
    StudentTLocation,
    real_line,
)


def _t(value):
    return torch.tensor([value], dtype=torch.float64)


ALPHAS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0]


def _random_pairs(k=7, count=20, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
        yield torch.log(torch.tensor(p)), torch.log(torch.tensor(q))


def test_ialpha_is_nonnegative_and_zero_only_at_equality():
    support = Support.finite(range(7))
    for log_p, log_q in _random_pairs():
        for alpha in ALPHAS:
            assert float(relative_alpha_entropy(log_p, log_q, alpha, support)) > 1e-6
            assert abs(float(relative_alpha_entropy(log_p, log_p, alpha, support))) < 1e-13


def test_ialpha_is_projective_and_the_renyi_divergence_of_order_one_over_alpha_of_the_escorts():
    support = Support.finite(range(7))
    for log_p, log_q in _random_pairs(count=5):
        for alpha in ALPHAS:
            value = relative_alpha_entropy(log_p, log_q, alpha, support)
            assert float(relative_alpha_entropy(log_p + 3.0, log_q - 1.0, alpha, support)) == pytest.approx(float(value), abs=1e-12)
            renyi = renyi_divergence(escort(log_p, alpha, support), escort(log_q, alpha, support), 1 / alpha, support)
            assert float(renyi) == pytest.approx(float(value), rel=1e-10, abs=1e-13)


def test_ialpha_tends_to_kl_linearly_in_alpha_minus_one():
    support = Support.finite(range(7))
    for log_p, log_q in _random_pairs(count=5):
        kl = float(kl_divergence(log_p, log_q, support))
        errors = [max(abs(float(relative_alpha_entropy(log_p, log_q, 1 + s * eps, support)) - kl) for s in (-1, 1))
                  for eps in (1e-2, 1e-3, 1e-4)]
        assert errors[2] < 1e-3 * max(kl, 1e-3)
        assert errors[0] / errors[1] == pytest.approx(10, rel=0.1) and errors[1] / errors[2] == pytest.approx(10, rel=0.1)


def test_generalized_csiszar_divergence_gives_ialpha():
    support = Support.finite(range(7))
    for log_p, log_q in _random_pairs(count=5):
        for alpha in (0.4, 0.8, 1.5, 2.5):
            d = generalized_csiszar(log_p, log_q, alpha, csiszar_f_alpha(alpha), support)
            assert float(d) > 0
            via = alpha / (1 - alpha) * torch.log1p(math.copysign(1, 1 - alpha) * d)
            assert float(via) == pytest.approx(float(relative_alpha_entropy(log_p, log_q, alpha, support)), rel=1e-10)


def test_escort_of_a_normal_is_normal_with_variance_over_alpha():
    family = NormalLocation(1.7)
    support = family.support(0.3)
    for alpha in (0.5, 2.0):
        log_e = escort(family.log_prob(_t(0.3), support), alpha, support)
        expected = NormalLocation(1.7 / math.sqrt(alpha)).log_prob(_t(0.3), support)
        assert torch.allclose(log_e, expected, atol=1e-10)


def test_escort_of_student_t_is_student_t_and_student_t_is_a_power_law():
    family = StudentTLocation(10)
    support = family.support(0.0)
    for alpha in (0.5, 1.5):
        dof = alpha * 11 - 1
        log_e = escort(family.log_prob(_t(0.0), support), alpha, support)
        scaled = StudentTLocation(dof).log_prob(_t(0.0), Support(support.x / math.sqrt(10 / dof), support.log_w))
        assert torch.allclose(log_e, scaled - 0.5 * math.log(10 / dof), atol=1e-9)
    # t_nu = power-law family of index (nu-1)/(nu+1) at theta = (nu+1)/(2 nu)
    nu = 10
    power = PowerLaw((nu - 1) / (nu + 1))
    assert torch.allclose(power.log_prob(_t((nu + 1) / (2 * nu)), support),
                          family.log_prob(_t(0.0), support), atol=1e-9)


def test_ialpha_between_normals_of_equal_variance_is_their_kl_at_every_alpha():
    support = real_line(0.0, 1.0)
    family = NormalLocation(1.3)
    log_p, log_q = family.log_prob(_t(0.0), support), family.log_prob(_t(0.8), support)
    for alpha in (0.4, 1.0, 2.5):
        assert float(relative_alpha_entropy(log_p, log_q, alpha, support)) == pytest.approx(0.8**2 / (2 * 1.3**2), rel=1e-10)


def test_quadrature_normalises_the_continuous_families():
    for family, theta in ((NormalLocation(0.4), 0.5), (StudentTLocation(3), -0.2), (PowerLaw(0.6), 2.0),
                          (PowerLaw(1.0), 0.7), (PowerLaw(1.7), 0.5)):
        support = family.support(_t(theta))
        assert float(torch.logsumexp(support.log_w + family.log_prob(_t(theta), support), 0)) == pytest.approx(0, abs=1e-10)


def test_discrete_power_law_at_index_one_is_exponential_and_normalises():
    family = DiscretePowerLaw(np.arange(5), 1.0)
    log_p = family.log_prob(_t(0.4))
    assert torch.allclose(log_p, normalise(-0.4 * torch.arange(5.0, dtype=torch.float64), family.support()))
    near = DiscretePowerLaw(np.arange(5), 1.0 + 1e-7).log_prob(_t(0.4))
    assert torch.allclose(log_p, near, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, -0.5, float("nan"), float("inf"), True])
def test_invalid_alpha_is_named(alpha):
    support = Support.finite(range(3))
    log_p = torch.log(torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64))
    with pytest.raises(ConfigError, match="alpha must be a finite number > 0"):
        relative_alpha_entropy(log_p, log_p, alpha, support)


def test_escorts_that_do_not_normalise_are_named():
    with pytest.raises(ConfigError, match=r"student_t \(nu=1\) has no escort at alpha=0.5.*needs alpha > 1/\(nu\+1\) = 0.5"):
        StudentTLocation(1).check_escort(0.5)
    with pytest.raises(ConfigError, match=r"power_law_q \(index=0.3\) has no escort at alpha=0.3"):
        PowerLaw(0.3).check_escort(0.3)
    StudentTLocation(1).check_escort(0.6)
    PowerLaw(0.4).check_escort(0.4)
