"""Grouped observations: groups of images that share their content (the digit, or a generated glyph)
and differ in style.

Sources:
- `mnist`: binarised at > 127 and padded to 32x32 (the author's preprocessing). `split: test_only`
  (the reduced scale) splits MNIST's 10,000 test images, stratified and seeded, into `n_test` test
  images and the rest for training; `split: standard` trains on the 60,000 training images and tests
  on the 10,000. Files from `data.root` (IDX, .gz or not, or torchvision's MNIST/raw layout) or
  downloaded by torchvision (MD5-checked) into `data_dir`.
- `digits`: scikit-learn's 1,797 8x8 digits (bundled), binarised at > 7 (of 16) and upsampled to 16x16
  (each pixel a 2x2 block); split like `test_only` MNIST into `n_test` test images and the rest.
- `glyphs`: generated, content and style known by construction. Content = one of `classes` fixed
  random 3x3 block patterns (seeded by `glyph_seed`); style = the glyph's position (dx, dy) and its
  scale (3- or 4-pixel blocks), drawn independently of the content.

Training items are groups drawn afresh each epoch: a random anchor image and `group_size - 1` other
images of its class (seeded per item by the sampler's (seed, epoch)); an epoch holds
n_train / group_size groups, i.e. n_train / batch_size iterations whatever the group size. Test groups are fixed: each class's test
images shuffled once (`split_seed`) and cut into groups (the remainder left out). The SVM's labelled
training images are the first `n_fit` of a seeded permutation of the training images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError
from common.readers import read_idx_pair
from papers.grouped_disentanglement.core import check_group_size

SOURCES = ("mnist", "digits", "glyphs")
SPLITS = ("test_only", "standard")
MNIST_PAD = 2  # 28 -> 32
DIGITS_SIZE = 8


def load_mnist(split: str, root: str | Path | None, data_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 28, 28), labels (N,)) of MNIST's `split` ('train' or 'test') from `root`, or
    downloaded (MD5-checked by torchvision) into data_dir/mnist."""
    if root is None:
        folder = Path(data_dir).expanduser() / "mnist"
        try:
            import torchvision

            torchvision.datasets.MNIST(str(folder), train=split == "train", download=True)
        except Exception as err:  # no network, or a corrupt download
            raise DataError(f"Could not download MNIST with torchvision into {folder} ({err}). Put the IDX files "
                            "(t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, .gz or not) in a folder and pass "
                            "data.root=DIR.") from err
        root = folder
    images, labels = read_idx_pair(root, "mnist", split)
    if images.shape[1:] != (28, 28):
        raise DataError(f"MNIST files in {root} hold {images.shape[1:]} images, expected 28x28")
    return images, labels


