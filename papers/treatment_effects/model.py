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

Precisions (`precisions`): the public code fixes the weights' prior precision and the noise precision
(`fixed`); the evidence approximation re-estimates both per arm at every step (`evidence`, or one of
them); `fixed_then_evidence` trains with the fixed ones until the held-out error has not improved for
`patience` steps (or, with `switch_fraction`, once that share of the step budget is used, whichever
comes first), then goes back to the best weights, re-estimates both per arm by the evidence from
then on, and trains for another `patience` steps past the best held-out error; the weights kept are
those of the best held-out error over both phases, predicted with that phase's precisions.
`hyperprior_strength` > 0 puts Gamma hyperpriors on both precisions in the evidence (MAP-II, see gp.py).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from common.errors import ConfigError, DataError
from common.lightning import ReproModule
from papers.treatment_effects.gp import BayesianLinearRegression, GaussianProcess
from papers.treatment_effects.metrics import effect_scores, sqrt_pehe_keeping

KERNELS = ("linear", "rbf")
LIKELIHOODS = ("exact", "released")  # exact per-unit NLL; or the public code's data-fit term (no log-det)
STOPPING = ("held_out", "loss_plateau")  # our held-out factual error; or the public code's plateau rule
# alpha, beta as given (the public code); re-estimated per arm at every step by the evidence approximation:
# alpha only, beta only, or both; as given until the held-out error stalls, then both by the evidence
PRECISIONS = ("fixed", "evidence_prior", "evidence_noise", "evidence", "fixed_then_evidence")
EVIDENCE_MODES = {"fixed": "none", "evidence_prior": "prior", "evidence_noise": "noise", "evidence": "both",
                  "fixed_then_evidence": "none"}  # the regressors' mode at the start of training
KEEP = 0.9  # share of units kept when the most uncertain are dropped (the public tutorial drops 10 %)
# Early stopping skips the optimizer step on purpose by returning None from training_step.
warnings.filterwarnings("ignore", message=r".*`training_step` returned `None`")
# The batch stays where it is on CPU (Dklite.transfer_batch_to_device); Lightning says so on every run.
warnings.filterwarnings("ignore", message=r".*overridden `transfer_batch_to_device`")


