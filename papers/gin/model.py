"""The GIN LightningModule: a volume-preserving flow trained with the class-conditional Gaussian loss.

Training (paper section 4 and the authors' code): inputs get N(0, noise_std²) noise; the flow maps
them to z; the loss is the Gaussian negative log-likelihood per dimension with each class's mean
and std estimated from the mini-batch, 0.5 + mean_d log σ_{c,d} + 0.5 log 2π, minus log|det J|/D
(identically zero for GIN); `model.variance=learned` swaps the batch estimates for the authors'
learned per-class means and log-stds (their `empirical_vars=False`). Because the flow cannot change volume, the only way to lower the loss
is to squeeze most dimensions to tiny within-class spread and push the variation into a few: the
informative latent variables, read off the spectrum (per dimension, the RMS over classes of the
within-class std, sorted).

Bad input never produces a NaN loss: rows with non-finite values, and samples of a class with
fewer than 2 members in the batch, are left out with a warning that counts them (logged as
`train/dropped_nonfinite` and `train/dropped_small_class`); a batch with nothing left is skipped.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from common.errors import ConfigError
from common.lightning import ReproModule
from papers.gin import metrics as M


class GINModule(ReproModule):
    def __init__(
        self,
        flow: nn.Module | Callable[..., nn.Module],
        optimizer,
        scheduler=None,
        volume_preserving: bool = True,
        n_classes: int = 10,
        noise_std: float = 0.01,
        informative_threshold: float = 0.1,
        true_informative_dims: int = 0,
        class_conditional: bool = True,
        variance: str = "empirical",
        knee_fraction: float = 0.5,
        cpu_threads: int | None = None,
    ):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        if noise_std < 0:
            raise ConfigError(f"model.noise_std must be >= 0, got {noise_std}")
        if n_classes < 1:
            raise ConfigError(f"model.n_classes must be >= 1, got {n_classes}")
        if informative_threshold <= 0:
            raise ConfigError(f"model.informative_threshold must be > 0, got {informative_threshold}")
        if variance not in M.VARIANCES:
            raise ConfigError(f"model.variance must be one of {M.VARIANCES}, got {variance!r}")
        if not 0 < knee_fraction <= 1:
            raise ConfigError(f"model.knee_fraction must be in (0, 1], got {knee_fraction}")
        self.save_hyperparameters(ignore=["flow", "optimizer", "scheduler"])
        # A partial flow constructor gets this module's `volume_preserving` (one switch in the config).
        self.flow = flow if isinstance(flow, nn.Module) else flow(volume_preserving=volume_preserving)
        self.volume_preserving = volume_preserving
        self.noise_std = noise_std
        self.informative_threshold = informative_threshold
        self.true_informative_dims = true_informative_dims
        self.class_conditional = class_conditional
        self.variance = variance
        self.knee_fraction = knee_fraction
        if variance == "learned":
            # The authors' learned prior: one mean and log-std per class and latent dim, from zeros.
            dims = int(np.prod(self.flow.shapes[-1])) if hasattr(self.flow, "shapes") else None
            if dims is None:
                raise ConfigError("model.variance=learned needs a flow that reports its output shape (FrEIA SequenceINN)")
            self.prior_mu = nn.Parameter(torch.zeros(n_classes, dims))
            self.prior_log_sig = nn.Parameter(torch.zeros(n_classes, dims))
        self.dropped = {"nonfinite": 0, "small_class": 0, "nonfinite_loss": 0}
        self._test_outputs: list[tuple[torch.Tensor, ...]] = []

    # ------------------------------------------------------------------ flow

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Data → latent z, flattened to (batch, dims)."""
        z, _ = self.flow(x)
        return z.reshape(len(z), -1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (batch, dims) → data of the flow's input shape."""
        shape = self.flow.shapes[0] if hasattr(self.flow, "shapes") else None
        x, _ = self.flow(z, rev=True)
        return x if shape is None else x.reshape(len(z), *shape)

    def _clean(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        finite = torch.isfinite(x.reshape(len(x), -1)).all(1)
        n_bad = int((~finite).sum())
        if n_bad:
            self.dropped["nonfinite"] += n_bad
            warnings.warn(f"gin: {n_bad} input rows with NaN/inf left out of this batch "
                          f"({self.dropped['nonfinite']} so far)", stacklevel=2)
            x, labels = x[finite], labels[finite]
        return x, labels

    def _loss(self, x: torch.Tensor, labels: torch.Tensor, noise: bool) -> torch.Tensor | None:
        x, labels = self._clean(x, labels)
        if len(x) == 0:
            return None
        if noise and self.noise_std > 0:
            x = x + torch.randn_like(x) * self.noise_std
        z, log_det = self.flow(x)
        if not self.class_conditional:
            labels = torch.zeros_like(labels)
        elif self.variance == "learned" and int(labels.max()) >= len(self.prior_mu):
            raise ConfigError(f"label {int(labels.max())} out of range for model.n_classes={len(self.prior_mu)}")
        prior = (self.prior_mu, self.prior_log_sig) if self.variance == "learned" else (None, None)
        loss, dropped = M.gin_nll(z.reshape(len(z), -1), labels, log_det, variance=self.variance,
                                  mu=prior[0], log_sig=prior[1])
        if dropped:
            self.dropped["small_class"] += dropped
            warnings.warn(f"gin: {dropped} samples of classes with < 2 members in the batch left out "
                          f"({self.dropped['small_class']} so far)", stacklevel=2)
        if loss is not None and not torch.isfinite(loss):
            self.dropped["nonfinite_loss"] += 1
            warnings.warn(f"gin: non-finite loss, batch skipped ({self.dropped['nonfinite_loss']} so far)",
                          stacklevel=2)
            return None
        return loss

    # ------------------------------------------------------------------ steps

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch[0], batch[1], noise=True)
        if loss is None:
            return None
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch[0]))
        return loss

    def on_train_epoch_end(self):
        for key, count in self.dropped.items():
            self.log(f"train/dropped_{key}", float(count))

    def validation_step(self, batch, batch_idx):
        loss = self._loss(batch[0], batch[1], noise=False)
        if loss is not None:
            self.log("val/loss", loss, prog_bar=True, batch_size=len(batch[0]))

    def on_test_epoch_start(self):
        self._test_outputs = []

    @torch.no_grad()
    def test_step(self, batch, batch_idx):
        x, labels = self._clean(batch[0], batch[1])
        generator = torch.Generator(device="cpu").manual_seed(batch_idx)
        noisy = x + (torch.randn(x.shape, generator=generator) * self.noise_std).to(x.device)
        z = self(noisy)
        back = self.inverse(z)
        error = (back.reshape(len(x), -1) - noisy.reshape(len(x), -1)).abs().max()
        latent = batch[2][torch.isfinite(batch[0].reshape(len(batch[0]), -1)).all(1)] if len(batch) > 2 else None
        self._test_outputs.append((z.cpu(), labels.cpu(), latent.cpu() if latent is not None else None, error.cpu()))

    def on_test_epoch_end(self):
        z = torch.cat([o[0] for o in self._test_outputs]).double().numpy()
        labels = torch.cat([o[1] for o in self._test_outputs]).numpy()
        results = analyse_latents(z, labels, self.informative_threshold, self.knee_fraction)
        results["inverse_max_error"] = float(max(o[3] for o in self._test_outputs))
        if self._test_outputs[0][2] is not None and self.true_informative_dims > 0:
            latent = torch.cat([o[2] for o in self._test_outputs]).double().numpy()
            results.update(identifiability(z, latent, labels, self.true_informative_dims))
        self.log_dict({f"test/{k}": float(v) for k, v in results.items()})
        self._test_outputs = []


