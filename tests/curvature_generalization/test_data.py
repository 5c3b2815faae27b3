"""Loaders: scikit-learn's digits, and MNIST's IDX files from the shared real excerpt."""
import gzip

import pytest
import torch

from common.errors import ConfigError, DataError
from papers.curvature_generalization.data import ClassificationDataModule, read_idx


def test_digits_split_and_loaders():
    dm = ClassificationDataModule(source="digits", n_train=300, measure_size=300, batch_size=16, seed=0)
    dm.setup()
    assert len(dm.train_set) == 300 and len(dm.test_set) == 539  # 30% of 1,797
    assert dm.n_features == 64 and dm.n_classes == 10
    x, y = dm.train_set.tensors
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    measure, test = dm.test_dataloader()
    assert len(measure.dataset) == 300 and len(test.dataset) == 539
    # the shuffled order depends only on (seed, epoch)
    sampler = dm.train_dataloader().sampler
    sampler.set_epoch(3)
    first = list(sampler)
    sampler.set_epoch(3)
    assert list(sampler) == first and sorted(first) == list(range(300))


def test_bad_config_is_refused():
    with pytest.raises(ConfigError, match="data.source"):
        ClassificationDataModule(source="cifar")
    with pytest.raises(ConfigError, match="batch_size"):
        ClassificationDataModule(batch_size=0)
    with pytest.raises(ConfigError, match="n_train"):
        ClassificationDataModule(source="digits", n_train=5000).setup()
    with pytest.raises(DataError, match="data.root"):
        ClassificationDataModule(source="mnist", root="/nonexistent/folder")


def test_mnist_from_the_shared_idx_files(mnist_excerpt):
    dm = ClassificationDataModule(source="mnist", root=str(mnist_excerpt), mnist_files="t10k", n_train=500,
                                  n_test=200, measure_size=100)
    dm.setup()
    x, y = dm.train_set.tensors
    assert x.shape == (500, 784) and x.dtype == torch.float32
    assert set(y.tolist()) == set(range(10))
    assert len(dm.test_set) == 200 and len(dm.measure_set) == 100


def test_truncated_idx_file_names_its_path(tmp_path):
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 100)
    with pytest.raises(DataError, match="truncated"):
        read_idx(bad)
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "missing.gz")
