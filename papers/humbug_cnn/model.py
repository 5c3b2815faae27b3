"""The paper's baseline CNN on log-Mel features, and its LightningModule.

conv 3x3 (32, valid) + ReLU, max-pool 2x2, conv 3x3 (64, valid) + ReLU, max-pool 2x2, dropout,
flatten, dense 128 + ReLU, dense 2 (softmax). Weights are Glorot-uniform with zero biases (the
Keras defaults the paper's code ran with). The loss is cross-entropy with per-class weights
(noise 1, mosquito 10), averaged over the batch as Keras' class_weight does (not divided by the sum
of the weights as torch's `weight=` would). The module normalises its input with the training
set's mean and std, kept as buffers so that a checkpoint alone can score new audio. Training
batches carry that mean and std (`feature_mean`, `feature_std`, from the data module) and the
module adopts them as it trains, as BatchNorm adopts running statistics; evaluation uses the
buffers only, so a trained model scores other data with its own normalisation.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import ConfigError
from common.lightning import ReproModule
from papers.humbug_cnn.audio import FeatureSpec
from papers.humbug_cnn.metrics import binary_scores


def _valid_then_pool(size: int) -> int:
    return (size - 2) // 2


class MosquitoCNN(nn.Module):
    def __init__(self, n_mels: int, n_frames: int, conv1_channels: int = 32, conv2_channels: int = 64,
                 dense_units: int = 128, dropout: float = 0.2):
        super().__init__()
        height, width = _valid_then_pool(_valid_then_pool(n_mels)), _valid_then_pool(_valid_then_pool(n_frames))
        if height < 1 or width < 1:
            raise ConfigError(f"a {n_mels}x{n_frames} feature image is too small for two 3x3 convs and 2x2 pools")
        if not 0 <= dropout < 1:
            raise ConfigError(f"model.dropout must lie in [0, 1), got {dropout}")
        self.input_shape = (1, n_mels, n_frames)
        self.features = nn.Sequential(
            nn.Conv2d(1, conv1_channels, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(conv1_channels, conv2_channels, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(dropout), nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(conv2_channels * height * width, dense_units), nn.ReLU(), nn.Linear(dense_units, 2)
        )
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected features of shape (batch, {', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}")
        return self.classifier(self.features(x))


class MosquitoDetector(ReproModule):
    """Trains MosquitoCNN on (features, label) batches; scores p(mosquito) per clip on test."""

    def __init__(
        self,
        optimizer=None,
        scheduler=None,
        sample_rate: int = 8000,
        clip_seconds: float = 1.0,
        n_fft: int = 3200,
        hop_length: int = 800,
        n_mels: int = 128,
        top_db: float = 80.0,
        conv1_channels: int = 32,
        conv2_channels: int = 64,
        dense_units: int = 128,
        dropout: float = 0.2,
        noise_weight: float = 1.0,
        mosquito_weight: float = 10.0,
        mc_samples: int = 0,
    ):
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if noise_weight <= 0 or mosquito_weight <= 0:
            raise ConfigError(f"model class weights must be > 0, got noise {noise_weight}, mosquito {mosquito_weight}")
        if mc_samples < 0:
            raise ConfigError(f"model.mc_samples must be >= 0, got {mc_samples}")
        self.spec = FeatureSpec(sample_rate, clip_seconds, n_fft, hop_length, n_mels, top_db)
        self.net = MosquitoCNN(n_mels, self.spec.n_frames, conv1_channels, conv2_channels, dense_units, dropout)
        self.mc_samples = mc_samples
        self.register_buffer("class_weights", torch.tensor([noise_weight, mosquito_weight]))
        self.register_buffer("feature_mean", torch.tensor(0.0))
        self.register_buffer("feature_std", torch.tensor(1.0))
        self._outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def set_normalisation(self, mean: float, std: float) -> None:
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ValueError(f"feature normalisation needs a finite mean and std > 0, got {mean}, {std}")
        self.feature_mean.fill_(mean)
        self.feature_std.fill_(std)

    def adopt_normalisation(self, batch: dict) -> None:
        """Take the training set's mean and std from a training batch (no host sync)."""
        if "feature_mean" in batch:
            self.feature_mean.copy_(batch["feature_mean"][0])
            self.feature_std.copy_(batch["feature_std"][0])

    def forward(self, features_db: torch.Tensor) -> torch.Tensor:
        """Logits of (batch, 1, n_mels, n_frames) dB features (not yet normalised)."""
        return self.net((features_db - self.feature_mean) / self.feature_std)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        per_clip = F.cross_entropy(logits, labels, reduction="none")
        return (per_clip * self.class_weights[labels]).mean()

    def training_step(self, batch, batch_idx):
        self.adopt_normalisation(batch)
        features, labels = batch["features"], batch["label"]
        loss = self.loss(self(features), labels)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(labels))
        return loss

    @torch.no_grad()
    def predict_proba(self, features_db: torch.Tensor, mc_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """p(mosquito) per clip and its spread: 0 without MC dropout, else the std over
        `mc_samples` forward passes with dropout left on (Gal and Ghahramani's MC dropout)."""
        mc_samples = self.mc_samples if mc_samples is None else mc_samples
        was_training = self.training
        self.eval()
        if mc_samples <= 0:
            probability = self(features_db).softmax(dim=1)[:, 1]
            spread = torch.zeros_like(probability)
        else:
            for layer in self.net.modules():
                if isinstance(layer, nn.Dropout):
                    layer.train()
            samples = torch.stack([self(features_db).softmax(dim=1)[:, 1] for _ in range(mc_samples)])
            probability, spread = samples.mean(dim=0), samples.std(dim=0, unbiased=False)
        self.train(was_training)
        return probability, spread

    def _evaluation_step(self, batch, stage: str):
        features, labels = batch["features"], batch["label"]
        self.log(f"{stage}/loss", self.loss(self(features), labels), batch_size=len(labels))
        probability, spread = self.predict_proba(features)
        self._outputs.append((labels.cpu(), probability.cpu(), spread.cpu()))

    def _evaluation_end(self, stage: str):
        if not self._outputs:
            return
        labels = torch.cat([o[0] for o in self._outputs]).numpy()
        probability = torch.cat([o[1] for o in self._outputs]).numpy()
        spread = torch.cat([o[2] for o in self._outputs]).numpy()
        self._outputs = []
        scores = binary_scores(labels, probability)
        if self.mc_samples > 0:
            scores["mc_std_mean"] = float(np.mean(spread))
        self.log_dict({f"{stage}/{key}": value for key, value in scores.items()}, prog_bar=stage == "val")
        if stage == "test":
            self.test_predictions = (labels, probability, spread)

    def validation_step(self, batch, batch_idx):
        self._evaluation_step(batch, "val")

    def on_validation_epoch_end(self):
        self._evaluation_end("val")

    def test_step(self, batch, batch_idx):
        self._evaluation_step(batch, "test")

    def on_test_epoch_end(self):
        self._evaluation_end("test")
