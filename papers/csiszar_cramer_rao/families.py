"""Parametric families on a support, their escorts and escort samplers.

Each family gives normalised log densities at the points of a `Support` as a differentiable function
of theta (a 1-D float64 tensor), a support fit for quadrature around a parameter, a check that its
escort p^alpha / sum p^alpha exists, and draws from the escort (numpy Generator, float64):

- `NormalLocation(sigma)`: N(theta, sigma^2); its escort is N(theta, sigma^2 / alpha).
- `StudentTLocation(nu)`: t_nu(theta, 1); its escort is t_nu'(theta, sqrt(nu / nu')) with
  nu' = alpha (nu + 1) - 1, which exists only for alpha > 1 / (nu + 1).
- `PowerLaw(index)`: the alpha-power-law family on R with f(x) = x^2,
  p_theta(x) ∝ [1 + (1 - index) theta x^2]_+^(1/(index - 1)) (theta > 0; a Student-t shape for
  index < 1, compact support for index > 1, exp(-theta x^2) at index 1). Its escort of order alpha is
  a scaled t (index < 1), a scaled symmetric Beta (index > 1) or a normal (index 1).
- `DiscretePowerLaw(values, features, index)`: p_theta(x) ∝ [1 + (1 - index) <theta, f(x)>]^(1/(index - 1))
  on a finite set, exp(-<theta, f>) at index 1.
- `DiscreteExponential(values, features)`: p_theta(x) ∝ exp(<theta, f(x)>) on a finite set.

Student-t with nu degrees of freedom is the power-law family of index (nu - 1)/(nu + 1) (theta =
(nu + 1)/(2 nu)): (1 + x^2/nu)^(-(nu+1)/2) = [1 + (1 - a) theta x^2]^(1/(a-1)).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from scipy.special import roots_legendre

from common.errors import ConfigError
from papers.csiszar_cramer_rao.divergence import DTYPE, Support, check_alpha, escort

QUADRATURE_NODES = 1601


@lru_cache(maxsize=8)
def _gauss_legendre(nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    u, v = roots_legendre(nodes)  # Golub-Welsch: O(nodes^2), numpy's leggauss is O(nodes^3)
    return torch.tensor(u, dtype=DTYPE), torch.tensor(v, dtype=DTYPE)


def real_line(centre: float, scale: float, nodes: int = QUADRATURE_NODES) -> Support:
    """Quadrature of integrals over R: x = centre + scale tan(pi u / 2), u Gauss-Legendre on (-1, 1)
    (algebraic and Gaussian tails become smooth or vanishing ends in u)."""
    u, v = _gauss_legendre(nodes)
    half = math.pi / 2 * u
    x = centre + scale * torch.tan(half)
    log_w = torch.log(v) + math.log(scale * math.pi / 2) - 2 * torch.log(torch.cos(half))
    return Support(x, log_w)


def interval(centre: float, radius: float, nodes: int = QUADRATURE_NODES) -> Support:
    """Quadrature over (centre - radius, centre + radius): x = centre + radius sin(pi u / 2), so that
    densities vanishing like a power of the distance to the ends become smooth in u."""
    u, v = _gauss_legendre(nodes)
    half = math.pi / 2 * u
    x = centre + radius * torch.sin(half)
    log_w = torch.log(v) + math.log(radius * math.pi / 2) + torch.log(torch.cos(half))
    return Support(x, log_w)


def _theta(theta) -> torch.Tensor:
    theta = torch.as_tensor(theta, dtype=DTYPE)
    return theta.reshape(1) if theta.dim() == 0 else theta


class Family:
    """A parametric family: `log_prob(theta, support)`, `support(theta)`, `check_escort(alpha)`,
    `sample_escort(theta, alpha, shape, rng)`; `statistic(x)` is the f the family is linear in (None
    for a location family)."""

    name = "family"
    dim = 1
    location = False

    def log_prob(self, theta: torch.Tensor, support: Support) -> torch.Tensor:
        raise NotImplementedError

    def support(self, theta) -> Support:
        raise NotImplementedError

    def check_escort(self, alpha: float) -> None:
        check_alpha(alpha)

    def check_theta(self, theta) -> None:
        """A ConfigError for a parameter outside the family."""

    def estimator_variance_finite(self, alpha: float) -> None:
        """A ConfigError when the family's grid estimators have no finite escort variance at alpha."""
        self.check_escort(alpha)

    def sample_escort(self, theta, alpha: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def statistic(self, x):
        return None

    def describe(self) -> str:
        return self.name


class NormalLocation(Family):
    location = True

    def __init__(self, sigma: float = 1.0):
        if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
            raise ConfigError(f"normal family: sigma must be > 0, got {sigma!r}")
        self.sigma = float(sigma)
        self.name = "normal"

    def describe(self) -> str:
        return f"normal (sigma={self.sigma:g})"

    def log_prob(self, theta, support):
        z = (support.x - _theta(theta)[0]) / self.sigma
        return -0.5 * z**2 - math.log(self.sigma * math.sqrt(2 * math.pi))

    def support(self, theta) -> Support:
        return real_line(float(_theta(theta)[0]), self.sigma)

    def sample_escort(self, theta, alpha, shape, rng):
        alpha = check_alpha(alpha)
        return float(_theta(theta)[0]) + self.sigma / math.sqrt(alpha) * rng.standard_normal(shape)

    def escort_fisher_closed_form(self, alpha: float) -> float:
        """Fisher information of the escort model N(theta, sigma^2/alpha): alpha / sigma^2."""
        return alpha / self.sigma**2


class StudentTLocation(Family):
    location = True

    def __init__(self, nu: float = 10.0):
        if not (isinstance(nu, int | float) and math.isfinite(nu) and nu > 0):
            raise ConfigError(f"student_t family: nu must be > 0, got {nu!r}")
        self.nu = float(nu)
        self.name = "student_t"

    def describe(self) -> str:
        return f"student_t (nu={self.nu:g})"

    def escort_dof(self, alpha: float) -> float:
        return alpha * (self.nu + 1.0) - 1.0

    def check_escort(self, alpha):
        alpha = check_alpha(alpha)
        if self.escort_dof(alpha) <= 0:
            raise ConfigError(
                f"family student_t (nu={self.nu:g}) has no escort at alpha={alpha:g}: p ~ |x|^-{self.nu + 1:g} in the "
                f"tails, so p^alpha ~ |x|^-{alpha * (self.nu + 1):g} is not integrable (needs alpha > 1/(nu+1) = "
                f"{1 / (self.nu + 1):.4g})")

    def estimator_variance_finite(self, alpha):
        self.check_escort(alpha)
        if self.escort_dof(alpha) <= 4:
            raise ConfigError(
                f"family student_t (nu={self.nu:g}) at alpha={alpha:g}: the escort is t with "
                f"{self.escort_dof(alpha):.4g} degrees of freedom; the sample mean's variance and its standard "
                f"error need a finite fourth moment, i.e. more than 4 (alpha > 5/(nu+1) = {5 / (self.nu + 1):.4g})")

    def log_prob(self, theta, support):
        nu = self.nu
        const = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
        return const - (nu + 1) / 2 * torch.log1p((support.x - _theta(theta)[0]) ** 2 / nu)

    def support(self, theta) -> Support:
        return real_line(float(_theta(theta)[0]), 1.0)

    def sample_escort(self, theta, alpha, shape, rng):
        self.check_escort(alpha)
        dof = self.escort_dof(alpha)
        return float(_theta(theta)[0]) + math.sqrt(self.nu / dof) * rng.standard_t(dof, shape)

    def escort_fisher_closed_form(self, alpha: float) -> float:
        """Fisher information of the escort model t_nu'(theta, s), s^2 = nu/nu': (nu'+1)/((nu'+3) s^2)."""
        dof = self.escort_dof(alpha)
        return (dof + 1) / ((dof + 3) * self.nu / dof)


class PowerLaw(Family):
    """p_theta(x) ∝ [1 + (1 - index) theta x^2]_+^(1/(index-1)) on R, theta > 0 (f(x) = x^2)."""

    def __init__(self, index: float):
        self.index = check_alpha(index, "power_law index")
        self.name = "power_law_q"

    def describe(self) -> str:
        return f"power_law_q (index={self.index:g}, f(x)=x^2)"

    def check_theta(self, theta):
        if float(_theta(theta)[0]) <= 0:
            raise ConfigError(f"family power_law_q: theta must be > 0 (an inverse squared scale), got {theta}")

    def _escort_exponent(self, alpha: float) -> float:
        """p^alpha ∝ [1 + (1-index) theta x^2]^(alpha/(index-1)); for index < 1 the tail is |x|^-(2 alpha/(1-index))."""
        return 2 * alpha / (1 - self.index)

    def check_escort(self, alpha):
        alpha = check_alpha(alpha)
        if self.index < 1 and self._escort_exponent(alpha) <= 1:
            raise ConfigError(
                f"family power_law_q (index={self.index:g}) has no escort at alpha={alpha:g}: p^alpha ~ "
                f"|x|^-{self._escort_exponent(alpha):.4g} in the tails is not integrable "
                f"(needs 2 alpha/(1-index) > 1, i.e. alpha > {(1 - self.index) / 2:.4g}; alpha > 1/3 when index = alpha)")

    def estimator_variance_finite(self, alpha):
        self.check_escort(alpha)
        if self.index < 1 and self._escort_exponent(alpha) <= 9:
            raise ConfigError(
                f"family power_law_q (index={self.index:g}) at alpha={alpha:g}: the variance of the mean of "
                f"f(x) = x^2 and its standard error need E x^8 < infinity under the escort, i.e. "
                f"2 alpha/(1-index) > 9 (alpha > 9/11 when index = alpha)")

    def _log_unnormalised(self, theta, x):
        t = _theta(theta)[0]
        if self.index == 1.0:
            return -t * x**2
        return torch.log1p((1 - self.index) * t * x**2) / (self.index - 1)

    def log_prob(self, theta, support):
        log_p = self._log_unnormalised(theta, support.x)
        return log_p - support.integrate_log(log_p)

    def support(self, theta) -> Support:
        t = float(_theta(theta)[0])
        if self.index < 1:
            return real_line(0.0, 1 / math.sqrt((1 - self.index) * t))
        if self.index == 1:
            return real_line(0.0, 1 / math.sqrt(2 * t))
        return interval(0.0, 1 / math.sqrt((self.index - 1) * t))

    def sample_escort(self, theta, alpha, shape, rng):
        self.check_escort(alpha)
        t = float(_theta(theta)[0])
        if self.index == 1:
            return rng.standard_normal(shape) / math.sqrt(2 * alpha * t)
        if self.index < 1:
            dof = self._escort_exponent(alpha) - 1
            return rng.standard_t(dof, shape) / math.sqrt(dof * (1 - self.index) * t)
        shape_b = alpha / (self.index - 1) + 1
        return (2 * rng.beta(shape_b, shape_b, shape) - 1) / math.sqrt((self.index - 1) * t)

    def statistic(self, x):
        return x**2


class _Discrete(Family):
    def __init__(self, values, features=None):
        self.values = np.asarray(values, dtype=np.float64)
        if self.values.ndim != 1 or len(self.values) < 2:
            raise ConfigError(f"a discrete family needs >= 2 support points, got {values!r}")
        features = self.values[:, None] if features is None else np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] != len(self.values):
            raise ConfigError(f"features must be a (support size) x (parameters) array, got shape {features.shape}")
        self.features = torch.tensor(features, dtype=DTYPE)
        self.dim = features.shape[1]
        self._support = Support.finite(self.values)

    def support(self, theta=None) -> Support:
        return self._support

    def log_prob(self, theta, support=None):
        log_p = self._log_unnormalised(_theta(theta))
        return log_p - torch.logsumexp(log_p, 0)

    def sample_escort(self, theta, alpha, shape, rng):
        self.check_theta(theta)
        with torch.no_grad():
            log_p = self.log_prob(_theta(theta))
            probs = torch.exp(escort(log_p, alpha, self._support)).numpy()
        index = rng.choice(len(self.values), size=shape, p=probs / probs.sum())
        return self.values[index]

    def statistic(self, x):
        return x  # the one-parameter families of the grid have f(x) = x


