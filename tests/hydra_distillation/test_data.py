"""Data modules: the toy's function and ranges, the spiral, MNIST from the real excerpt, bad input."""
import gzip

import numpy as np
import pytest
import torch

from common.errors import ConfigError, DataError
from papers.hydra_distillation.data import (
    MnistData,
    SpiralData,
    ToyRegressionData,
    load_mnist,
    shift_images,
    toy_function,
)


def test_toy_function_by_hand():
    x = np.array([0.0, 1.0, -2.0])
    expected = [0.0, np.sin(1) - 0.1 + 0.1 + 0.01, np.sin(-2) + 0.2 + 0.4 - 0.08]
    assert np.allclose(toy_function(x), expected)


def test_toy_ranges_and_noise():
    dm = ToyRegressionData(n_test=4000, data_seed=3)
    dm.setup()
    x, y = dm.train_set.tensors
    assert x.shape == (300, 1) and y.shape == (300,)
    assert float(x.min()) >= -6 and float(x.max()) <= 6
    x_ood = dm.ood_sets[0].tensors[0][:, 0]
    assert torch.all((x_ood.abs() > 6) & (x_ood.abs() <= 12))
    assert float((x_ood < 0).float().mean()) == pytest.approx(0.5, abs=0.05)  # both sides, equal lengths
    x_test, y_test = dm.test_set.tensors
    residual = y_test - toy_function(x_test[:, 0])
    assert float(residual.std()) == pytest.approx(1.0, abs=0.05)  # the N(0, 1) noise
    again = ToyRegressionData(n_test=4000, data_seed=3)
    again.setup()
    assert torch.equal(again.train_set.tensors[1], y)


def test_spiral_classes_and_ood_annulus():
    dm = SpiralData(n_train=300, n_test=300)
    dm.setup()
    x, y = dm.train_set.tensors
    assert set(y.tolist()) == {0, 1, 2}
    assert float(x.norm(dim=1).max()) <= 1.0 + 1e-6
    r = dm.ood_sets[0].tensors[0].norm(dim=1)
    assert float(r.min()) >= 1.5 - 1e-6 and float(r.max()) <= 2.5 + 1e-6


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ood_low": -5.0}, "ood_low < train_low"),
    ({"noise": 0.0}, "noise must be > 0"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
])
def test_toy_bad_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ToyRegressionData(**kwargs)


def test_shuffling_depends_on_seed_and_epoch_only():
    dm = SpiralData(n_train=100, batch_size=10, seed=4)
    dm.setup()
    first = next(iter(dm.train_dataloader()))[0]
    again = SpiralData(n_train=100, batch_size=10, seed=4)
    again.setup()
    assert torch.equal(first, next(iter(again.train_dataloader()))[0])
    loader = again.train_dataloader()
    loader.sampler.set_epoch(1)
    assert not torch.equal(first, next(iter(loader))[0])


def test_mnist_real_test_set(mnist_excerpt):
    images, labels = load_mnist("test", mnist_excerpt, "/nonexistent")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist()[:2] == [980, 1135]  # MNIST's test set: 980 zeros, 1,135 ones
    dm = MnistData(root=str(mnist_excerpt), n_train=8000)
    dm.setup()
    x, y = dm.train_set.tensors
    assert x.shape == (8000, 784) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert len(dm.test_set) == 2000 and [len(d) for d in dm.ood_sets] == [2000] * 3
    assert dm.ood_names == ["rot90", "invert", "noise"]
    # The OOD copies are what their names say.
    test_images = dm.test_set.tensors[0].view(-1, 1, 28, 28)
    assert torch.allclose(dm.ood_sets[1].tensors[0], 1 - dm.test_set.tensors[0])
    assert torch.allclose(dm.ood_sets[0].tensors[0].view(-1, 1, 28, 28), torch.rot90(test_images, 1, (2, 3)))


def test_mnist_train_source_needs_training_images(mnist_excerpt):
    dm = MnistData(root=str(mnist_excerpt), source="train")
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        dm.setup()


def test_mnist_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="ood_shifts"):
        MnistData(ood_shifts=["fashion"])
    with pytest.raises(DataError, match="not found"):
        load_mnist("test", tmp_path, "/nonexistent")
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 10))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(5)))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is truncated: header says"):
        load_mnist("test", tmp_path, "/nonexistent")
    with pytest.raises(ConfigError, match="ood_shifts"):
        shift_images(torch.zeros(1, 1, 28, 28), "fashion", 0)
