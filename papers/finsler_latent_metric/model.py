"""Stochastic decoders trained with Lightning: a VAE whose decoder is a random function.

The paper needs a decoder f: R^q -> R^D whose Jacobian has Gaussian rows with one covariance
Sigma shared over the D outputs (a GP-LVM posterior has exactly this). Our VAE decoder is

    f_d(z) = mu_d(z) + eps_d^T phi(z),   eps_d ~ N(0, I_K) independent over d,

i.e. D independent random functions with the shared kernel k(z, z') = phi(z)^T phi(z') around the
mean network mu. Then x | z ~ N(mu(z), (||phi(z)||^2 + s0^2) I) (s0: observation noise, not part of
the function) and the Jacobian J has rows N(grad mu_d, Sigma) with Sigma = J_phi^T J_phi, shared
over d: the paper's setting. `phi` (the variance network) has two parts:

* a learned network phi_net (tanh MLP), trained with the ELBO like any variance network;
* a random-feature GP prior whose amplitude grows away from the training codes,
  a(z) r(z), r = sqrt(2/K) cos(W z + b) (random Fourier features of an RBF kernel of length h) and
  a(z) = sqrt(far_variance) (1 - exp(-d(z)^2 / (2 h^2))), d = soft distance to k-means centres of
  the training codes (fitted after training). This plays the part of the RBF precision network of
  Arvanitidis et al. (2018) and of a GP-LVM's posterior far from data: uncertain, rough functions
  off the data, so that geodesics follow the data.

`stochastic=False` switches the variance network off (Sigma = 0): the mechanism-off setting in which
the Finsler and Riemann metrics coincide.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from common.errors import ConfigError
from common.lightning import ReproModule


def mlp(sizes: list[int], activation=nn.Tanh) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class StochasticDecoderVAE(ReproModule):
    def __init__(
        self, data_dim: int, latent_dim: int = 2, hidden: int = 64, variance_features: int = 8,
        prior_features: int = 64, n_centres: int = 32, far_variance: float = 1.0, bandwidth_scale: float = 1.0,
        stochastic: bool = True, beta: float = 1.0, min_noise: float = 1e-3, optimizer=None, scheduler=None,
        cpu_threads: int | None = 1,
    ):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        for name, value in (("data_dim", data_dim), ("latent_dim", latent_dim), ("hidden", hidden),
                            ("variance_features", variance_features), ("n_centres", n_centres)):
            if int(value) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {value}")
        if far_variance < 0:
            raise ConfigError(f"model.far_variance must be >= 0, got {far_variance}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.encoder = mlp([data_dim, hidden, hidden, 2 * latent_dim])
        self.decoder_mean = mlp([latent_dim, hidden, hidden, data_dim])
        self.variance_net = mlp([latent_dim, hidden, variance_features])
        self.log_noise = nn.Parameter(torch.tensor(math.log(0.1)))
        # The random Fourier features are drawn from the global generator (seeded by the run) and saved
        # with the weights as buffers.
        self.register_buffer("rff_weight", torch.randn(prior_features, latent_dim))
        self.register_buffer("rff_phase", 2 * math.pi * torch.rand(prior_features))
        self.register_buffer("centres", torch.zeros(n_centres, latent_dim))
        self.register_buffer("bandwidth", torch.ones(()))
        self.register_buffer("centres_fitted", torch.zeros((), dtype=torch.bool))
        self._last_epoch_codes: list[torch.Tensor] = []

    # ---------------------------------------------------------------- decoder
    def features(self, z: torch.Tensor) -> torch.Tensor:
        """phi(z): the random function's features, (..., K_total); zeros when stochastic=False."""
        h = self.hparams
        if not h.stochastic:
            return torch.zeros(*z.shape[:-1], 1, dtype=z.dtype, device=z.device)
        learned = self.variance_net(z)
        if not bool(self.centres_fitted) or h.far_variance == 0:
            return learned
        bandwidth = self.bandwidth
        squared = ((z[..., None, :] - self.centres) ** 2).sum(-1)  # (..., n_centres)
        soft_min = -bandwidth**2 * torch.logsumexp(-squared / bandwidth**2, dim=-1)
        amplitude = math.sqrt(h.far_variance) * (1 - torch.exp(-torch.clamp(soft_min, min=0) / (2 * bandwidth**2)))
        scale = self.hparams.bandwidth_scale * bandwidth
        rff = math.sqrt(2.0 / self.rff_weight.shape[0]) * torch.cos(z @ self.rff_weight.T / scale + self.rff_phase)
        return torch.cat([learned, amplitude[..., None] * rff], -1)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (..., D) and variance (...,) of x | z."""
        phi = self.features(z)
        noise = torch.exp(2 * self.log_noise) + self.hparams.min_noise**2
        return self.decoder_mean(z), (phi**2).sum(-1) + noise

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder(x)
        q = self.hparams.latent_dim
        return out[..., :q], out[..., q:].clamp(-12, 6)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        x_mean, x_var = self.decode(z)
        D = x.shape[-1]
        nll = 0.5 * (((x - x_mean) ** 2).sum(-1) / x_var + D * torch.log(2 * math.pi * x_var))
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1)
        loss = (nll + self.hparams.beta * kl).mean()
        mse = ((x - self.decoder_mean(mean)) ** 2).mean()
        return loss, {"loss": loss, "nll_per_dim": nll.mean() / D, "kl": kl.mean(), "mse": mse, "mean_code": mean}

    # ---------------------------------------------------------------- Lightning
    def training_step(self, batch, batch_idx):
        x, _ = batch
        loss, parts = self.loss(x)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(x))
        if self.trainer is not None and self.current_epoch == self.trainer.max_epochs - 1:
            self._last_epoch_codes.append(parts["mean_code"].detach())
        return loss

    def _evaluate(self, batch, stage: str):
        x, _ = batch
        with torch.no_grad():
            _, parts = self.loss(x)
        for key in ("loss", "nll_per_dim", "kl", "mse"):
            self.log(f"{stage}/{key}", parts[key], batch_size=len(x))

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def on_train_epoch_end(self) -> None:
        if self._last_epoch_codes:
            self.fit_centres(torch.cat(self._last_epoch_codes))
            self._last_epoch_codes = []

    @torch.no_grad()
    def fit_centres(self, codes: torch.Tensor, iterations: int = 20) -> None:
        """k-means centres of the training codes and a bandwidth for the far-from-data prior."""
        k = self.centres.shape[0]
        generator = torch.Generator().manual_seed(0)
        pick = torch.randperm(len(codes), generator=generator)[:k]
        centres = codes[pick].clone()
        if len(centres) < k:
            centres = torch.cat([centres, centres[torch.randint(len(centres), (k - len(centres),), generator=generator)]])
        for _ in range(iterations):
            assign = torch.cdist(codes, centres).argmin(1)
            for j in range(k):
                members = codes[assign == j]
                if len(members):
                    centres[j] = members.mean(0)
        distances = torch.cdist(centres, centres) + torch.eye(k) * 1e9
        self.centres.copy_(centres)
        self.bandwidth.copy_(distances.min(1).values.median().clamp(min=1e-3))
        self.centres_fitted.fill_(True)

    # ---------------------------------------------------------------- geometry
    def geometry(self) -> DecoderManifold:
        return DecoderManifold(self)


class DecoderManifold:
    """The trained decoder as a stochastic manifold (float64 copy): E[J] = d mu / dz, Sigma = J_phi^T J_phi."""

    def __init__(self, model: StochasticDecoderVAE):
        self.model = copy.deepcopy(model).double().eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.D = model.hparams.data_dim
        self.q = model.hparams.latent_dim

    def _stacked(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.model.decoder_mean(z), self.model.features(z)], -1)

    def jacobian_moments(self, z: torch.Tensor):
        z = z.to(torch.float64)
        jac = torch.func.vmap(torch.func.jacfwd(self._stacked))(z)
        mean_jac, feature_jac = jac[:, : self.D], jac[:, self.D:]
        return mean_jac, feature_jac.transpose(-1, -2) @ feature_jac

    def decode(self, z: torch.Tensor):
        return self.model.decode(z.to(torch.float64))

    @torch.no_grad()
    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode(x.to(torch.float64))[0]

    def expected_log_volume(self, z: torch.Tensor) -> torch.Tensor:
        """log sqrt(det G(z)) of the expected metric, for background maps."""
        mean_jac, cov = self.jacobian_moments(z)
        metric = mean_jac.transpose(-1, -2) @ mean_jac + self.D * cov
        return 0.5 * torch.logdet(metric)


def bernoulli_fisher_rao_metric(logit_jac: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Pullback of the Fisher-Rao metric of independent Bernoulli outputs: J_eta^T diag(p(1-p)) J_eta."""
    weight = probs * (1 - probs)
    return torch.einsum("...dq,...d,...dr->...qr", logit_jac, weight, logit_jac)


