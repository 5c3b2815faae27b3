"""Base LightningModule: optimizer and scheduler come from the config as `_partial_` callables."""
from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch


class ReproModule(pl.LightningModule):
    """Holds `optimizer` (and optional `scheduler`) partials built by Hydra.

    Subclasses call `super().__init__(optimizer, scheduler)` and
    `self.save_hyperparameters(ignore=["optimizer", "scheduler"])` so checkpoints hold only plain
    values and load with `weights_only=True`.
    """

    def __init__(
        self,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        scheduler_interval: str = "epoch",
    ):
        super().__init__()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval},
        }
