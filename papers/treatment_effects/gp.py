"""Exact Gaussian-process regression on learned features, in closed form, one regressor per arm.

`BayesianLinearRegression` (DKLITE's default): a GP with a *linear* kernel k(z, z') = z.z' / alpha,
computed in its primal (weight-space) form, f(z) = w.z with prior w ~ N(0, I / alpha) and Gaussian
noise of precision beta; alpha and beta are fixed (the public DKLITE code uses alpha = 1000,
beta = 1). The cost is a d x d Cholesky factor (d = feature size), whatever the number of units.

`GaussianProcess`: ARD RBF kernel in dual form, with learned signal scale, per-feature lengthscales
and noise (an n x n Cholesky factor); kept as `model.kernel=rbf`.

Both compute in float64 and return the per-unit negative log marginal likelihood, the posterior
mean and the posterior variance of the latent function (noise excluded).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

JITTERS = (0.0, 1e-8, 1e-6, 1e-4, 1e-2)
EVIDENCE = ("none", "prior", "noise", "both")  # which precisions BayesianLinearRegression re-estimates by the evidence


def rbf_kernel(a: torch.Tensor, b: torch.Tensor, lengthscales: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """scale * exp(-|a - b|^2 / 2) on inputs divided by their lengthscales: (n, d), (m, d) -> (n, m)."""
    a, b = a / lengthscales, b / lengthscales
    squared = (a * a).sum(-1, keepdim=True) - 2 * a @ b.T + (b * b).sum(-1)
    return scale * torch.exp(-0.5 * squared.clamp_min(0))


@dataclass
class Posterior:
    """A GP conditioned on (inputs, targets): the Cholesky factor and weights that predictions need."""

    inputs: torch.Tensor | None  # training inputs (RBF, dual form); None in primal form
    cholesky: torch.Tensor  # of K + noise I (RBF, n x n), or of the weights' posterior precision (linear, d x d)
    weights: torch.Tensor  # K^-1 y (RBF), or the posterior mean of the weights (linear)
    negative_log_likelihood: torch.Tensor  # per point
    # Linear kernel only: the public DKLITE code's data-fit term, -(alpha/d) (Z'y)' A^-1 (Z'y) (no log-determinant)
    released_fit: torch.Tensor | None = None
    prior_precision: torch.Tensor | None = None  # linear kernel: the alpha and beta this posterior used
    noise_precision: torch.Tensor | None = None


def cholesky_with_jitter(matrix: torch.Tensor, owner) -> torch.Tensor:
    """Cholesky factor; on failure retries with growing jitter on the diagonal, warning once per owner."""
    eye = torch.eye(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
    for jitter in JITTERS:
        factor, info = torch.linalg.cholesky_ex(matrix + jitter * eye)
        if int(info) == 0:
            if jitter > 0 and not owner.warned_about_jitter:
                warnings.warn(
                    f"{type(owner).__name__}: matrix of size {matrix.shape[0]} was not positive definite; "
                    f"added jitter {jitter:g} to its diagonal (said once per regressor)",
                    RuntimeWarning, stacklevel=3,
                )
                owner.warned_about_jitter = True
            return factor
    raise torch.linalg.LinAlgError(
        f"{type(owner).__name__}: matrix of size {matrix.shape[0]} stays singular with jitter up to {JITTERS[-1]:g}"
    )


class BayesianLinearRegression(nn.Module):
    """f(z) = w.z, w ~ N(0, I / prior_precision), y = f(z) + N(0, 1 / noise_precision); both fixed.

    Equivalent to a GP with the linear kernel z.z' / prior_precision, solved in weight space:
    A = prior_precision I + noise_precision Z'Z (d x d), posterior mean m = noise_precision A^-1 Z'y,
    posterior latent variance at z: z' A^-1 z.
    """

    def __init__(self, input_dim: int, prior_precision: float = 1000.0, noise_precision: float = 1.0,
                 learn_noise: bool = False, learn_prior: bool = False, evidence: str = "none",
                 hyperprior_strength: float = 0.0):
        super().__init__()
        if input_dim < 1 or prior_precision <= 0 or noise_precision <= 0:
            raise ValueError(
                "Bayesian linear regression needs input_dim >= 1, prior_precision > 0 and noise_precision > 0, "
                f"got {input_dim}, {prior_precision}, {noise_precision}"
            )
        self.input_dim = input_dim
        # learn_noise / learn_prior: the noise / prior precision is a parameter fit by the marginal
        # likelihood (type-II maximum likelihood), starting at the given value; else it stays fixed.
        for name, value, learn in (("log_noise_precision", noise_precision, learn_noise),
                                   ("log_prior_precision", prior_precision, learn_prior)):
            log_value = torch.tensor(math.log(value), dtype=torch.float64)
            if learn:
                setattr(self, name, nn.Parameter(log_value))
            else:
                self.register_buffer(name, log_value)
        # evidence: "both": alpha and beta are re-estimated at every conditioning by the evidence
        # approximation (MacKay's fixed point, Bishop PRML 3.5.2) on the current features, starting from
        # the values above; "prior": alpha only (beta as given); "noise": beta only; "none": both as given.
        if evidence not in EVIDENCE:
            raise ValueError(f"evidence must be one of {EVIDENCE}, got {evidence!r}")
        self.evidence = evidence
        # hyperprior_strength nu > 0: the evidence maximises the marginal likelihood times Gamma hyperpriors on
        # alpha and beta (MAP-II), each with shape 1 + nu/2 and its mode at the given precision (rate
        # nu / (2 * given)): nu pseudo-observations pulling alpha and beta back towards the given values.
        if hyperprior_strength < 0:
            raise ValueError(f"hyperprior_strength must be >= 0, got {hyperprior_strength}")
        self.hyperprior_strength = hyperprior_strength
        self.warned_about_jitter = False

    @property
    def noise_precision(self) -> torch.Tensor:
        return self.log_noise_precision.exp()

    @torch.no_grad()
    def evidence_precisions(self, inputs: torch.Tensor, targets: torch.Tensor, iterations: int = 30,
                            update_noise: bool = True, update_prior: bool = True):
        """(alpha, beta) maximising the marginal likelihood of `targets` on fixed `inputs` (no gradient);
        update_noise / update_prior=False keeps that precision at its given value."""
        inputs, targets = inputs.double(), targets.double().reshape(-1)
        n = inputs.shape[0]
        eigenvalues, vectors = torch.linalg.eigh(inputs.T @ inputs)
        eigenvalues = eigenvalues.clamp_min(0)
        projected = vectors.T @ (inputs.T @ targets)
        total = (targets**2).sum()
        alpha0, beta0 = self.prior_precision.double(), self.noise_precision.double()
        alpha, beta, nu = alpha0, beta0, self.hyperprior_strength
        for _ in range(iterations):
            weights = beta * projected / (alpha + beta * eigenvalues)
            gamma = (beta * eigenvalues / (alpha + beta * eigenvalues)).sum()
            residual = (total - 2 * (weights * projected).sum() + (eigenvalues * weights**2).sum()).clamp_min(1e-12)
            # Stationary point of log evidence + log Gamma(alpha; 1 + nu/2, nu/(2 alpha0)) (+ the same for beta):
            # nu = 0 is MacKay's fixed point alpha = gamma / |m|^2, beta = (n - gamma) / |y - Zm|^2.
            if update_prior:
                alpha = ((gamma + nu) / ((weights**2).sum() + nu / alpha0).clamp_min(1e-12)).clamp(1e-6, 1e6)
            if update_noise:
                beta = ((n - gamma + nu).clamp_min(1e-6) / (residual + nu / beta0)).clamp(1e-6, 1e6)
        return alpha, beta

    @property
    def prior_precision(self) -> torch.Tensor:
        return self.log_prior_precision.exp()

    def prior_variance(self, inputs: torch.Tensor, posterior: Posterior | None = None) -> torch.Tensor:
        """Prior variance of f at `inputs`: |z|^2 / prior_precision (the one `posterior` used, if given)."""
        alpha = self.prior_precision if posterior is None or posterior.prior_precision is None else posterior.prior_precision
        return (inputs.double() ** 2).sum(-1) / alpha.to(torch.float64)

    def condition(self, inputs: torch.Tensor, targets: torch.Tensor) -> Posterior:
        inputs, targets = inputs.double(), targets.double().reshape(-1, 1)
        n, d = inputs.shape
        if n == 0:
            raise ValueError("a regressor needs at least one training point")
        if self.evidence != "none":
            alpha, beta = self.evidence_precisions(inputs, targets, update_noise=self.evidence in ("noise", "both"),
                                                  update_prior=self.evidence in ("prior", "both"))
        else:
            alpha, beta = self.prior_precision.to(inputs.dtype), self.noise_precision.to(inputs.dtype)
        precision = alpha * torch.eye(d, dtype=inputs.dtype, device=inputs.device) + beta * inputs.T @ inputs
        factor = cholesky_with_jitter(precision, self)
        mean = beta * torch.cholesky_solve(inputs.T @ targets, factor)  # (d, 1)
        residual = targets - inputs @ mean
        log_det = 2 * torch.log(torch.diagonal(factor)).sum()  # log |A|
        # -log N(y; 0, Z Z'/alpha + I/beta), written with the weights' posterior (Bishop, PRML eq. 3.86)
        nll = (0.5 * beta * (residual**2).sum() + 0.5 * alpha * (mean**2).sum() + 0.5 * log_det
               - 0.5 * d * torch.log(alpha) - 0.5 * n * torch.log(beta) + 0.5 * n * math.log(2 * math.pi))
        explained = torch.linalg.solve_triangular(factor, inputs.T @ targets, upper=False)  # L^-1 Z'y
        released_fit = -(alpha / d) * (explained**2).sum()
        return Posterior(None, factor, mean, nll / n, released_fit, alpha, beta)

    def predict(self, posterior: Posterior, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and variance of the latent function (noise excluded) at `inputs`."""
        inputs = inputs.double()
        mean = (inputs @ posterior.weights).squeeze(-1)
        solved = torch.linalg.solve_triangular(posterior.cholesky, inputs.T, upper=False)  # L^-1 z
        return mean, (solved * solved).sum(0)


