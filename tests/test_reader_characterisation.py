"""Characterisation of the data readers the papers share (IDX files, MNIST-family folders, CIFAR-10
image folders): the sha256 of what each reader returns, and of the first two epochs of training
batches of each paper's data module that uses them.

The expected hashes are facts about the readers as they were before they moved to one shared
module (computed with that code, on the real excerpts in ../shared/data and on small IDX files
written here). Moving a reader may change which function a case calls (`READERS` below), never an
expected hash: a different hash means the move changed a number.

Each digest covers the arrays' bytes, shape and dtype (byte order included). Batch digests cover the
sampler's index sequence of epochs 0 and 1 and the tensors of the first two batches of each.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from common import PROJECT_ROOT, readers

SHARED = PROJECT_ROOT.parent / "shared" / "data"
MNIST = SHARED / "mnist"
EMNIST_TILES = SHARED / "emnist_mnist_test"
CIFAR = SHARED / "cifar10"
CIFAR_KAGGLE = SHARED / "cifar10_small" / "image_data_format_1"
# What each excerpt must hold for its cases to run (they skip otherwise).
EXCERPTS = {
    "mnist": MNIST / "t10k-images-idx3-ubyte.gz",
    "emnist_mnist_test": EMNIST_TILES / "test.json",
    "cifar10": CIFAR / "test" / "truck",
    "cifar10_small": CIFAR_KAGGLE / "trainLabels.csv",
}
MNIST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz")


def _module(paper: str):
    return importlib.import_module(f"papers.{paper}.data")


# ---------------------------------------------------------------------------- digests


def digest(*arrays) -> str:
    """sha256 over each array's shape, dtype (with byte order) and C-order bytes."""
    h = hashlib.sha256()
    for array in arrays:
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().numpy()
        array = np.asarray(array)
        h.update(repr((array.shape, array.dtype.str)).encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _tensors(batch) -> list:
    if isinstance(batch, (list, tuple)):
        return [t for item in batch for t in _tensors(item)]
    return [batch]


def batch_digests(datamodule, epochs: int = 2, first_batches: int = 2) -> tuple[str, str]:
    """(digest of the sampler's index sequence, digest of the first batches) over `epochs` epochs,
    with the sampler told the epoch as Lightning tells it."""
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    order, batches = hashlib.sha256(), hashlib.sha256()
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        order.update(repr(list(loader.sampler)).encode())
        for index, batch in enumerate(loader):
            if index == first_batches:
                break
            batches.update(digest(*_tensors(batch)).encode())
    return order.hexdigest(), batches.hexdigest()


def listing_digest(files, labels, root: Path) -> str:
    names = "\n".join(str(Path(f).relative_to(root)) for f in files)
    return digest(np.frombuffer(names.encode(), dtype=np.uint8), np.asarray(labels, dtype=np.int64))


# ---------------------------------------------------------------------------- small IDX files


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def fashion_arrays() -> dict[str, np.ndarray]:
    """Small stand-ins for the four Fashion-MNIST IDX files (no excerpt of it is kept here)."""
    rng = np.random.default_rng(2024)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.tile(np.arange(10, dtype=np.uint8), 3),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.tile(np.arange(10, dtype=np.uint8), 2),
    }


def write_fashion(root: Path, layout: str) -> Path:
    """The four files as `.gz` in root ("gz"), unpacked in root ("unpacked"), or in torchvision's
    root/FashionMNIST/raw, unpacked ("torchvision") or gzipped ("torchvision_gz")."""
    folder = root / "FashionMNIST" / "raw" if layout.startswith("torchvision") else root
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in fashion_arrays().items():
        if layout.endswith("gz"):
            (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array), mtime=0))
        else:
            (folder / name).write_bytes(idx_bytes(array))
    return root


# ---------------------------------------------------------------------------- the readers under test
# Each entry names a reader as the papers had it and says what it is called as now.


def _curvature_read_idx(path):  # moved to common.readers
    return readers.read_idx(path)


def _gin_read_idx(path):  # moved to common.readers
    return readers.read_idx(path)


def _hydra_read_idx(path):  # moved to common.readers
    return readers.read_idx(path)


def _pruning_read_idx(path):  # moved to common.readers
    return readers.read_idx(path)


