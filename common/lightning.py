"""Base LightningModule: optimizer and scheduler come from the config as `_partial_` callables."""
from __future__ import annotations

import logging
import random
from collections.abc import Callable

import numpy as np
import pytorch_lightning as pl
import torch

from common.errors import ConfigError


class _DropAdvertisements(logging.Filter):
    """Lightning logs a "💡 Tip" for its paid products on every run; this project has no use for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


for _name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_DropAdvertisements())


class ReproModule(pl.LightningModule):
    """Holds `optimizer` (and optional `scheduler`) partials built by Hydra.

    Subclasses call `super().__init__(optimizer, scheduler, cpu_threads=...)` and
    `self.save_hyperparameters(ignore=["optimizer", "scheduler"])` so checkpoints hold only plain
    values and load with `weights_only=True`.
    """

    def __init__(
        self,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        cpu_threads: int | None = None,
    ):
        super().__init__()
        if cpu_threads is not None and cpu_threads < 1:
            raise ConfigError(f"model.cpu_threads must be >= 1 or null, got {cpu_threads}")
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.cpu_threads = cpu_threads
        self._threads_before: int | None = None

    def setup(self, stage: str) -> None:
        # Small models (full-batch GPs, tiny CNNs) run several times faster on one CPU thread than on
        # threads that wait for each other; `cpu_threads` pins the count while the trainer runs.
        if self.cpu_threads is not None and self.device.type == "cpu":
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(self.cpu_threads)

    def teardown(self, stage: str) -> None:
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }


class EpochSeeding(pl.Callback):
    """Seeds the global random generators from (seed, epoch) at the first training batch of every epoch.

    Dropout masks, and anything else drawn from the global generators while training, then depend
    only on the seed and the epoch, so a run resumed from an end-of-epoch checkpoint goes on exactly
    as an uninterrupted run of the same seed. Saving and restoring the generators' states is not
    enough: Lightning draws from them at other points in the first epoch of a fit than in later ones.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if batch_idx != 0:
            return
        epoch_seed = int(np.random.default_rng([self.seed, trainer.current_epoch]).integers(2**31 - 1))
        torch.manual_seed(epoch_seed)
        np.random.seed(epoch_seed)
        random.seed(epoch_seed)
