"""Data helpers shared by the papers: cache dir, checksum-verified downloads, seeded sampling."""
from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset, Sampler

from common.errors import DataError, DataUnavailableError


def cache_dir(data_dir: str | Path, name: str) -> Path:
    """Folder under the data cache where data set `name` lives (created on demand)."""
    path = Path(data_dir).expanduser() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_sha256sums(path: Path) -> dict[str, str]:
    """Parse a `sha256sum`-style file into {relative path: hex digest}."""
    sums = {}
    for line_number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}:{line_number}: not a 'sha256  filename' line: {line!r}")
        sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


def verify_file(path: Path, expected_sha256: str) -> None:
    if not path.is_file():
        raise DataError(f"Missing data file: {path}")
    actual = sha256_of(path)
    if actual != expected_sha256.lower():
        raise DataError(
            f"Checksum mismatch for {path}: expected sha256 {expected_sha256}, got {actual}. "
            "The file is corrupt or from another version; delete it and download it again."
        )


def download(url: str, dest: Path, sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Download `url` to `dest` (atomically) unless a verified copy is already there."""
    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256.lower()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        partial.unlink(missing_ok=True)
        raise DataUnavailableError(
            f"Could not download {url} ({err}). Without network, fetch it on another machine and "
            f"put it at {dest}, or point the loader at a local copy with data.root=DIR."
        ) from err
    if sha256 is not None:
        try:
            verify_file(partial, sha256)
        except DataError:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(dest)
    return dest


class EpochSeededSampler(Sampler):
    """Shuffles with a generator seeded by (seed, epoch) and, by default, hands each item its own seed.

    Yields `(index, item_seed)` (or plain indices with `item_seeds=False`) so that the order and
    any random augmentation depend only on the seed, the epoch and the item: a run resumed from a
    checkpoint sees exactly the batches an uninterrupted run would have seen. Lightning calls
    `set_epoch` at every epoch start.
    """

    def __init__(self, num_items: int, seed: int, shuffle: bool = True, item_seeds: bool = True):
        if num_items <= 0:
            raise DataError("EpochSeededSampler got an empty data set")
        self.num_items = num_items
        self.seed = int(seed)
        self.shuffle = shuffle
        self.item_seeds = item_seeds
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_items

    def __iter__(self) -> Iterator[tuple[int, int] | int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.num_items) if self.shuffle else np.arange(self.num_items)
        item_seeds = rng.integers(0, 2**31 - 1, size=self.num_items)
        for position, index in enumerate(order):
            yield (int(index), int(item_seeds[position])) if self.item_seeds else int(index)


class SeedlessItems(Dataset):
    """A dataset indexed by integers, read with `EpochSeededSampler`'s `(index, item_seed)` pairs:
    each item is `dataset[index]` (the dataset draws nothing at random, so the seed goes unused)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        return self.dataset[key[0]]
