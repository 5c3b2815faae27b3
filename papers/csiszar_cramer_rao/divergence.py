"""Relative alpha-entropy, escorts and their relatives on a support (float64 torch, differentiable).

A distribution is given by its log density at the points of a `Support`: the points of a finite
set (weights 1, the counting measure) or quadrature nodes on the real line (log quadrature weights),
so that sum_k exp(log_w_k) h(x_k) stands for the sum or the integral of h. Every function below takes
log densities at those points; they need not be normalised where a function says so.

Definitions (alpha > 0, alpha != 1; Sundaresan's relative alpha-entropy, the logarithmic or projective
power divergence):

    I_alpha(p, q) = alpha/(1-alpha) log sum p q^(alpha-1) - 1/(1-alpha) log sum p^alpha + log sum q^alpha
    escort        p^(alpha) = p^alpha / sum p^alpha
    I_alpha(p, q) = D_(1/alpha)(p^(alpha) || q^(alpha))   (Renyi divergence of order 1/alpha of the escorts)

and I_1 = KL. I_alpha is projective: it does not change when p or q is scaled.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from common.errors import ConfigError

DTYPE = torch.float64


@dataclass(frozen=True)
class Support:
    """Points x_k and log weights log_w_k: sum_k exp(log_w_k) h(x_k) is the sum (finite set) or the
    quadrature of the integral (real line) of h."""

    x: torch.Tensor
    log_w: torch.Tensor

    @classmethod
    def finite(cls, points) -> Support:
        x = torch.as_tensor(points, dtype=DTYPE)
        return cls(x, torch.zeros(x.shape[0], dtype=DTYPE))

    def integrate_log(self, log_h: torch.Tensor) -> torch.Tensor:
        """log sum_k w_k exp(log_h_k) (over the first dimension)."""
        return torch.logsumexp(self.log_w + log_h, dim=0)


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """alpha as a float; a ConfigError unless it is a finite number > 0 (the escort needs alpha > 0)."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha <= 0:
        raise ConfigError(f"{name} must be a finite number > 0 (the escort p^alpha / sum p^alpha needs alpha > 0), "
                          f"got {alpha!r}")
    return float(alpha)


def normalise(log_density: torch.Tensor, support: Support) -> torch.Tensor:
    """log p - log sum p: the normalised log density."""
    return log_density - support.integrate_log(log_density)


def escort(log_p: torch.Tensor, alpha: float, support: Support) -> torch.Tensor:
    """log p^(alpha) = alpha log p - log sum p^alpha (p need not be normalised)."""
    check_alpha(alpha)
    return alpha * log_p - support.integrate_log(alpha * log_p)


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor, support: Support) -> torch.Tensor:
    """KL(p || q) for normalised p and q."""
    return torch.sum(torch.exp(support.log_w + log_p) * (log_p - log_q))


def relative_alpha_entropy(log_p: torch.Tensor, log_q: torch.Tensor, alpha: float, support: Support) -> torch.Tensor:
    """I_alpha(p, q) (Sundaresan); KL(p || q) at alpha = 1. Projective, so p and q need not be
    normalised (except at alpha = 1, where they must be)."""
    alpha = check_alpha(alpha)
    if alpha == 1.0:
        return kl_divergence(normalise(log_p, support), normalise(log_q, support), support)
    cross = support.integrate_log(log_p + (alpha - 1.0) * log_q)
    own = support.integrate_log(alpha * log_p)
    other = support.integrate_log(alpha * log_q)
    return alpha / (1.0 - alpha) * cross - own / (1.0 - alpha) + other


def renyi_divergence(log_p: torch.Tensor, log_q: torch.Tensor, order: float, support: Support) -> torch.Tensor:
    """D_order(p || q) = 1/(order-1) log sum p^order q^(1-order), for normalised p, q; KL at order 1."""
    order = check_alpha(order, "order")
    if order == 1.0:
        return kl_divergence(log_p, log_q, support)
    return support.integrate_log(order * log_p + (1.0 - order) * log_q) / (order - 1.0)


def csiszar_f_alpha(alpha: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """f(u) = sgn(1 - alpha)(u^(1/alpha) - 1): convex with f(1) = 0, and
    I_alpha(p, q) = alpha/(1-alpha) log(1 + sgn(1-alpha) D_f(p^(alpha) || q^(alpha)))."""
    alpha = check_alpha(alpha)
    sign = math.copysign(1.0, 1.0 - alpha)
    return lambda u: sign * (u ** (1.0 / alpha) - 1.0)


def generalized_csiszar(log_p: torch.Tensor, log_q: torch.Tensor, alpha: float, f: Callable[[torch.Tensor], torch.Tensor],
                        support: Support) -> torch.Tensor:
    """D_f^(alpha)(p, q) = D_f(p^(alpha) || q^(alpha)) = sum q^(alpha) f(p^(alpha) / q^(alpha)): Csiszar's
    f-divergence of the escorts (f convex, f(1) = 0)."""
    log_pe, log_qe = escort(log_p, alpha, support), escort(log_q, alpha, support)
    return torch.sum(torch.exp(support.log_w + log_qe) * f(torch.exp(log_pe - log_qe)))


def escort_moments(log_p: torch.Tensor, alpha: float, support: Support) -> torch.Tensor:
    """The escort's probabilities on the support (weights included): E^(alpha)[h] = (P * h).sum(0)."""
    return torch.exp(support.log_w + escort(log_p, alpha, support))
