"""Data of the Finsler paper: generated starfish and concentric circles on the sphere (tiny), and the real qPCR, font, starmen, MNIST and FashionMNIST.

Every source gives a float matrix x (n, D) and integer labels (n,) for colouring the latent space.
Continuous sources are centred and divided by one global standard deviation (the geometry of the
data is kept); MNIST and scikit-learn's digits are binarised at 0.5 for the Bernoulli decoder of
the Fisher-Rao part. FashionMNIST (test images, grey levels) is for the Gaussian decoders: the paper
shows its Finsler and Riemann geodesics, D = 784.
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from common.data import cache_dir, download
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError, DataUnavailableError
from common.readers import find_idx_file, find_idx_files, idx_file_names, read_idx

SOURCES = ("starfish_sphere", "circles_sphere", "digits", "qpcr", "font", "starmen", "mnist", "fashion_mnist")
# Public copies with pinned checksums; the starmen subset has no single public file (data.root only).
REMOTE = {
    "qpcr": ("https://raw.githubusercontent.com/sods/ods/master/datasets/guo_qpcr.csv", "guo_qpcr.csv",
             "80bb8dd8593c98b0b53b54fcc1afd191900cc3d8cfcff8cdb9a0f42f9340badc"),
    "font": ("https://raw.githubusercontent.com/a-pouplin/latent_distances_finsler/master/data/font_f.mat",
             "font_f.mat", "37e09f87eb6a335577a331e16b2d4d4491b6daddf2cca0ccbd10a74df4d2554b"),
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "ba05d2d6e06f59dd97d2d5378250478bb5c9b64296a5c2681700569121e3a2d7"),
    "mnist_labels": ("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
                     "t10k-labels-idx1-ubyte.gz", "94088eab8a64f51a9b34cc9716f54b6548ef8b2fd16ada6d1575091b933dbf4b"),
}


# ------------------------------------------------------------------------------------------------
# Generated: the authors' starfish (pinwheel) projected stereographically onto the unit sphere
# ------------------------------------------------------------------------------------------------

def pinwheel(num_classes: int, num_per_class: int, rng: np.random.Generator, radial_std=0.5, tangential_std=0.1,
             rate=0.07) -> tuple[np.ndarray, np.ndarray]:
    rads = np.linspace(0, 2 * np.pi, num_classes, endpoint=False)
    features = rng.standard_normal((num_classes * num_per_class, 2)) * np.array([radial_std, tangential_std])
    features[:, 0] += 1.0
    labels = np.repeat(np.arange(num_classes), num_per_class)
    angles = rads[labels] + rate * np.exp(features[:, 0])
    rotations = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)]).T.reshape(-1, 2, 2)
    points = 10 * np.einsum("ti,tij->tj", features, rotations)
    return points / np.sqrt(np.linalg.norm(points)), labels


def starfish_sphere(n_points: int, seed: int, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Starfish in the plane, mapped onto the unit sphere by inverse stereographic projection (D = 3)."""
    if n_points < 10:
        raise ConfigError(f"data.n_points must be >= 10, got {n_points}")
    rng = np.random.default_rng(seed)
    plane, labels = pinwheel(5, n_points // 5, rng)
    x = inverse_stereographic(plane)
    x = x + noise * rng.standard_normal(x.shape)
    return x, labels


def inverse_stereographic(plane: np.ndarray) -> np.ndarray:
    """(n, 2) points of the plane -> the unit sphere in R^3 (the authors' `projection_stereographic`)."""
    norm = (plane**2).sum(1) + 1
    return np.stack([2 * plane[:, 0] / norm, 2 * plane[:, 1] / norm, ((plane**2).sum(1) - 1) / norm], 1)


def circles_sphere(n_points: int, seed: int, noise: float = 0.0, n_circles: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The authors' concentric circles on the sphere (D = 3): circles of radius r / (K + 1), r = 1..K
    (K = 3 in their training script), angles uniform on [0, 2 pi), n_points // K points each, mapped
    onto the unit sphere by inverse stereographic projection. Labels: the circle."""
    if n_circles < 1:
        raise ConfigError(f"data.n_circles must be >= 1, got {n_circles}")
    if n_points < 2 * n_circles:
        raise ConfigError(f"data.n_points must be >= 2 per circle ({2 * n_circles}), got {n_points}")
    rng = np.random.default_rng(seed)
    per_circle = n_points // n_circles
    radii = np.repeat(np.arange(1, n_circles + 1), per_circle) / (n_circles + 1)
    angles = rng.uniform(0, 2 * np.pi, len(radii))
    plane = np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    x = inverse_stereographic(plane) + noise * rng.standard_normal((len(plane), 3))
    return x, np.repeat(np.arange(n_circles), per_circle)


# ------------------------------------------------------------------------------------------------
# Real data
# ------------------------------------------------------------------------------------------------

def _locate(source: str, root: str | Path | None, data_dir: str | Path, relative: str) -> Path:
    if root is not None:
        path = Path(root).expanduser() / relative
        if not path.is_file():
            raise DataError(f"Missing data file: {path} (data.root={root})")
        return path
    if source not in REMOTE:
        raise DataError(f"data.source={source} has no public download here; give its folder with data.root=DIR")
    url, name, sha = REMOTE[source]
    return download(url, cache_dir(data_dir, "finsler") / name, sha)


def load_qpcr(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path, index_col=0)
    except Exception as err:  # noqa: BLE001
        raise DataError(f"Could not read the qPCR table {path}: {err}") from err
    if frame.shape[1] != 48 or frame.isna().any().any():
        raise DataError(f"{path}: expected 48 gene columns without gaps, got {frame.shape[1]} columns")
    stages, labels = np.unique(frame.index.astype(str), return_inverse=True)  # "1", "2", ..., "32 TE", "64 PE"
    return frame.to_numpy(dtype=np.float64), labels


def load_font(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except Exception as err:  # noqa: BLE001
        raise DataError(f"Could not read the font file {path}: {err}") from err
    if "Y" not in content or content["Y"].ndim != 2:
        raise DataError(f"{path}: no 2-D matrix 'Y' of font contours")
    y = content["Y"].astype(np.float64)
    return y, np.zeros(len(y), dtype=int)


def load_starmen(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    table_path = folder / "df_subset_s0-s19.csv"
    if not table_path.is_file():
        raise DataError(f"Missing data file: {table_path}")
    table = pd.read_csv(table_path)
    images = []
    for relative in table["path"]:
        image_path = folder / relative
        if not image_path.is_file():
            raise DataError(f"Missing data file: {image_path}")
        image = np.load(image_path)
        if image.shape != (64, 64):
            raise DataError(f"{image_path}: expected a 64 x 64 image, got {image.shape}")
        images.append(image.reshape(-1))
    return np.stack(images).astype(np.float64), table["tp"].to_numpy(dtype=int)


def load_mnist(images_path: Path, labels_path: Path | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` images of an MNIST IDX file, binarised at 0.5 (n, 784), with their labels."""
    images = read_idx(images_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: not an MNIST image file (shape {images.shape}, expected (n, 28, 28))")
    images = images.reshape(-1, 784)[:count]
    labels = read_idx(labels_path)[:count].astype(int) if labels_path is not None else np.zeros(len(images), int)
    return (images / 255.0 > 0.5).astype(np.float64), labels


# md5 of the test files' content (unpacked): they pin what is read in every layout data.root may
# hold, gzipped by torchvision or by anyone else (Debian's dataset-fashion-mnist package gzips the
# same content to other bytes), where torchvision checks its own .gz files on download only.
FASHION_MNIST_MD5 = {"t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                     "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"}


def content_md5(path: Path) -> str:
    """md5 of an IDX file's bytes, unpacked first when it is gzipped."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path} is not a readable (gzipped) file: {err}") from err
    return hashlib.md5(raw).hexdigest()


def load_fashion_mnist(root, data_dir, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` FashionMNIST test images as grey levels in [0, 1] (n, 784), with their classes.

    data.root=DIR reads the two test files from DIR (.gz or unpacked, or torchvision's
    DIR/FashionMNIST/raw) without downloading; with data.root null, torchvision downloads the four
    files (its mirrors and md5 checksums) into the cache. Either way the files read must have the md5
    of the FashionMNIST test files.
    """
    from torchvision.datasets import FashionMNIST

    folder = Path(root).expanduser() if root is not None else cache_dir(data_dir, "finsler")
    if root is None:
        try:
            FashionMNIST(str(folder), train=False, download=True)
        except RuntimeError as err:  # torchvision's "Error downloading" lands here
            raise DataUnavailableError(f"Could not download FashionMNIST into {folder} ({err})") from err
    files = []
    for name in idx_file_names("fashion_mnist", "test"):
        try:
            path = find_idx_file(folder, "fashion_mnist", name)
        except DataError as err:
            raise DataUnavailableError(
                f"FashionMNIST not available under {folder} ({err}). Without network, download the four files "
                f"(train-/t10k-images-idx3-ubyte.gz, train-/t10k-labels-idx1-ubyte.gz) elsewhere, check them "
                f"against torchvision's FashionMNIST.resources md5 sums, and put them (or the two t10k files) "
                f"there, gzipped or unpacked, or in its FashionMNIST/raw; pass data.root={folder}") from err
        md5 = FASHION_MNIST_MD5[path.name.removesuffix(".gz")]
        if content_md5(path) != md5:
            raise DataError(f"{path} is not the FashionMNIST test file (md5 {md5} of its unpacked content expected)")
        files.append(path)
    images, labels = (read_idx(path) for path in files)
    return (images.reshape(-1, 784)[:count] / 255.0).astype(np.float64), labels[:count].astype(int)


def load_source(source: str, root, data_dir, n_points: int, seed: int, noise: float, mnist_count: int,
                n_circles: int = 3):
    if source == "starfish_sphere":
        return starfish_sphere(n_points, seed, noise)
    if source == "circles_sphere":
        return circles_sphere(n_points, seed, noise, n_circles)
    if source == "digits":  # scikit-learn's bundled 8 x 8 digits, binarised: the tiny Bernoulli data
        from sklearn.datasets import load_digits

        digits = load_digits()
        return (digits.data / 16.0 > 0.5).astype(np.float64), digits.target.astype(int)
    if source == "qpcr":
        return load_qpcr(_locate(source, root, data_dir, "guo_qpcr.csv"))
    if source == "font":
        return load_font(_locate(source, root, data_dir, "font_f.mat"))
    if source == "starmen":
        if root is None:
            raise DataError("data.source=starmen needs data.root=DIR (the starmen subset: df_subset_s0-s19.csv, images/)")
        return load_starmen(Path(root).expanduser())
    if source == "mnist":
        if root is not None:  # .gz or unpacked, in root or in torchvision's root/MNIST/raw
            return load_mnist(*find_idx_files(Path(root).expanduser(), "mnist", "test"), mnist_count)
        image = _locate(source, root, data_dir, "t10k-images-idx3-ubyte.gz")
        labels = _locate("mnist_labels", root, data_dir, "t10k-labels-idx1-ubyte.gz")
        return load_mnist(image, labels, mnist_count)
    if source == "fashion_mnist":
        return load_fashion_mnist(root, data_dir, mnist_count)
    raise ConfigError(f"data.source must be one of {SOURCES}, got {source!r}")


class FinslerDataModule(ReproDataModule):
    """Batches of (x, index); `x_all`, `labels` and the split indices stay available for analyses.

    On `common.datamodule.ReproDataModule`: the training points shuffled by (seed, epoch) (plain
    indices); validation and test in batches of 512, each reading the training points when its own
    split is empty (val_fraction or test_fraction 0).
    """

    item_seeds = False

    def __init__(
        self, source: str = "starfish_sphere", root: str | None = None, data_dir: str = "~/.cache/paper-repro",
        n_points: int = 1000, noise: float = 0.0, mnist_count: int = 2000, standardise: bool = True,
        val_fraction: float = 0.1, test_fraction: float = 0.1, batch_size: int = 128, seed: int = 0,
        split_seed: int = 0, num_workers: int = 0, n_circles: int = 3,
    ):
        if source not in SOURCES:
            raise ConfigError(f"data.source must be one of {SOURCES}, got {source!r}")
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0 <= value < 0.5:
                raise ConfigError(f"data.{name} must be in [0, 0.5), got {value}")
        super().__init__(batch_size=batch_size, seed=seed, split_seed=split_seed, val_fraction=val_fraction,
                         test_fraction=test_fraction or None, root=root, data_dir=data_dir, num_workers=num_workers,
                         eval_batch_size=512)
        self.save_hyperparameters()
        self.x_all: torch.Tensor | None = None

    def build(self) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
        h = self.hparams
        x, labels = load_source(h.source, h.root, h.data_dir, h.n_points, h.split_seed, h.noise, h.mnist_count,
                                h.n_circles)
        if h.standardise and h.source not in ("mnist", "digits"):
            x = x - x.mean(0)
            x = x / x.std()
        self.x_all = torch.as_tensor(x, dtype=torch.float32)
        self.labels = torch.as_tensor(labels)
        order = np.random.default_rng(h.split_seed).permutation(len(x))
        n_test = int(round(h.test_fraction * len(x)))
        n_val = int(round(h.val_fraction * len(x)))
        self.test_idx = torch.as_tensor(np.sort(order[:n_test]))
        self.val_idx = torch.as_tensor(np.sort(order[n_test:n_test + n_val]))
        self.train_idx = torch.as_tensor(np.sort(order[n_test + n_val:]))
        make = lambda idx: TensorDataset(self.x_all[idx], idx)  # noqa: E731
        return make(self.train_idx), make(self.val_idx), make(self.test_idx)

    @property
    def dim(self) -> int:
        return int(self.x_all.shape[1])

    def val_datasets(self) -> TensorDataset:
        return self.val_set if len(self.val_set) else self.train_set

    def test_datasets(self) -> TensorDataset:
        return self.test_set if len(self.test_set) else self.train_set
