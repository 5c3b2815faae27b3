"""The mathematical core: grouped Gaussian posteriors, Gaussian KL, the Donsker-Varadhan bound, the
adaptive penalty weight, and the positive / negative pairs of the mutual-information critic.

Shapes: a batch of B groups of G images is kept as (B, G, ...) tensors; codes are (B, G, d).
"""
from __future__ import annotations

import math

import torch

from common.errors import ConfigError

GROUPINGS = ("mlvae", "gvae")


def product_of_gaussians(mean: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ML-VAE's group posterior: the normalised product of the members' diagonal Gaussians.

    mean, logvar: (B, G, d) -> (B, d) mean and log-variance, precision = sum of the members' precisions,
    mean = precision-weighted mean of the members' means."""
    precision = torch.exp(-logvar)
    total = precision.sum(dim=1)
    group_mean = (mean * precision).sum(dim=1) / total
    return group_mean, -torch.log(total)


def average_of_gaussians(mean: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GVAE's group posterior: the arithmetic mean of the members' means and of their variances."""
    return mean.mean(dim=1), torch.log(torch.exp(logvar).mean(dim=1))


def group_posterior(mean: torch.Tensor, logvar: torch.Tensor, grouping: str) -> tuple[torch.Tensor, torch.Tensor]:
    if grouping == "mlvae":
        return product_of_gaussians(mean, logvar)
    if grouping == "gvae":
        return average_of_gaussians(mean, logvar)
    raise ConfigError(f"model.grouping must be one of {GROUPINGS}, got {grouping!r}")


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)), summed over the last dimension."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(logvar)), summed over the last dimension."""
    return -0.5 * (((z - mean) ** 2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(dim=-1)


def donsker_varadhan(scores_joint: torch.Tensor, scores_marginal: torch.Tensor) -> torch.Tensor:
    """The Donsker-Varadhan lower bound on KL(P || Q) = I(X; Y) for P the joint and Q the product of
    marginals: E_P[T] - log E_Q[exp T], from critic scores on samples of each."""
    n = scores_marginal.numel()
    return scores_joint.mean() - (torch.logsumexp(scores_marginal.flatten(), dim=0) - math.log(n))


def update_lambda(lam: float, estimate: float, target: float, rate: float) -> float:
    """The adaptive penalty weight: lambda <- max(0, lambda + rate (I_hat / I* - 1)); it stops moving
    when the estimate reaches the target I*."""
    if target <= 0:
        raise ConfigError(f"model.mi_target must be > 0, got {target}")
    return max(0.0, lam + rate * (estimate / target - 1.0))


def scheduled_lambda(lam: float, estimate: float, target: float, rate: float, step: int, warmup: int) -> float:
    """The adaptive weight with a critic warm-up (our departure from the author's code, which adapts from
    the first iteration): lambda is held for the first `warmup` autoencoder iterations (steps 0 ..
    warmup - 1) while the critic learns, then follows `update_lambda`."""
    if warmup < 0:
        raise ConfigError(f"model.lambda_warmup must be >= 0 iterations, got {warmup}")
    return lam if step < warmup else update_lambda(lam, estimate, target, rate)


def critic_pairs(style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Style codes paired with the images of a (B, G) batch of groups, as (B, G, d) tensors.

    Positive: image (b, g) with the style code of another member of its group, (b, g + 1 mod G).
    Negative: image (b, g) with the style code of the same position in the next group, (b + 1 mod B, g)."""
    if style.ndim != 3 or style.shape[1] < 2:
        raise ValueError(f"critic pairs need (groups, members >= 2, dim) style codes, got {tuple(style.shape)}")
    if style.shape[0] < 2:
        raise ValueError("critic pairs need at least two groups in a batch (negatives come from another group)")
    return torch.roll(style, shifts=-1, dims=1), torch.roll(style, shifts=-1, dims=0)


def check_group_size(group_size: int, batch_size: int | None = None) -> None:
    """Clear errors for the grouping the model cannot use."""
    if not isinstance(group_size, int) or group_size < 2:
        raise ConfigError(f"group size must be an integer >= 2 (a group with one member shares nothing), got {group_size!r}")
    if batch_size is not None and batch_size % group_size:
        raise ConfigError(f"data.batch_size={batch_size} images is not a multiple of the group size {group_size}")
