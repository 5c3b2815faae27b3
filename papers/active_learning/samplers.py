"""Step two of the two-step design: turn scores into a batch of pool positions."""
from __future__ import annotations

import numpy as np

from common.errors import ConfigError


def check_batch(scores: np.ndarray, batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_size > len(scores):
        raise ConfigError(f"batch_size={batch_size} is larger than the unlabelled pool ({len(scores)} points)")


def top_k(scores: np.ndarray, batch_size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The batch_size highest scores; ties broken by position (stable), so the choice is deterministic."""
    scores = np.asarray(scores, dtype=np.float64)
    check_batch(scores, batch_size)
    return np.argsort(-scores, kind="stable")[:batch_size]


def probabilistic(scores: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw batch_size positions without replacement with probability proportional to the scores
    (shifted to be >= 0; uniform when every score is equal)."""
    scores = np.asarray(scores, dtype=np.float64)
    check_batch(scores, batch_size)
    weights = scores - scores.min()
    if weights.sum() <= 0 or not np.isfinite(weights.sum()):
        weights = np.ones_like(scores)
    positive = np.count_nonzero(weights)
    if positive < batch_size:  # not enough positive mass: the rest uniformly among the zeros
        weights = weights + weights.sum() * 1e-9 + 1e-300
    return rng.choice(len(scores), size=batch_size, replace=False, p=weights / weights.sum())


SAMPLERS = {"top_k": top_k, "probabilistic": probabilistic}
