"""Image classification data: CIFAR-10 (the paper's), MNIST / Fashion-MNIST, and sklearn's digits.

Images are kept as uint8 (N, C, H, W) tensors and normalised per item to (x/255 - 0.5) / 0.5, as
the paper's code did; training items of flip-invariant data sets (CIFAR-10) are flipped at
random with a seed per (epoch, item), so a resumed run sees the same batches.

Sources:
- `cifar10`: `data.root=null` downloads the python archive with torchvision (which checks its
  MD5) into `paths.data_dir`; a local folder holds torchvision's `cifar-10-batches-py/`, the
  ImageFolder layout (`train/<class>/*.jpg` and `test/<class>/*.jpg`, e.g. the 60,000 JPEGs in
  `../shared/data/cifar10/`), or the Kaggle layout (`trainLabels.csv` + `train/<id>.png`,
  labelled training images only; the test set is then split off them).
- `mnist`, `fashion_mnist`: the four IDX files (`train-images-idx3-ubyte.gz`, ...), downloaded by
  torchvision (MD5-checked) or found in `data.root`.
- `digits`: scikit-learn's 1,797 real 8x8 digits (ships with the install), for the tiny scale.

A trained classifier scores a user's folder with `scripts/evaluate.py whole_folder=DIR`: DIR holds
one sub-folder per class, named as `class_folder_names` says (CIFAR-10's class names, else the
label 0-9); images of any size are converted to the source's channels and resized. A class may be
absent; an unreadable file is skipped and named in one warning.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from common.data import cache_dir
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError, DataUnavailableError
from common.readers import IMAGE_SUFFIXES, read_idx_pair, read_image_folder, read_rgb_images
from common.skipped import warn_skipped

SOURCES = ("cifar10", "mnist", "fashion_mnist", "digits")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

Images = tuple[torch.Tensor, torch.Tensor]  # uint8 (N, C, H, W), int64 (N,)


# ---------------------------------------------------------------------------- readers


def read_idx_split(root: Path, split: str, dataset: str = "mnist") -> Images:
    """`split` of an MNIST-family data set in `root` (.gz or unpacked, or torchvision's <Name>/raw)."""
    images, labels = read_idx_pair(root, dataset, split)
    return torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels.astype(np.int64))


def read_kaggle_cifar(root: Path) -> Images:
    """Kaggle's CIFAR-10 layout: `trainLabels.csv` (id,label; header optional) and `train/<id>.png`."""
    labels_file = root / "trainLabels.csv"
    if not labels_file.is_file():
        raise DataError(f"Missing {labels_file}")
    files, labels = [], []
    with open(labels_file, newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle), 1):
            if line_number == 1 and row == ["id", "label"]:
                continue
            if len(row) != 2 or row[1] not in CIFAR10_CLASSES:
                raise DataError(f"{labels_file}:{line_number}: expected 'id,label' with a CIFAR-10 class, got {row}")
            name = row[0] if row[0].endswith(".png") else f"{row[0]}.png"
            image_file = root / "train" / name
            if not image_file.is_file():
                raise DataError(f"Missing image {image_file} (listed in {labels_file}:{line_number})")
            files.append(image_file)
            labels.append(CIFAR10_CLASSES.index(row[1]))
    if not files:
        raise DataError(f"{labels_file} lists no images")
    return _as_tensors(read_rgb_images(files), labels)


