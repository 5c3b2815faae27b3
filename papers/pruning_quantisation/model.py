"""The LightningModule that trains a network, and fine-tunes it under pruning masks.

With `prune_sparsity` set, the module starts from the weights of `init_from` (a trained run's
checkpoint), attaches the paper's pruning masks and trains on: this is the paper's prune,
then retrain with the pruned weights held at zero.

With `slim_sparsity` set instead, the same filters (and the hidden linear layers' neurons) are
physically removed from the trained network (`slim_network`) and the smaller network trains on.
Loading such a run's checkpoint rebuilds it the same way (from `init_from`, deterministically)
before its own weights are loaded.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from common.errors import ConfigError
from common.lightning import ReproModule
from common.run import load_weights
from papers.pruning_quantisation.compression import check_sparsity, prune_network, slim_network
from papers.pruning_quantisation.networks import build_network


class ImageClassifier(ReproModule):
    def __init__(
        self,
        network: str,
        optimizer,
        scheduler=None,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.2,
        classifier_width: int = 4096,
        small_input: bool = True,
        prune_sparsity: float | None = None,
        init_from: str | None = None,
        slim_sparsity: float | None = None,
        slim_channel_multiple: int = 8,
        cpu_threads: int | None = None,
    ):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if prune_sparsity is not None and slim_sparsity is not None:
            raise ConfigError(
                f"set model.prune_sparsity (masks, got {prune_sparsity}) or model.slim_sparsity "
                f"(removed filters, got {slim_sparsity}), not both"
            )
        self.net = build_network(network, num_classes, in_channels, dropout, classifier_width, small_input)
        if init_from is not None:
            load_weights(self, init_from)
        if prune_sparsity is not None:
            if init_from is None:
                raise ConfigError("model.prune_sparsity needs model.init_from: the checkpoint of a trained run")
            prune_network(self.net, check_sparsity(prune_sparsity))
        if slim_sparsity is not None:
            if init_from is None:
                raise ConfigError("model.slim_sparsity needs model.init_from: the checkpoint of a trained run")
            # Any input the network accepts will do for tracing; 64x64 passes all three.
            slim_network(self.net, check_sparsity(slim_sparsity), torch.zeros(1, in_channels, 64, 64),
                         channel_multiple=slim_channel_multiple)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def _step(self, batch, stage: str) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(labels))
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True, prog_bar=stage != "test", batch_size=len(labels))
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")
