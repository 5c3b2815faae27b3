"""What a user would pick instead of DKLITE, fit on the same training units of the same split.

T-learner: one regressor per arm. S-learner: one regressor on (x, t). Both with scikit-learn's
random forest, its leaf size and feature share tuned per fit by out-of-bag error. Library estimator: econml's CausalForestDML (a generalised random forest on
residualised outcomes), when econml is installed. Neural: TARNet (Shalit et al., 2017), DKLITE's
feature network with one regression head per arm instead of its Bayesian regressors, trained on
the factual squared error with the same held-out early stopping. catenets (when installed):
its torch TARNet, CFRNet (TARNet with its discrepancy penalty) and DragonNet. Each returns
estimated effects for every unit.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from papers.treatment_effects.data import Replication, replication_batch, validation_units
from papers.treatment_effects.metrics import effect_scores
from papers.treatment_effects.model import BestWeights, mlp

# Forest settings tried per fit; the one with the lowest out-of-bag squared error is kept. Out-of-bag
# error is the forest's own cross-validation estimate (each tree is scored on the units it did not
# draw), so tuning costs one fit per setting instead of one per setting and fold.
LEAF_SIZES = (1, 5, 20)
MAX_FEATURES = (1.0, 0.33)


def _forest(seed: int, leaf: int = 3, max_features: float = 1.0, oob: bool = False) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=200 if not oob else 60, min_samples_leaf=leaf, max_features=max_features,
                                 oob_score=oob, random_state=seed, n_jobs=1)


def tuned_forest(x: np.ndarray, y: np.ndarray, seed: int) -> RandomForestRegressor:
    """A random forest whose leaf size and feature share are picked by out-of-bag squared error."""
    best, best_error = None, np.inf
    for leaf in LEAF_SIZES:
        for share in MAX_FEATURES:
            model = _forest(seed, leaf, share, oob=True).fit(x, y)
            error = float(np.mean((model.oob_prediction_ - y) ** 2))
            if error < best_error:
                best, best_error = model, error
    return best


def t_learner(data: Replication, train: np.ndarray, seed: int = 0) -> np.ndarray:
    """One forest per arm, each tuned by out-of-bag error."""
    predictions = []
    for arm in (0, 1):
        units = train & (data.t == arm)
        predictions.append(tuned_forest(data.x[units], data.y[units], seed).predict(data.x))
    return predictions[1] - predictions[0]


def s_learner(data: Replication, train: np.ndarray, seed: int = 0) -> np.ndarray:
    """One forest on (x, t), tuned by out-of-bag error; the effect is f(x, 1) - f(x, 0)."""
    model = tuned_forest(np.column_stack([data.x[train], data.t[train]]), data.y[train], seed)
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


def catenets_available() -> bool:
    try:
        import catenets.models.torch  # noqa: F401
    except ImportError:
        return False
    return True


def _catenets(name: str, data: Replication, train: np.ndarray, seed: int) -> np.ndarray:
    """catenets' torch estimators (Curth & van der Schaar's library) as its own IHDP benchmark runs them:
    the library's defaults (at most 10,000 epochs of minibatch Adam 1e-4 with its early stopping on a 30 %
    validation split, patience 10), raw outcomes, and no batch norm. Its benchmark ran the jax estimators,
    which have none; the torch ones default to batch norm, under which the validation loss (computed in
    training mode) stops training after about 250 updates, too few at lr 1e-4 to move the heads' outputs to
    the effect (IHDP replication 1: estimated mean effect 0.4-0.8 for a true 3.9). catenets seeds nothing:
    torch's and numpy's global generators are seeded here and restored afterwards."""
    from catenets.models.torch import DragonNet, TARNet

    kwargs = {"seed": seed, "batch_norm": False}
    model = {"catenets_tarnet": lambda: TARNet(data.x.shape[1], **kwargs),
             "catenets_cfrnet": lambda: TARNet(data.x.shape[1], penalty_disc=1.0, **kwargs),
             "catenets_dragonnet": lambda: DragonNet(data.x.shape[1], **kwargs)}
    numpy_state = np.random.get_state()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            np.random.seed(seed)  # catenets shuffles its minibatches with numpy's global generator
            estimator = model[name]()
            estimator.fit(data.x[train].astype(np.float32), data.y[train].astype(np.float32), data.t[train])
            effects = estimator.predict(data.x.astype(np.float32))
    finally:
        np.random.set_state(numpy_state)
    return effects.detach().cpu().numpy().ravel().astype(float)


def catenets_tarnet(data, train, seed=0):
    return _catenets("catenets_tarnet", data, train, seed)


def catenets_cfrnet(data, train, seed=0):
    return _catenets("catenets_cfrnet", data, train, seed)


def catenets_dragonnet(data, train, seed=0):
    return _catenets("catenets_dragonnet", data, train, seed)


BASELINES = {"t_learner": t_learner, "s_learner": s_learner, "causal_forest": causal_forest, "tarnet": tarnet,
             "catenets_tarnet": catenets_tarnet, "catenets_cfrnet": catenets_cfrnet,
             "catenets_dragonnet": catenets_dragonnet}
AVAILABLE = {"causal_forest": econml_available, "catenets_tarnet": catenets_available,
             "catenets_cfrnet": catenets_available, "catenets_dragonnet": catenets_available}


def score(effects: np.ndarray, data: Replication, train: np.ndarray) -> dict[str, float]:
    """In-sample (training units) and out-of-sample scores of estimated effects (see `effect_scores`)."""
    true = data.effects if data.has_potential_outcomes else None
    return effect_scores(effects, data.t, data.y, train, true_effects=true, randomised=data.randomised)
