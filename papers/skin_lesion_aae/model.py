"""The autoencoder family of Creswell, Pouplin & Bharath (2018) and the supervised baseline.

One LightningModule covers the four models of the paper's ablation with two switches:

| model | `sigma` (corruption) | `adversarial` |
|---|---|---|
| AE   | 0     | false |
| DAE  | > 0   | false |
| AAE  | 0     | true  |
| DAAE | > 0   | true  |

Encoder (as in the authors' pyTorch_DAAE code): 4 × (conv 5×5, stride 2, ReLU) with channels
w, 2w, 4w, 8w (w = 64 there), then a linear map to the code (nz = 200 there). Decoder: linear,
4 × (transposed conv 3×3, stride 2, ReLU), the last one to 3 channels with a sigmoid. The
discriminator is an MLP nz → 1000 → 1000 → 1 on codes, trained to tell codes of the (corrupted)
training images from samples of the prior N(0, I); the encoder is trained to fool it. Training
uses manual optimisation with two optimizers, in the authors' order per batch: one discriminator
step on detached codes, then one autoencoder step on reconstruction + alpha · adversarial loss.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import ConfigError
from common.lightning import ReproModule
from papers.skin_lesion_aae.metrics import binary_metrics, fit_code_classifier, prior_match

N_CONV = 4


def _check_geometry(image_size: int, width: int, nz: int) -> None:
    if image_size < 2**N_CONV or image_size % 2**N_CONV:
        raise ConfigError(f"model.image_size must be a multiple of {2**N_CONV}, got {image_size}")
    if width < 1 or nz < 1:
        raise ConfigError(f"model.width and model.nz must be >= 1, got {width}, {nz}")


class Encoder(nn.Module):
    """(batch, 3, s, s) in [0, 1] -> (batch, nz) codes."""

    def __init__(self, image_size: int = 64, width: int = 64, nz: int = 200, batch_norm: bool = False,
                 leak: float = 0.0):
        super().__init__()
        _check_geometry(image_size, width, nz)
        self.leak = float(leak)
        channels = [3] + [width * 2**i for i in range(N_CONV)]
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 5, stride=2, padding=2),
                          nn.BatchNorm2d(c_out) if batch_norm and index > 0 else nn.Identity())
            for index, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True))
        )
        self.image_size = image_size
        self.bottom = image_size // 2**N_CONV
        self.linear = nn.Linear(channels[-1] * self.bottom**2, nz)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != self.image_size or x.shape[3] != self.image_size:
            raise ValueError(f"expected images (batch, 3, {self.image_size}, {self.image_size}), got {tuple(x.shape)}")
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.leak)
        return self.linear(x.flatten(1))


class Decoder(nn.Module):
    """(batch, nz) codes -> (batch, 3, s, s) images in (0, 1)."""

    def __init__(self, image_size: int = 64, width: int = 64, nz: int = 200, kernel_size: int = 3,
                 batch_norm: bool = False):
        super().__init__()
        _check_geometry(image_size, width, nz)
        channels = [width * 2**i for i in reversed(range(N_CONV))] + [3]
        self.bottom = image_size // 2**N_CONV
        self.top_channels = channels[0]
        self.linear = nn.Linear(nz, channels[0] * self.bottom**2)
        pad = kernel_size // 2
        self.deconvs = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(c_in, c_out, kernel_size, stride=2, padding=pad, output_padding=1),
                          nn.BatchNorm2d(c_out) if batch_norm and index < N_CONV - 1 else nn.Identity())
            for index, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True))
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.linear(z)).view(z.shape[0], self.top_channels, self.bottom, self.bottom)
        for index, deconv in enumerate(self.deconvs):
            x = deconv(x)
            x = torch.sigmoid(x) if index == len(self.deconvs) - 1 else F.relu(x)
        return x


class Discriminator(nn.Module):
    """MLP on codes: nz -> hidden -> hidden -> 1 logit (high = 'drawn from the prior')."""

    def __init__(self, nz: int = 200, hidden: int = 1000):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


def corrupt(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive Gaussian corruption x + sigma * N(0, I) (the authors' choice; not clipped)."""
    if sigma == 0:
        return x
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + sigma * noise


