"""The UNet-like network of Moskalenko et al. (2019) and its LightningModule.

Encoder: blocks of two (conv k=9, BatchNorm, ReLU) with channels 4, 8, 16, 32, max-pooling by 2
between them, a 64-channel bottom block; decoder: transposed conv (k=8, stride 2) that doubles the
length, concatenation with the encoder features of that length, two convs; a 1x1 conv gives the
scores of the 4 classes (none, P, QRS, T) at every sample.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import ConfigError
from common.lightning import ReproModule
from papers.ecg_unet.data import MODEL_RATE, resample
from papers.ecg_unet.delineation import (
    IGNORE,
    QRS,
    DelineationScorer,
    P,
    T,
    Wave,
    waves_from_labels,
)

N_CLASSES = 4


def _conv_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    padding = kernel_size // 2
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=padding),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv1d(out_channels, out_channels, kernel_size, padding=padding),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet1d(nn.Module):
    def __init__(self, in_channels: int = 1, base_channels: int = 4, depth: int = 4, kernel_size: int = 9):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ConfigError(f"model.net.kernel_size must be odd, got {kernel_size}")
        if depth < 1 or base_channels < 1:
            raise ConfigError(f"model.net.depth and base_channels must be >= 1, got {depth}, {base_channels}")
        channels = [base_channels * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        previous = in_channels
        for width in channels[:-1]:
            self.down.append(_conv_block(previous, width, kernel_size))
            previous = width
        self.bottom = _conv_block(channels[-2], channels[-1], kernel_size)
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for width, wider in zip(reversed(channels[:-1]), reversed(channels[1:]), strict=True):
            self.upsample.append(nn.ConvTranspose1d(wider, wider, kernel_size=8, stride=2, padding=3))
            self.up.append(_conv_block(wider + width, width, kernel_size))
        self.head = nn.Conv1d(channels[0], N_CLASSES, kernel_size=1)
        self.multiple = 2**depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, leads, n) -> (batch, 4, n) class scores, for any n."""
        if x.ndim != 3:
            raise ValueError(f"expected (batch, channels, samples), got shape {tuple(x.shape)}")
        n = x.shape[-1]
        pad = (-n) % self.multiple
        x = F.pad(x, (0, pad))
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool1d(x, 2)
        x = self.bottom(x)
        for upsample, block, skip in zip(self.upsample, self.up, reversed(skips), strict=True):
            x = block(torch.cat([upsample(x), skip], dim=1))
        return self.head(x)[..., :n]


class EcgSegmenter(ReproModule):
    """Trains UNet1d on single-lead windows; tests on whole records with the paper's score."""

    def __init__(
        self,
        net: UNet1d,
        optimizer,
        scheduler=None,
        tolerance_ms: float = 150.0,
        min_wave_ms: float = 20.0,
        merge_gap_ms: float = 0.0,
    ):
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])
        self.net = net
        self.tolerance_ms = tolerance_ms
        self.min_samples = {kind: max(1, int(round(min_wave_ms * MODEL_RATE / 1000))) for kind in (P, QRS, T)}
        self.max_gap = int(round(merge_gap_ms * MODEL_RATE / 1000))
        self.scorer: DelineationScorer | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels, ignore_index=IGNORE)

    def training_step(self, batch, batch_idx):
        signal, labels = batch
        loss = self._loss(self(signal), labels)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(signal))
        return loss

    def _record_step(self, batch, stage: str):
        signal, labels, _ = batch
        logits = self(signal[:, None, :])  # leads as the batch
        predicted = logits.argmax(dim=1)
        annotated = labels != IGNORE
        self.log(f"{stage}/loss", self._loss(logits, labels), batch_size=1)
        accuracy = (predicted[annotated] == labels[annotated]).float().mean()
        self.log(f"{stage}/sample_accuracy", accuracy, batch_size=1, prog_bar=stage == "val")
        return predicted

    def validation_step(self, batch, batch_idx):
        self._record_step(batch, "val")

    def on_test_epoch_start(self):
        self.scorer = DelineationScorer(MODEL_RATE, self.tolerance_ms)

    def test_step(self, batch, batch_idx):
        predicted = self._record_step(batch, "test").cpu().numpy()
        annotation = batch[2]
        for lead in range(predicted.shape[0]):
            if annotation.spans[lead] is None:
                continue
            detected = self.waves(predicted[lead])
            self.scorer.add(annotation.waves[lead], detected, annotation.spans[lead])

    def on_test_epoch_end(self):
        self.log_dict(self.scorer.metrics(prefix="test/"), sync_dist=True)

    def waves(self, labels: np.ndarray) -> list[Wave]:
        """The post-processing: per-sample labels at MODEL_RATE to waves."""
        return waves_from_labels(labels, self.min_samples, self.max_gap)

    @torch.no_grad()
    def delineate(self, signal: np.ndarray, sampling_rate: float) -> list[list[Wave]]:
        """Waves per lead of a (leads, n) signal in mV at any sampling rate, in its own samples."""
        signal = np.atleast_2d(np.asarray(signal, dtype=np.float32))
        if signal.ndim != 2:
            raise ValueError(f"signal must be (leads, samples), got shape {signal.shape}")
        at_model_rate = resample(signal, sampling_rate, MODEL_RATE)
        was_training = self.training
        self.eval()
        x = torch.from_numpy(at_model_rate)[:, None, :].to(self.device)
        predicted = self(x).argmax(dim=1).cpu().numpy()
        self.train(was_training)
        back = sampling_rate / MODEL_RATE

        def to_input_rate(sample: int) -> int:
            return int(round((sample + 0.5) * back - 0.5))

        return [
            [Wave(w.kind, to_input_rate(w.onset), to_input_rate(w.offset)) for w in self.waves(lead)]
            for lead in predicted
        ]
