"""DKLITE (Zhang, Bellot, van der Schaar, AISTATS 2020): deep kernel learning for treatment effects.

A neural feature map z = phi(x), shared by both arms, feeds one Bayesian regression per arm (control
units condition regressor 0, treated units regressor 1). By default (`kernel=linear`, as in the
paper's public code) each arm is a Bayesian linear regression on the features, f_t(x) = w_t.phi(x)
with a fixed Gaussian prior on w_t and fixed noise: a GP with a linear kernel on phi(x). With
`kernel=rbf` each arm is an exact GP with an ARD RBF kernel and learned hyperparameters. Training
minimises, over the network (and the RBF hyperparameters),

    NLL_0 + NLL_1                      (negative log marginal likelihood per unit of each arm)
  + variance_weight * (mean posterior variance of f_0 at treated units' features
                       + mean posterior variance of f_1 at control units' features)
  + reconstruction_weight * mean over units of |x - psi(phi(x))|^2 (decoder psi: keeps phi
                                                                  close to invertible)

The variance term pulls each arm's representation into the region the other arm's regressor has
seen, i.e. towards overlap, without the invariance a balancing penalty would force. Each variance
is divided by the prior variance at the same point (the fraction of prior uncertainty left, in
[0, 1]): with the linear kernel the raw variance z'A^-1 z grows with |z|^2, so unnormalised it
would mostly shrink the features against the fixed prior; with the RBF kernel it keeps the learned
signal scale from satisfying the term.

Training length: the regressors condition on the training units' `fit_mask`; the factual squared
error on the held-out training units (`train_mask & ~fit_mask`) is measured before every step, and
training stops `patience` steps after its best value, with the weights of the best step restored
(counterfactual outcomes are never looked at). Prediction conditions on all training units. The
individual effect is the difference of the two posterior means.
"""
from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from common.errors import ConfigError, DataError
from common.lightning import ReproModule
from papers.treatment_effects.gp import BayesianLinearRegression, GaussianProcess
from papers.treatment_effects.metrics import effect_scores

KERNELS = ("linear", "rbf")
# Early stopping skips the optimizer step on purpose by returning None from training_step.
warnings.filterwarnings("ignore", message=r".*`training_step` returned `None`")