def binarise_and_pad(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 32, 32) in {0, 1}: pixel > 127, zero-padded by 2."""
    binary = (images > 127).astype(np.float32)
    return np.pad(binary, ((0, 0), (MNIST_PAD, MNIST_PAD), (MNIST_PAD, MNIST_PAD)))[:, None]


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as float32 (1797, 1, 16, 16) in {0, 1} (> 7 of 16, each pixel a 2x2 block), labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    binary = (digits.images > 7).astype(np.float32)
    return np.kron(binary, np.ones((2, 2), np.float32))[:, None], digits.target.astype(np.int64)


def make_glyphs(classes: int, cells: int, seed: int) -> np.ndarray:
    """`classes` distinct random binary cells x cells block patterns (a third to two thirds of the cells
    on, every border row and column touched, any two differing in at least 2 cells), seeded."""
    rng = np.random.default_rng(seed)
    glyphs: list[np.ndarray] = []
    for _ in range(100_000):
        glyph = rng.random((cells, cells)) < 0.5
        if not cells * cells / 3 <= glyph.sum() <= 2 * cells * cells / 3:
            continue
        if not (glyph[0].any() and glyph[-1].any() and glyph[:, 0].any() and glyph[:, -1].any()):
            continue  # every glyph fills its box: no glyph is a shifted copy of part of another
        if all((glyph != other).sum() >= 2 for other in glyphs):
            glyphs.append(glyph)
        if len(glyphs) == classes:
            return np.stack(glyphs).astype(np.float32)
    raise ConfigError(f"cannot draw {classes} distinct {cells}x{cells} glyphs")


def generate_glyph_images(n: int, image_size: int, classes: int, seed: int, glyph_seed: int = 0, cells: int = 3,
                          blocks: tuple[int, int] = (3, 4)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images float32 (n, 1, s, s) in {0, 1}, content labels (n,), style factors (n, 3) = dx, dy, scale).

    Content: one of `classes` block patterns (`make_glyphs`); style, drawn independently of it: the
    block size (scale: 0 -> blocks[0] pixels, 1 -> blocks[1]) and the position (dx, dy), each uniform
    over the offsets where the larger glyph fits."""
    glyphs = make_glyphs(classes, cells, glyph_seed)
    largest = cells * max(blocks)
    if image_size < largest:
        raise ConfigError(f"data.image_size={image_size} is too small for {cells}x{cells} glyphs of {max(blocks)}-pixel blocks")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    dx, dy = rng.integers(0, image_size - largest + 1, n), rng.integers(0, image_size - largest + 1, n)
    scale = rng.integers(0, 2, n)
    drawn = {(k, t): np.kron(glyphs[k], np.ones((blocks[t], blocks[t]), np.float32))
             for k in range(classes) for t in (0, 1)}
    images = np.zeros((n, 1, image_size, image_size), np.float32)
    for i in range(n):
        glyph = drawn[labels[i], scale[i]]
        images[i, 0, dy[i]:dy[i] + len(glyph), dx[i]:dx[i] + len(glyph)] = glyph
    return images, labels.astype(np.int64), np.stack([dx, dy, scale], 1).astype(np.float32)


class RandomGroups(Dataset):
    """Training groups, drawn afresh each epoch: item (index, item_seed) = an anchor image drawn
    uniformly from the training images and `group_size - 1` other images of its class, without
    replacement, by a generator seeded with item_seed. An epoch holds len(images) // group_size groups,
    so it shows about as many images as the training set whatever the group size."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, group_size: int):
        self.images, self.labels, self.group_size = images, labels, group_size
        labels_np = labels.numpy()
        self.members = {int(k): np.flatnonzero(labels_np == k) for k in np.unique(labels_np)}
        for k, members in self.members.items():
            if len(members) < group_size:
                raise DataError(f"class {k} has {len(members)} training images, fewer than the group size {group_size}")

    def __len__(self) -> int:
        return max(1, len(self.labels) // self.group_size)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        _, item_seed = key
        rng = np.random.default_rng(item_seed)
        anchor = int(rng.integers(len(self.labels)))
        members = self.members[int(self.labels[anchor])]
        others = members[members != anchor]
        chosen = np.concatenate([[anchor], rng.choice(others, self.group_size - 1, replace=False)])
        return {"images": self.images[chosen], "labels": self.labels[chosen]}


class FixedGroups(Dataset):
    """Test groups: rows of a (n_groups, G) index array."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, groups: np.ndarray):
        self.images, self.labels, self.groups = images, labels, groups

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        chosen = self.groups[index]
        return {"images": self.images[chosen], "labels": self.labels[chosen]}


