"""The metric and the connections of I_alpha: closed forms against autograd of the divergence and against
known answers; the curvature code against the Gaussian family's Fisher curvature; flatness findings."""
import math

import numpy as np
import pytest
import torch

from papers.csiszar_cramer_rao.analysis import CURVATURE_FEATURES, CURVATURE_THETA, CURVATURE_VALUES
from papers.csiszar_cramer_rao.divergence import escort, generalized_csiszar
from papers.csiszar_cramer_rao.families import (
    DiscreteExponential,
    DiscretePowerLaw,
    Family,
    NormalLocation,
    PowerLaw,
    StudentTLocation,
    real_line,
)
from papers.csiszar_cramer_rao.geometry import (
    christoffel,
    connections,
    connections_eguchi,
    curvature,
    escort_fisher,
    ialpha_christoffel,
    metric,
    metric_eguchi,
)


def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


def _cases():
    for alpha in (0.5, 0.8, 1.0, 1.5, 2.0):
        yield NormalLocation(1.3), 0.2, alpha
        yield StudentTLocation(10), -0.3, alpha
        yield DiscretePowerLaw(np.arange(4), alpha), 0.3, alpha
        yield DiscreteExponential(np.arange(6)), 0.4, alpha
        if alpha < 2:
            yield PowerLaw(alpha), 0.8, alpha


@pytest.mark.parametrize(("family", "theta", "alpha"), list(_cases()), ids=lambda v: getattr(v, "describe", lambda: str(v))())
def test_metric_and_connections_closed_forms_match_autograd_of_ialpha(family, theta, alpha):
    theta = _t(theta)
    g, g_eguchi, J = metric(family, theta, alpha), metric_eguchi(family, theta, alpha), escort_fisher(family, theta, alpha)
    assert torch.allclose(g, g_eguchi, rtol=1e-9, atol=0)
    assert torch.allclose(alpha * g, J, rtol=1e-9, atol=0)
    (primal, dual), (primal_e, dual_e) = connections(family, theta, alpha), connections_eguchi(family, theta, alpha)
    scale = max(float(primal.abs().max()), float(dual.abs().max()), float(g.abs().max()))
    assert float((primal - primal_e).abs().max()) <= 1e-8 * scale
    assert float((dual - dual_e).abs().max()) <= 1e-8 * scale


def test_metric_known_answers():
    for alpha in (0.4, 1.0, 2.5):
        # normal location: g = 1/sigma^2 at every alpha, J = alpha/sigma^2 (the escort is N(theta, sigma^2/alpha))
        assert float(metric(NormalLocation(1.3), _t(0.5), alpha)) == pytest.approx(1 / 1.3**2, rel=1e-10)
        # Student-t: J = (nu'+1)/((nu'+3) s^2), escort t_nu'(theta, s), nu' = alpha(nu+1)-1, s^2 = nu/nu'
        t = StudentTLocation(10)
        assert float(escort_fisher(t, _t(0.0), alpha)) == pytest.approx(t.escort_fisher_closed_form(alpha), rel=1e-9)
        # exponential family: g = alpha Var^(alpha)(f) (the score is f - E f)
        family = DiscreteExponential(np.arange(6))
        probs = torch.exp(escort(family.log_prob(_t(0.4)), alpha, family.support()))
        f = torch.arange(6, dtype=torch.float64)
        variance = float((probs * f**2).sum() - (probs * f).sum() ** 2)
        assert float(metric(family, _t(0.4), alpha)) == pytest.approx(alpha * variance, rel=1e-12)
    # at alpha = 1 the metric is Fisher's: the power-law family at index 1 is exponential in -theta
    power = DiscretePowerLaw(np.arange(6), 1.0)
    assert float(metric(power, _t(-0.4), 1.0)) == pytest.approx(float(metric(DiscreteExponential(np.arange(6)), _t(0.4), 1.0)))


