"""A learned estimator: the best linear combination of order statistics (an L-estimator) that an
optimiser finds for the location of an escort sample. Its weights are symmetric and sum to one, so it
is location-equivariant and, the escort being symmetric, unbiased: the alpha-Cramer-Rao bound applies
to it. Training minimises the mean squared error; the test epoch measures the variance with its
standard error on fresh samples. An optimiser searching for the estimator of least variance is the
adversary of the inequality: the claims check that it does not get below the bound."""
from __future__ import annotations

import torch

from common.lightning import ReproModule


class LearnedLEstimator(ReproModule):
    def __init__(self, n: int, optimizer, scheduler=None, cpu_threads: int | None = 1):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.raw = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
        self._errors: dict[str, list[torch.Tensor]] = {}

    def weights(self) -> torch.Tensor:
        """Symmetric (w_i = w_(n+1-i)) weights summing to one; zero raw parameters give the mean."""
        symmetric = 0.5 * (self.raw + self.raw.flip(0))
        return 1.0 / self.raw.numel() + symmetric - symmetric.mean()

    def forward(self, ordered: torch.Tensor) -> torch.Tensor:
        return ordered @ self.weights()

    def training_step(self, batch, batch_idx):
        ordered, theta = batch
        loss = torch.mean((self(ordered) - theta) ** 2)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        ordered, theta = batch
        self.log("val/mse", torch.mean((self(ordered) - theta) ** 2))

    def on_test_epoch_start(self) -> None:
        self._errors = {"learned": [], "mean": [], "median": []}

    def test_step(self, batch, batch_idx):
        ordered, theta = batch
        n = ordered.shape[1]
        median = ordered[:, n // 2] if n % 2 else 0.5 * (ordered[:, n // 2 - 1] + ordered[:, n // 2])
        for name, value in (("learned", self(ordered)), ("mean", ordered.mean(1)), ("median", median)):
            self._errors[name].append((value - theta).detach())

    def on_test_epoch_end(self) -> None:
        errors = {name: torch.cat(parts) for name, parts in self._errors.items()}
        learned = errors["learned"]
        r = learned.numel()
        centred = learned - learned.mean()
        variance = centred.pow(2).sum() / (r - 1)
        m4 = centred.pow(4).mean()
        # the same test samples' mean and median: a paired comparison with the estimators of the grid
        best_simple = min(errors["mean"].var(), errors["median"].var())
        self.log_dict({
            "test/variance": variance, "test/variance_se": torch.sqrt(torch.clamp(m4 - variance**2, min=0) / r),
            "test/bias": learned.mean(), "test/bias_se": torch.sqrt(variance / r),
            "test/variance_over_best_simple": variance / best_simple,
            "test/weight_spread": self.weights().max() - self.weights().min(),
            "test/replications": torch.tensor(float(r), dtype=torch.float64),
        })
        self._errors = {}