def analyse_latents(z: np.ndarray, labels: np.ndarray, threshold: float, knee_fraction: float = 0.5) -> dict[str, float]:
    """Spectrum statistics of latents z (n, D) with class labels; the knee searched in the first `knee_fraction`."""
    spec = M.spectrum(z, labels)
    k = M.knee(spec, knee_fraction)
    ordered = np.sort(spec)[::-1]
    stds = np.stack([z[labels == c].std(0) for c in np.unique(labels) if (labels == c).sum() >= 2])
    loss = 0.5 + np.log(np.maximum(stds, 1e-300)).mean() + M.HALF_LOG_2PI
    return {
        "n_informative": M.count_above(spec, threshold),
        "knee": k,
        "gap_ratio": M.gap_ratio(spec, k),
        "spectrum_top": float(ordered[0]),
        "spectrum_median": float(np.median(ordered)),
        "nll_per_dim": float(loss),
    }


def identifiability(z: np.ndarray, latent: np.ndarray, labels: np.ndarray, n_true: int) -> dict[str, float]:
    """MCC between the n_true recovered dims of largest spectrum and the true informative latents."""
    top = np.argsort(M.spectrum(z, labels))[::-1][:n_true]
    return {
        "mcc": M.mcc(z[:, top], latent[:, :n_true], "pearson"),
        "mcc_spearman": M.mcc(z[:, top], latent[:, :n_true], "spearman"),
    }
