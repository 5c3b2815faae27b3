"""Exact Gaussian-process regression in closed form: ARD RBF kernel, Cholesky with jitter retries.

One `GaussianProcess` holds the hyperparameters of one treatment arm (signal scale, a lengthscale
per feature, noise), all learned through the marginal likelihood. Computations run in float64:
kernels of a few hundred nearby points are ill-conditioned in float32.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

JITTERS = (0.0, 1e-8, 1e-6, 1e-4, 1e-2)


def rbf_kernel(a: torch.Tensor, b: torch.Tensor, lengthscales: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """scale * exp(-|a - b|^2 / 2) on inputs divided by their lengthscales: (n, d), (m, d) -> (n, m)."""
    a, b = a / lengthscales, b / lengthscales
    squared = (a * a).sum(-1, keepdim=True) - 2 * a @ b.T + (b * b).sum(-1)
    return scale * torch.exp(-0.5 * squared.clamp_min(0))


@dataclass
class Posterior:
    """A GP conditioned on (inputs, targets): the Cholesky factor and weights that predictions need."""

    inputs: torch.Tensor
    cholesky: torch.Tensor
    weights: torch.Tensor  # K^-1 y
    negative_log_likelihood: torch.Tensor  # per point


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

    def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return rbf_kernel(a.double(), b.double(), self.lengthscales, self.scale)

    def _cholesky(self, matrix: torch.Tensor) -> torch.Tensor:
        """Cholesky factor; on failure retries with growing jitter on the diagonal, warning once."""
        eye = torch.eye(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
        for jitter in JITTERS:
            factor, info = torch.linalg.cholesky_ex(matrix + jitter * eye)
            if int(info) == 0:
                if jitter > 0 and not self.warned_about_jitter:
                    warnings.warn(
                        f"GP kernel matrix ({matrix.shape[0]} points) was not positive definite; "
                        f"added jitter {jitter:g} to its diagonal (said once per GP)",
                        RuntimeWarning, stacklevel=3,
                    )
                    self.warned_about_jitter = True
                return factor
        raise torch.linalg.LinAlgError(
            f"GP kernel matrix ({matrix.shape[0]} points) stays singular with jitter up to {JITTERS[-1]:g}"
        )

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
