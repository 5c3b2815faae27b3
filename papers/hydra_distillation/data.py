"""Data: the regression toy, the spiral, and MNIST with shifted copies as out-of-distribution sets.

Every data module yields (x, y) batches; its test loaders are [in-domain, *OOD sets] in the order
of its `ood_names`, which the model config takes over (`model.ood_names: ${data.ood_names}`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError, DataUnavailableError
from common.readers import read_idx_pair, read_image_folder


def toy_function(x: np.ndarray | torch.Tensor):
    """y = sin x - 0.1 x + 0.1 x^2 + 0.01 x^3 (before the N(0, 1) noise)."""
    sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
    return sin(x) - 0.1 * x + 0.1 * x**2 + 0.01 * x**3


class _ArrayDataModule(ReproDataModule):
    """Tensor data sets built by `build_sets()`: (train, in-domain test, [OOD test sets]).

    On `common.datamodule.ReproDataModule` (batch size and seed checks, the training loader seeded
    by (seed, epoch)); no validation set; the test loaders are [in-domain, *OOD sets].
    """

    item_seeds = False
    ood_names: list[str] = ["ood"]

    def __init__(self, batch_size: int, seed: int, num_workers: int = 0, root: str | None = None,
                 data_dir: str = "~/.cache/paper-repro"):
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers, root=root, data_dir=data_dir,
                         eval_batch_size=1024)
        self.ood_sets: list[TensorDataset] = []

    def build_sets(self) -> tuple[TensorDataset, TensorDataset, list[TensorDataset]]:
        raise NotImplementedError

    def build(self):
        train, test, self.ood_sets = self.build_sets()
        if len(self.ood_sets) != len(self.ood_names):
            raise DataError(f"built {len(self.ood_sets)} OOD sets for names {self.ood_names}")
        return train, None, test

    def val_dataloader(self) -> list:
        return []

    def test_dataloader(self) -> list[DataLoader]:
        return [self.eval_loader(d, "test") for d in (self.test_set, *self.ood_sets)]


def _tensors(x: np.ndarray, y: np.ndarray, regression: bool) -> TensorDataset:
    return TensorDataset(torch.as_tensor(x, dtype=torch.float32),
                         torch.as_tensor(y, dtype=torch.float32 if regression else torch.long))


class ToyRegressionData(_ArrayDataModule):
    """x ~ U[train_low, train_high], y = toy_function(x) + N(0, noise²); OOD: x in the wider range
    [ood_low, ood_high] outside the training range (same function and noise, so OOD NLL is defined)."""

    def __init__(self, n_train: int = 300, n_test: int = 1000, noise: float = 1.0, train_low: float = -6.0,
                 train_high: float = 6.0, ood_low: float = -12.0, ood_high: float = 12.0, batch_size: int = 300,
                 seed: int = 0, data_seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size, seed, num_workers)
        if n_train < 2 or n_test < 2:
            raise ConfigError(f"data.n_train and data.n_test must be >= 2, got {n_train}, {n_test}")
        if not (ood_low < train_low < train_high < ood_high):
            raise ConfigError("data ranges must satisfy ood_low < train_low < train_high < ood_high, got "
                              f"{ood_low}, {train_low}, {train_high}, {ood_high}")
        if noise <= 0:
            raise ConfigError(f"data.noise must be > 0, got {noise}")
        self.n_train, self.n_test, self.noise = int(n_train), int(n_test), float(noise)
        self.train_range, self.ood_range = (train_low, train_high), (ood_low, ood_high)
        self.data_seed = int(data_seed)

    def sample(self, rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
        return toy_function(x) + self.noise * rng.standard_normal(x.shape)

    def build_sets(self):
        rng = np.random.default_rng(self.data_seed)
        low, high = self.train_range
        x_train = rng.uniform(low, high, self.n_train)
        x_test = rng.uniform(low, high, self.n_test)
        # OOD: uniform on [ood_low, low) U (high, ood_high], each side in proportion to its length.
        left, right = low - self.ood_range[0], self.ood_range[1] - high
        u = rng.uniform(0, left + right, self.n_test)
        x_ood = np.where(u < left, self.ood_range[0] + u, high + (u - left))
        sets = [_tensors(x[:, None], self.sample(rng, x), regression=True) for x in (x_train, x_test, x_ood)]
        return sets[0], sets[1], [sets[2]]


def make_spiral(rng: np.random.Generator, n: int, n_classes: int = 3, noise: float = 0.2,
                turns: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """n points on `n_classes` interleaved spiral arms in the unit disc (radius r ~ U(0.05, 1))."""
    labels = rng.integers(0, n_classes, n)
    r = rng.uniform(0.05, 1.0, n)
    angle = 2 * math.pi * (labels / n_classes + turns * r) + noise * rng.standard_normal(n)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], 1), labels


class SpiralData(_ArrayDataModule):
    """Interleaved spiral arms in the unit disc; OOD: points of the annulus ood_radius[0] < r < ood_radius[1]."""

    def __init__(self, n_train: int = 900, n_test: int = 900, n_classes: int = 3, noise: float = 0.2,
                 turns: float = 1.0, ood_radius: tuple[float, float] = (1.5, 2.5), batch_size: int = 256,
                 seed: int = 0, data_seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size, seed, num_workers)
        if n_classes < 2:
            raise ConfigError(f"data.n_classes must be >= 2, got {n_classes}")
        if not 1.0 < ood_radius[0] < ood_radius[1]:
            raise ConfigError(f"data.ood_radius must be an interval beyond the unit disc, got {list(ood_radius)}")
        self.n_train, self.n_test, self.n_classes = int(n_train), int(n_test), int(n_classes)
        self.noise, self.turns, self.ood_radius = float(noise), float(turns), tuple(ood_radius)
        self.data_seed = int(data_seed)

    def build_sets(self):
        rng = np.random.default_rng(self.data_seed)
        train = make_spiral(rng, self.n_train, self.n_classes, self.noise, self.turns)
        test = make_spiral(rng, self.n_test, self.n_classes, self.noise, self.turns)
        r = np.sqrt(rng.uniform(self.ood_radius[0] ** 2, self.ood_radius[1] ** 2, self.n_test))
        angle = rng.uniform(0, 2 * math.pi, self.n_test)
        ood = np.stack([r * np.cos(angle), r * np.sin(angle)], 1), np.zeros(self.n_test, dtype=np.int64)
        return _tensors(*train, False), _tensors(*test, False), [_tensors(*ood, False)]


# --- MNIST ---------------------------------------------------------------------------------------

MNIST_FILES = {"test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
               "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")}
MNIST_SHIFTS = ("rot90", "invert", "noise", "hflip")


def load_mnist(split: str, root: str | Path | None, data_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels (N,)) of MNIST's `split`, from `root` or downloaded by
    torchvision (which checks the files' MD5) into `data_dir`."""
    if split not in MNIST_FILES:
        raise ConfigError(f"MNIST split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    if root is None:
        import torchvision

        folder = Path(data_dir).expanduser() / "mnist"
        try:
            torchvision.datasets.MNIST(str(folder), train=split == "train", download=True)
        except Exception as err:  # urllib / torchvision errors when offline
            raise DataUnavailableError(
                f"Could not download MNIST with torchvision into {folder} ({err}). Put the IDX files "
                f"({', '.join(MNIST_FILES[split])}, .gz or not) in a folder and pass data.root=DIR."
            ) from err
        root = folder
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root={root} is not a folder")
    images, labels = read_idx_pair(root, "mnist", split)  # .gz or unpacked, in root or root/MNIST/raw
    if images.shape[1:] != (28, 28):
        raise DataError(f"MNIST files in {root} do not fit: images {images.shape}, labels {labels.shape}")
    return images, labels.astype(np.int64)


def shift_images(images: torch.Tensor, shift: str, seed: int) -> torch.Tensor:
    """Out-of-distribution copies of (N, 1, 28, 28) images in [0, 1], made with torchvision transforms."""
    import torchvision.transforms.v2.functional as TF

    if shift == "rot90":
        return TF.rotate(images, 90.0)
    if shift == "invert":
        return TF.invert(images)
    if shift == "hflip":
        return TF.horizontal_flip(images)
    if shift == "noise":
        # Uniform noise images with MNIST's mean intensity, blurred into blobs (a notMNIST-like texture).
        g = torch.Generator().manual_seed(seed)
        noise = torch.rand(images.shape, generator=g)
        blurred = TF.gaussian_blur(noise, kernel_size=[5, 5], sigma=[1.0, 1.0])
        blurred = (blurred - blurred.mean()) / blurred.std()
        return (blurred * images.std() + images.mean()).clamp(0, 1)
    raise ConfigError(f"data.ood_shifts entries must be among {MNIST_SHIFTS}, got {shift!r}")


class MnistData(_ArrayDataModule):
    """MNIST digits, flattened to 784 values in [0, 1].

    `source: test` (the reduced budget here) splits MNIST's 10,000 test images into `n_train` for
    training and the rest for testing; `source: train` trains on the 60,000 training images (first
    `n_train` when given) and tests on the 10,000 test images. OOD sets are the test images under
    each shift of `ood_shifts` (FashionMNIST/notMNIST are not available offline here).
    """

    def __init__(self, root: str | None = None, data_dir: str = "~/.cache/paper-repro", source: str = "test",
                 n_train: int | None = 8000, ood_shifts: tuple[str, ...] = ("rot90", "invert", "noise"),
                 batch_size: int = 256, seed: int = 0, data_seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size, seed, num_workers, root=root, data_dir=data_dir)
        if source not in ("test", "train"):
            raise ConfigError(f"data.source must be 'test' or 'train', got {source!r}")
        if not ood_shifts or any(s not in MNIST_SHIFTS for s in ood_shifts):
            raise ConfigError(f"data.ood_shifts must be a non-empty list of {MNIST_SHIFTS}, got {list(ood_shifts)}")
        if n_train is not None and n_train < 10:
            raise ConfigError(f"data.n_train must be >= 10 or null, got {n_train}")
        self.source = source
        self.n_train = None if n_train is None else int(n_train)
        self.ood_names = list(ood_shifts)
        self.data_seed = int(data_seed)

    def build_sets(self):
        to_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32).div(255.0)[:, None]  # noqa: E731
        test_images, test_labels = load_mnist("test", self.root, self.data_dir)
        if self.source == "test":
            if self.n_train is None or self.n_train >= len(test_images) - 10:
                raise ConfigError(f"data.source=test needs 10 <= data.n_train < {len(test_images) - 10}, got {self.n_train}")
            order = np.random.default_rng(self.data_seed).permutation(len(test_images))
            train_idx, test_idx = order[: self.n_train], order[self.n_train :]
            x_train, y_train = to_tensor(test_images[train_idx]), test_labels[train_idx]
            x_test, y_test = to_tensor(test_images[test_idx]), test_labels[test_idx]
        else:
            train_images, train_labels = load_mnist("train", self.root, self.data_dir)
            n = len(train_images) if self.n_train is None else min(self.n_train, len(train_images))
            x_train, y_train = to_tensor(train_images[:n]), train_labels[:n]
            x_test, y_test = to_tensor(test_images), test_labels
        train = TensorDataset(x_train.flatten(1), torch.as_tensor(y_train))
        test = TensorDataset(x_test.flatten(1), torch.as_tensor(y_test))
        ood = [TensorDataset(shift_images(x_test, s, self.data_seed + i).flatten(1), torch.as_tensor(y_test))
               for i, s in enumerate(self.ood_names)]
        return train, test, ood


