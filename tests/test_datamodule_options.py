"""common.datamodule.ReproDataModule's options for data sets that draw nothing at random:
`uses_item_seeds = False` (the sampler's pairs, the dataset read by index) and
`eval_batch_size_of()` (one loader sized otherwise)."""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from common.data import EpochSeededSampler
from common.datamodule import ReproDataModule


class _Toy(ReproDataModule):
    def build(self):
        values = torch.arange(10.0)
        return TensorDataset(values), TensorDataset(values[:3]), TensorDataset(values[3:])


class _SeedlessToy(_Toy):
    uses_item_seeds = False

    def eval_batch_size_of(self, dataset, stage: str) -> int:
        return len(dataset) if stage == "test" else self.eval_batch_size


def test_seedless_items_keep_the_pairs_order_and_read_by_index():
    datamodule = _SeedlessToy(batch_size=4, seed=3, eval_batch_size=2)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(1)
    pairs = list(loader.sampler)
    reference = EpochSeededSampler(10, 3)
    reference.set_epoch(1)
    assert pairs == list(reference) and all(isinstance(p, tuple) for p in pairs)
    values = torch.cat([batch[0] for batch in loader])
    assert values.tolist() == [float(index) for index, _ in pairs]


def test_eval_batch_size_of_sizes_each_loader():
    datamodule = _SeedlessToy(batch_size=4, eval_batch_size=2)
    datamodule.setup("test")
    assert [len(batch[0]) for batch in datamodule.val_dataloader()] == [2, 1]
    assert [len(batch[0]) for batch in datamodule.test_dataloader()] == [7]
    # the default: eval_batch_size for every loader
    plain = _Toy(batch_size=4, eval_batch_size=2)
    plain.setup("test")
    assert [len(batch[0]) for batch in plain.test_dataloader()] == [2, 2, 2, 1]
