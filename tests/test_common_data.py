import hashlib

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from common.data import EpochSeededSampler, download, read_sha256sums, verify_file
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError, DataUnavailableError


def test_download_verifies_checksum(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"ecg" * 100)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = download(source.as_uri(), tmp_path / "cache" / "file.bin", sha256=digest)
    assert dest.read_bytes() == source.read_bytes()
    with pytest.raises(DataError, match="Checksum mismatch"):
        download(source.as_uri(), tmp_path / "cache" / "other.bin", sha256="0" * 64)
    assert not (tmp_path / "cache" / "other.bin").exists()


def test_offline_download_says_what_to_fetch_and_where(tmp_path):
    dest = tmp_path / "ludb" / "RECORDS"
    with pytest.raises(DataUnavailableError) as error:
        download("http://127.0.0.1:9/ludb/RECORDS", dest, timeout=2)
    message = str(error.value)
    assert "http://127.0.0.1:9/ludb/RECORDS" in message and str(dest) in message and "data.root" in message


def test_sha256sums_parsing(tmp_path):
    path = tmp_path / "SHA256SUMS.txt"
    path.write_text(f"{'a' * 64} data/1.hea\n\n{'B' * 64} *RECORDS\n")
    assert read_sha256sums(path) == {"data/1.hea": "a" * 64, "RECORDS": "b" * 64}
    path.write_text("not a checksum line\n")
    with pytest.raises(DataError, match="SHA256SUMS.txt:1"):
        read_sha256sums(path)


def test_verify_missing_file(tmp_path):
    with pytest.raises(DataError, match="Missing data file"):
        verify_file(tmp_path / "nope", "0" * 64)


def test_epoch_seeded_sampler():
    sampler = EpochSeededSampler(10, seed=3)
    first = list(sampler)
    assert sorted(i for i, _ in first) == list(range(10))
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert [i for i, _ in EpochSeededSampler(4, seed=0, shuffle=False)] == [0, 1, 2, 3]


class _Numbers(ReproDataModule):
    """Training items 0..9, validation 10..13, test 14..16; `extra` adds a second test set and a
    training subset, as a data module that trains on part of its training set would."""

    item_seeds = False

    def __init__(self, extra: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.extra = extra

    def build(self):
        return TensorDataset(torch.arange(10)), TensorDataset(torch.arange(10, 14)), TensorDataset(torch.arange(14, 17))

    def train_dataset(self):
        return Subset(self.train_set, [0, 2, 4]) if self.extra else super().train_dataset()

    def val_datasets(self):
        return [] if self.extra else super().val_datasets()

    def test_datasets(self):
        return [self.train_set, self.test_set] if self.extra else super().test_datasets()


def _items(loader) -> list[int]:
    return [int(x) for (batch,) in loader for x in batch]


def test_repro_datamodule_loaders_and_hooks():
    dm = _Numbers(batch_size=4, seed=1, eval_batch_size=2)
    dm.setup("fit")
    train = dm.train_dataloader()
    first = _items(train)
    assert sorted(first) == list(range(10)) and _items(train) == first
    train.sampler.set_epoch(1)
    assert _items(train) != first
    assert _items(dm.val_dataloader()) == [10, 11, 12, 13] and dm.val_dataloader().batch_size == 2
    assert _items(dm.test_dataloader()) == [14, 15, 16]
    dm.val_set = None
    with pytest.raises(DataError, match="no validation set"):
        dm.val_dataloader()
    # a training subset, no validation loader, and two test loaders in order
    dm = _Numbers(extra=True, batch_size=4, seed=1)
    dm.setup("fit")
    assert sorted(_items(dm.train_dataloader())) == [0, 2, 4]
    assert dm.val_dataloader() == []
    assert [_items(loader) for loader in dm.test_dataloader()] == [list(range(10)), [14, 15, 16]]
    with pytest.raises(ConfigError, match="batch_size"):
        _Numbers(batch_size=0)
