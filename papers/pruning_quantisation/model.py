"""The LightningModule that trains a network, and fine-tunes it pruned or slimmed.

`ImageClassifier` only builds an architecture; it never reads a file. With `prune_sparsity` set
its layers carry pruning masks (`torch.nn.utils.prune`), with `slim_sparsity` its layers are
narrower (the filters slimming removes); which weights are masked or removed is decided by the
weights they are applied to, so a module built this way is only a shape until weights are loaded.

Weights come in through the two factories below, which build the module and load with
`common.run.load_weights`:
- `build_classifier` is the model `_target_` of the experiments: without `init_from` it is a fresh
  network; with `init_from` (a trained float run's checkpoint) and a sparsity it loads that run's
  weights, prunes (the paper's masks) or slims them, and hands that network over to be fine-tuned.
  `prune_sparsity=0` is the control: the same fine-tuning, nothing pruned.
- `load_classifier` rebuilds a finished run's module from its checkpoint's hyper-parameters and
  loads its weights.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from common.errors import ConfigError
from common.lightning import ReproModule
from common.run import load_model, load_weights, saved_model_config
from papers.pruning_quantisation.compression import check_sparsity, prune_network, slim_network
from papers.pruning_quantisation.networks import build_network

# Any input the three networks accept will do for tracing: 64x64 passes all three.
TRACE_SIZE = 64


class ImageClassifier(ReproModule):
    def __init__(
        self,
        network: str,
        optimizer=None,
        scheduler=None,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.2,
        classifier_width: int = 4096,
        small_input: bool = True,
        prune_sparsity: float | None = None,
        prune_batchnorm: bool = False,
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
        if not isinstance(prune_batchnorm, bool):
            raise ConfigError(f"model.prune_batchnorm must be true or false, got {prune_batchnorm!r}")
        if prune_batchnorm and prune_sparsity is None and slim_sparsity is not None:
            raise ConfigError("model.prune_batchnorm=true goes with model.prune_sparsity (masks); slimming removes BatchNorm channels anyway")
        self.net = build_network(network, num_classes, in_channels, dropout, classifier_width, small_input)
        self.compress(self.net)

    def compress(self, net: torch.nn.Module) -> torch.nn.Module:
        """Prune (masks) or slim `net` in place as this module's hyper-parameters say."""
        hp = self.hparams
        if hp.prune_sparsity is not None:
            prune_network(net, check_sparsity(hp.prune_sparsity), batchnorm=hp.prune_batchnorm)
        elif hp.slim_sparsity is not None:
            slim_network(net, check_sparsity(hp.slim_sparsity), torch.zeros(1, hp.in_channels, TRACE_SIZE, TRACE_SIZE),
                         channel_multiple=hp.slim_channel_multiple)
        return net

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


def build_classifier(init_from: str | None = None, **kwargs) -> ImageClassifier:
    """The experiments' model: a fresh network, or (with `init_from`) a trained one pruned or slimmed.

    With `init_from`, the float network of that checkpoint is loaded, then `prune_sparsity` attaches
    the paper's masks to its weights (filters of smallest L2 norm, linear weights of smallest
    magnitude) or `slim_sparsity` removes those filters; the module returned starts fine-tuning
    from exactly that network.
    """
    compressing = kwargs.get("prune_sparsity") is not None or kwargs.get("slim_sparsity") is not None
    if init_from is None:
        if compressing:
            raise ConfigError("model.prune_sparsity / model.slim_sparsity need model.init_from: the checkpoint of a trained run")
        return ImageClassifier(**kwargs)
    if not compressing:
        raise ConfigError(f"model.init_from={init_from} is for fine-tuning: set model.prune_sparsity or model.slim_sparsity")
    module = ImageClassifier(**{**kwargs, "prune_sparsity": None, "slim_sparsity": None})
    load_weights(module, init_from)
    # From here on the module is the compressed one, and its checkpoints say so.
    module.hparams.update(prune_sparsity=kwargs.get("prune_sparsity"), slim_sparsity=kwargs.get("slim_sparsity"))
    module.compress(module.net)
    return module


def load_classifier(checkpoint: str | Path, **overrides) -> ImageClassifier:
    """A finished run's module, rebuilt from the hyper-parameters its checkpoint holds, weights loaded.

    Not from the run's config: a fine-tuned run's `model` config builds the network from the
    checkpoint it was fine-tuned from (`init_from`) and compresses that. The hyper-parameters give
    the same shape on random weights (masks are buffers the weights overwrite; slimming's widths do
    not depend on the weights), without needing that other checkpoint."""
    return load_model({**saved_model_config(ImageClassifier, checkpoint), **overrides}, checkpoint)