def test_duality_of_the_connections():
    """d_k g_ij = Gamma_ki,j + Gamma*_kj,i (the pair is dual with respect to g)."""
    family = DiscretePowerLaw(CURVATURE_VALUES, 1.5, CURVATURE_FEATURES)
    theta = CURVATURE_THETA
    dg = torch.func.jacrev(lambda t: metric(family, t, 1.5))(theta)      # [i, j, k] = d_k g_ij
    primal, dual = connections(family, theta, 1.5)                        # [i, j, k] = Gamma_ij,k
    expected = torch.einsum("kij->ijk", primal) + torch.einsum("kji->ijk", dual)
    assert torch.allclose(dg, expected, atol=1e-10)


def test_at_alpha_one_the_pair_is_the_mixture_and_exponential_connection():
    family = DiscreteExponential(CURVATURE_VALUES, CURVATURE_FEATURES)
    primal, dual = connections(family, CURVATURE_THETA, 1.0)
    assert float(dual.abs().max()) < 1e-12          # e-flat: natural parameters are affine
    assert float(primal.abs().max()) > 0.1


class _NormalLocationScale(Family):
    dim = 2
    name = "normal_2d"

    def log_prob(self, theta, support):
        mu, sigma = theta[0], theta[1]
        return -0.5 * ((support.x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)

    def support(self, theta):
        return real_line(float(theta[0].detach()), float(theta[1].detach()))


def test_curvature_code_gives_the_gaussian_familys_curvature_minus_one_half():
    """The Levi-Civita connection of Fisher's metric on N(mu, sigma^2), the mean of the dual pair at
    alpha = 1, has constant sectional curvature -1/2."""
    family = _NormalLocationScale()
    theta = _t(0.3, 1.4)

    def levi_civita(t):
        support = family.support(t)
        primal, dual = connections(family, t, 1.0, support)
        return christoffel(metric(family, t, 1.0, support), 0.5 * (primal + dual))

    R = curvature(levi_civita, theta)
    g = metric(family, theta, 1.0)
    R_1212 = torch.einsum("l,l->", g[0], R[:, 1, 0, 1])    # R_1212 = g_1l R^l_212
    assert float(R_1212 / torch.linalg.det(g)) == pytest.approx(-0.5, rel=1e-6)


def test_ialpha_connections_are_flat_at_alpha_one_and_curved_otherwise():
    """A finding: on two-parameter alpha-power-law (and exponential) families I_alpha's connections have
    non-zero curvature for alpha != 1, so these families are not flat in any coordinates; at alpha = 1
    (KL) both are flat."""
    for alpha, curved in ((0.5, True), (1.0, False), (1.5, True), (2.0, True)):
        for family in (DiscretePowerLaw(CURVATURE_VALUES, alpha, CURVATURE_FEATURES),
                       DiscreteExponential(CURVATURE_VALUES, CURVATURE_FEATURES)):
            for dual in (False, True):
                largest = float(curvature(ialpha_christoffel(family, alpha, dual=dual), CURVATURE_THETA).abs().max())
                assert (largest > 0.1) if curved else (largest < 1e-10), (family.describe(), alpha, dual, largest)


def test_escort_kl_makes_the_exponential_family_e_flat_at_every_alpha():
    """The generalized Csiszar divergence with f(u) = u log u (KL of the escorts): metric J^(alpha), and
    the dual connection vanishes in the natural parameters, as the escort of an exponential family is one."""
    family = DiscreteExponential(CURVATURE_VALUES, CURVATURE_FEATURES)
    support = family.support()
    for alpha in (0.5, 2.0):
        def divergence(log_p, log_q, alpha=alpha):
            return generalized_csiszar(log_p, log_q, alpha, lambda u: u * torch.log(u), support)
        assert torch.allclose(metric_eguchi(family, CURVATURE_THETA, alpha, divergence=divergence),
                              escort_fisher(family, CURVATURE_THETA, alpha), rtol=1e-10)
        primal, dual = connections_eguchi(family, CURVATURE_THETA, alpha, divergence=divergence)
        assert float(dual.abs().max()) < 1e-12 and float(primal.abs().max()) > 0.1
