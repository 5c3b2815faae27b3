"""The benchmarks' data: scikit-learn's bundled digits, breast cancer and diabetes, and MNIST read
from IDX files (the shared reader of common/readers.py) under `root`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.errors import ConfigError, DataError
from common.readers import read_idx_pair

DATASETS = ("digits", "breast_cancer", "diabetes", "mnist")


def load(name: str, root: str | None = None, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(x, y): digits as 8x8 pixels / 16 (flat, 64), breast cancer standardised (30 features, y: 0/1),
    diabetes standardised (10 features, y: disease progression), MNIST as 28x28 in [0, 1]
    standardised with MNIST's mean 0.1307 and sd 0.3081 (`split`: test = the 10k test set, train = 60k)."""
    if name not in DATASETS:
        raise ConfigError(f"dataset must be one of {DATASETS}, got {name!r}")
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        d = load_breast_cancer()
        x = (d.data - d.data.mean(0)) / d.data.std(0)
        return x, d.target.astype(np.int64)
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        d = load_diabetes()
        return (d.data - d.data.mean(0)) / d.data.std(0), d.target.astype(np.float64)
    if root is None:
        raise ConfigError("dataset=mnist needs data.root: a folder with MNIST's IDX files (e.g. ../shared/data/mnist)")
    if not Path(root).expanduser().is_dir():
        raise DataError(f"data.root={root} is not a folder")
    images, labels = read_idx_pair(Path(root).expanduser(), "mnist", split)
    x = ((images.astype(np.float32) / 255.0) - 0.1307) / 0.3081
    return x.reshape(len(x), 1, 28, 28), labels.astype(np.int64)


def load_benchmark(dataset: str, root: str | None = None, full_mnist: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(x, y, fixed test indices or None). `full_mnist`: MNIST's 60k training images then its 10k test
    images, the test images being the fixed test set; otherwise the data set alone (MNIST: its 10k
    test images, split into pool, validation and test by the benchmark's `split`)."""
    if not full_mnist:
        return (*load(dataset, root), None)
    if dataset != "mnist":
        raise ConfigError(f"full_mnist applies to dataset=mnist, not {dataset!r}")
    x_train, y_train = load("mnist", root, "train")
    x_test, y_test = load("mnist", root, "test")
    fixed = np.arange(len(y_train), len(y_train) + len(y_test))
    return np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]), fixed
