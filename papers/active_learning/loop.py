"""The active-learning loop: train, evaluate on the test set, score the pool, query a batch from the
oracle (which reveals the labels the data set holds), repeat."""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from common.errors import ConfigError
from papers.active_learning.data_manager import DataManager
from papers.active_learning.strategies import Strategy


class Oracle:
    """Reveals the true label of a queried index and counts the queries."""

    def __init__(self, y: np.ndarray):
        self.y = y
        self.queries = 0

    def label(self, indices: np.ndarray) -> np.ndarray:
        self.queries += len(indices)
        return self.y[indices]


@dataclass
class Curve:
    labels: list[int] = field(default_factory=list)   # labelled-set size at each evaluation
    scores: list[float] = field(default_factory=list)  # test score of the model trained on that set
    queried: list[list[int]] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)  # train + score + select, per round


def check_compatible(strategy: Strategy, model, batch_size: int) -> None:
    """Refuse, before any training, a strategy that needs uncertainty from a model that gives none,
    and a strategy for another task than the model's."""
    if strategy.task != model.task:
        raise ConfigError(f"strategy {strategy.name!r} is a {strategy.task} strategy but the model is a {model.task} model")
    if strategy.needs_draws and not strategy.random_scores and not getattr(model, "gives_uncertainty", False):
        raise ConfigError(f"strategy {strategy.name!r} needs a model that gives uncertainty, but "
                          f"{type(model).__name__} here gives one deterministic prediction")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")


def run_loop(manager: DataManager, model, strategy: Strategy, rounds: int | None, batch_size: int, seed: int,
             retrain: bool = True, progress=None) -> Curve:
    """`rounds` evaluations (rounds - 1 queries; None: until the pool is empty). With retrain=False the
    model of round 0 is kept (the repository's note on its random baseline)."""
    check_compatible(strategy, model, batch_size)
    oracle = Oracle(manager.y)
    # each strategy draws from its own stream (random ties, probabilistic batches, random scores)
    rng = np.random.default_rng([seed, 7, zlib.crc32(f"{strategy.name}/{strategy.sampler}".encode())])
    curve = Curve()
    x, y = manager.x, manager.y
    r = 0
    while True:
        started = time.perf_counter()
        lab = manager.labelled_array
        if retrain or r == 0:
            model.fit(x[lab], oracle.y[lab], x[manager.val], y[manager.val], seed=seed * 1000 + r)
        curve.labels.append(len(lab))
        curve.scores.append(model.score(x[manager.test], y[manager.test]))
        last = (rounds is not None and r + 1 >= rounds) or not manager.unlabelled
        if last:
            curve.round_seconds.append(time.perf_counter() - started)
            break
        pool = manager.unlabelled_array
        size = min(batch_size, len(pool))
        prediction = model.predict(x[pool]) if strategy.needs_model and not strategy.random_scores else None
        positions = strategy.select(prediction, x[pool], x[lab], y[lab], size, rng)
        chosen = pool[positions]
        oracle.label(chosen)
        manager.update(chosen)
        curve.queried.append([int(i) for i in chosen])
        curve.round_seconds.append(time.perf_counter() - started)
        r += 1
        if progress is not None:
            progress.update(1)
    return curve
