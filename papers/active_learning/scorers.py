"""Step one of the two-step design: score every unlabelled point (higher = query first).

Classification scorers take class probabilities `probs` of shape (N, K) (the mean over the model's
draws), or the draws themselves (T, N, K) for BALD. Regression scorers take predictive draws
(T, N) (MC-dropout passes, ensemble members or posterior samples). The formulas follow the
PyRelationAL repository (RelationRx/pyrelational):

- least confidence: (1 - max_k p_k) * K / (K - 1), in [0, 1]
- margin: 1 - (p_(1) - p_(2)), the two largest probabilities
- ratio: p_(2) / p_(1)
- entropy: -sum_k p_k log2 p_k / log2 K, in [0, 1]
- BALD (classification): H(E_t p_t) - E_t H(p_t), natural log
- BALD (regression): 0.5 log(1 + Var_t y_t)
- UCB: mean + kappa * sd; expected improvement with xi; Thompson: one random draw; greedy: the mean
- variance reduction: the summed reduction of the draws' covariance over the pool when x is labelled
  (Gaussian conditioning: sum_j Cov(x_j, x)^2 / (Var(x) + noise))
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from common.errors import ConfigError

_EPS = 1e-12


def _probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ConfigError(f"a classification scorer needs probabilities of shape (points, classes >= 2), got {probs.shape}")
    return probs


def _top2(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    part = -np.partition(-probs, 1, axis=1)
    return part[:, 0], part[:, 1]


def least_confidence(probs: np.ndarray) -> np.ndarray:
    probs = _probs(probs)
    k = probs.shape[1]
    return (1.0 - probs.max(axis=1)) * k / (k - 1)


def margin(probs: np.ndarray) -> np.ndarray:
    p1, p2 = _top2(_probs(probs))
    return 1.0 - (p1 - p2)


def ratio(probs: np.ndarray) -> np.ndarray:
    p1, p2 = _top2(_probs(probs))
    return p2 / np.maximum(p1, _EPS)


def entropy(probs: np.ndarray) -> np.ndarray:
    probs = _probs(probs)
    terms = np.where(probs > 0, probs * np.log2(np.maximum(probs, _EPS)), 0.0)
    return -terms.sum(axis=1) / math.log2(probs.shape[1])


def _nat_entropy(probs: np.ndarray) -> np.ndarray:
    return -np.where(probs > 0, probs * np.log(np.maximum(probs, _EPS)), 0.0).sum(axis=-1)


def bald_classification(draws: np.ndarray) -> np.ndarray:
    """Mutual information between the label and the model: H(E_t p_t) - E_t H(p_t) over draws (T, N, K)."""
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim != 3:
        raise ConfigError(f"BALD needs predictive draws of shape (draws, points, classes), got {draws.shape}")
    return np.maximum(_nat_entropy(draws.mean(axis=0)) - _nat_entropy(draws).mean(axis=0), 0.0)


def _draws(draws: np.ndarray) -> np.ndarray:
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim != 2 or draws.shape[0] < 2:
        raise ConfigError(f"a regression scorer needs >= 2 predictive draws of shape (draws, points), got {draws.shape}")
    return draws


def bald_regression(draws: np.ndarray) -> np.ndarray:
    return 0.5 * np.log1p(_draws(draws).var(axis=0))


def upper_confidence_bound(draws: np.ndarray, kappa: float = 1.0) -> np.ndarray:
    draws = _draws(draws)
    return draws.mean(axis=0) + kappa * draws.std(axis=0)


def expected_improvement(draws: np.ndarray, best: float, xi: float = 0.01) -> np.ndarray:
    """E[max(y - best - xi, 0)] under a normal with the draws' mean and sd (maximisation)."""
    draws = _draws(draws)
    mu, sd = draws.mean(axis=0), draws.std(axis=0)
    gain = mu - best - xi
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, gain / np.maximum(sd, _EPS), 0.0)
    return np.where(sd > 0, gain * norm.cdf(z) + sd * norm.pdf(z), np.maximum(gain, 0.0))


def thompson(draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    draws = _draws(draws)
    return draws[rng.integers(draws.shape[0])]


def greedy(draws: np.ndarray) -> np.ndarray:
    return _draws(draws).mean(axis=0)


def variance_reduction(draws: np.ndarray, noise: float = 1e-6) -> np.ndarray:
    draws = _draws(draws)
    centred = draws - draws.mean(axis=0)
    cov = centred.T @ centred / (draws.shape[0] - 1)
    return (cov ** 2).sum(axis=0) / (np.diag(cov) + noise)


def relative_distance(pool: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Coreset-like: each pool point's Euclidean distance to its nearest labelled point."""
    pool, labelled = np.asarray(pool, dtype=np.float64), np.asarray(labelled, dtype=np.float64)
    if len(labelled) == 0:
        return np.full(len(pool), np.inf)
    sq = (pool ** 2).sum(1)[:, None] - 2 * pool @ labelled.T + (labelled ** 2).sum(1)[None, :]
    return np.sqrt(np.maximum(sq, 0.0)).min(axis=1)
