"""Loaders on the real excerpts (CIFAR-10 Kaggle layout, MNIST IDX) and sklearn's digits."""
import gzip

import numpy as np
import pytest
import torch

from common import PROJECT_ROOT
from common.errors import ConfigError, DataError
from common.readers import read_idx
from papers.pruning_quantisation.data import (
    CIFAR10_CLASSES,
    ImageDataModule,
    read_kaggle_cifar,
    stratified_split,
)

SHARED = PROJECT_ROOT.parent / "shared" / "data"
CIFAR_EXCERPT = SHARED / "cifar10_small" / "image_data_format_1"
MNIST_EXCERPT = SHARED / "mnist"


@pytest.fixture
def cifar_excerpt():
    if not (CIFAR_EXCERPT / "trainLabels.csv").is_file():
        pytest.skip(f"CIFAR-10 excerpt not found at {CIFAR_EXCERPT}")
    return CIFAR_EXCERPT


@pytest.fixture
def mnist_excerpt():
    if not (MNIST_EXCERPT / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST excerpt not found at {MNIST_EXCERPT}")
    return MNIST_EXCERPT


def test_kaggle_cifar_excerpt_reads_as_uint8_images(cifar_excerpt):
    images, labels = read_kaggle_cifar(cifar_excerpt)
    assert images.shape == (200, 3, 32, 32) and images.dtype == torch.uint8
    # trainLabels.csv starts 1.png,frog / 2.png,truck.
    first_rows = (cifar_excerpt / "trainLabels.csv").read_text().splitlines()[:2]
    assert [CIFAR10_CLASSES[i] for i in labels[:2]] == [row.split(",")[1] for row in first_rows]


def test_cifar_datamodule_on_the_excerpt(cifar_excerpt):
    datamodule = ImageDataModule(source="cifar10", root=str(cifar_excerpt), test_fraction=0.2, flip=True, batch_size=8)
    datamodule.setup()
    assert len(datamodule.train_set) + len(datamodule.val_set) + len(datamodule.test_set) == 200
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (8, 3, 32, 32) and -1.0 <= images.min() and images.max() <= 1.0


def test_mnist_idx_excerpt(mnist_excerpt):
    images = read_idx(mnist_excerpt / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(mnist_excerpt / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    # The MNIST test set begins 7, 2, 1, 0, 4.
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_mnist_folder_without_training_images_names_the_file(mnist_excerpt):
    datamodule = ImageDataModule(source="mnist", root=str(mnist_excerpt))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        datamodule.setup()


def test_corrupt_idx_file_is_named(tmp_path):
    bad = tmp_path / "bad-idx.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DataError, match="bad-idx.gz"):
        read_idx(bad)


def test_digits_split_is_stratified_seeded_and_disjoint():
    datamodule = ImageDataModule(source="digits", image_size=16, test_fraction=0.3, val_fraction=0.1)
    datamodule.setup()
    sizes = len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set)
    assert sum(sizes) == 1797 and datamodule.train_set.images.shape[1:] == (1, 16, 16)
    labels = torch.arange(10).repeat(10)
    kept, split_off = stratified_split(labels, 0.3, seed=0)
    assert np.bincount(labels[split_off].numpy()).tolist() == [3] * 10
    assert set(kept).isdisjoint(split_off)
    assert np.array_equal(split_off, stratified_split(labels, 0.3, seed=0)[1])


def test_bad_data_config_is_named():
    with pytest.raises(ConfigError, match="data.source"):
        ImageDataModule(source="imagenet")
    with pytest.raises(ConfigError, match="data.test_fraction"):
        ImageDataModule(test_fraction=1.0)
    with pytest.raises(ConfigError, match="data.train_subset"):
        ImageDataModule(train_subset=5000).setup()


CIFAR_FOLDER = SHARED / "cifar10"


@pytest.fixture
def cifar_image_folder():
    if not (CIFAR_FOLDER / "test" / "truck").is_dir():
        pytest.skip(f"CIFAR-10 ImageFolder not found at {CIFAR_FOLDER}")
    return CIFAR_FOLDER


def test_cifar_image_folder_reads_classes_in_order(cifar_image_folder):
    from PIL import Image

    datamodule = ImageDataModule(source="cifar10", root=str(cifar_image_folder), per_class_limit=5,
                                 test_fraction=None, val_fraction=0.2, batch_size=4)
    datamodule.setup()
    assert len(datamodule.train_set) + len(datamodule.val_set) == 50 and len(datamodule.test_set) == 50
    test = datamodule.test_set
    assert test.images.shape == (50, 3, 32, 32) and test.images.dtype == torch.uint8
    assert test.labels.tolist() == [label for label in range(10) for _ in range(5)]
    # The first test image of class 9 is the first truck file by name, pixel for pixel.
    first_truck = sorted((cifar_image_folder / "test" / "truck").glob("*.jpg"))[0]
    expected = torch.from_numpy(np.asarray(Image.open(first_truck).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(test.images[45], expected)


def _image_folder(root, classes):
    from PIL import Image

    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            Image.new("RGB", (32, 32), (10, 20, 30)).save(root / split / name / "0001.jpg")
    return root


def test_image_folder_with_a_foreign_or_missing_class_is_named(tmp_path):
    _image_folder(tmp_path / "extra", [*CIFAR10_CLASSES, "cats"])
    with pytest.raises(DataError, match="cats"):
        ImageDataModule(source="cifar10", root=str(tmp_path / "extra"), test_fraction=None).setup()
    _image_folder(tmp_path / "short", CIFAR10_CLASSES[:-1])
    with pytest.raises(DataError, match="truck"):
        ImageDataModule(source="cifar10", root=str(tmp_path / "short"), test_fraction=None).setup()


def test_image_folder_rejects_a_test_fraction_and_bad_images(tmp_path):
    root = _image_folder(tmp_path / "ok", CIFAR10_CLASSES)
    with pytest.raises(ConfigError, match="test_fraction=null"):
        ImageDataModule(source="cifar10", root=str(root), test_fraction=0.2).setup()
    (root / "test" / "cat" / "0002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="0002.jpg"):
        ImageDataModule(source="cifar10", root=str(root), test_fraction=None, val_fraction=0.0).setup()
    with pytest.raises(ConfigError, match="per_class_limit"):
        ImageDataModule(source="digits", per_class_limit=3).setup()