def mlp(sizes: list[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_activation or index < len(sizes) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class BestWeights:
    """The weights of the step with the lowest held-out error so far; `update` says when `patience`
    steps have passed without a new best since the best step or the last `wait_from` (early
    stopping). Shared by DKLITE and the TARNet baseline."""

    def __init__(self, patience: int | None):
        self.patience = patience
        self.error = math.inf
        self.step = -1
        self.waiting_since = -1
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, module: nn.Module, error: float, step: int) -> bool:
        if error < self.error:
            self.error, self.step, self.waiting_since = error, step, step
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return self.patience is not None and step - self.waiting_since >= self.patience

    def wait_from(self, step: int) -> None:
        """Count the patience from `step` again, keeping the best error and weights as the bar to beat."""
        self.waiting_since = step

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
        learn_noise: bool = False,
        learn_prior: bool = False,
        precisions: str = "fixed",
        likelihood: str = "exact",
        patience: int | None = None,
        switch_fraction: float | None = None,
        hyperprior_strength: float = 0.0,
        stopping: str = "held_out",
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
        for name, value, allowed in (("likelihood", likelihood, LIKELIHOODS), ("stopping", stopping, STOPPING),
                                     ("precisions", precisions, PRECISIONS)):
            if value not in allowed:
                raise ConfigError(f"model.{name} must be one of {allowed}, got {value!r}")
        if likelihood == "released" and kernel != "linear":
            raise ConfigError("model.likelihood=released is the public code's linear-kernel term; use kernel=linear")
        if patience is not None and patience < 1:
            raise ConfigError(f"model.patience must be >= 1 or null (no early stopping), got {patience}")
        if switch_fraction is not None and not 0 < switch_fraction < 1:
            raise ConfigError(f"model.switch_fraction must be in (0, 1) or null, got {switch_fraction}")
        if precisions == "fixed_then_evidence" and (kernel != "linear" or patience is None or stopping != "held_out"):
            raise ConfigError(
                "model.precisions=fixed_then_evidence switches when the held-out error stalls: it needs "
                "kernel=linear, a model.patience and stopping=held_out (use precisions=fixed otherwise)"
            )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        widths = [hidden_dim] * (hidden_layers + 1)
        self.encoder = mlp([input_dim, *widths, feature_dim], final_activation=True)
        self.decoder = mlp([feature_dim, *widths, input_dim], final_activation=False)
        if kernel == "linear":
            regressors = [BayesianLinearRegression(feature_dim, prior_precision, noise_precision, learn_noise=learn_noise,
                                                   learn_prior=learn_prior, evidence=EVIDENCE_MODES[precisions],
                                                   hyperprior_strength=hyperprior_strength)
                          for _ in range(2)]
        else:
            regressors = [GaussianProcess(feature_dim, lengthscale=gp_lengthscale * feature_dim**0.5, noise=gp_noise)
                          for _ in range(2)]
        self.gps = nn.ModuleList(regressors)
        self.input_dim = input_dim
        self.variance_weight = variance_weight
        self.variance_normalised = variance_normalised
        self.reconstruction_weight = reconstruction_weight
        self.likelihood = likelihood
        self.precisions = precisions
        self.patience = patience
        self.switch_fraction = switch_fraction
        self.stopping = stopping
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
        """The training loss and its parts, on the units of `fit_mask` (all training units if absent);
        with held-out training units, also `validation_mse`: their factual squared error under the
        same weights and regressors (no gradient), which early stopping reads."""
        self._check(batch)
        train = batch["train_mask"]
        fit = batch.get("fit_mask", train)
        held_out = train & ~fit
        used = fit | held_out
        features_used = self.encoder(batch["x"][used])
        in_fit = fit[used]
        features, x = features_used[in_fit], batch["x"][fit]
        t, y = batch["t"][fit], batch["y"][fit]
        posteriors, means = self.fit_arms(features, t, y)
        overlap = features.new_zeros((), dtype=torch.float64)
        for arm, (gp, posterior) in enumerate(zip(self.gps, posteriors, strict=True)):
            other = features[t != arm]
            _, variance = gp.predict(posterior, other)
            if self.variance_normalised:
                variance = variance / gp.prior_variance(other, posterior).clamp_min(1e-12)
            overlap = overlap + variance.mean()
        if self.likelihood == "released":
            likelihood = posteriors[0].released_fit + posteriors[1].released_fit
        else:
            likelihood = posteriors[0].negative_log_likelihood + posteriors[1].negative_log_likelihood
        reconstruction = ((self.decoder(features) - x) ** 2).sum(1).mean()
        total = likelihood + self.variance_weight * overlap + self.reconstruction_weight * reconstruction
        parts = {"loss": total, "nll": likelihood, "overlap_variance": overlap, "reconstruction": reconstruction}
        if held_out.any():
            with torch.no_grad():
                z, t_held, y_held = features_used[~in_fit].detach(), batch["t"][held_out], batch["y"][held_out]
                predicted = torch.zeros(len(z), dtype=torch.float64, device=z.device)
                for arm, (gp, posterior, mean) in enumerate(zip(self.gps, posteriors, means, strict=True)):
                    rows = t_held == arm
                    predicted[rows] = gp.predict(posterior, z[rows])[0] + mean.detach()
                parts["validation_mse"] = ((predicted - y_held.double()) ** 2).mean()
        return parts

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

    @torch.no_grad()
    def effect_variance(self, batch: dict) -> torch.Tensor:
        """Posterior variance of mu1 - mu0 at every unit (the two arms' latent variances summed, as the
        public tutorial ranks units), regressors conditioned on all training units; standardised units."""
        self._check(batch)
        train = batch["train_mask"]
        features = self.encoder(batch["x"])
        posteriors, _ = self.fit_arms(features[train], batch["t"][train], batch["y"][train])
        return sum(gp.predict(posterior, features)[1] for gp, posterior in zip(self.gps, posteriors, strict=True))

    # ------------------------------------------------------------------ early stopping

    def _reset_early_stopping(self) -> None:
        self.best = BestWeights(self.patience)
        self.stopped_at: int | None = None
        self.switched_at: int | None = None  # fixed_then_evidence: the step the evidence took over
        self.loss_history: list[float] = []
        self._epoch_sums: dict[str, float] = {}
        self._epoch_steps = 0

    def _plateaued(self) -> bool:
        """The public code's stop rule, on the training losses so far: after 50 steps, stop once the mean
        absolute change of the last 10 differs from that of the 30 before by less than their std."""
        if len(self.loss_history) - 1 <= 50:
            return False
        changes = np.abs(np.diff(self.loss_history))
        recent, before = changes[-10:], changes[-40:-10]
        return bool(abs(recent.mean() - before.mean()) < before.std())

    def _use_evidence(self, on: bool) -> None:
        for gp in self.gps:
            gp.evidence = "both" if on else "none"

    def _switch_to_evidence(self) -> None:
        """fixed_then_evidence, once the fixed precisions' held-out error has stalled: back to its best
        weights, both precisions by the evidence from now on, patience counted afresh."""
        self.best.restore(self)
        self.switched_at = self.global_step
        self.best.wait_from(self.global_step)
        self._use_evidence(True)
        # Adam's moment estimates belong to the fixed precisions' loss, whose scale the evidence's noise
        # precision changes by orders of magnitude: start them afresh.
        self.optimizers().optimizer.state.clear()

    def _switch_due(self) -> bool:
        """fixed_then_evidence with `switch_fraction`: the fixed phase has used that share of the step budget."""
        if self.switch_fraction is None:
            return False
        budget = self.trainer.estimated_stepping_batches
        return math.isfinite(budget) and self.global_step >= self.switch_fraction * budget

    def _keep_best(self) -> None:
        """Restore the best weights, with the precisions of the phase they come from."""
        self.best.restore(self)
        if self.switched_at is not None:
            self._use_evidence(self.best.step >= self.switched_at)

    def on_train_start(self) -> None:
        if self.stopped_at is not None:  # a finished, early-stopped run that is being resumed
            self.trainer.should_stop = True

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        # One replication is one small full batch already in memory: on CPU there is nothing to move,
        # and Lightning's generic walk through the dict costs more than the step itself.
        if device.type == "cpu":
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def training_step(self, batch, batch_idx):
        if self.stopped_at is not None:
            return None
        if self.patience is not None and self.stopping == "held_out" and not bool(
                (batch["train_mask"] & ~batch.get("fit_mask", batch["train_mask"])).any()):
            raise ConfigError(
                f"model.patience={self.patience} needs held-out training units: set data.validation_fraction > 0 "
                "(or model.patience=null to train for trainer.max_epochs)"
            )
        losses = self.losses(batch)
        if self.patience is not None and self.stopping == "held_out":
            stalled = self.best.update(self, float(losses["validation_mse"]), self.global_step)
            if self.precisions == "fixed_then_evidence" and self.switched_at is None and (stalled or self._switch_due()):
                self._switch_to_evidence()
                return None  # no loss, so no update: the next step starts from the restored weights
            if stalled:
                self.stopped_at = self.global_step
                self._keep_best()
                self.trainer.should_stop = True
                return None  # no optimizer step: the restored best weights are the result
        # Per-epoch means, logged once at the epoch's end (Lightning's per-step logging cost more than the step).
        for name, value in losses.items():
            self._epoch_sums[name] = self._epoch_sums.get(name, 0.0) + float(value.detach())
        self._epoch_steps += 1
        if self.stopping == "loss_plateau":
            self.loss_history.append(float(losses["loss"].detach()))
            if self._plateaued():
                self.stopped_at = self.global_step + 1  # this step's update is still applied, as in the public code
                self.trainer.should_stop = True
        return losses["loss"]

    def on_train_epoch_end(self) -> None:
        # Runs before the checkpoint callback saves last.ckpt: the saved weights are the best ones.
        for name, total in self._epoch_sums.items():
            self.log("train/" + name, total / max(self._epoch_steps, 1), prog_bar=name == "loss", batch_size=1)
        self._epoch_sums, self._epoch_steps = {}, 0
        last_epoch = self.trainer.max_epochs is not None and self.current_epoch + 1 >= self.trainer.max_epochs
        held_out = self.patience is not None and self.stopping == "held_out"
        if held_out and last_epoch and self.stopped_at is None:
            self.stopped_at = self.global_step
            self._keep_best()
        if self.switched_at is not None:
            self.log("train/switched_at", float(self.switched_at), batch_size=1)
        if self.stopped_at is not None:
            self.log("train/stopped_at", float(self.stopped_at), batch_size=1)
            if held_out:
                self.log("train/best_step", float(self.best.step), batch_size=1)
                self.log("train/best_validation_mse", self.best.error, batch_size=1)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["dklite_early_stopping"] = {
            "best_error": self.best.error, "best_step": self.best.step, "waiting_since": self.best.waiting_since,
            "best_state": self.best.state, "stopped_at": self.stopped_at, "loss_history": list(self.loss_history),
            "switched_at": self.switched_at,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("dklite_early_stopping")
        if saved is not None:
            self.best.error, self.best.step = saved["best_error"], saved["best_step"]
            self.best.state, self.stopped_at = saved["best_state"], saved["stopped_at"]
            self.best.waiting_since = saved.get("waiting_since", self.best.step)
            self.loss_history = list(saved.get("loss_history", []))
            self.switched_at = saved.get("switched_at")
            if self.switched_at is not None:  # the regressors' mode is not a weight: set it as training left it
                self._use_evidence(self.stopped_at is None or self.best.step >= self.switched_at)

    # ------------------------------------------------------------------ test

    def test_step(self, batch, batch_idx):
        mu0_hat, mu1_hat = self.potential_outcomes(batch)
        effects = (mu1_hat - mu0_hat).cpu().numpy()
        true = (batch["mu1"] - batch["mu0"]).cpu().numpy() if "mu0" in batch else None
        randomised = batch["randomised"].cpu().numpy() if "randomised" in batch else None
        y = (batch["y"].double() * batch["y_std"] + batch["y_mean"]).cpu().numpy()
        train = batch["train_mask"].cpu().numpy()
        metrics = effect_scores(effects, batch["t"].cpu().numpy(), y, train, true_effects=true, randomised=randomised)
        if true is not None:
            variance = self.effect_variance(batch).cpu().numpy()
            for prefix, units in (("in_", train), ("out_", ~train)):
                metrics[f"{prefix}sqrt_pehe_keep90"] = sqrt_pehe_keeping(effects[units], true[units], variance[units], KEEP)
        for name, value in metrics.items():
            self.log(f"test/{name}", value, batch_size=1)
