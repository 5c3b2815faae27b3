"""The data manager: which indices of one data set are labelled, unlabelled (the pool), validation
and test, and the task set-ups that pick the first labels (after Konyushkova et al. 2017)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.errors import ConfigError, DataError

SETUPS = ("cold", "warm", "stratified", "random")


@dataclass
class DataManager:
    """Indices into (x, y): `train` = labelled + unlabelled, disjoint from `val` and `test`."""

    x: np.ndarray
    y: np.ndarray
    labelled: list[int]
    unlabelled: list[int]
    test: np.ndarray
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise DataError(f"x has {len(self.x)} rows but y has {len(self.y)}")
        sets = [set(self.labelled), set(self.unlabelled), set(map(int, self.test)), set(map(int, self.val))]
        if sum(map(len, sets)) != len(set().union(*sets)):
            raise ConfigError("labelled, unlabelled, validation and test indices must be disjoint")
        if not self.labelled:
            raise ConfigError("the data manager needs at least one labelled point")

    def update(self, indices) -> None:
        """The oracle labelled `indices` (data set indices, all in the pool)."""
        chosen = [int(i) for i in indices]
        pool = set(self.unlabelled)
        missing = [i for i in chosen if i not in pool]
        if missing or len(set(chosen)) != len(chosen):
            raise ConfigError(f"queried indices must be distinct points of the pool, got {missing or chosen}")
        self.labelled.extend(chosen)
        chosen_set = set(chosen)
        self.unlabelled = [i for i in self.unlabelled if i not in chosen_set]

    @property
    def labelled_array(self) -> np.ndarray:
        return np.asarray(self.labelled, dtype=int)

    @property
    def unlabelled_array(self) -> np.ndarray:
        return np.asarray(self.unlabelled, dtype=int)


def split(n: int, sizes: dict, rng: np.random.Generator, test_indices: np.ndarray | None = None
          ) -> dict[str, np.ndarray]:
    """Random disjoint `train`/`val`/`test` index sets of the given sizes (an int, or a fraction of n);
    `train` may be null for the rest. With `test_indices` (a fixed test set, e.g. MNIST's 10k test
    images), train and val are drawn from the other indices."""
    if test_indices is not None:
        test_indices = np.sort(np.asarray(test_indices, dtype=int))
        others = np.setdiff1d(np.arange(n), test_indices)
        inner = split(len(others), {**sizes, "test": 0}, rng)
        return {"test": test_indices, "val": others[inner["val"]], "train": others[inner["train"]]}
    counts = {}
    for name in ("val", "test"):
        value = sizes.get(name, 0) or 0
        counts[name] = int(round(value * n)) if isinstance(value, float) and value < 1 else int(value)
    rest = n - counts["val"] - counts["test"]
    train = sizes.get("train")
    counts["train"] = rest if train is None else (int(round(train * n)) if isinstance(train, float) and train < 1 else int(train))
    if min(counts.values()) < 0 or sum(counts.values()) > n or counts["train"] < 2:
        raise ConfigError(f"split sizes {dict(sizes)} do not fit a data set of {n} points")
    order = rng.permutation(n)
    out, start = {}, 0
    for name in ("test", "val", "train"):
        out[name] = np.sort(order[start:start + counts[name]])
        start += counts[name]
    return out


def initial_labels(setup: str, train: np.ndarray, y: np.ndarray, x: np.ndarray, rng: np.random.Generator,
                   size: int | float | None = None, task: str = "classification") -> np.ndarray:
    """The first labelled indices among `train`:
    cold: one per class (classification), or the two points farthest apart (regression);
    warm: a random `size` (default 10 %) of train; stratified: `size` points, as equal per class as possible;
    random: `size` random points."""
    if setup not in SETUPS:
        raise ConfigError(f"setup must be one of {SETUPS}, got {setup!r}")
    if setup == "cold":
        if task == "regression":
            pts = x[train].reshape(len(train), -1).astype(np.float64)
            sq = (pts ** 2).sum(1)
            dist = sq[:, None] - 2 * pts @ pts.T + sq[None, :]
            i, j = np.unravel_index(np.argmax(dist), dist.shape)
            return train[[i, j]]
        return np.array([rng.choice(train[y[train] == c]) for c in np.unique(y[train])])
    if setup == "warm":
        size = 0.1 if size is None else size
    if size is None:
        raise ConfigError(f"setup={setup} needs initial_size")
    count = int(round(size * len(train))) if isinstance(size, float) and size < 1 else int(size)
    if not 1 <= count < len(train):
        raise ConfigError(f"initial_size={size} gives {count} labels for a training pool of {len(train)}")
    if setup == "stratified":
        classes = np.unique(y[train])
        per = [count // len(classes) + (k < count % len(classes)) for k in range(len(classes))]
        return np.concatenate([rng.choice(train[y[train] == c], size=m, replace=False) for c, m in zip(classes, per, strict=True)])
    return rng.choice(train, size=count, replace=False)


def make_manager(x, y, sizes: dict, setup: str, rng: np.random.Generator, initial_size=None,
                 task: str = "classification", test_indices: np.ndarray | None = None) -> DataManager:
    parts = split(len(y), sizes, rng, test_indices)
    first = initial_labels(setup, parts["train"], y, x, rng, initial_size, task)
    first_set = set(map(int, first))
    pool = [int(i) for i in parts["train"] if int(i) not in first_set]
    return DataManager(x, y, [int(i) for i in first], pool, parts["test"], parts["val"])
