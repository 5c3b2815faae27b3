"""Samples from the escort of a location family, as sets of n sorted draws with their parameter: the
data of the learned estimator (model.LearnedLEstimator). Seeded; nothing is downloaded."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from common.datamodule import ReproDataModule
from common.errors import ConfigError
from papers.csiszar_cramer_rao.families import make_family


class EscortSampleSets(ReproDataModule):
    """Each item: (the n draws of one sample from p_theta^(alpha), sorted; theta), theta uniform on
    [-theta_range, theta_range]. `family` is a location family's config entry (kind normal | student_t)."""

    item_seeds = False

    def __init__(self, *, family: dict, alpha: float, n: int, n_train: int, n_val: int, n_test: int,
                 theta_range: float = 1.0, batch_size: int = 512, seed: int = 0, **kwargs):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        self.family = make_family(dict(family), float(alpha))
        if not self.family.location:
            raise ConfigError(f"data.family must be a location family (normal or student_t), got {family.get('kind')!r}")
        self.family.estimator_variance_finite(float(alpha))
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ConfigError(f"data.n must be an integer >= 2, got {n!r}")
        for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{name} must be a positive integer, got {value!r}")
        self.alpha, self.n = float(alpha), n
        self.sizes = (n_train, n_val, n_test)
        self.theta_range = float(theta_range)

    def _split(self, count: int, stream: int) -> TensorDataset:
        rng = np.random.default_rng([self.seed, stream])
        theta = rng.uniform(-self.theta_range, self.theta_range, count)
        draws = self.family.sample_escort(0.0, self.alpha, (count, self.n), rng) + theta[:, None]
        return TensorDataset(torch.from_numpy(np.sort(draws, axis=1)), torch.from_numpy(theta))

    def build(self):
        return tuple(self._split(count, stream) for stream, count in enumerate(self.sizes))
