"""The Riemannian metric and the dual connections that I_alpha induces on a family (Eguchi), from
closed forms and from derivatives of the divergence, and the curvature of a connection.

Eguchi's construction for a divergence D(theta, theta') = D(p_theta, p_theta'), at theta' = theta:

    g_ij     = -d_i d'_j D          Gamma_ij,k  = -d_i d_j d'_k D          Gamma*_ij,k = -d'_i d'_j d_k D

For D = I_alpha, with l = log p_theta, expectations E^(alpha) under the escort p_theta^(alpha),
Cov^(alpha) its covariance and kappa^(alpha) its third joint cumulant (derived here; see README):

    g_ij        = alpha Cov^(alpha)(d_i l, d_j l) = (1/alpha) J^(alpha)_ij
    Gamma_ij,k  = alpha [Cov^(alpha)(d_ij l, d_k l) + kappa^(alpha)(d_i l, d_j l, d_k l)]
    Gamma*_ij,k = alpha [Cov^(alpha)(d_ij l, d_k l) + (alpha - 1) kappa^(alpha)(d_i l, d_j l, d_k l)]

where J^(alpha) = E^(alpha)[d_i log p^(alpha) d_j log p^(alpha)] is the Fisher information of the escort
model. At alpha = 1: g is Fisher's, Gamma the mixture and Gamma* the exponential connection.
Indices of a lowered connection are stored as C[i, j, k].
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import jacfwd, jacrev

from papers.csiszar_cramer_rao.divergence import (
    Support,
    check_alpha,
    escort,
    relative_alpha_entropy,
)
from papers.csiszar_cramer_rao.families import Family, _theta


def _divergence(family: Family, alpha: float, support: Support, divergence=None):
    if divergence is None:
        def divergence(log_p, log_q):
            return relative_alpha_entropy(log_p, log_q, alpha, support)
    return lambda t, t2: divergence(family.log_prob(t, support), family.log_prob(t2, support))


def _escort_weights(family: Family, theta, alpha: float, support: Support) -> torch.Tensor:
    log_p = family.log_prob(theta, support)
    return torch.exp(support.log_w + escort(log_p, alpha, support))


def score(family: Family, theta, support: Support) -> torch.Tensor:
    """d_i log p_theta(x_k) at the support points: [K, d]."""
    return jacfwd(lambda t: family.log_prob(t, support))(_theta(theta))


def metric(family: Family, theta, alpha: float, support: Support | None = None) -> torch.Tensor:
    """The metric of I_alpha from its closed form alpha Cov^(alpha)(score, score): [d, d]."""
    alpha = check_alpha(alpha)
    theta = _theta(theta)
    support = family.support(theta) if support is None else support
    weights = _escort_weights(family, theta, alpha, support)
    s = score(family, theta, support)
    centred = s - weights @ s
    return alpha * (centred * weights[:, None]).T @ centred


def escort_fisher(family: Family, theta, alpha: float, support: Support | None = None) -> torch.Tensor:
    """J^(alpha) = E^(alpha)[d log p^(alpha) d log p^(alpha)^T], the escort model's Fisher information,
    from the escort's own score (autograd of log p^(alpha)); equals alpha times the metric of I_alpha."""
    alpha = check_alpha(alpha)
    theta = _theta(theta)
    support = family.support(theta) if support is None else support

    def log_escort(t):
        return escort(family.log_prob(t, support), alpha, support)

    weights = torch.exp(support.log_w + log_escort(theta))
    s = jacfwd(log_escort)(theta)
    return (s * weights[:, None]).T @ s


def metric_eguchi(family: Family, theta, alpha: float, support: Support | None = None, divergence=None) -> torch.Tensor:
    """-d_i d'_j D(theta, theta') at theta' = theta by autograd (D = I_alpha unless `divergence`,
    a function of two log densities on the support, is given): [d, d]."""
    theta = _theta(theta)
    support = family.support(theta) if support is None else support
    D = _divergence(family, alpha, support, divergence)
    return -jacrev(jacrev(D, argnums=1), argnums=0)(theta, theta).T


def connections(family: Family, theta, alpha: float, support: Support | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(Gamma_ij,k, Gamma*_ij,k) of I_alpha from the closed forms: two [d, d, d] tensors."""
    alpha = check_alpha(alpha)
    theta = _theta(theta)
    support = family.support(theta) if support is None else support
    weights = _escort_weights(family, theta, alpha, support)

    def log_p(t):
        return family.log_prob(t, support)

    # per-point derivatives: forward mode (d inputs, K outputs)
    s = jacfwd(log_p)(theta)                       # [K, d]
    h = jacfwd(jacfwd(log_p))(theta)               # [K, d, d]
    s_c = s - weights @ s
    h_c = h - torch.einsum("k,kij->ij", weights, h)
    cov_hs = torch.einsum("k,kij,kl->ijl", weights, h_c, s_c)
    kappa = torch.einsum("k,ki,kj,kl->ijl", weights, s_c, s_c, s_c)
    return alpha * (cov_hs + kappa), alpha * (cov_hs + (alpha - 1) * kappa)


def connections_eguchi(family: Family, theta, alpha: float, support: Support | None = None,
                       divergence=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(Gamma, Gamma*) as third derivatives of the divergence by autograd: two [d, d, d] tensors."""
    theta = _theta(theta)
    support = family.support(theta) if support is None else support
    D = _divergence(family, alpha, support, divergence)
    # jacrev appends the new derivative's index last: d'_k, then d_i, then d_j -> [k, i, j]
    primal = -jacrev(jacrev(jacrev(D, argnums=1), argnums=0), argnums=0)(theta, theta)
    dual = -jacrev(jacrev(jacrev(D, argnums=0), argnums=1), argnums=1)(theta, theta)
    return primal.permute(1, 2, 0), dual.permute(1, 2, 0)


def christoffel(g: torch.Tensor, lowered: torch.Tensor) -> torch.Tensor:
    """Gamma^l_ij = g^lk Gamma_ij,k: [l, i, j]."""
    return torch.einsum("lk,ijk->lij", torch.linalg.inv(g), lowered)


def curvature(christoffel_at: Callable[[torch.Tensor], torch.Tensor], theta) -> torch.Tensor:
    """Riemann tensor R^l_kij = d_i G^l_jk - d_j G^l_ik + G^l_im G^m_jk - G^l_jm G^m_ik of the connection
    with coefficients G^l_ij = christoffel_at(theta)[l, i, j] (derivatives by autograd): [l, k, i, j]."""
    theta = _theta(theta)
    G = christoffel_at(theta)
    dG = jacrev(christoffel_at)(theta)             # [l, a, b, m] = d_m G^l_ab
    return (torch.einsum("ljki->lkij", dG) - torch.einsum("likj->lkij", dG)
            + torch.einsum("lim,mjk->lkij", G, G) - torch.einsum("ljm,mik->lkij", G, G))


def ialpha_christoffel(family: Family, alpha: float, support: Support | None = None, dual: bool = False):
    """theta -> Gamma^l_ij of I_alpha's primal (or dual) connection on `family` (closed forms)."""
    def at(theta):
        sup = family.support(theta) if support is None else support
        lowered = connections(family, theta, alpha, sup)[1 if dual else 0]
        return christoffel(metric(family, theta, alpha, sup), lowered)
    return at
