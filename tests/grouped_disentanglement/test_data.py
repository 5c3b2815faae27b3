"""Grouped data: groups share their class, test groups are fixed, the split is stratified, MNIST is
binarised and padded as the author did, and bad groupings are named in one line."""
import numpy as np
import pytest
import torch

from common.errors import ConfigError
from papers.grouped_disentanglement.data import (
    GroupedDataModule,
    binarise_and_pad,
    fixed_groups,
    generate_glyph_images,
    stratified_split,
)


def _digits(**kwargs):
    dm = GroupedDataModule(source="digits", image_size=16, n_fit=500, n_test=500, **kwargs)
    dm.setup("fit")
    return dm


def test_training_groups_share_their_class_and_are_seeded():
    dm = _digits(group_size=5, batch_size=100)
    batch = next(iter(dm.train_dataloader()))
    assert batch["images"].shape == (20, 5, 1, 16, 16)
    assert (batch["labels"] == batch["labels"][:, :1]).all()
    # no image twice in a group
    flat = batch["images"].flatten(2)
    for group in flat:
        assert len({tuple(row.tolist()) for row in group}) >= 2
    again = next(iter(_digits(group_size=5, batch_size=100).train_dataloader()))
    assert torch.equal(batch["images"], again["images"])
    # an epoch shows about as many images as the training set, whatever the group size
    assert len(dm.train_dataloader()) == len(_digits(group_size=2, batch_size=100).train_dataloader()) == 13


def test_fixed_test_groups_and_the_svm_singles():
    dm = _digits(group_size=2, batch_size=100)
    fit, groups = dm.test_datasets()
    assert len(fit) == 500 and set(fit[0]) == {"image", "label"}
    item = groups[0]
    assert item["images"].shape == (2, 1, 16, 16) and item["labels"][0] == item["labels"][1]
    assert len(groups) * 2 <= 500


def test_fixed_groups_drop_the_remainder_of_each_class():
    labels = np.array([0] * 5 + [1] * 4)
    groups = fixed_groups(labels, 2, seed=0)
    assert groups.shape == (4, 2) and all(len(set(labels[g])) == 1 for g in groups)
    assert len(np.unique(groups)) == 8


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat(np.arange(4), [100, 200, 300, 400])
    train, test = stratified_split(labels, 100, seed=0)
    assert len(test) == 100 and len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 1000
    assert np.bincount(labels[test]).tolist() == [10, 20, 30, 40]


def test_binarise_at_127_and_pad_to_32():
    images = np.zeros((1, 28, 28), np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 127, 128
    out = binarise_and_pad(images)
    assert out.shape == (1, 1, 32, 32) and out[0, 0, 2, 2] == 0 and out[0, 0, 2, 3] == 1 and out.sum() == 1


def test_glyphs_know_their_content_and_style():
    images, labels, factors = generate_glyph_images(50, 16, 10, seed=0)
    assert images.shape == (50, 1, 16, 16) and set(np.unique(images)) <= {0.0, 1.0}
    dx, dy, scale = factors[0].astype(int)
    block = 3 + scale
    drawn = images[0, 0, dy:dy + 3 * block, dx:dx + 3 * block]
    assert drawn.sum() == images[0, 0].sum() > 0  # the glyph lies where its style says


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"group_size": 1}, "one member"),
    ({"group_size": 3, "batch_size": 100}, "not a multiple of the group size 3"),
    ({"group_size": 50, "batch_size": 50}, "fewer than 2 groups"),
    ({"source": "cifar"}, "data.source"),
    ({"source": "digits", "image_size": 32}, "must be 16"),
])
def test_bad_groupings_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        GroupedDataModule(**{"source": "digits", "image_size": 16, **kwargs})


def test_mnist_excerpt_loads_binarised_and_split(mnist_excerpt):
    dm = GroupedDataModule(source="mnist", root=str(mnist_excerpt), n_test=2000, n_fit=5000)
    dm.setup("fit")
    x_train, y_train = dm.arrays["train"]
    x_test, _ = dm.arrays["test"]
    assert x_train.shape == (8000, 1, 32, 32) and x_test.shape == (2000, 1, 32, 32)
    assert set(torch.unique(x_train).tolist()) == {0.0, 1.0} and x_train[:, :, :2].sum() == 0
    assert np.bincount(y_train.numpy()).min() > 600