def _as_tensors(images: np.ndarray, labels) -> Images:
    """uint8 (N, H, W, 3) and labels as the tensors used here: uint8 (N, 3, H, W), int64 (N,)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.as_tensor(labels, dtype=torch.int64)


def _torchvision_cifar10(root: Path, download: bool) -> tuple[Images, Images]:
    from torchvision.datasets import CIFAR10

    splits = []
    for train in (True, False):
        try:
            dataset = CIFAR10(str(root), train=train, download=download)
        except (OSError, RuntimeError) as err:
            if download:
                raise DataUnavailableError(
                    f"Could not download CIFAR-10 into {root} ({err}). Without network, fetch "
                    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it there, "
                    "or point data.root at a folder holding cifar-10-batches-py/."
                ) from err
            raise DataError(f"{root}/cifar-10-batches-py is missing or corrupt: {err}") from err
        splits.append((torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(dataset.targets)))
    return splits[0], splits[1]


def _torchvision_idx(source: str, data_dir: str | Path) -> Path:
    from torchvision.datasets import MNIST, FashionMNIST

    dataset_class = MNIST if source == "mnist" else FashionMNIST
    root = cache_dir(data_dir, source)
    try:
        for train in (True, False):
            dataset_class(str(root), train=train, download=True)
    except (OSError, RuntimeError) as err:
        raise DataUnavailableError(
            f"Could not download {source} into {root} ({err}). Without network, put the four IDX "
            f"files ({', '.join(sum(IDX_FILES.values(), ()))}) in a folder and set data.root to it."
        ) from err
    return root  # the files are in root/<Name>/raw, where the IDX locator looks


def load_digits_images() -> Images:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    return torch.from_numpy(images)[:, None], torch.from_numpy(digits.target.astype(np.int64))


_IMAGE_FOLDER_CACHE: dict[tuple, tuple[Images, Images]] = {}


def read_cifar_image_folder(root: Path, per_class_limit: int | None = None) -> tuple[Images, Images]:
    """(train, test) of `root/train/<class>/` and `root/test/<class>/`, kept in memory for the process
    (a reproduction builds the data module once per training run and per measurement)."""
    # A changed folder (a file added, removed or replaced changes its folder's mtime) is read again.
    folders = sorted(p for split in ("train", "test") if (root / split).is_dir() for p in (root / split).iterdir())
    key = (str(root.resolve()), per_class_limit, tuple((str(p), p.stat().st_mtime_ns) for p in folders))
    if key not in _IMAGE_FOLDER_CACHE:
        # torchvision's ImageFolder layout: images in class order, then by name; every class of
        # CIFAR10_CLASSES needs images, and a folder that is not a class is refused.
        _IMAGE_FOLDER_CACHE[key] = tuple(
            _as_tensors(*read_image_folder(root / split, CIFAR10_CLASSES, per_class_limit=per_class_limit)[:2])
            for split in ("train", "test")
        )
    return _IMAGE_FOLDER_CACHE[key]


def load_source(
    source: str, root: str | Path | None, data_dir: str | Path, per_class_limit: int | None = None,
) -> tuple[Images, Images | None]:
    """(train, test) images of a source; test is None where the source has no test split."""
    if source not in SOURCES:
        raise ConfigError(f"data.source must be one of {SOURCES}, got {source!r}")
    if per_class_limit is not None and not (source == "cifar10" and root is not None):
        raise ConfigError("data.per_class_limit applies to a CIFAR-10 ImageFolder given as data.root only")
    if source == "digits":
        return load_digits_images(), None
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"data.root={root} is not a folder (or leave data.root=null to download {source})")
    if source == "cifar10":
        if root is None:
            return _torchvision_cifar10(cache_dir(data_dir, "cifar10"), download=True)
        if (root / "cifar-10-batches-py").is_dir():
            return _torchvision_cifar10(root, download=False)
        if (root / "trainLabels.csv").is_file():
            return read_kaggle_cifar(root), None
        if (root / "train").is_dir() and (root / "test").is_dir():
            return read_cifar_image_folder(root, per_class_limit)
        if per_class_limit is not None:
            raise ConfigError("data.per_class_limit applies to a CIFAR-10 ImageFolder given as data.root only")
        raise DataError(
            f"data.root={root} holds none of cifar-10-batches-py/, trainLabels.csv + train/, "
            "or the ImageFolder layout train/<class>/ + test/<class>/"
        )
    idx_root = _torchvision_idx(source, data_dir) if root is None else root
    return read_idx_split(idx_root, "train", source), read_idx_split(idx_root, "test", source)


def class_folder_names(source: str) -> tuple[str, ...]:
    """The sub-folder name of each label in a folder to score: CIFAR-10's class names, else the digit."""
    return CIFAR10_CLASSES if source == "cifar10" else tuple(str(label) for label in range(10))


