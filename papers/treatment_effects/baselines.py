"""What a user would pick instead of DKLITE, fit on the same training units of the same split.

T-learner: one regressor per arm. S-learner: one regressor on (x, t). Both with scikit-learn's
random forest. Library estimator: econml's CausalForestDML (a generalised random forest on
residualised outcomes), when econml is installed. Neural: TARNet (Shalit et al., 2017), DKLITE's
feature network with one regression head per arm instead of its Bayesian regressors, trained on
the factual squared error with the same held-out early stopping. Each returns estimated effects
for every unit.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from papers.treatment_effects.data import Replication, replication_batch, validation_units
from papers.treatment_effects.metrics import effect_scores
from papers.treatment_effects.model import BestWeights, mlp


def _forest(seed: int) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=200, min_samples_leaf=3, random_state=seed, n_jobs=1)


def t_learner(data: Replication, train: np.ndarray, seed: int = 0) -> np.ndarray:
    predictions = []
    for arm in (0, 1):
        units = train & (data.t == arm)
        predictions.append(_forest(seed).fit(data.x[units], data.y[units]).predict(data.x))
    return predictions[1] - predictions[0]


def s_learner(data: Replication, train: np.ndarray, seed: int = 0) -> np.ndarray:
    model = _forest(seed).fit(np.column_stack([data.x[train], data.t[train]]), data.y[train])
    n = len(data.t)
    return model.predict(np.column_stack([data.x, np.ones(n)])) - model.predict(np.column_stack([data.x, np.zeros(n)]))


def causal_forest(data: Replication, train: np.ndarray, seed: int = 0) -> np.ndarray:
    from econml.dml import CausalForestDML

    model = CausalForestDML(
        model_y=RandomForestRegressor(n_estimators=100, min_samples_leaf=5, random_state=seed, n_jobs=1),
        model_t=RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=seed, n_jobs=1),
        discrete_treatment=True, n_estimators=200, random_state=seed, n_jobs=1,
    )
    model.fit(data.y[train], data.t[train], X=data.x[train])
    return model.effect(data.x)


class Tarnet(torch.nn.Module):
    """Shared encoder (DKLITE's widths: x -> 50 -> 50 -> 50 -> 50, ELU) and one head per arm."""

    def __init__(self, input_dim: int, hidden_dim: int = 50, hidden_layers: int = 2, feature_dim: int = 50):
        super().__init__()
        self.encoder = mlp([input_dim, *[hidden_dim] * (hidden_layers + 1), feature_dim], final_activation=True)
        self.heads = torch.nn.ModuleList(mlp([feature_dim, hidden_dim, 1], final_activation=False) for _ in range(2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(x)
        return self.heads[0](features).squeeze(-1), self.heads[1](features).squeeze(-1)


def _factual_error(mu0: torch.Tensor, mu1: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((torch.where(t == 1, mu1, mu0) - y) ** 2).mean()


def tarnet(data: Replication, train: np.ndarray, seed: int = 0, max_steps: int = 2000, patience: int = 300,
           validation_fraction: float = 0.2, lr: float = 1e-3) -> np.ndarray:
    """Full-batch Adam on the fit units' factual error; the step with the lowest factual error on the
    held-out training units (20 % per arm) is kept, as for DKLITE."""
    held_out = validation_units(train, data.t, validation_fraction, seed=seed + 1)
    batch = replication_batch(data, train, held_out)
    x, t, y = batch["x"], batch["t"], batch["y"]
    fit, validation = batch["fit_mask"], torch.as_tensor(held_out)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Tarnet(data.x.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best = BestWeights(patience)
    for step in range(max_steps):
        if validation.any():
            with torch.no_grad():
                mu0, mu1 = model(x[validation])
                error = _factual_error(mu0, mu1, t[validation], y[validation]).item()
            if best.update(model, error, step):
                break
        optimizer.zero_grad()
        mu0, mu1 = model(x[fit])
        _factual_error(mu0, mu1, t[fit], y[fit]).backward()
        optimizer.step()
    best.restore(model)
    with torch.no_grad():
        mu0, mu1 = model(x)
    return ((mu1 - mu0).double() * batch["y_std"]).numpy()


def econml_available() -> bool:
    try:
        import econml  # noqa: F401
    except ImportError:
        return False
    return True


BASELINES = {"t_learner": t_learner, "s_learner": s_learner, "causal_forest": causal_forest, "tarnet": tarnet}


def score(effects: np.ndarray, data: Replication, train: np.ndarray) -> dict[str, float]:
    """In-sample (training units) and out-of-sample scores of estimated effects (see `effect_scores`)."""
    true = data.effects if data.has_potential_outcomes else None
    return effect_scores(effects, data.t, data.y, train, true_effects=true, randomised=data.randomised)
