"""Seconds per IHDP-sized replication (747 units, 25 covariates, 139 treated) for DKLITE and baselines.

DKLITE (linear kernel, the default; and `kernel=rbf`): 300 full-batch Adam steps plus prediction,
in a plain loop (the Lightning loop adds its own start-up and per-step overhead; an IHDP run takes
up to 2,000 steps, fewer when early stopping ends it). Baselines: fit and predict.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from papers.treatment_effects.baselines import BASELINES, econml_available
from papers.treatment_effects.data import Replication, replication_batch, split_units
from papers.treatment_effects.model import Dklite

IHDP_UNITS, IHDP_COVARIATES, IHDP_TREATED, IHDP_STEPS = 747, 25, 139, 300


def ihdp_shaped_replication(seed: int = 0) -> Replication:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(IHDP_UNITS, IHDP_COVARIATES))
    t = np.zeros(IHDP_UNITS, dtype=np.int64)
    t[rng.choice(IHDP_UNITS, IHDP_TREATED, replace=False)] = 1
    mu0 = np.sin(x[:, 0]) + x[:, 1]
    mu1 = mu0 + 4 + x[:, 2]
    return Replication("bench", x, t, np.where(t == 1, mu1, mu0) + rng.normal(size=IHDP_UNITS), mu0, mu1)


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run() -> list[tuple[str, float, str]]:
    torch.set_num_threads(1)
    data = ihdp_shaped_replication()
    train = split_units(IHDP_UNITS, 0.1, seed=0)
    batch = replication_batch(data, train)

    def fit_dklite(kernel: str = "linear"):
        torch.manual_seed(0)
        model = Dklite(optimizer=torch.optim.Adam, input_dim=IHDP_COVARIATES, kernel=kernel)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(IHDP_STEPS):
            optimizer.zero_grad()
            model.losses(batch)["loss"].backward()
            optimizer.step()
        model.potential_outcomes(batch)

    results = [("treatment_effects DKLITE linear kernel, IHDP-sized, 300 steps", _seconds(fit_dklite), "s"),
               ("treatment_effects DKLITE RBF kernel, IHDP-sized, 300 steps", _seconds(lambda: fit_dklite("rbf")), "s")]
    for name, method in BASELINES.items():
        if name == "causal_forest" and not econml_available():
            continue
        results.append((f"treatment_effects {name}, one IHDP-sized replication", _seconds(lambda m=method: m(data, train)), "s"))
    return results