# --- CIFAR-10 ------------------------------------------------------------------------------------

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR_SHIFTS = ("noise", "blur", "invert")
_CIFAR_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _read_cifar_folder(folder: Path, count: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` images (all when None) drawn by `seed` from an ImageFolder of CIFAR-10 (one folder per
    class, 32x32 images): (uint8 (N, 32, 32, 3), labels (N,)), decoded once per process."""
    key = (str(folder), count, seed)
    if key in _CIFAR_CACHE:
        return _CIFAR_CACHE[key]

    def draw(n_files: int) -> np.ndarray:
        order = np.random.default_rng(seed).permutation(n_files)
        if count is not None and count > n_files:
            raise ConfigError(f"asked for {count} CIFAR-10 images from {folder}, which holds {n_files}")
        return order if count is None else order[:count]

    data = read_image_folder(folder, CIFAR_CLASSES, subset=draw)
    _CIFAR_CACHE[key] = (data.images, data.labels)
    return _CIFAR_CACHE[key]


def _download_cifar(data_dir: Path) -> Path:
    """CIFAR-10 downloaded by torchvision (MD5-checked), written once as an ImageFolder of PNGs."""
    import torchvision
    from PIL import Image

    folder = data_dir / "cifar10"
    if (folder / "test" / CIFAR_CLASSES[-1]).is_dir() and (folder / "train" / CIFAR_CLASSES[-1]).is_dir():
        return folder
    for split in ("train", "test"):
        try:
            dataset = torchvision.datasets.CIFAR10(str(data_dir / "cifar10-python"), train=split == "train", download=True)
        except Exception as err:  # urllib / torchvision errors when offline
            raise DataUnavailableError(
                f"Could not download CIFAR-10 with torchvision into {data_dir} ({err}). Pass data.root=DIR, a folder "
                "with train/<class>/*.jpg and test/<class>/*.jpg (ImageFolder layout)."
            ) from err
        for index, (array, label) in enumerate(zip(dataset.data, dataset.targets, strict=True)):
            target = folder / split / CIFAR_CLASSES[label]
            target.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(target / f"{index:05d}.png")
    return folder


def shift_cifar(images: torch.Tensor, shift: str, seed: int) -> torch.Tensor:
    """Out-of-distribution copies of (N, 3, 32, 32) images in [0, 1] made with torchvision transforms
    (corrupted CIFAR, after CIFAR-10-C's kinds at a high severity; the severities are ours)."""
    import torchvision.transforms.v2.functional as TF

    if shift == "noise":
        g = torch.Generator().manual_seed(seed)
        return (images + 0.25 * torch.randn(images.shape, generator=g)).clamp(0, 1)
    if shift == "blur":
        return TF.gaussian_blur(images, kernel_size=[9, 9], sigma=[2.5, 2.5])
    if shift == "invert":
        return TF.invert(images)
    raise ConfigError(f"data.ood_shifts entries must be among {CIFAR_SHIFTS}, got {shift!r}")


class _AugmentedImages(torch.utils.data.Dataset):
    """Training images with the usual CIFAR augmentation (4-pixel padded random crop, horizontal
    flip), seeded per item by the `(index, item_seed)` pairs of the training sampler."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images = torch.nn.functional.pad(images, (4, 4, 4, 4), mode="reflect")
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item):
        index, item_seed = item
        rng = np.random.default_rng(item_seed)
        top, left = rng.integers(0, 9, 2)
        image = self.images[index, :, top : top + 32, left : left + 32]
        if rng.random() < 0.5:
            image = image.flip(-1)
        return image, self.labels[index]


class Cifar10Data(_ArrayDataModule):
    """CIFAR-10 from an ImageFolder (`root`/train/<class>/*, `root`/test/<class>/*), or downloaded by
    torchvision when `root` is null; normalised per channel.

    `n_train` images (all 50,000 when null) drawn from train/, `n_test` (all 10,000 when null) from
    test/. OOD sets: the test images under each shift of `ood_shifts` (Gaussian noise, blur,
    colour inversion). `augment`: padded random crops and flips of the training images.
    """

    def __init__(self, root: str | None = None, data_dir: str = "~/.cache/paper-repro", n_train: int | None = None,
                 n_test: int | None = None, ood_shifts: tuple[str, ...] = ("noise", "blur", "invert"),
                 augment: bool = True, batch_size: int = 256, seed: int = 0, data_seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size, seed, num_workers, root=root, data_dir=data_dir)
        if not ood_shifts or any(s not in CIFAR_SHIFTS for s in ood_shifts):
            raise ConfigError(f"data.ood_shifts must be a non-empty list of {CIFAR_SHIFTS}, got {list(ood_shifts)}")
        for name, value in (("n_train", n_train), ("n_test", n_test)):
            if value is not None and value < 10:
                raise ConfigError(f"data.{name} must be >= 10 or null, got {value}")
        self.n_train = None if n_train is None else int(n_train)
        self.n_test = None if n_test is None else int(n_test)
        self.ood_names = list(ood_shifts)
        self.augment = bool(augment)
        self.item_seeds = self.augment
        self.data_seed = int(data_seed)

    def build_sets(self):
        root = self.root if self.root is not None else _download_cifar(self.data_dir)
        mean, std = torch.tensor(CIFAR_MEAN)[:, None, None], torch.tensor(CIFAR_STD)[:, None, None]
        to_tensor = lambda a: torch.as_tensor(a).permute(0, 3, 1, 2).float().div(255.0)  # noqa: E731
        x_train, y_train = _read_cifar_folder(root / "train", self.n_train, self.data_seed)
        x_test, y_test = _read_cifar_folder(root / "test", self.n_test, self.data_seed + 1)
        x_train, x_test = to_tensor(x_train), to_tensor(x_test)
        y_train, y_test = torch.as_tensor(y_train), torch.as_tensor(y_test)
        train_images = (x_train - mean) / std
        train = _AugmentedImages(train_images, y_train) if self.augment else TensorDataset(train_images, y_train)
        test = TensorDataset((x_test - mean) / std, y_test)
        ood = [TensorDataset((shift_cifar(x_test, s, self.data_seed + i) - mean) / std, y_test)
               for i, s in enumerate(self.ood_names)]
        return train, test, ood
