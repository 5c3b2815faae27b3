"""GIN's data: the artificial 10-D mixture (true latents known) and handwritten digits.

Artificial (paper section 5.1, `generate_artificial_data_10d` of the authors' code): a 2-D
Gaussian mixture latent (n_clusters clusters, means U(−5, 5), stds U(0.5, 3) per dimension) plus
8 dimensions of N(0, 0.01²) noise, pushed through a randomly initialised 10-D GLOW network. The
world (mixture and mixing network) is drawn from `world_seed`; train and test points are fresh
draws from it. Batches are (x, label, true latent); the model uses the latent only for its test
metrics.

Digits (batches (image (1, s, s) in [0, 1], label)):
- `emnist`: torchvision's EMNIST `digits` split (240k train / 40k test), downloaded by torchvision
  (its archive is checked against torchvision's MD5) into `data_dir`, or read from `root`.
- `emnist_mnist_test`: the EMNIST-MNIST test set (10,000 digits) as one WebP of 100×100 tiles of
  28×28 plus `test.json` labels (`root` is that folder); split into train/val/test here.
- `mnist_test`: the MNIST test set IDX files (`t10k-images-idx3-ubyte.gz`, labels) under `root`
  (gzipped or not, or in torchvision's `root/MNIST/raw`).
- `sklearn`: scikit-learn's bundled 8×8 digits (1,797, values 0–16 scaled to [0, 1]) for tiny.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from common.data import cache_dir
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError
from common.readers import read_idx_pair
from papers.gin.flows import random_glow_net

DIGIT_SOURCES = ("emnist", "emnist_mnist_test", "mnist_test", "sklearn")


# ---------------------------------------------------------------------------- artificial data


def mixture_world(n_clusters: int = 5, latent_dims: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 1])
    return {
        "means": rng.uniform(-5, 5, size=(n_clusters, latent_dims)),
        "stds": rng.uniform(0.5, 3.0, size=(n_clusters, latent_dims)),
    }


def sample_artificial(
    n_points: int,
    world: dict[str, np.ndarray],
    mixing: torch.nn.Module,
    noise_dims: int = 8,
    noise_std: float = 0.01,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x, labels, latent) of n_points draws; latent = (informative dims, noise dims)."""
    rng = np.random.default_rng(seed)
    n_clusters = len(world["means"])
    labels = rng.integers(n_clusters, size=n_points)
    informative = world["means"][labels] + rng.standard_normal((n_points, world["means"].shape[1])) * world["stds"][labels]
    noise = rng.standard_normal((n_points, noise_dims)) * noise_std
    latent = torch.tensor(np.concatenate([informative, noise], axis=1), dtype=torch.float32)
    with torch.no_grad():
        x, _ = mixing(latent)
    return x.detach(), torch.tensor(labels, dtype=torch.long), latent


class ArtificialDataModule(ReproDataModule):
    """Train / val / test draws from one world (`common.datamodule.ReproDataModule`: the training
    points shuffled by (seed, epoch), the sampler's item seeds unused); validation batches of at least
    `2 * n_clusters` points, the whole test set in one batch (the spectrum and MCC are computed over
    all of it)."""

    uses_item_seeds = False

    def __init__(
        self,
        n_train: int = 10000,
        n_val: int = 1000,
        n_test: int = 5000,
        n_clusters: int = 5,
        noise_dims: int = 8,
        noise_std: float = 0.01,
        mixing_blocks: int = 8,
        world_seed: int = 0,
        batch_size: int = 1000,
        seed: int = 0,
    ):
        for name, value in (("n_train", n_train), ("n_test", n_test), ("n_clusters", n_clusters),
                            ("mixing_blocks", mixing_blocks)):
            if value < 1:
                raise ConfigError(f"data.{name} must be >= 1, got {value}")
        if n_val < 0 or noise_dims < 0 or noise_std < 0:
            raise ConfigError("data.n_val, data.noise_dims and data.noise_std must be >= 0")
        super().__init__(batch_size=batch_size, seed=seed, eval_batch_size=max(batch_size, 2 * n_clusters))
        self.n_train, self.n_val, self.n_test = n_train, n_val, n_test
        self.n_clusters, self.noise_dims, self.noise_std = n_clusters, noise_dims, noise_std
        self.mixing_blocks, self.world_seed = mixing_blocks, world_seed
        self.dims = 2 + noise_dims

    def build(self) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
        world = mixture_world(self.n_clusters, 2, self.world_seed)
        mixing = random_glow_net(self.dims, self.mixing_blocks, seed=self.world_seed)
        splits = {}
        for offset, (name, n) in enumerate((("train", self.n_train), ("val", self.n_val), ("test", self.n_test))):
            splits[name] = TensorDataset(*sample_artificial(
                n, world, mixing, self.noise_dims, self.noise_std, seed=self.world_seed * 1000 + offset + 1))
        return splits["train"], splits["val"], splits["test"]

    def eval_batch_size_of(self, dataset, stage: str) -> int:
        return len(dataset) if stage == "test" else self.eval_batch_size


# ---------------------------------------------------------------------------- digits