def mlp(sizes: list[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_activation or index < len(sizes) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class BestWeights:
    """The weights of the step with the lowest held-out error so far; `update` says when `patience`
    steps have passed without a new best (early stopping). Shared by DKLITE and the TARNet baseline."""

    def __init__(self, patience: int | None):
        self.patience = patience
        self.error = math.inf
        self.step = -1
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, module: nn.Module, error: float, step: int) -> bool:
        if error < self.error:
            self.error, self.step = error, step
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return self.patience is not None and step - self.step >= self.patience

    def restore(self, module: nn.Module) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


class Dklite(ReproModule):
    def __init__(
        self,
        optimizer,
        input_dim: int,
        scheduler=None,
        hidden_dim: int = 50,
        feature_dim: int = 50,
        hidden_layers: int = 2,
        kernel: str = "linear",
        variance_weight: float = 1.0,
        variance_normalised: bool = True,
        reconstruction_weight: float = 1.0,
        prior_precision: float = 1000.0,
        noise_precision: float = 1.0,
        gp_lengthscale: float = 1.0,
        gp_noise: float = 0.1,
        patience: int | None = None,
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
        if kernel not in KERNELS:
            raise ConfigError(f"model.kernel must be one of {KERNELS}, got {kernel!r}")
        for name, value in (("prior_precision", prior_precision), ("noise_precision", noise_precision),
                            ("gp_lengthscale", gp_lengthscale), ("gp_noise", gp_noise)):
            if not value > 0:
                raise ConfigError(f"model.{name} must be > 0, got {value}")
        if patience is not None and patience < 1:
            raise ConfigError(f"model.patience must be >= 1 or null (no early stopping), got {patience}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        widths = [hidden_dim] * (hidden_layers + 1)
        self.encoder = mlp([input_dim, *widths, feature_dim], final_activation=True)
        self.decoder = mlp([feature_dim, *widths, input_dim], final_activation=False)
        if kernel == "linear":
            regressors = [BayesianLinearRegression(feature_dim, prior_precision, noise_precision) for _ in range(2)]
        else:
            regressors = [GaussianProcess(feature_dim, lengthscale=gp_lengthscale * feature_dim**0.5, noise=gp_noise)
                          for _ in range(2)]
        self.gps = nn.ModuleList(regressors)
        self.input_dim = input_dim
        self.variance_weight = variance_weight
        self.variance_normalised = variance_normalised
        self.reconstruction_weight = reconstruction_weight
        self.patience = patience
        self._reset_early_stopping()

    # ------------------------------------------------------------------ model

    def _check(self, batch: dict) -> None:
        if batch["x"].shape[1] != self.input_dim:
            raise DataError(f"the data has {batch['x'].shape[1]} covariates but model.input_dim={self.input_dim}")

    def fit_arms(self, features: torch.Tensor, t: torch.Tensor, y: torch.Tensor):
        """Condition each arm's regressor on its units (outcomes centred on the arm's mean)."""
        posteriors, means = [], []
        for arm, gp in enumerate(self.gps):
            in_arm = t == arm
            mean = y[in_arm].double().mean()
            posteriors.append(gp.condition(features[in_arm], y[in_arm] - mean))
            means.append(mean)
        return posteriors, means

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """The training loss and its parts, on the units of `fit_mask` (all training units if absent)."""
        self._check(batch)
        fit = batch.get("fit_mask", batch["train_mask"])
        x, t, y = batch["x"][fit], batch["t"][fit], batch["y"][fit]
        features = self.encoder(x)
        posteriors, _ = self.fit_arms(features, t, y)
        overlap = features.new_zeros((), dtype=torch.float64)
        for arm, (gp, posterior) in enumerate(zip(self.gps, posteriors, strict=True)):
            other = features[t != arm]
            _, variance = gp.predict(posterior, other)
            if self.variance_normalised:
                variance = variance / gp.prior_variance(other).clamp_min(1e-12)
            overlap = overlap + variance.mean()
        likelihood = posteriors[0].negative_log_likelihood + posteriors[1].negative_log_likelihood
        reconstruction = ((self.decoder(features) - x) ** 2).sum(1).mean()
        total = likelihood + self.variance_weight * overlap + self.reconstruction_weight * reconstruction
        return {"loss": total, "nll": likelihood, "overlap_variance": overlap, "reconstruction": reconstruction}

    @torch.no_grad()
    def factual_predictions(self, batch: dict, condition_on: torch.Tensor) -> torch.Tensor:
        """Predicted factual outcome (standardised units) of every unit, regressors conditioned on `condition_on`."""
        features = self.encoder(batch["x"])
        posteriors, means = self.fit_arms(features[condition_on], batch["t"][condition_on], batch["y"][condition_on])
        predictions = torch.zeros(len(features), dtype=torch.float64, device=features.device)
        for arm, (gp, posterior, mean) in enumerate(zip(self.gps, posteriors, means, strict=True)):
            in_arm = batch["t"] == arm
            predictions[in_arm] = gp.predict(posterior, features[in_arm])[0] + mean
        return predictions

    def validation_error(self, batch: dict) -> torch.Tensor:
        """Mean squared factual error on the held-out training units, the regressors fit on `fit_mask`."""
        held_out = batch["train_mask"] & ~batch["fit_mask"]
        predictions = self.factual_predictions(batch, batch["fit_mask"])
        return ((predictions[held_out] - batch["y"][held_out].double()) ** 2).mean()

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

    # ------------------------------------------------------------------ early stopping

    def _reset_early_stopping(self) -> None:
        self.best = BestWeights(self.patience)
        self.stopped_at: int | None = None

    def _early_stopping_step(self, batch: dict) -> bool:
        """Record the held-out factual error of the current weights; True when training should stop."""
        if self.patience is None:
            return False
        if "fit_mask" not in batch or bool((batch["fit_mask"] == batch["train_mask"]).all()):
            raise ConfigError(
                f"model.patience={self.patience} needs held-out training units: set data.validation_fraction > 0 "
                "(or model.patience=null to train for trainer.max_epochs)"
            )
        error = float(self.validation_error(batch))
        self.log("train/validation_mse", error, on_step=False, on_epoch=True, batch_size=1)
        return self.best.update(self, error, self.global_step)

    def on_train_start(self) -> None:
        if self.stopped_at is not None:  # a finished, early-stopped run that is being resumed
            self.trainer.should_stop = True

    def training_step(self, batch, batch_idx):
        if self.stopped_at is not None:
            return None
        if self._early_stopping_step(batch):
            self.stopped_at = self.global_step
            self.best.restore(self)
            self.trainer.should_stop = True
            return None  # no optimizer step: the restored best weights are the result
        losses = self.losses(batch)
        for name, value in losses.items():
            self.log(f"train/{name}", value.float(), on_step=False, on_epoch=True, prog_bar=name == "loss", batch_size=1)
        return losses["loss"]

    def on_train_epoch_end(self) -> None:
        # Runs before the checkpoint callback saves last.ckpt: the saved weights are the best ones.
        last_epoch = self.trainer.max_epochs is not None and self.current_epoch + 1 >= self.trainer.max_epochs
        if self.patience is not None and last_epoch and self.stopped_at is None:
            self.stopped_at = self.global_step
            self.best.restore(self)
        if self.stopped_at is not None:
            self.log("train/best_step", float(self.best.step), batch_size=1)
            self.log("train/best_validation_mse", self.best.error, batch_size=1)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["dklite_early_stopping"] = {
            "best_error": self.best.error, "best_step": self.best.step,
            "best_state": self.best.state, "stopped_at": self.stopped_at,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("dklite_early_stopping")
        if saved is not None:
            self.best.error, self.best.step = saved["best_error"], saved["best_step"]
            self.best.state, self.stopped_at = saved["best_state"], saved["stopped_at"]

    # ------------------------------------------------------------------ test

    def test_step(self, batch, batch_idx):
        mu0_hat, mu1_hat = self.potential_outcomes(batch)
        effects = (mu1_hat - mu0_hat).cpu().numpy()
        true = (batch["mu1"] - batch["mu0"]).cpu().numpy() if "mu0" in batch else None
        randomised = batch["randomised"].cpu().numpy() if "randomised" in batch else None
        y = (batch["y"].double() * batch["y_std"] + batch["y_mean"]).cpu().numpy()
        metrics = effect_scores(effects, batch["t"].cpu().numpy(), y, batch["train_mask"].cpu().numpy(),
                                true_effects=true, randomised=randomised)
        for name, value in metrics.items():
            self.log(f"test/{name}", value, batch_size=1)