def discriminator_loss(discriminator: Discriminator, z_fake: torch.Tensor, z_prior: torch.Tensor) -> torch.Tensor:
    """0.5 (BCE(D(prior), 1) + BCE(D(codes), 0)), codes detached: only the discriminator learns."""
    real = discriminator(z_prior)
    fake = discriminator(z_fake.detach())
    return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                  + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def encoder_adversarial_loss(discriminator: Discriminator, z_fake: torch.Tensor) -> torch.Tensor:
    """BCE(D(codes), 1): the encoder is pushed to make its codes look like prior samples."""
    fake = discriminator(z_fake)
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def reconstruction_loss(reconstruction: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "bce":
        return F.binary_cross_entropy(reconstruction, target.clamp(0, 1))
    return F.mse_loss(reconstruction, target)


class LesionAutoencoder(ReproModule):
    """AE / DAE / AAE / DAAE (see the module docstring), with a code classifier at test time.

    The test loop takes two loaders: 0 = the labelled part of the training images, 1 = the test
    images. Their codes feed a linear classifier (`classifier`), scored on the test codes with
    the metrics of `papers.skin_lesion_aae.metrics.binary_metrics` (logged as test/<name>).
    """

    def __init__(
        self,
        optimizer: Callable[..., torch.optim.Optimizer],
        discriminator_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        image_size: int = 64,
        width: int = 64,
        nz: int = 200,
        decoder_kernel: int = 3,
        batch_norm: bool = False,
        leak: float = 0.0,
        discriminator_hidden: int = 1000,
        sigma: float = 0.1,
        adversarial: bool = True,
        alpha: float = 1.0,
        reconstruction: str = "bce",
        classifier: str = "svm",
        scheduler=None,
        cpu_threads: int | None = None,
    ):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        if sigma < 0:
            raise ConfigError(f"model.sigma must be >= 0, got {sigma}")
        if alpha < 0:
            raise ConfigError(f"model.alpha must be >= 0, got {alpha}")
        if reconstruction not in ("bce", "mse"):
            raise ConfigError(f"model.reconstruction must be 'bce' or 'mse', got {reconstruction!r}")
        if classifier not in ("svm", "logistic"):
            raise ConfigError(f"model.classifier must be 'svm' or 'logistic', got {classifier!r}")
        self.save_hyperparameters(ignore=["optimizer", "discriminator_optimizer", "scheduler"])
        self.discriminator_optimizer_factory = discriminator_optimizer or optimizer
        self.encoder = Encoder(image_size, width, nz, batch_norm, leak)
        self.decoder = Decoder(image_size, width, nz, decoder_kernel, batch_norm)
        self.discriminator = Discriminator(nz, discriminator_hidden)
        self.sigma = float(sigma)
        self.adversarial = bool(adversarial)
        self.alpha = float(alpha)
        self.reconstruction = reconstruction
        self.classifier = classifier
        self.nz = nz
        self.automatic_optimization = False
        self._test_codes: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    @property
    def name(self) -> str:
        return ("D" if self.sigma > 0 else "") + ("AAE" if self.adversarial else "AE")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Codes of clean images (no corruption at encoding time), in eval mode."""
        was_training = self.training
        self.eval()
        codes = [self.encoder(images[i:i + batch_size].to(self.device)).cpu() for i in range(0, len(images), batch_size)]
        self.train(was_training)
        return torch.cat(codes) if codes else torch.empty(0, self.nz)

    def configure_optimizers(self):
        autoencoder = self.optimizer_factory(params=[*self.encoder.parameters(), *self.decoder.parameters()])
        discriminator = self.discriminator_optimizer_factory(params=self.discriminator.parameters())
        return [autoencoder, discriminator]

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """All training losses on one batch, with the discriminator as it is now."""
        z = self.encoder(corrupt(x, self.sigma))
        out = {"rec": reconstruction_loss(self.decoder(z), x, self.reconstruction), "z": z}
        if self.adversarial:
            out["dis"] = discriminator_loss(self.discriminator, z, torch.randn_like(z))
            out["enc"] = encoder_adversarial_loss(self.discriminator, z)
        return out

    def training_step(self, batch, batch_idx):
        opt_ae, opt_dis = self.optimizers()
        x = batch["image"]
        z = self.encoder(corrupt(x, self.sigma))
        rec = reconstruction_loss(self.decoder(z), x, self.reconstruction)
        loss = rec
        if self.adversarial:
            # 1) the discriminator learns to tell prior samples from (detached) codes
            dis = discriminator_loss(self.discriminator, z, torch.randn_like(z))
            opt_dis.zero_grad()
            self.manual_backward(dis)
            opt_dis.step()
            # 2) the encoder learns to fool the updated discriminator, the decoder to reconstruct
            enc = encoder_adversarial_loss(self.discriminator, z)
            loss = rec + self.alpha * enc
            self.log_dict({"train/dis_loss": dis, "train/enc_loss": enc}, on_epoch=True, on_step=False)
        opt_ae.zero_grad()
        self.manual_backward(loss)
        opt_ae.step()
        self.log("train/rec_loss", rec, on_epoch=True, on_step=False, prog_bar=True)
        self.log("train/loss", loss, on_epoch=True, on_step=False)  # the autoencoder's objective

    def validation_step(self, batch, batch_idx):
        x = batch["image"]
        self.log("val/rec_loss", reconstruction_loss(self.decoder(self.encoder(x)), x, self.reconstruction))

    def on_test_epoch_start(self) -> None:
        self._test_codes = {}

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x = batch["image"]
        z = self.encoder(x)
        self._test_codes.setdefault(dataloader_idx, []).append((z.cpu(), batch["label"].cpu()))
        if dataloader_idx == 1:
            self.log("test/rec_loss", reconstruction_loss(self.decoder(z), x, self.reconstruction), add_dataloader_idx=False)
            noisy = corrupt(x, max(self.sigma, 0.1))
            self.log("test/denoise_mse", F.mse_loss(self.decoder(self.encoder(noisy)), x), add_dataloader_idx=False)

    def on_test_epoch_end(self) -> None:
        if set(self._test_codes) != {0, 1}:
            return  # only the test images: no labelled codes to fit a classifier on
        fit_z, fit_y = (torch.cat(parts).numpy() for parts in zip(*self._test_codes[0], strict=True))
        test_z, test_y = (torch.cat(parts).numpy() for parts in zip(*self._test_codes[1], strict=True))
        classifier = fit_code_classifier(fit_z, fit_y, kind=self.classifier, seed=0)
        scores = classifier.predict_proba(test_z)[:, 1]
        for key, value in binary_metrics(test_y, scores, classifier.threshold).items():
            self.log(f"test/{key}", value, add_dataloader_idx=False)
        for key, value in prior_match(np.concatenate([fit_z, test_z])).items():
            self.log(f"test/{key}", value, add_dataloader_idx=False)
        self._test_codes = {}


class SupervisedLesionClassifier(ReproModule):
    """The baseline: the same encoder, a linear head on its code, trained end to end with BCE on the
    labelled images only. Test: one loader of test images (a second loader, if given, is ignored)."""

    def __init__(
        self,
        optimizer: Callable[..., torch.optim.Optimizer],
        image_size: int = 64,
        width: int = 64,
        nz: int = 200,
        batch_norm: bool = False,
        leak: float = 0.0,
        pos_weight: float | None = None,
        scheduler=None,
        cpu_threads: int | None = None,
    ):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        if pos_weight is not None and pos_weight <= 0:
            raise ConfigError(f"model.pos_weight must be > 0 or null, got {pos_weight}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.encoder = Encoder(image_size, width, nz, batch_norm, leak)
        self.head = nn.Linear(nz, 1)
        self.pos_weight = pos_weight
        # Labels seen in training (benign, malignant): their base rate is the decision threshold,
        # as for the code classifiers. A buffer, so it travels with the checkpoint.
        self.register_buffer("label_counts", torch.zeros(2))
        self._test_scores: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.encoder(x))).squeeze(-1)

    def _loss(self, batch) -> torch.Tensor:
        weight = None if self.pos_weight is None else torch.tensor(self.pos_weight, device=self.device)
        return F.binary_cross_entropy_with_logits(self(batch["image"]), batch["label"].float(), pos_weight=weight)

    def training_step(self, batch, batch_idx):
        self.label_counts += torch.bincount(batch["label"], minlength=2).to(self.label_counts)
        loss = self._loss(batch)
        self.log("train/loss", loss, on_epoch=True, on_step=False, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self._loss(batch))

    def on_test_epoch_start(self) -> None:
        self._test_scores = []

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        loaders = self.trainer.test_dataloaders if self._trainer is not None else None
        if dataloader_idx == 0 and isinstance(loaders, list | tuple) and len(loaders) > 1:
            return  # the labelled training images: nothing to score
        self._test_scores.append((torch.sigmoid(self(batch["image"])).cpu(), batch["label"].cpu()))

    def on_test_epoch_end(self) -> None:
        if not self._test_scores:
            return
        scores, labels = (torch.cat(parts).numpy() for parts in zip(*self._test_scores, strict=True))
        counts = self.label_counts.cpu().numpy()
        threshold = 0.5 if self.pos_weight is not None or counts.sum() == 0 else counts[1] / counts.sum()
        for key, value in binary_metrics(labels, scores, threshold).items():
            self.log(f"test/{key}", value, add_dataloader_idx=False)
        self._test_scores = []
