"""What a user would pick instead of DKLITE, fit on the same training units of the same split.

T-learner: one regressor per arm. S-learner: one regressor on (x, t). Both with scikit-learn's
random forest. Library estimator: econml's CausalForestDML (a generalised random forest on
residualised outcomes), when econml is installed. Each returns estimated effects for every unit.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from papers.treatment_effects.data import Replication
from papers.treatment_effects.metrics import effect_scores


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


def econml_available() -> bool:
    try:
        import econml  # noqa: F401
    except ImportError:
        return False
    return True


BASELINES = {"t_learner": t_learner, "s_learner": s_learner, "causal_forest": causal_forest}


def score(effects: np.ndarray, data: Replication, train: np.ndarray) -> dict[str, float]:
    """In-sample (training units) and out-of-sample scores of estimated effects (see `effect_scores`)."""
    true = data.effects if data.has_potential_outcomes else None
    return effect_scores(effects, data.t, data.y, train, true_effects=true, randomised=data.randomised)
