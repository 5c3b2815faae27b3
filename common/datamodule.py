"""Base LightningDataModule: the settings every paper's data shares, checked once, and a training
loader whose order depends only on (seed, epoch), so a resumed run sees the batches an
uninterrupted run would have seen."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from common.data import EpochSeededSampler, SeedlessItems
from common.errors import ConfigError, DataError


class ReproDataModule(pl.LightningDataModule):
    """Subclasses implement `build() -> (train, val, test)` datasets (val or test may be None).

    With `item_seeds = True` (the default) the training dataset is indexed by `(index, item_seed)`
    pairs from `EpochSeededSampler`, so random augmentation is seeded per item; set it to False
    for datasets indexed by plain integers (the sampler then yields the indices alone, in the same
    order). `uses_item_seeds = False` keeps the sampler's pairs but hands the dataset the index
    only, for a dataset indexed by integers whose sampler yields pairs. `eval_batch_size` and
    `eval_collate_fn` shape the validation and test loaders; `eval_batch_size_of()` may size one
    loader otherwise (a whole set in one batch, say).

    Hooks with defaults: `train_dataset()` is what the training loader draws from (`train_set`);
    `val_datasets()` / `test_datasets()` are what the validation / test loaders read (`val_set` /
    `test_set`): a list gives one loader per dataset, in order, and an empty list none.
    """

    item_seeds: bool = True
    uses_item_seeds: bool = True
    eval_collate_fn: Callable | None = None

    def __init__(
        self,
        *,
        batch_size: int,
        seed: int = 0,
        split_seed: int = 0,
        val_fraction: float = 0.0,
        test_fraction: float | None = None,
        root: str | None = None,
        data_dir: str = "~/.cache/paper-repro",
        num_workers: int = 0,
        eval_batch_size: int | None = None,
    ):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"data.batch_size must be a positive integer, got {batch_size!r}")
        if eval_batch_size is not None and eval_batch_size < 1:
            raise ConfigError(f"data.eval_batch_size must be >= 1 or null, got {eval_batch_size}")
        if not 0 <= val_fraction < 1:
            raise ConfigError(f"data.val_fraction must lie in [0, 1), got {val_fraction}")
        if test_fraction is not None and not (0 < test_fraction < 1 and test_fraction + val_fraction < 1):
            raise ConfigError(
                f"data.test_fraction={test_fraction} must lie in (0, 1) and leave room for "
                f"data.val_fraction={val_fraction} and a training set"
            )
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        if root is not None and not Path(root).expanduser().exists():
            raise DataError(f"data.root={root} does not exist")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.seed = int(seed)
        self.split_seed = int(split_seed)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.root = None if root is None else Path(root).expanduser()
        self.data_dir = Path(data_dir).expanduser()
        self.num_workers = num_workers
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self._built = False

    def build(self) -> tuple[Dataset, Dataset | None, Dataset | None]:
        raise NotImplementedError(f"{type(self).__name__} must implement build()")

    def build_whole(self) -> Dataset:
        """Every item of `root` as one evaluation set (scripts/evaluate.py whole_folder=DIR)."""
        raise ConfigError(f"{type(self).__name__} cannot score a whole folder (it has no build_whole())")

    def test_on_whole_folder(self) -> None:
        """Make the test set every item of `root`: a model scored on data it never saw."""
        if self.root is None:
            raise ConfigError("scoring a whole folder needs data.root (or whole_folder=DIR)")
        self.test_set = self.build_whole()
        if len(self.test_set) == 0:
            raise DataError(f"{self.root} holds nothing {type(self).__name__} can score")
        self._built = True

    def setup(self, stage: str | None = None) -> None:
        if not self._built:
            self.train_set, self.val_set, self.test_set = self.build()
            if len(self.train_dataset()) == 0:
                raise DataError(f"{type(self).__name__}: the training set is empty")
            self._built = True

    def _loader(self, dataset: Dataset, **kwargs) -> DataLoader:
        return DataLoader(dataset, num_workers=self.num_workers, persistent_workers=self.num_workers > 0, **kwargs)

    def train_dataset(self) -> Dataset:
        """The dataset the training loader draws from: `train_set` unless a subclass trains on another."""
        return self.train_set

    def val_datasets(self) -> Dataset | list[Dataset] | None:
        return self.val_set

    def test_datasets(self) -> Dataset | list[Dataset] | None:
        return self.test_set

    def train_dataloader(self) -> DataLoader:
        dataset = self.train_dataset()
        sampler = EpochSeededSampler(len(dataset), self.seed, item_seeds=self.item_seeds)
        if self.item_seeds and not self.uses_item_seeds:
            dataset = SeedlessItems(dataset)
        return self._loader(dataset, batch_size=self.batch_size, sampler=sampler)

    def eval_batch_size_of(self, dataset: Dataset, stage: str) -> int:
        """The batch size of the `stage` loader over `dataset`: `eval_batch_size` unless a subclass says otherwise."""
        return self.eval_batch_size

    def eval_loader(self, dataset: Dataset | None, stage: str) -> DataLoader:
        if dataset is None:
            raise DataError(f"{type(self).__name__} has no {stage} set")
        return self._loader(dataset, batch_size=self.eval_batch_size_of(dataset, stage), shuffle=False,
                            collate_fn=self.eval_collate_fn)

    def eval_loaders(self, datasets: Dataset | list[Dataset] | None, stage: str) -> DataLoader | list[DataLoader]:
        """One loader for one dataset; a list of loaders (Lightning's dataloader_idx) for a list."""
        if isinstance(datasets, (list, tuple)):
            return [self.eval_loader(dataset, stage) for dataset in datasets]
        return self.eval_loader(datasets, stage)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        return self.eval_loaders(self.val_datasets(), "validation")

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        return self.eval_loaders(self.test_datasets(), "test")
