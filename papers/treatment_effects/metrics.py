"""Treatment-effect errors: sqrt(PEHE), |ATE error|, and their mean and standard error over runs."""
from __future__ import annotations

import numpy as np


def _effects(estimated, true) -> tuple[np.ndarray, np.ndarray]:
    estimated = np.asarray(estimated, dtype=float).ravel()
    true = np.asarray(true, dtype=float).ravel()
    if estimated.shape != true.shape or estimated.size == 0:
        raise ValueError(f"effects must be non-empty and of one length, got {estimated.shape} and {true.shape}")
    return estimated, true


def sqrt_pehe(estimated_effects, true_effects) -> float:
    """Root of the mean squared error of individual effects (Hill's precision in estimating HTE)."""
    estimated, true = _effects(estimated_effects, true_effects)
    return float(np.sqrt(np.mean((estimated - true) ** 2)))


def ate_error(estimated_effects, true_effects) -> float:
    """|mean estimated effect - mean true effect| over the same units."""
    estimated, true = _effects(estimated_effects, true_effects)
    return float(abs(estimated.mean() - true.mean()))


def mean_and_stderr(values) -> tuple[float, float]:
    """Mean and standard error (sample std with ddof=1 over sqrt(n)); 0 error for a single value."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("no values to average")
    if values.size == 1:
        return float(values[0]), 0.0
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def effect_errors(mu0_hat, mu1_hat, mu0, mu1, prefix: str) -> dict[str, float]:
    """sqrt(PEHE) and |ATE error| of predicted potential outcomes, keyed `<prefix>sqrt_pehe` / `<prefix>ate_error`."""
    estimated = np.asarray(mu1_hat, dtype=float) - np.asarray(mu0_hat, dtype=float)
    true = np.asarray(mu1, dtype=float) - np.asarray(mu0, dtype=float)
    return {f"{prefix}sqrt_pehe": sqrt_pehe(estimated, true), f"{prefix}ate_error": ate_error(estimated, true)}