def gaussian_fisher_rao_metric(mean_jac: torch.Tensor, std: torch.Tensor, std_jac: torch.Tensor) -> torch.Tensor:
    """Pullback of the Fisher-Rao metric of independent N(mu_d, sigma_d^2): sum_d (dmu dmu^T + 2 dsig dsig^T)/sigma^2."""
    weight = 1.0 / std**2
    return (torch.einsum("...dq,...d,...dr->...qr", mean_jac, weight, mean_jac)
            + 2 * torch.einsum("...dq,...d,...dr->...qr", std_jac, weight, std_jac))


class BernoulliVAE(ReproModule):
    """A VAE with a Bernoulli decoder (binarised MNIST) for the Fisher-Rao pullback (Arvanitidis et al. 2022)."""

    def __init__(self, data_dim: int = 784, latent_dim: int = 2, hidden: int = 128, optimizer=None, scheduler=None,
                 cpu_threads: int | None = 1):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.encoder = mlp([data_dim, hidden, hidden, 2 * latent_dim])
        self.decoder = mlp([latent_dim, hidden, hidden, data_dim])

    def loss(self, x):
        out = self.encoder(x)
        q = self.hparams.latent_dim
        mean, logvar = out[:, :q], out[:, q:].clamp(-12, 6)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        nll = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(-1)
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1)
        accuracy = ((self.decoder(mean) > 0).float() == x).float().mean()
        return (nll + kl).mean(), {"nll": nll.mean(), "kl": kl.mean(), "pixel_accuracy": accuracy}

    def training_step(self, batch, batch_idx):
        loss, _ = self.loss(batch[0])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch[0]))
        return loss

    def _evaluate(self, batch, stage):
        with torch.no_grad():
            loss, parts = self.loss(batch[0])
        self.log(f"{stage}/loss", loss, batch_size=len(batch[0]))
        for key, value in parts.items():
            self.log(f"{stage}/{key}", value, batch_size=len(batch[0]))

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def fisher_rao_manifold(self) -> FisherRaoManifold:
        return FisherRaoManifold(self)


class FisherRaoManifold:
    """Latent space with the pulled-back Fisher-Rao metric of the Bernoulli decoder, as a manifold whose
    'mean Jacobian' is diag(sqrt(p(1-p))) J_eta and Sigma = 0, so both norms of metrics.py give sqrt(v^T G v)."""

    def __init__(self, model: BernoulliVAE):
        self.model = copy.deepcopy(model).double().eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.D = model.hparams.data_dim
        self.q = model.hparams.latent_dim

    def jacobian_moments(self, z: torch.Tensor):
        z = z.to(torch.float64)
        logit_jac = torch.func.vmap(torch.func.jacfwd(self.model.decoder))(z)
        probs = torch.sigmoid(self.model.decoder(z))
        scaled = torch.sqrt(probs * (1 - probs))[..., None] * logit_jac
        return scaled, torch.zeros(z.shape[0], self.q, self.q, dtype=torch.float64)
