"""Loaders on the real excerpts (CIFAR-10 Kaggle layout, MNIST IDX) and sklearn's digits."""
import gzip

import numpy as np
import pytest
import torch

from common import PROJECT_ROOT
from common.errors import ConfigError, DataError
from papers.pruning_quantisation.data import (
    CIFAR10_CLASSES,
    ImageDataModule,
    read_idx,
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
