"""DKLITE (Zhang, Bellot, van der Schaar, AISTATS 2020): deep kernel learning for treatment effects.

A neural feature map z = phi(x), shared by both arms, feeds one exact GP per arm (control units
train GP 0, treated units GP 1). Training minimises, over the network and both GPs' hyperparameters,

    NLL_0 + NLL_1                      (negative log marginal likelihood per unit of each arm)
  + variance_weight * (mean posterior variance of GP 0 at treated units'  features
                       + mean posterior variance of GP 1 at control units' features)
  + reconstruction_weight * |x - psi(phi(x))|^2 (decoder psi: keeps phi close to invertible)

The variance term pulls the representation of each arm into the region the other arm's GP has
seen, i.e. towards overlap, without the invariance a balancing penalty would force. Each variance
is divided by its GP's prior variance, so the term cannot be lowered by shrinking the kernel scale.
The individual effect is the difference of the two GPs' posterior means.
"""
from __future__ import annotations

import torch
from torch import nn

from common.errors import ConfigError, DataError
from common.lightning import ReproModule
from papers.treatment_effects.gp import GaussianProcess
from papers.treatment_effects.metrics import effect_errors


def mlp(sizes: list[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_activation or index < len(sizes) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class Dklite(ReproModule):
    def __init__(
        self,
        optimizer,
        input_dim: int,
        scheduler=None,
        hidden_dim: int = 50,
        feature_dim: int = 50,
        hidden_layers: int = 2,
        variance_weight: float = 1.0,
        reconstruction_weight: float = 1.0,
        gp_lengthscale: float = 1.0,
        gp_noise: float = 0.1,
        cpu_threads: int | None = 1,
    ):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        for name, value in (("input_dim", input_dim), ("hidden_dim", hidden_dim), ("feature_dim", feature_dim)):
            if value < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {value}")
        if hidden_layers < 0 or variance_weight < 0 or reconstruction_weight < 0:
            raise ConfigError(
                "model.hidden_layers, variance_weight and reconstruction_weight must be >= 0, got "
                f"{hidden_layers}, {variance_weight}, {reconstruction_weight}"
            )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        widths = [hidden_dim] * (hidden_layers + 1)
        self.encoder = mlp([input_dim, *widths, feature_dim], final_activation=True)
        self.decoder = mlp([feature_dim, *widths, input_dim], final_activation=False)
        self.gps = nn.ModuleList(
            GaussianProcess(feature_dim, lengthscale=gp_lengthscale * feature_dim**0.5, noise=gp_noise) for _ in range(2)
        )
        self.input_dim = input_dim
        self.variance_weight = variance_weight
        self.reconstruction_weight = reconstruction_weight


    def _check(self, batch: dict) -> None:
        if batch["x"].shape[1] != self.input_dim:
            raise DataError(f"the data has {batch['x'].shape[1]} covariates but model.input_dim={self.input_dim}")

    def fit_arms(self, features: torch.Tensor, t: torch.Tensor, y: torch.Tensor):
        """Condition each arm's GP on its units (outcomes centred on the arm's mean)."""
        posteriors, means = [], []
        for arm, gp in enumerate(self.gps):
            in_arm = t == arm
            mean = y[in_arm].double().mean()
            posteriors.append(gp.condition(features[in_arm], y[in_arm] - mean))
            means.append(mean)
        return posteriors, means

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        self._check(batch)
        train = batch["train_mask"]
        x, t, y = batch["x"][train], batch["t"][train], batch["y"][train]
        features = self.encoder(x)
        posteriors, _ = self.fit_arms(features, t, y)
        overlap = features.new_zeros((), dtype=torch.float64)
        for arm, (gp, posterior) in enumerate(zip(self.gps, posteriors, strict=True)):
            _, variance = gp.predict(posterior, features[t != arm])
            overlap = overlap + (variance / gp.scale).mean()
        likelihood = posteriors[0].negative_log_likelihood + posteriors[1].negative_log_likelihood
        reconstruction = ((self.decoder(features) - x) ** 2).mean()
        total = likelihood + self.variance_weight * overlap + self.reconstruction_weight * reconstruction
        return {"loss": total, "nll": likelihood, "overlap_variance": overlap, "reconstruction": reconstruction}

    def training_step(self, batch, batch_idx):
        losses = self.losses(batch)
        for name, value in losses.items():
            self.log(f"train/{name}", value.float(), on_step=False, on_epoch=True, prog_bar=name == "loss", batch_size=1)
        return losses["loss"]

    @torch.no_grad()
    def potential_outcomes(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted (mu0, mu1) of every unit of the batch, in the outcome's original units."""
        self._check(batch)
        train = batch["train_mask"]
        features = self.encoder(batch["x"])
        posteriors, means = self.fit_arms(features[train], batch["t"][train], batch["y"][train])
        outcomes = []
        for gp, posterior, mean in zip(self.gps, posteriors, means, strict=True):
            predicted, _ = gp.predict(posterior, features)
            outcomes.append((predicted + mean) * batch["y_std"] + batch["y_mean"])
        return outcomes[0], outcomes[1]

    def test_step(self, batch, batch_idx):
        mu0_hat, mu1_hat = self.potential_outcomes(batch)
        train = batch["train_mask"]
        metrics = {}
        for prefix, units in (("in_", train), ("out_", ~train)):
            metrics.update(effect_errors(mu0_hat[units].cpu(), mu1_hat[units].cpu(),
                                         batch["mu0"][units].cpu(), batch["mu1"][units].cpu(), prefix))
        for name, value in metrics.items():
            self.log(f"test/{name}", value, batch_size=1)