def decode_image(path: str | Path, size: int, mode: str = "RGB") -> np.ndarray:
    """One image file as uint8 (size, size, channels): converted to `mode` ("RGB" or "L") and resized
    bilinearly; a file that is not a readable image raises DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert(mode).resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(f"{path}: not a readable image ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None
    return array.reshape(size, size, -1)


def read_folder_to_score(root: Path, source: str, size: int) -> Images:
    """Every image under `root/<class>/`, labelled by its class folder (`class_folder_names`), as
    uint8 (N, C, size, size) with the source's channels. A sub-folder that is not a class is refused
    (it would be scored under no label); an unreadable image or a file that is not an image is
    skipped and named in one warning."""
    classes = class_folder_names(source)
    found = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    foreign = [p.name for p in found if p.name not in classes]
    if foreign:
        raise DataError(f"{root} holds folders that are not classes of data.source={source}: {foreign} "
                        f"(expected sub-folders named {', '.join(classes)})")
    mode = "RGB" if source == "cifar10" else "L"
    images, labels, skipped = [], [], []
    for folder in found:
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(f"{path}: not a {'/'.join(IMAGE_SUFFIXES)} file")
                continue
            try:
                images.append(decode_image(path, size, mode))
            except DataError as err:
                skipped.append(str(err))
                continue
            labels.append(classes.index(folder.name))
    warn_skipped(skipped)
    if not images:
        raise DataError(f"{root} holds no readable image in a class folder ({', '.join(classes)})")
    return _as_tensors(np.stack(images), labels)


# ---------------------------------------------------------------------------- data set


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8)


def normalise(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255 - 0.5) / 0.5


class ImageSet(Dataset):
    """Indexed by position (no augmentation) or by (position, seed) from EpochSeededSampler."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, flip: bool = False):
        self.images, self.labels, self.flip = images, labels, flip

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        image = normalise(self.images[index])
        if self.flip and seed is not None and np.random.default_rng(seed).random() < 0.5:
            image = image.flip(-1)
        return image, self.labels[index]


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, split-off) indices; each class gives round(fraction * its count) to the split."""
    rng = np.random.default_rng(seed)
    kept, split_off = [], []
    labels = labels.numpy()
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_off = int(round(fraction * len(members)))
        split_off.extend(members[:n_off])
        kept.extend(members[n_off:])
    return np.sort(np.array(kept, dtype=np.int64)), np.sort(np.array(split_off, dtype=np.int64))


class ImageDataModule(ReproDataModule):
    """`source` images split into train / val / test; the seeded loaders come from ReproDataModule.

    `test_fraction` carves a stratified test set out of sources without one (digits, the Kaggle
    CIFAR-10 layout) and must be null for sources that have one. `per_class_limit` reads only the
    first N images (by file name) of each class of an ImageFolder CIFAR-10 (train and test alike):
    for tests and reduced budgets.
    """

    def __init__(
        self,
        source: str = "digits",
        image_size: int = 32,
        batch_size: int = 50,
        val_fraction: float = 0.1,
        test_fraction: float | None = 0.3,
        train_subset: int | None = None,
        per_class_limit: int | None = None,
        flip: bool = False,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, val_fraction=val_fraction, test_fraction=test_fraction, **kwargs)
        if source not in SOURCES:
            raise ConfigError(f"data.source must be one of {SOURCES}, got {source!r}")
        if image_size < 8:
            raise ConfigError(f"data.image_size must be >= 8, got {image_size}")
        if train_subset is not None and train_subset < 1:
            raise ConfigError(f"data.train_subset must be >= 1 or null, got {train_subset}")
        if per_class_limit is not None and per_class_limit < 1:
            raise ConfigError(f"data.per_class_limit must be >= 1 or null, got {per_class_limit}")
        self.source, self.image_size = source, image_size
        self.train_subset, self.per_class_limit, self.flip = train_subset, per_class_limit, flip

    @property
    def in_channels(self) -> int:
        return 3 if self.source == "cifar10" else 1

    def build(self):
        (images, labels), test = load_source(self.source, self.root, self.data_dir, self.per_class_limit)
        images = resize_images(images, self.image_size)
        if test is None:
            if self.test_fraction is None:
                raise ConfigError(f"data.source={self.source} at {self.root} has no test split: set data.test_fraction")
            keep, test_index = stratified_split(labels, self.test_fraction, self.split_seed)
            test = (images[test_index], labels[test_index])
            images, labels = images[keep], labels[keep]
        elif self.test_fraction is not None:
            raise ConfigError(
                f"data.source={self.source} has its own test split: set data.test_fraction=null, got {self.test_fraction}"
            )
        else:
            test = (resize_images(test[0], self.image_size), test[1])
        keep, val_index = stratified_split(labels, self.val_fraction, self.split_seed + 1)
        if self.train_subset is not None:
            if self.train_subset > len(keep):
                raise ConfigError(f"data.train_subset={self.train_subset} exceeds the {len(keep)} training images")
            keep = np.sort(np.random.default_rng(self.split_seed + 2).permutation(keep)[: self.train_subset])
        test_set = ImageSet(*test)
        if len(test_set) == 0:
            raise ConfigError("the test split is empty: raise data.test_fraction")
        val_set = ImageSet(images[val_index], labels[val_index]) if len(val_index) else None
        return ImageSet(images[keep], labels[keep], flip=self.flip), val_set, test_set

    def build_whole(self) -> ImageSet:
        """Every image of `root` (see `read_folder_to_score`) as one test set, at `image_size`."""
        return ImageSet(*read_folder_to_score(self.root, self.source, self.image_size))

    def val_dataloader(self):
        return self.eval_loader(self.val_set, "validation") if self.val_set is not None else []

    def train_eval_dataloader(self) -> DataLoader:
        """The training images in order, unaugmented: for train accuracy and calibration."""
        return self.eval_loader(ImageSet(self.train_set.images, self.train_set.labels), "train")
