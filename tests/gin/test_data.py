"""GIN's data: the artificial generator and the digit loaders on the real excerpts in ../shared/data."""
import json
import shutil

import numpy as np
import pytest
import torch

from common.errors import ConfigError, DataError
from papers.gin.data import (
    ArtificialDataModule,
    DigitsDataModule,
    read_emnist_tiles,
    read_mnist_test,
)


def test_artificial_data_follows_the_papers_generator():
    dm = ArtificialDataModule(n_train=2000, n_val=100, n_test=500, world_seed=3)
    dm.setup()
    x, labels, latent = dm.train_set.tensors
    assert x.shape == (2000, 10) and latent.shape == (2000, 10)
    assert set(labels.tolist()) == set(range(5))
    noise = latent[:, 2:]
    assert noise.std().item() == pytest.approx(0.01, rel=0.05)
    for c in range(5):
        class_std = latent[labels == c, :2].std(0)
        assert ((class_std > 0.4) & (class_std < 3.3)).all()
    assert (latent[:, :2].abs().max() > 3).item()
    assert not torch.allclose(x, latent, atol=0.1)  # the GLOW mixing changed the data
    # the same world and split seeds give the same data; test points are fresh draws
    again = ArtificialDataModule(n_train=2000, n_val=100, n_test=500, world_seed=3)
    again.setup()
    assert torch.equal(again.train_set.tensors[0], x)
    assert not torch.equal(dm.test_set.tensors[0][:100], x[:100])


def test_training_batches_depend_on_seed_and_epoch_only():
    dm = ArtificialDataModule(n_train=300, n_val=10, n_test=10, batch_size=100, seed=7)
    dm.setup()
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(2)
    first = [b[0] for b in loader]
    loader.sampler.set_epoch(2)
    assert all(torch.equal(a, b[0]) for a, b in zip(first, loader, strict=True))
    loader.sampler.set_epoch(3)
    assert not torch.equal(first[0], next(iter(loader))[0])


def test_emnist_tiles_loader_reads_the_real_test_set(emnist_tiles_excerpt):
    images, labels = read_emnist_tiles(emnist_tiles_excerpt)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10  # EMNIST-MNIST test: balanced
    # digits are upright and centred: ink in the middle, dark borders
    mean = images.mean(0)
    assert mean[10:18, 10:18].mean() > 4 * mean[:3].mean()
    # a "1" is tall and thin: more ink variation along rows than columns
    ones = images[labels == 1].mean(0)
    assert ones.sum(0).std() > ones.sum(1).std()
    dm = DigitsDataModule(source="emnist_mnist_test", root=str(emnist_tiles_excerpt), test_fraction=0.15,
                          val_fraction=0.05, batch_size=240)
    dm.setup()
    assert len(dm.test_set) == 1500 and len(dm.train_set) + len(dm.val_set) == 8500
    x, y = dm.test_set[0]
    assert x.shape == (1, 28, 28) and 0 <= x.min() and x.max() <= 1


def test_mnist_idx_loader(mnist_excerpt):
    images, labels = read_mnist_test(mnist_excerpt)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the MNIST test set's first digits


def test_sklearn_digits_for_tiny():
    dm = DigitsDataModule(source="sklearn", test_fraction=0.25, val_fraction=0.05)
    dm.setup()
    assert dm.image_size == 8
    assert len(dm.train_set) + len(dm.val_set) + len(dm.test_set) == 1797
    assert dm.train_set.tensors[0].shape[1:] == (1, 8, 8)


def test_bad_digit_inputs_name_the_problem(tmp_path, emnist_tiles_excerpt):
    with pytest.raises(ConfigError, match="data.source"):
        DigitsDataModule(source="cifar")
    with pytest.raises(DataError, match="not a folder"):
        DigitsDataModule(source="emnist_mnist_test", root=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="test.json"):
        read_emnist_tiles(tmp_path)
    shutil.copy(emnist_tiles_excerpt / "test.json", tmp_path / "test.json")
    with pytest.raises(DataError, match="Missing tile sheet"):
        read_emnist_tiles(tmp_path)
    (tmp_path / "test.json").write_text(json.dumps({"width": 28}))
    with pytest.raises(DataError, match="not a tiles index"):
        read_emnist_tiles(tmp_path)
    with pytest.raises(DataError, match="Missing MNIST file"):
        read_mnist_test(tmp_path)
    with pytest.raises(ConfigError, match="data.root"):
        DigitsDataModule(source="mnist_test").setup()