class DiscretePowerLaw(_Discrete):
    def __init__(self, values, index: float, features=None):
        super().__init__(values, features)
        self.index = check_alpha(index, "power_law index")
        self.name = "power_law"

    def describe(self) -> str:
        return f"power_law (index={self.index:g}, {len(self.values)} points)"

    def check_theta(self, theta):
        inner = 1 + (1 - self.index) * (self.features @ _theta(theta))
        if self.index != 1 and bool((inner <= 0).any()):
            raise ConfigError(f"family power_law (index={self.index:g}): 1 + (1-index) <theta, f(x)> must be > 0 on the "
                              f"support, theta={_theta(theta).tolist()} gives {inner.min().item():.4g}")

    def _log_unnormalised(self, theta):
        inner = self.features @ theta
        if self.index == 1.0:
            return -inner
        return torch.log1p((1 - self.index) * inner) / (self.index - 1)


class DiscreteExponential(_Discrete):
    def __init__(self, values, features=None):
        super().__init__(values, features)
        self.name = "exponential"

    def describe(self) -> str:
        return f"exponential ({len(self.values)} points)"

    def _log_unnormalised(self, theta):
        return self.features @ theta


def make_family(spec: dict, alpha: float) -> Family:
    """A family from its config entry ({kind: normal | student_t | power_law | power_law_q | exponential, ...});
    the power-law families take the grid's alpha as their index (the alpha-power-law family)."""
    kind = spec.get("kind")
    if kind == "normal":
        return NormalLocation(spec.get("sigma", 1.0))
    if kind == "student_t":
        return StudentTLocation(spec.get("nu", 10.0))
    if kind == "power_law_q":
        return PowerLaw(alpha)
    if kind == "power_law":
        return DiscretePowerLaw(np.arange(int(spec.get("support", 6))), alpha)
    if kind == "exponential":
        return DiscreteExponential(np.arange(int(spec.get("support", 6))))
    raise ConfigError(f"unknown family kind {kind!r}; choose one of normal, student_t, power_law, power_law_q, exponential")
