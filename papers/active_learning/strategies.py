"""Strategies = a scorer (scorers.py) + a batch sampler (samplers.py), by name.

Each strategy says what it needs from the model manager's prediction on the pool: `probs` (mean class
probabilities), `draws` (several predictive draws: MC dropout, ensemble members, posterior samples)
or nothing (random, task-agnostic ones that use the inputs)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import ConfigError
from papers.active_learning import scorers
from papers.active_learning.samplers import SAMPLERS, check_batch, top_k


@dataclass(frozen=True)
class Prediction:
    """What a model manager predicts on the pool: `draws` (T, N, K) class probabilities or (T, N)
    regression values; `probs` (N, K) their mean (classification). `draws` is None for a model that
    gives no uncertainty (one deterministic prediction)."""

    probs: np.ndarray | None = None
    draws: np.ndarray | None = None
    mean: np.ndarray | None = None


CLASSIFICATION = {"least_confidence": scorers.least_confidence, "margin": scorers.margin, "ratio": scorers.ratio,
                  "entropy": scorers.entropy}
REGRESSION = ("bald", "upper_confidence_bound", "expected_improvement", "thompson", "greedy", "variance_reduction")
AGNOSTIC = ("random", "relative_distance", "representative")
TASKS = ("classification", "regression")


def names(task: str) -> tuple[str, ...]:
    if task == "classification":
        return (*CLASSIFICATION, "bald", *AGNOSTIC)
    return (*REGRESSION, *AGNOSTIC)


@dataclass(frozen=True)
class Strategy:
    name: str
    task: str
    sampler: str = "top_k"
    kappa: float = 1.0
    xi: float = 0.01
    random_scores: bool = False  # the mechanism off: every score replaced by a uniform random number

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.name not in names(self.task):
            raise ConfigError(f"unknown {self.task} strategy {self.name!r}; choose one of {list(names(self.task))}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown batch sampler {self.sampler!r}; choose one of {list(SAMPLERS)}")

    @property
    def needs_draws(self) -> bool:
        return self.name == "bald" or (self.task == "regression" and self.name in REGRESSION)

    @property
    def needs_model(self) -> bool:
        return self.name not in AGNOSTIC

    def scores(self, prediction: Prediction | None, x_pool: np.ndarray, x_labelled: np.ndarray,
               y_labelled: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(x_pool)
        if self.name == "random" or self.random_scores:
            return rng.random(n)
        if self.name == "relative_distance":
            return scorers.relative_distance(x_pool.reshape(n, -1), x_labelled.reshape(len(x_labelled), -1))
        if prediction is None:
            raise ConfigError(f"strategy {self.name!r} needs a model's prediction on the pool")
        if self.needs_draws:
            if prediction.draws is None or len(prediction.draws) < 2:
                raise ConfigError(f"strategy {self.name!r} needs a model that gives uncertainty (>= 2 predictive draws); "
                                  "this model gives one deterministic prediction")
            draws = prediction.draws
            if self.task == "classification":
                return scorers.bald_classification(draws)
            if self.name == "bald":
                return scorers.bald_regression(draws)
            if self.name == "upper_confidence_bound":
                return scorers.upper_confidence_bound(draws, self.kappa)
            if self.name == "expected_improvement":
                return scorers.expected_improvement(draws, float(np.max(y_labelled)), self.xi)
            if self.name == "thompson":
                return scorers.thompson(draws, rng)
            if self.name == "greedy":
                return scorers.greedy(draws)
            return scorers.variance_reduction(draws)
        if prediction.probs is None:
            raise ConfigError(f"strategy {self.name!r} needs class probabilities from the model")
        return CLASSIFICATION[self.name](prediction.probs)

    def select(self, prediction: Prediction | None, x_pool: np.ndarray, x_labelled: np.ndarray,
               y_labelled: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Positions in the pool to query next."""
        check_batch(np.empty(len(x_pool)), batch_size)
        if self.name == "representative" and not self.random_scores:
            return representative(x_pool, batch_size, rng)
        scores = self.scores(prediction, x_pool, x_labelled, y_labelled, rng)
        if self.name == "random" or self.random_scores:
            return top_k(scores, batch_size)
        return SAMPLERS[self.sampler](scores, batch_size, rng)


def representative(x_pool: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Representative sampling: k-means (k = batch_size) on the pool, the pool point nearest each centre."""
    from sklearn.cluster import KMeans

    flat = x_pool.reshape(len(x_pool), -1).astype(np.float64)
    km = KMeans(n_clusters=batch_size, n_init=1, random_state=int(rng.integers(2**31 - 1))).fit(flat)
    chosen: list[int] = []
    dist = ((flat[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1) if len(flat) * batch_size <= 2e6 else None
    for c in range(batch_size):
        d = dist[:, c].copy() if dist is not None else ((flat - km.cluster_centers_[c]) ** 2).sum(1)
        d[chosen] = np.inf
        chosen.append(int(np.argmin(d)))
    return np.asarray(chosen)