class GaussianProcess(nn.Module):
    def __init__(self, input_dim: int, lengthscale: float = 1.0, scale: float = 1.0, noise: float = 0.1):
        super().__init__()
        if min(lengthscale, scale, noise) <= 0:
            raise ValueError(f"GP lengthscale, scale and noise must be > 0, got {lengthscale}, {scale}, {noise}")
        double = torch.float64
        self.log_lengthscales = nn.Parameter(torch.full((input_dim,), math.log(lengthscale), dtype=double))
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale), dtype=double))
        self.log_noise = nn.Parameter(torch.tensor(math.log(noise), dtype=double))
        self.warned_about_jitter = False

    @property
    def lengthscales(self) -> torch.Tensor:
        return self.log_lengthscales.exp()

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp()

    @property
    def noise(self) -> torch.Tensor:
        return self.log_noise.exp()

    def prior_variance(self, inputs: torch.Tensor, posterior: Posterior | None = None) -> torch.Tensor:
        """Prior variance of f at `inputs`: the signal scale, the same everywhere."""
        return self.scale.expand(inputs.shape[0])

    def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return rbf_kernel(a.double(), b.double(), self.lengthscales, self.scale)

    def _cholesky(self, matrix: torch.Tensor) -> torch.Tensor:
        return cholesky_with_jitter(matrix, self)

    def condition(self, inputs: torch.Tensor, targets: torch.Tensor) -> Posterior:
        """Exact posterior given noisy targets; its marginal likelihood is what training maximises."""
        inputs, targets = inputs.double(), targets.double().reshape(-1, 1)
        n = inputs.shape[0]
        if n == 0:
            raise ValueError("a GP needs at least one training point")
        covariance = self.kernel(inputs, inputs) + self.noise * torch.eye(n, dtype=inputs.dtype, device=inputs.device)
        factor = self._cholesky(covariance)
        weights = torch.cholesky_solve(targets, factor)
        log_det = 2 * torch.log(torch.diagonal(factor)).sum()
        nll = 0.5 * (targets * weights).sum() + 0.5 * log_det + 0.5 * n * math.log(2 * math.pi)
        return Posterior(inputs, factor, weights, nll / n)

    def predict(self, posterior: Posterior, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and variance of the latent function (noise excluded) at `inputs`."""
        cross = self.kernel(posterior.inputs, inputs)  # (n, m)
        mean = (cross * posterior.weights).sum(0)
        solved = torch.linalg.solve_triangular(posterior.cholesky, cross, upper=False)
        variance = (self.scale - (solved * solved).sum(0)).clamp_min(0)
        return mean, variance
