"""Data for the workers: scikit-learn's digits (tiny) or MNIST's 10k test set split into train / test
(reduced real scale), cut into one equal shard per worker, i.i.d. or label-skewed.

- `iid`: a seeded permutation of the training set cut into n equal shards.
- `skewed` (heterogeneous): the training set sorted by label (a stable sort of the seeded permutation) and
  cut into n equal contiguous shards, so worker i holds about 10 / n classes (2-3 of 10 with 4 workers,
  1-2 with 8): the pathological label skew of McMahan et al. (2017) with one shard per worker.
Each shard has floor(N / n) examples (the remainder is dropped, stated in the record).

Modes: `batch` (each worker's gradient is the full gradient of its fixed shard: the finite-sum setting),
`streaming` (each step a fresh mini-batch drawn with replacement from the worker's shard, the shard
standing in for its data distribution)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ConfigError, DataError

SPLITS = ("iid", "skewed")
MODES = ("batch", "streaming")
DATASETS = ("digits", "mnist")


@dataclass
class Dataset:
    x_train: np.ndarray  # float32 (N, d)
    y_train: np.ndarray  # int64 (N,)
    x_test: np.ndarray
    y_test: np.ndarray
    name: str

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, name: str) -> Dataset:
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test], name)


def load(name: str, *, root: str | None = None, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """digits: 1,797 8x8 images scaled to [0, 1]; mnist: the 10k MNIST test images (t10k IDX files in
    `root`) scaled to [0, 1]; both split train / test with a seeded permutation."""
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return _split((digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64), test_fraction, seed,
                      name)
    if name == "mnist":
        if root is None or root == "???":
            raise ConfigError("mnist needs data_root: a folder with MNIST's t10k-images-idx3-ubyte(.gz) and "
                              "t10k-labels-idx1-ubyte(.gz)")
        if not Path(root).is_dir():
            raise DataError(f"data_root {root} is not a folder")
        from common.readers import read_idx_pair

        images, labels = read_idx_pair(root, "mnist", "test")
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise DataError(f"MNIST files in {root} hold images of shape {images.shape} and {len(labels)} labels")
        x = (images.reshape(len(images), -1) / 255.0).astype(np.float32)
        return _split(x, labels.astype(np.int64), test_fraction, seed, name)
    raise ConfigError(f"dataset must be one of {list(DATASETS)}, got {name!r}")


def shards(y: np.ndarray, n: int, split: str, seed: int = 0) -> list[np.ndarray]:
    """Index arrays of the n workers' equal shards."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > len(y):
        raise ConfigError(f"the number of workers must be an integer in 1..{len(y)}, got {n!r}")
    order = np.random.default_rng(seed).permutation(len(y))
    if split == "skewed":
        order = order[np.argsort(y[order], kind="stable")]
    size = len(y) // n
    return [np.sort(order[i * size:(i + 1) * size]) for i in range(n)]


def skew_summary(y: np.ndarray, parts: list[np.ndarray]) -> dict[str, float]:
    """Classes per worker (mean, max) and the largest share one class takes of a worker's shard (mean)."""
    classes = [len(np.unique(y[p])) for p in parts]
    top = [np.bincount(y[p]).max() / len(p) for p in parts]
    return {"classes_per_worker_mean": float(np.mean(classes)), "classes_per_worker_max": float(max(classes)),
            "top_class_share_mean": float(np.mean(top)), "shard_size": float(len(parts[0])),
            "dropped": float(len(y) - sum(len(p) for p in parts))}