def _finsler_read_idx(path, header):  # moved to common.readers, which reads the header instead of skipping it
    return readers.read_idx(path).reshape(-1)


def _curvature_image_folder(folder):  # moved to common.readers
    return readers.list_image_folder(folder)


def _curvature_read_images(files):  # the decoding moved to common.readers; the scaling stayed in the paper
    return np.ascontiguousarray(readers.read_rgb_images(files).transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def _hydra_read_cifar_folder(folder, count, seed):
    return _module("hydra_distillation")._read_cifar_folder(folder, count, seed)


READERS: dict[str, Callable] = {
    "curvature_generalization.read_idx": _curvature_read_idx,
    "gin._read_idx": _gin_read_idx,
    "hydra_distillation.read_idx": _hydra_read_idx,
    "pruning_quantisation.read_idx": _pruning_read_idx,
    "finsler_latent_metric._read_idx": _finsler_read_idx,
    "curvature_generalization.image_folder_files": _curvature_image_folder,
    "curvature_generalization.read_images": _curvature_read_images,
    "hydra_distillation._read_cifar_folder": _hydra_read_cifar_folder,
}


@dataclass
class Context:
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch


def _idx_cases() -> dict[str, tuple[str | None, Callable[[Context], str]]]:
    cases = {}
    for reader in ("curvature_generalization.read_idx", "gin._read_idx", "hydra_distillation.read_idx",
                   "pruning_quantisation.read_idx"):
        for name in MNIST_FILES:
            cases[f"{reader}[{name}]"] = ("mnist", lambda ctx, r=reader, n=name: digest(READERS[r](MNIST / n)))
    for name, header in zip(MNIST_FILES, (16, 8, 8), strict=True):
        cases[f"finsler_latent_metric._read_idx[{name}]"] = (
            "mnist", lambda ctx, n=name, h=header: digest(READERS["finsler_latent_metric._read_idx"](MNIST / n, h)))
    return cases


def _wide_idx(ctx: Context) -> str:
    """pruning's read_idx reads every IDX type: signed bytes, big-endian int16/int32/float32/float64."""
    rng = np.random.default_rng(5)
    arrays = [rng.integers(-128, 128, (3, 4), dtype=np.int8), rng.integers(-999, 999, (2, 3, 4)).astype(">i2"),
              rng.integers(-10**6, 10**6, (5,)).astype(">i4"), rng.standard_normal((4, 2)).astype(">f4"),
              rng.standard_normal((2, 2)).astype(">f8")]
    out = []
    for i, array in enumerate(arrays):
        path = ctx.tmp_path / f"wide{i}.idx"
        path.write_bytes(idx_bytes(array))
        gz = ctx.tmp_path / f"wide{i}.idx.gz"
        gz.write_bytes(gzip.compress(idx_bytes(array), mtime=0))
        out += [READERS["pruning_quantisation.read_idx"](path), READERS["pruning_quantisation.read_idx"](gz)]
    return digest(*out)


def _curvature_cifar(ctx: Context) -> str:
    files, labels, classes = READERS["curvature_generalization.image_folder_files"](CIFAR / "train")
    keep = np.sort(np.random.default_rng(0).permutation(len(files))[:64])
    images = READERS["curvature_generalization.read_images"]([files[i] for i in keep])
    return digest(np.frombuffer(",".join(classes).encode(), dtype=np.uint8), np.asarray(labels)[keep], images)


def _curvature_cifar_listing(ctx: Context) -> str:
    files, labels, _ = READERS["curvature_generalization.image_folder_files"](CIFAR / "test")
    return listing_digest(files, labels, CIFAR)


def _hydra_cifar(ctx: Context) -> str:
    read = READERS["hydra_distillation._read_cifar_folder"]
    return digest(*read(CIFAR / "train", 64, 0), *read(CIFAR / "test", 32, 1))


def _pruning_image_folder(ctx: Context) -> str:
    # read_image_folder(train) moved to common.readers; it is the first half of read_cifar_image_folder
    return digest(*_module("pruning_quantisation").read_cifar_image_folder(CIFAR, 5)[0])


def _pruning_cifar_image_folder(ctx: Context) -> str:
    (train, test) = _module("pruning_quantisation").read_cifar_image_folder(CIFAR, 3)
    return digest(*train, *test)


def _pruning_kaggle(ctx: Context) -> str:
    return digest(*_module("pruning_quantisation").read_kaggle_cifar(CIFAR_KAGGLE))


def _hydra_load_mnist(ctx: Context) -> str:
    return digest(*_module("hydra_distillation").load_mnist("test", MNIST, "/nonexistent"))


def _gin_read_mnist_test(ctx: Context) -> str:
    return digest(*_module("gin").read_mnist_test(MNIST))


def _gin_emnist_tiles(ctx: Context) -> str:
    return digest(*_module("gin").read_emnist_tiles(EMNIST_TILES))


def _pruning_idx_split(ctx: Context) -> str:
    return digest(*_module("pruning_quantisation").read_idx_split(MNIST, "test"))


def _finsler_load_mnist(ctx: Context) -> str:
    return digest(*_module("finsler_latent_metric").load_mnist(
        MNIST / "t10k-images-idx3-ubyte.gz", MNIST / "t10k-labels-idx1-ubyte.gz", 2000))


def _pruning_fashion_split(ctx: Context) -> str:
    root = write_fashion(ctx.tmp_path / "gz", "gz")
    data = _module("pruning_quantisation")
    return digest(*data.read_idx_split(root, "train"), *data.read_idx_split(root, "test"))


def _finsler_md5_of_written_files(ctx: Context, folder: Path) -> None:
    """finsler checks its Fashion-MNIST files' content md5: told the sums of the small files written here."""
    module = _module("finsler_latent_metric")
    sums = {}
    for kind, dims in (("images", 3), ("labels", 1)):
        name = f"t10k-{kind}-idx{dims}-ubyte"
        found = [folder / n for n in (name, name + ".gz") if (folder / n).is_file()]
        if found:
            sums[name] = module.content_md5(found[0])
    ctx.monkeypatch.setattr(module, "FASHION_MNIST_MD5", sums)


def _finsler_fashion(ctx: Context) -> str:
    root = write_fashion(ctx.tmp_path / "tv", "torchvision")
    _finsler_md5_of_written_files(ctx, root / "FashionMNIST" / "raw")
    return digest(*_module("finsler_latent_metric").load_fashion_mnist(root, "/nonexistent", 5000))


def _curvature_load_mnist(ctx: Context) -> str:
    data = _module("curvature_generalization")
    datamodule = data.ClassificationDataModule(source="mnist", root=str(MNIST))
    return digest(*datamodule._load_mnist("t10k"))


READER_CASES: dict[str, tuple[str | None, Callable[[Context], str]]] = {
    **_idx_cases(),
    "pruning_quantisation.read_idx[every IDX type]": (None, _wide_idx),
    "curvature_generalization.image_folder_files+read_images[train, 64]": ("cifar10", _curvature_cifar),
    "curvature_generalization.image_folder_files[test listing]": ("cifar10", _curvature_cifar_listing),
    "hydra_distillation._read_cifar_folder[train 64 seed 0, test 32 seed 1]": ("cifar10", _hydra_cifar),
    "pruning_quantisation.read_image_folder[train, 5 per class]": ("cifar10", _pruning_image_folder),
    "pruning_quantisation.read_cifar_image_folder[3 per class]": ("cifar10", _pruning_cifar_image_folder),
    "pruning_quantisation.read_kaggle_cifar": ("cifar10_small", _pruning_kaggle),
    "hydra_distillation.load_mnist[test]": ("mnist", _hydra_load_mnist),
    "gin.read_mnist_test": ("mnist", _gin_read_mnist_test),
    "gin.read_emnist_tiles": ("emnist_mnist_test", _gin_emnist_tiles),
    "pruning_quantisation.read_idx_split[test]": ("mnist", _pruning_idx_split),
    "finsler_latent_metric.load_mnist[2000]": ("mnist", _finsler_load_mnist),
    "curvature_generalization._load_mnist[t10k]": ("mnist", _curvature_load_mnist),
    "pruning_quantisation.read_idx_split[fashion .gz in root]": (None, _pruning_fashion_split),
    "finsler_latent_metric.load_fashion_mnist[FashionMNIST/raw]": (None, _finsler_fashion),
}


# ---------------------------------------------------------------------------- data modules


def _datamodule(experiment: str, overrides: list[str] = ()):
    import hydra

    from common.run import compose

    cfg = compose("train", [f"experiment={experiment}", *overrides])
    return hydra.utils.instantiate(cfg.data)


def _dm(experiment: str, *overrides: str, needs: str | None = None, before: Callable | None = None):
    def build(ctx: Context):
        extra = [o.format(tmp=ctx.tmp_path, shared=SHARED) for o in overrides]
        if before is not None:
            before(ctx)
        return batch_digests(_datamodule(experiment, extra))
    return needs, build


def _fashion(layout: str) -> Callable[[Context], None]:
    def write(ctx: Context) -> None:
        root = write_fashion(ctx.tmp_path / "fashion", layout)
        _finsler_md5_of_written_files(ctx, root / "FashionMNIST" / "raw" if layout.startswith("torchvision") else root)
    return write


DATAMODULE_CASES: dict[str, tuple[str | None, Callable[[Context], tuple[str, str]]]] = {
    "curvature_generalization/tiny": _dm("curvature_generalization/tiny"),
    "curvature_generalization/mnist[excerpt]": _dm(
        "curvature_generalization/mnist", "data.root={shared}/mnist", needs="mnist"),
    "curvature_generalization/cifar10[excerpt, 64]": _dm(
        "curvature_generalization/cifar10", "data.root={shared}/cifar10", "data.n_train=64", "data.n_test=64",
        "data.measure_size=32", needs="cifar10"),
    "gin/digits_tiny": _dm("gin/digits_tiny"),
    "gin/emnist_cpu[excerpt]": _dm("gin/emnist_cpu", "data.root={shared}/emnist_mnist_test",
                                   needs="emnist_mnist_test"),
    "gin/emnist_cpu[mnist_test excerpt]": _dm("gin/emnist_cpu", "data.source=mnist_test",
                                              "data.root={shared}/mnist", needs="mnist"),
    "hydra_distillation/tiny_spiral_kd": _dm("hydra_distillation/tiny_spiral_kd"),
    "hydra_distillation/mnist_reduced_kd[excerpt]": _dm(
        "hydra_distillation/mnist_reduced_kd", "data.root={shared}/mnist", needs="mnist"),
    "hydra_distillation/cifar10_cpu_kd[excerpt, 64]": _dm(
        "hydra_distillation/cifar10_cpu_kd", "data.root={shared}/cifar10", "data.n_train=64", "data.n_test=32",
        "data.augment=true", needs="cifar10"),
    "pruning_quantisation/tiny": _dm("pruning_quantisation/tiny"),
    "pruning_quantisation/cifar10[kaggle excerpt]": _dm(
        "pruning_quantisation/cifar10", "data.root={shared}/cifar10_small/image_data_format_1",
        "data.test_fraction=0.2", "data.num_workers=0", needs="cifar10_small"),
    "pruning_quantisation/cifar10[image folder, 5 per class]": _dm(
        "pruning_quantisation/cifar10", "data.root={shared}/cifar10", "data.per_class_limit=5",
        "data.num_workers=0", "data.batch_size=8", needs="cifar10"),
    "pruning_quantisation/tiny[fashion .gz in root]": _dm(
        "pruning_quantisation/tiny", "data.source=fashion_mnist", "data.root={tmp}/fashion", "data.image_size=28",
        "data.test_fraction=null", "data.batch_size=8", before=_fashion("gz")),
    "finsler_latent_metric/tiny": _dm("finsler_latent_metric/tiny"),
    "finsler_latent_metric/tiny_fisher": _dm("finsler_latent_metric/tiny_fisher"),
    "finsler_latent_metric/mnist_fisher[excerpt]": _dm(
        "finsler_latent_metric/mnist_fisher", "data.root={shared}/mnist", needs="mnist"),
    "finsler_latent_metric/fashion_mnist[FashionMNIST/raw]": _dm(
        "finsler_latent_metric/fashion_mnist", "data.root={tmp}/fashion", "data.batch_size=8",
        before=_fashion("torchvision")),
}

# Layouts the old readers refused, which the shared locator finds: the same files give the same batches.
for _layout in ("unpacked", "torchvision", "torchvision_gz"):
    DATAMODULE_CASES[f"pruning_quantisation/tiny[fashion {_layout}]"] = _dm(
        "pruning_quantisation/tiny", "data.source=fashion_mnist", "data.root={tmp}/fashion", "data.image_size=28",
        "data.test_fraction=null", "data.batch_size=8", before=_fashion(_layout))
for _layout in ("gz", "unpacked", "torchvision_gz"):
    DATAMODULE_CASES[f"finsler_latent_metric/fashion_mnist[{_layout}]"] = _dm(
        "finsler_latent_metric/fashion_mnist", "data.root={tmp}/fashion", "data.batch_size=8",
        before=_fashion(_layout))


# ---------------------------------------------------------------------------- expected (the old code's output)

EXPECTED_READERS: dict[str, str] = {
    "curvature_generalization._load_mnist[t10k]":
        "86dadfe147d27c00b279236029b373c84bca27aba9d54a18430d3b7b4535bbb4",
    "curvature_generalization.image_folder_files+read_images[train, 64]":
        "ccdbf8f920395b1b436c8409ced5124fb2a958f3e0ec02e4a640c20513252d72",
    "curvature_generalization.image_folder_files[test listing]":
        "5fa4942dc7365056978e4a338a7d241755961700d9c8c0efaf8ce8bc311830a9",
    "curvature_generalization.read_idx[t10k-images-idx3-ubyte.gz]":
        "82a82f8ead756d5f9c0c45f2d613cf64518fd860bb0b398e921e6db4c20b0788",
    "curvature_generalization.read_idx[t10k-labels-idx1-ubyte.gz]":
        "a508fe80b698ae864a8cbadfeb4b35958ed1c5ba8ebb8fbc2b470a96e5b35843",
    "curvature_generalization.read_idx[train-labels-idx1-ubyte.gz]":
        "ea22ce90c6eebd9f5a58d7c9ad8f3898751a841093b5a78673791cb416e60f4f",
    "finsler_latent_metric._read_idx[t10k-images-idx3-ubyte.gz]":
        "e568b8b9e3ff7f8b1b10408cd6262d281607232f82a84655011e85027c64bbcd",
    "finsler_latent_metric._read_idx[t10k-labels-idx1-ubyte.gz]":
        "a508fe80b698ae864a8cbadfeb4b35958ed1c5ba8ebb8fbc2b470a96e5b35843",
    "finsler_latent_metric._read_idx[train-labels-idx1-ubyte.gz]":
        "ea22ce90c6eebd9f5a58d7c9ad8f3898751a841093b5a78673791cb416e60f4f",
    "finsler_latent_metric.load_fashion_mnist[FashionMNIST/raw]":
        "5607e50e29eb356f525308652ef01882ca982cdb799b83db180c6fffd482764b",
    "finsler_latent_metric.load_mnist[2000]":
        "6c9ae1e1388f93d6d3ec408c811c9312921bdaa0e169fbda430335279a18f68a",
    "gin._read_idx[t10k-images-idx3-ubyte.gz]":
        "82a82f8ead756d5f9c0c45f2d613cf64518fd860bb0b398e921e6db4c20b0788",
    "gin._read_idx[t10k-labels-idx1-ubyte.gz]":
        "a508fe80b698ae864a8cbadfeb4b35958ed1c5ba8ebb8fbc2b470a96e5b35843",
    "gin._read_idx[train-labels-idx1-ubyte.gz]":
        "ea22ce90c6eebd9f5a58d7c9ad8f3898751a841093b5a78673791cb416e60f4f",
    "gin.read_emnist_tiles":
        "f018a079f0f36323404626af877c03d2d1adc1af6c773b3178d7089c34021d2d",
    "gin.read_mnist_test":
        "7cd7e3801c5d56d07f5a19f9983c86ce8309b165b29c044612064c9f7f21d35f",
    "hydra_distillation._read_cifar_folder[train 64 seed 0, test 32 seed 1]":
        "777552a895610dc3cc7a3692092e67f03a97f126fa24846302a50e9b745f4cd8",
    "hydra_distillation.load_mnist[test]":
        "7cd7e3801c5d56d07f5a19f9983c86ce8309b165b29c044612064c9f7f21d35f",
    "hydra_distillation.read_idx[t10k-images-idx3-ubyte.gz]":
        "82a82f8ead756d5f9c0c45f2d613cf64518fd860bb0b398e921e6db4c20b0788",
    "hydra_distillation.read_idx[t10k-labels-idx1-ubyte.gz]":
        "a508fe80b698ae864a8cbadfeb4b35958ed1c5ba8ebb8fbc2b470a96e5b35843",
    "hydra_distillation.read_idx[train-labels-idx1-ubyte.gz]":
        "ea22ce90c6eebd9f5a58d7c9ad8f3898751a841093b5a78673791cb416e60f4f",
    "pruning_quantisation.read_cifar_image_folder[3 per class]":
        "631c8ad70b67c00aedf4a6472a913fc4f1ff6398898c97c2547e4dfe6a1e13a3",
    "pruning_quantisation.read_idx[every IDX type]":
        "6a1f1dbd81eed74a9a0cca8661949e930c7f731b569c28a2453808648a8aef58",
    "pruning_quantisation.read_idx[t10k-images-idx3-ubyte.gz]":
        "82a82f8ead756d5f9c0c45f2d613cf64518fd860bb0b398e921e6db4c20b0788",
    "pruning_quantisation.read_idx[t10k-labels-idx1-ubyte.gz]":
        "a508fe80b698ae864a8cbadfeb4b35958ed1c5ba8ebb8fbc2b470a96e5b35843",
    "pruning_quantisation.read_idx[train-labels-idx1-ubyte.gz]":
        "ea22ce90c6eebd9f5a58d7c9ad8f3898751a841093b5a78673791cb416e60f4f",
    "pruning_quantisation.read_idx_split[fashion .gz in root]":
        "704078e064379e3cfc8053fcaad65abf451af6a1eceeb86da72b484bf3509af9",
    "pruning_quantisation.read_idx_split[test]":
        "e23762998d9104f5b36ca028ba90d12d2c645d81fa97f9b4a72230780a640c4d",
    "pruning_quantisation.read_image_folder[train, 5 per class]":
        "3df8fe77ec72d006c1cc97a60c5bf284a4487ca2bc7f477923efcfb175aa7713",
    "pruning_quantisation.read_kaggle_cifar":
        "15dd6cb348f8f150e5defb42b4032ebf9bfda3af0851a762917853d5d80b5759",
}

EXPECTED_BATCHES: dict[str, tuple[str, str]] = {
    "curvature_generalization/cifar10[excerpt, 64]": (
        "ce63933b006dc8be7396d0e095fc4cb990ccaa50c95412370fcf3c39bd30f6f8",
        "673d077f7f6c9d2f3ccf66feb222d2db11e383efb4c348161d7101f2392c88f7"),
    "curvature_generalization/mnist[excerpt]": (
        "2aa8cbe3b33acef40c811229ef9b154b08688eb2c315d6a90a7a980949474892",
        "ba41d65a774cf4080ba4871ea05a9794b07a936dc752289b5e375385118d8f5e"),
    "curvature_generalization/tiny": (
        "b1b6f6ef5de0ea1dee9ad5ba5139dade17955d4376ff3b23d01c8c8fbb4b6435",
        "e3b109473eae9e0bc39846f28bd5de9132ca9e749145cf773f3434b432cd893c"),
    "finsler_latent_metric/fashion_mnist[FashionMNIST/raw]": (
        "5ee3b339cd548beeb97df0e6675fe689a62f721264cee191e9c52c84a9618011",
        "70ada6986505f34069691c3dd30e78cb92332c686b47457a71126b857bed6f5a"),
    "finsler_latent_metric/mnist_fisher[excerpt]": (
        "d5bfaa27c1f44856ed67c0ea1bb75d01c07c92ca4d1760110e5d337477f64b64",
        "53936d250854d11d861695021290230276daa6fd6a3b2cda26c40aa1aeaef3c1"),
    "finsler_latent_metric/tiny": (
        "b3c540dbf51a1fa2df081dea5099660dedce04b273171cf62193eec10a76967f",
        "21fe54f5efa73e7fd807af9ccc97a9be9301bf6f3bc3eb0dd1a935915e903cfd"),
    "finsler_latent_metric/tiny_fisher": (
        "777daa3fab9804542cad1a40ca31dfd2a868192ade5b792d22767b50f6b748fb",
        "f8981b9af1f57f925cc8f9987b82edbcb0c05a21302a86fd2fda1506a822c57e"),
    "gin/digits_tiny": (
        "fec2d8ecf1e14b15aec150f65cd8745558312b8d74e46b31393d388fabb15040",
        "7f1224a795dfd5890a40d93b3643dcb5bdc0f03f84961a3e6a0368e46b1cfb48"),
    "gin/emnist_cpu[excerpt]": (
        "5f364df7aecba40c27c98d129e7d9e06a703323449e00d5d08cbfb9b8108d5dd",
        "0966f7a4e4e7112004a04d0aa5f2a73d3316efa3f43665fbbbc28604594864f3"),
    "gin/emnist_cpu[mnist_test excerpt]": (
        "5f364df7aecba40c27c98d129e7d9e06a703323449e00d5d08cbfb9b8108d5dd",
        "351d4e2ceb7d56a06cbd30e757607f4c44f4dd7cee51e87e91ea5a4cdbaaf584"),
    "hydra_distillation/cifar10_cpu_kd[excerpt, 64]": (
        "4c3265e02cae200cc534ac534b7e4c8b77f27afca7ed1ea6b30142e3ab0a5a8f",
        "2f2365a4edf1eaee5e287c472848c28b6dcbc079b0bda1fb09c57797c06581d6"),
    "hydra_distillation/mnist_reduced_kd[excerpt]": (
        "f013463c20d5ecef576a2f44cf6cdfe0dbffba9a5777f4f3b6b15835ed4fd91c",
        "b42bdbc7db4ac08a64b0aa051c285789de580279c3a73562a008c8182948866c"),
    "hydra_distillation/tiny_spiral_kd": (
        "3ac8262c1ac7ab2954159a46bec7b400653aadc56bb779446c5d3468d05e12b5",
        "67c600332a9fa3ae9a7bcda238d688b80103a9792c6b0256258ba0ee799a6ffc"),
    "pruning_quantisation/cifar10[image folder, 5 per class]": (
        "6595866a185bd00099928b57e4eb39ba9b63b6ae7aad5d457f9929974b9d4c39",
        "32266ce60943840af4666ecffa290c0761541d2e9533e441c9490caff67edb4a"),
    "pruning_quantisation/cifar10[kaggle excerpt]": (
        "9b4558cffa4ec3dd430f47c292c5e388d26ca4bbb22340c35b1dd4e7b9a7531e",
        "f4e29ccdba048aac2c2e3b0ab9472e096f6c37dcca2d58e5029082af944fbd88"),
    "pruning_quantisation/tiny": (
        "a894f80552fffeefed1b08db5dbec721c51a805788a1055ad988a4cdcbbdc522",
        "ca3a1b82d3d65156e9024949e0eec9ce8d25bac3226b70a1be61d39485e05837"),
    "pruning_quantisation/tiny[fashion .gz in root]": (
        "636ff827fb23f0bb9b7909dd5b0929afd9b845303e1d73f8e1dd169133f822c0",
        "38f9ca34211b0938525f6d7562039f70cc821313fa17bba16320b97065b37dfd"),
}

for _layout in ("unpacked", "torchvision", "torchvision_gz"):
    EXPECTED_BATCHES[f"pruning_quantisation/tiny[fashion {_layout}]"] = \
        EXPECTED_BATCHES["pruning_quantisation/tiny[fashion .gz in root]"]
for _layout in ("gz", "unpacked", "torchvision_gz"):
    EXPECTED_BATCHES[f"finsler_latent_metric/fashion_mnist[{_layout}]"] = \
        EXPECTED_BATCHES["finsler_latent_metric/fashion_mnist[FashionMNIST/raw]"]


def _skip_without(excerpt: str | None) -> None:
    if excerpt is not None and not EXCERPTS[excerpt].exists():
        pytest.skip(f"real data excerpt not found: {EXCERPTS[excerpt]}")


@pytest.mark.parametrize("name", sorted(READER_CASES))
def test_reader_output_is_unchanged(name, tmp_path, monkeypatch):
    needs, case = READER_CASES[name]
    _skip_without(needs)
    assert case(Context(tmp_path, monkeypatch)) == EXPECTED_READERS[name]


@pytest.mark.parametrize("name", sorted(DATAMODULE_CASES))
def test_first_two_epochs_of_batches_are_unchanged(name, tmp_path, monkeypatch):
    needs, case = DATAMODULE_CASES[name]
    _skip_without(needs)
    order, batches = case(Context(tmp_path, monkeypatch))
    assert (order, batches) == EXPECTED_BATCHES[name]