class Singles(Dataset):
    """Single labelled images (the SVM's training codes)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "label": self.labels[index]}


def fixed_groups(labels: np.ndarray, group_size: int, seed: int) -> np.ndarray:
    """(n_groups, G) indices: each class shuffled (seeded) and cut into groups of G, remainder dropped."""
    rng = np.random.default_rng(seed)
    groups = []
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        whole = len(members) // group_size * group_size
        groups.append(members[:whole].reshape(-1, group_size))
    if not groups or sum(len(g) for g in groups) == 0:
        raise DataError(f"no test group of {group_size} images of one class can be formed")
    return np.concatenate(groups)


def stratified_split(labels: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): n_test test images in proportion to the classes, seeded."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    test: list[int] = []
    for k in np.unique(labels):
        members = order[labels[order] == k]
        test.extend(members[: round(n_test * len(members) / len(labels))].tolist())
    test_idx = np.sort(np.array(test))
    return np.setdiff1d(np.arange(len(labels)), test_idx), test_idx


class GroupedDataModule(ReproDataModule):
    """Groups of same-content images for training; labelled singles and fixed test groups for testing.

    `batch_size` counts images (the author's 100): a training batch holds batch_size / group_size groups."""

    uses_item_seeds = True

    def __init__(self, *, source: str = "mnist", group_size: int = 2, batch_size: int = 100, n_fit: int = 5000,
                 split: str = "test_only", n_test: int = 2000, image_size: int = 32, synthetic: dict | None = None,
                 eval_batch_size: int | None = 500, **kwargs):
        if source not in SOURCES:
            raise ConfigError(f"data.source must be one of {SOURCES}, got {source!r}")
        if split not in SPLITS:
            raise ConfigError(f"data.split must be one of {SPLITS}, got {split!r}")
        check_group_size(group_size, batch_size)
        if batch_size // group_size < 2:
            raise ConfigError(f"data.batch_size={batch_size} holds fewer than 2 groups of {group_size} "
                              "(the critic's negative pairs come from another group)")
        if n_fit < 10 or n_test < group_size:
            raise ConfigError(f"data.n_fit must be >= 10 and data.n_test >= the group size, got {n_fit}, {n_test}")
        super().__init__(batch_size=batch_size // group_size, eval_batch_size=eval_batch_size, **kwargs)
        self.source, self.group_size, self.images_per_batch = source, group_size, batch_size
        self.n_fit, self.split, self.n_test, self.image_size = n_fit, split, n_test, image_size
        self.synthetic = dict(synthetic or {})
        if source == "mnist" and image_size != 28 + 2 * MNIST_PAD:
            raise ConfigError(f"MNIST is padded to 32x32: data.image_size must be 32, got {image_size}")
        if source == "digits" and image_size != 2 * DIGITS_SIZE:
            raise ConfigError(f"scikit-learn's digits are upsampled to 16x16: data.image_size must be 16, got {image_size}")
        self.arrays: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.factors: dict[str, np.ndarray] = {}

    def _load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if self.source == "glyphs":
            s = {"n_train": 2000, "n_test": self.n_test, "classes": 10, "glyph_seed": 0, **self.synthetic}
            out = {}
            for offset, part in enumerate(("train", "test")):
                images, labels, factors = generate_glyph_images(int(s[f"n_{part}"]), self.image_size, int(s["classes"]),
                                                                seed=self.split_seed * 2 + offset, glyph_seed=int(s["glyph_seed"]))
                out[part] = (images, labels)
                self.factors[part] = factors
            return out
        if self.source == "digits":
            images, labels = load_digits_images()
            return self._split_test_only(images, labels)
        if self.split == "standard":
            train = load_mnist("train", self.root, self.data_dir)
            test = load_mnist("test", self.root, self.data_dir)
            return {"train": (binarise_and_pad(train[0]), train[1].astype(np.int64)),
                    "test": (binarise_and_pad(test[0]), test[1].astype(np.int64))}
        images, labels = load_mnist("test", self.root, self.data_dir)
        return self._split_test_only(binarise_and_pad(images), labels.astype(np.int64))

    def _split_test_only(self, images: np.ndarray, labels: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if self.n_test >= len(labels):
            raise ConfigError(f"data.n_test={self.n_test} leaves no training images of the {len(labels)}")
        train_idx, test_idx = stratified_split(labels, self.n_test, self.split_seed)
        return {"train": (images[train_idx], labels[train_idx]), "test": (images[test_idx], labels[test_idx])}

    def build(self):
        loaded = self._load()
        self.arrays = {part: (torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)) for part, (x, y) in loaded.items()}
        x_train, y_train = self.arrays["train"]
        x_test, y_test = self.arrays["test"]
        if self.n_fit > len(y_train):
            raise ConfigError(f"data.n_fit={self.n_fit} is more than the {len(y_train)} training images")
        fit = np.random.default_rng([self.split_seed, 1]).permutation(len(y_train))[: self.n_fit]
        self.fit_indices = fit
        self.fit_set = Singles(x_train[fit], y_train[fit])
        train = RandomGroups(x_train, y_train, self.group_size)
        test = FixedGroups(x_test, y_test, fixed_groups(y_test.numpy(), self.group_size, self.split_seed))
        return train, None, test

    def val_datasets(self):
        return []

    def test_datasets(self):
        return [self.fit_set, self.test_set]
