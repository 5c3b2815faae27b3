"""Readers of data formats several papers share: IDX files (the MNIST format), the MNIST family's
folders (MNIST, Fashion-MNIST, EMNIST) and image folders in torchvision's ImageFolder layout.

They return the file contents as stored (uint8 pixels, labels as in the file); choosing a subset,
scaling and normalising stay with each paper. Every failure is a `DataError` naming the file.
"""
from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from common.errors import ConfigError, DataError

# ---------------------------------------------------------------------------- IDX

# IDX type codes (the third byte of the magic number) and the dtypes they store, big-endian.
IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file, gzipped (name ending in .gz) or not, as a read-only array of the shape and type its
    header declares (multi-byte types keep the file's big-endian byte order)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file not found: {path}")
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"could not read the IDX file {path}: {err}") from err
    if len(raw) < 4:
        raise DataError(f"{path} is not an IDX file: {len(raw)} bytes, shorter than the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path} is truncated: its header says {ndim} dimensions, the file ends after {len(raw)} bytes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - start != expected:
        kind = "truncated" if len(raw) - start < expected else "longer than its header says"
        raise DataError(f"{path} is {kind}: header says shape {shape} of {dtype} ({expected} bytes), "
                        f"the file holds {len(raw) - start}")
    return np.frombuffer(raw, dtype=dtype, offset=start).reshape(shape)


# ---------------------------------------------------------------------------- MNIST-family folders

# data set -> (torchvision's folder name, how its files name the test split)
MNIST_FAMILY = {"mnist": ("MNIST", "t10k"), "fashion_mnist": ("FashionMNIST", "t10k")}
EMNIST_SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")


def idx_file_names(dataset: str, split: str) -> tuple[str, str]:
    """(images, labels) file names, unpacked, of `split` ("train", or "test"/"t10k") of an MNIST-family
    data set: "mnist", "fashion_mnist" or "emnist_<split>" (e.g. "emnist_digits")."""
    if split not in ("train", "test", "t10k"):
        raise ConfigError(f"an IDX split is 'train' or 'test', got {split!r}")
    split = "test" if split == "t10k" else split
    if dataset in MNIST_FAMILY:
        prefix = MNIST_FAMILY[dataset][1] if split == "test" else "train"
    elif dataset.startswith("emnist_") and dataset.removeprefix("emnist_") in EMNIST_SPLITS:
        prefix = f"emnist-{dataset.removeprefix('emnist_')}-{split}"
    else:
        raise ConfigError(f"unknown MNIST-family data set {dataset!r}: one of {sorted(MNIST_FAMILY)} "
                          f"or emnist_<split> with <split> in {EMNIST_SPLITS}")
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _torchvision_folder(dataset: str) -> str:
    return MNIST_FAMILY[dataset][0] if dataset in MNIST_FAMILY else "EMNIST"


def find_idx_file(root: str | Path, dataset: str, name: str) -> Path:
    """The file `name` (unpacked name) of `dataset` in `root`: `name.gz` or `name` in root itself, or in
    torchvision's `root/<Name>/raw/` (MNIST, FashionMNIST, EMNIST), gzipped or not, in that order."""
    root = Path(root)
    raw = Path(_torchvision_folder(dataset)) / "raw"
    candidates = [Path(f"{name}.gz"), Path(name), raw / f"{name}.gz", raw / name]
    for candidate in candidates:
        if (root / candidate).is_file():
            return root / candidate
    label = _torchvision_folder(dataset)
    raise DataError(f"Missing {label} file {name}.gz: not found in {root} "
                    f"(looked for {', '.join(str(c) for c in candidates)})")


def find_idx_files(root: str | Path, dataset: str, split: str) -> tuple[Path, Path]:
    """(images, labels) paths of `split` of `dataset` in `root` (see `find_idx_file` for the layouts)."""
    return tuple(find_idx_file(root, dataset, name) for name in idx_file_names(dataset, split))


def read_idx_pair(root: str | Path, dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W), labels (N,)) of `split` of an MNIST-family data set in `root`, as stored."""
    images_file, labels_file = find_idx_files(root, dataset, split)
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{images_file} and {labels_file} do not match: shapes {images.shape}, {labels.shape} "
                        "(expected (N, H, W) images and N labels)")
    return images, labels


# ---------------------------------------------------------------------------- image folders

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class ImageListing(NamedTuple):
    files: list[Path]
    labels: np.ndarray  # int64, the index of each file's class in `classes`
    classes: tuple[str, ...]


class ImageFolderData(NamedTuple):
    images: np.ndarray  # uint8 (N, size, size, 3), RGB
    labels: np.ndarray  # int64 (N,)
    classes: tuple[str, ...]
    files: list[Path]


def list_image_folder(folder: str | Path, classes: Sequence[str] | None = None,
                      per_class_limit: int | None = None) -> ImageListing:
    """The images of torchvision's ImageFolder layout, `folder/<class>/<image>.jpg|jpeg|png`.

    Classes in the order of `classes` (label = position), or every sub-folder sorted by name when
    `classes` is None; files of a class sorted by name, the first `per_class_limit` of them when
    given. Given `classes`, a sub-folder that is not one of them is refused (a misspelt class cannot
    shift the labels). Each class folder must hold an image; hidden sub-folders (".name") are passed over.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder not found: {folder} (expected one sub-folder of images per class)")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        classes = found
        if not classes:
            raise DataError(f"{folder} holds no class folders (expected {folder}/<class>/<image>.jpg)")
    else:
        classes = list(classes)
        foreign = [name for name in found if name not in classes]
        if foreign:
            raise DataError(f"{folder} holds folders that are not classes of {tuple(classes)}: {foreign}")
    files, labels = [], []
    for label, name in enumerate(classes):
        class_dir = folder / name
        images = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if class_dir.is_dir() else []
        if not images:
            raise DataError(f"class folder {class_dir} is missing or holds no {'/'.join(IMAGE_SUFFIXES)} images")
        images = images[:per_class_limit]
        files += images
        labels += [label] * len(images)
    return ImageListing(files, np.asarray(labels, dtype=np.int64), tuple(classes))


def read_rgb_images(files: Sequence[str | Path], size: int = 32) -> np.ndarray:
    """Images as RGB uint8 (N, size, size, 3), in the order given; a file that is not a readable
    size x size image is named."""
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for row, path in enumerate(files):
        try:
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
        except (OSError, UnidentifiedImageError) as err:
            raise DataError(f"could not read image {path}: {err}") from err
        if array.shape != (size, size, 3):
            raise DataError(f"{path} is {array.shape[1]}x{array.shape[0]}, expected a {size}x{size} image")
        out[row] = array
    return out


def read_image_folder(folder: str | Path, classes: Sequence[str] | None = None, *, per_class_limit: int | None = None,
                      subset: Callable[[int], Sequence[int]] | None = None, size: int = 32) -> ImageFolderData:
    """The images of an ImageFolder layout (see `list_image_folder`), decoded by `read_rgb_images`.

    `subset(n)` (optional) gets the number n of images listed and returns the positions to read, in
    the order wanted; only those files are decoded.
    """
    listing = list_image_folder(folder, classes, per_class_limit)
    keep = np.arange(len(listing.files)) if subset is None else np.asarray(subset(len(listing.files)), dtype=np.int64)
    files = [listing.files[i] for i in keep]
    return ImageFolderData(read_rgb_images(files, size), listing.labels[keep], listing.classes, files)