def read_emnist_tiles(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The EMNIST-MNIST test set packed as WebP tiles + test.json: (images uint8 (n, 28, 28), labels)."""
    from PIL import Image

    root = Path(root)
    meta_path = root / "test.json"
    if not meta_path.is_file():
        raise DataError(f"Missing {meta_path} (the EMNIST tiles' labels)")
    try:
        meta = json.loads(meta_path.read_text())
        width, height, files, labels = meta["width"], meta["height"], meta["files"], meta["id"]
    except (ValueError, KeyError) as err:
        raise DataError(f"{meta_path} is not a tiles index (width, height, files, id): {err}") from err
    tiles = []
    for name in files:
        path = root / name
        if not path.is_file():
            raise DataError(f"Missing tile sheet {path}")
        try:
            sheet = np.asarray(Image.open(path).convert("L"))
        except Exception as err:
            raise DataError(f"Could not read tile sheet {path}: {err}") from err
        rows, cols = sheet.shape[0] // height, sheet.shape[1] // width
        tiles.append(sheet[: rows * height, : cols * width]
                     .reshape(rows, height, cols, width).transpose(0, 2, 1, 3).reshape(-1, height, width))
    images = np.concatenate(tiles)
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) < len(labels):
        raise DataError(f"{root}: {len(labels)} labels but only {len(images)} tiles")
    images = images[: len(labels)]
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{meta_path}: labels outside 0..9")
    return images, labels


def read_mnist_test(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test set in `root` (.gz or unpacked, or torchvision's MNIST/raw): images uint8 (n, 28, 28), labels."""
    images, labels = read_idx_pair(root, "mnist", "test")
    return images, labels.astype(np.int64)


def read_emnist_torchvision(root: str | Path, download: bool) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """torchvision's EMNIST `digits` (train, test), upright (torchvision stores them transposed)."""
    import torchvision

    splits = []
    for train in (True, False):
        try:
            dataset = torchvision.datasets.EMNIST(str(root), split="digits", train=train, download=download)
        except RuntimeError as err:
            raise DataError(
                f"EMNIST digits not found under {root} ({err}). Download it with network access "
                "(data.download=true) or point data.root at a folder holding EMNIST/processed or EMNIST/raw."
            ) from err
        except Exception as err:  # URLError and friends when offline
            raise DataError(f"Could not download EMNIST into {root}: {err}. Without network, "
                            "fetch it elsewhere and set data.root=DIR.") from err
        splits.append((dataset.data.numpy().transpose(0, 2, 1).copy(), dataset.targets.numpy().astype(np.int64)))
    return splits[0], splits[1]


class DigitsDataModule(ReproDataModule):
    """Handwritten digits as (1, s, s) float images in [0, 1] with labels 0–9; the training images
    shuffled by (seed, epoch) (`common.datamodule.ReproDataModule`, the sampler's item seeds unused),
    validation and test in batches of 1000."""

    uses_item_seeds = False

    def __init__(
        self,
        source: str = "emnist",
        root: str | None = None,
        data_dir: str = "~/.cache/paper-repro",
        download: bool = True,
        n_train: int | None = None,
        test_fraction: float = 0.2,
        val_fraction: float = 0.05,
        split_seed: int = 0,
        batch_size: int = 240,
        seed: int = 0,
    ):
        if source not in DIGIT_SOURCES:
            raise ConfigError(f"data.source must be one of {DIGIT_SOURCES}, got {source}")
        if n_train is not None and n_train < 10:
            raise ConfigError(f"data.n_train must be >= 10 or null, got {n_train}")
        if root is not None and not Path(root).expanduser().is_dir():
            raise DataError(f"data.root={root} is not a folder")
        super().__init__(batch_size=batch_size, seed=seed, split_seed=split_seed, val_fraction=val_fraction,
                         test_fraction=test_fraction, root=root, data_dir=data_dir, eval_batch_size=1000)
        self.source, self.download, self.n_train = source, download, n_train

    def _load(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
        """(all or train arrays, test arrays or None when the split is made here)."""
        if self.source == "sklearn":
            from sklearn.datasets import load_digits

            digits = load_digits()
            return (np.round(digits.images * 255 / 16).astype(np.uint8), digits.target.astype(np.int64)), None
        if self.root is None and self.source != "emnist":
            raise ConfigError(f"data.source={self.source} reads a local folder: set data.root=DIR")
        root = self.root if self.root is not None else cache_dir(self.data_dir, "emnist")
        if self.source == "emnist_mnist_test":
            return read_emnist_tiles(root), None
        if self.source == "mnist_test":
            return read_mnist_test(root), None
        return read_emnist_torchvision(root, self.download and self.root is None)

    def build(self) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
        (images, labels), test = self._load()
        rng = np.random.default_rng(self.split_seed)
        order = rng.permutation(len(images))
        if test is None:
            n_test = int(round(self.test_fraction * len(images)))
            test = (images[order[:n_test]], labels[order[:n_test]])
            order = order[n_test:]
        n_val = int(round(self.val_fraction * len(order)))
        val_index, train_index = order[:n_val], order[n_val:]
        if self.n_train is not None:
            train_index = train_index[: self.n_train]
        return (self._dataset(images[train_index], labels[train_index]),
                self._dataset(images[val_index], labels[val_index]), self._dataset(*test))

    @staticmethod
    def _dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
        x = torch.tensor(images, dtype=torch.float32)[:, None] / 255.0
        return TensorDataset(x, torch.tensor(labels, dtype=torch.long))

    @property
    def image_size(self) -> int:
        return 8 if self.source == "sklearn" else 28
