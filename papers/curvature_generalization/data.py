"""Small classification sets for curvature studies: scikit-learn's digits (bundled), MNIST (IDX) and
CIFAR-10 (JPEG/PNG images in an ImageFolder layout, or torchvision's download).

Test loaders return two dataloaders: the first `measure_size` training examples (fixed, for the
train accuracy and the curvature of the training loss) and the test set, so one Lightning test
pass gives the generalization gap and the curvature at the trained weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from common.data import cache_dir, download, verify_file
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError
from common.readers import find_idx_file, list_image_folder, read_idx, read_rgb_images

SOURCES = ("digits", "mnist", "cifar10")
# CIFAR-10's per-channel training-set mean and standard deviation (the usual constants).
CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# SHA-256 of the original MNIST files (the copies in ../shared/data/mnist hash to these);
# the training images are not there, so their checksum is not pinned.
MNIST_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "ba05d2d6e06f59dd97d2d5378250478bb5c9b64296a5c2681700569121e3a2d7",
    "t10k-labels-idx1-ubyte.gz": "94088eab8a64f51a9b34cc9716f54b6548ef8b2fd16ada6d1575091b933dbf4b",
    "train-labels-idx1-ubyte.gz": "e867c6895efbe4af17eefa0d68f5a582082c6bab63cf2ed41e4f3b232b29abf4",
    "train-images-idx3-ubyte.gz": None,
}


class ClassificationDataModule(ReproDataModule):
    """Training examples shuffled by (seed, epoch) (`common.datamodule.ReproDataModule`, plain indices);
    no validation loader; test loaders [the first `measure_size` training examples in one batch, the
    test set in batches of 1024]."""

    item_seeds = False

    def __init__(self, source: str = "digits", batch_size: int = 32, n_train: int | None = None,
                 n_test: int | None = None, test_fraction: float = 0.3, measure_size: int = 512,
                 mnist_files: str = "t10k", root: str | None = None, data_dir: str = "~/.cache/paper-repro",
                 seed: int = 0, split_seed: int = 0, num_workers: int = 0):
        if source not in SOURCES:
            raise ConfigError(f"data.source must be one of {SOURCES}, got {source!r}")
        for name, value in (("n_train", n_train), ("n_test", n_test)):
            if value is not None and value < 1:
                raise ConfigError(f"data.{name} must be >= 1 or null, got {value}")
        if measure_size < 1:
            raise ConfigError(f"data.measure_size must be >= 1, got {measure_size}")
        if mnist_files not in ("t10k", "standard"):
            raise ConfigError(f"data.mnist_files must be 't10k' or 'standard', got {mnist_files!r}")
        if root is not None and not Path(root).expanduser().is_dir():
            raise DataError(f"data.root={root} is not a folder")
        super().__init__(batch_size=batch_size, test_fraction=test_fraction, root=root, data_dir=data_dir,
                         seed=seed, split_seed=split_seed, num_workers=num_workers, eval_batch_size=1024)
        self.source, self.n_train, self.n_test = source, n_train, n_test
        self.measure_size, self.mnist_files = measure_size, mnist_files
        self.measure_set: TensorDataset | None = None

    # ------------------------------------------------------------------ loading
    def _mnist_file(self, name: str) -> Path:
        if self.root is not None:  # .gz or unpacked, in root or in torchvision's root/MNIST/raw
            return find_idx_file(self.root, "mnist", name.removesuffix(".gz"))
        dest = cache_dir(self.data_dir, "mnist") / name
        download(MNIST_URL + name, dest, MNIST_SHA256[name])
        if MNIST_SHA256[name] is not None:
            verify_file(dest, MNIST_SHA256[name])
        return dest

    def _load_mnist(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        images = read_idx(self._mnist_file(f"{split}-images-idx3-ubyte.gz"))
        labels = read_idx(self._mnist_file(f"{split}-labels-idx1-ubyte.gz"))
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels")
        return images.reshape(len(images), -1).astype(np.float32) / 255.0, labels.astype(np.int64)

    def _cifar_split(self, split: str, n: int | None, rng) -> tuple[np.ndarray, np.ndarray]:
        """A random subset of n images of CIFAR-10's `split`, read only for the chosen files."""
        if self.root is not None:
            files, labels, classes = list_image_folder(self.root / split)  # classes and files sorted by name
            if len(classes) != 10:
                raise DataError(f"CIFAR-10 needs 10 class folders in {self.root / split}, found {len(classes)}")
            if n is not None and n > len(files):
                raise ConfigError(f"data.n_{'train' if split == 'train' else 'test'}={n} exceeds the "
                                  f"{len(files)} images in {self.root / split}")
            keep = np.sort(rng.permutation(len(files))[: n if n is not None else len(files)])
            images = read_rgb_images([files[i] for i in keep])  # uint8 (n, 32, 32, 3)
            x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
            y = labels[keep]
        else:  # torchvision's download into the cache
            from torchvision.datasets import CIFAR10

            try:
                data = CIFAR10(str(cache_dir(self.data_dir, "cifar10")), train=split == "train", download=True)
            except (OSError, RuntimeError) as err:
                raise DataError(f"could not download CIFAR-10 ({err}); put the images in an ImageFolder layout "
                                "(train/<class>/*.jpg, test/<class>/*.jpg) and set data.root to that folder") from err
            keep = np.sort(rng.permutation(len(data.data))[: n if n is not None else len(data.data)])
            x = data.data[keep].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
            y = np.asarray(data.targets, dtype=np.int64)[keep]
        x = (x - CIFAR_MEAN[None, :, None, None]) / CIFAR_STD[None, :, None, None]
        return x.astype(np.float32), y

    def _arrays(self):
        rng = np.random.default_rng(self.split_seed)
        if self.source == "cifar10":  # subsets are drawn here, so only the chosen files are read
            x_train, y_train = self._cifar_split("train", self.n_train, rng)
            x_test, y_test = self._cifar_split("test", self.n_test, rng)
            return x_train, y_train, x_test, y_test
        if self.source == "digits":
            from sklearn.datasets import load_digits

            digits = load_digits()
            x, y = digits.data.astype(np.float32) / 16.0, digits.target.astype(np.int64)
            order = rng.permutation(len(x))
            n_test = int(round(self.test_fraction * len(x)))
            test, train = order[:n_test], order[n_test:]
            return x[train], y[train], x[test], y[test]
        if self.mnist_files == "t10k":  # the 10k MNIST test images, split in two (what is local here)
            x, y = self._load_mnist("t10k")
            order = rng.permutation(len(x))
            n_test = int(round(self.test_fraction * len(x)))
            test, train = order[:n_test], order[n_test:]
            return x[train], y[train], x[test], y[test]
        x_train, y_train = self._load_mnist("train")
        x_test, y_test = self._load_mnist("t10k")
        return x_train, y_train, x_test, y_test

    def build(self) -> tuple[TensorDataset, None, TensorDataset]:
        x_train, y_train, x_test, y_test = self._arrays()
        rng = np.random.default_rng([self.split_seed, 1])
        if self.n_train is not None and self.source != "cifar10":
            if self.n_train > len(x_train):
                raise ConfigError(f"data.n_train={self.n_train} exceeds the {len(x_train)} training examples")
            keep = rng.permutation(len(x_train))[: self.n_train]
            x_train, y_train = x_train[keep], y_train[keep]
        if self.n_test is not None and self.source != "cifar10":
            keep = rng.permutation(len(x_test))[: min(self.n_test, len(x_test))]
            x_test, y_test = x_test[keep], y_test[keep]
        self.n_features = x_train.shape[1]
        self.n_classes = int(max(y_train.max(), y_test.max())) + 1
        m = min(self.measure_size, len(x_train))
        self.measure_set = TensorDataset(torch.from_numpy(x_train[:m]), torch.from_numpy(y_train[:m]))
        return (TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)), None,
                TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test)))

    # ------------------------------------------------------------------ loaders
    def val_datasets(self) -> list:
        return []

    def test_datasets(self) -> list[TensorDataset]:
        """[the fixed training subset the curvature is measured on, the test set]."""
        return [self.measure_set, self.test_set]

    def eval_batch_size_of(self, dataset, stage: str) -> int:
        return len(dataset) if dataset is self.measure_set else self.eval_batch_size
