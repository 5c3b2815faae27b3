"""Model managers: train a fresh model on the labelled set, predict on any points with uncertainty.

- `LightningMCDropout`: a network trained by Lightning (Adam, early stopping on the validation loss),
  whose uncertainty is MC dropout (`mc_draws` stochastic passes; 0 = one deterministic pass, no
  uncertainty). The MNIST ConvNet is the BatchBALD / PyRelationAL one (conv 32 -> conv 64 -> fc 128);
  dropout sits in the fully connected head only, so the convolutional features are computed once per
  prediction and the draws re-run the head (a CPU saving, stated in the README).
- `ForestManager`: scikit-learn's random forest; its trees are the ensemble (10 estimators).
- `GPManager`: scikit-learn's Gaussian-process regressor; `draws` posterior samples act as the ensemble.
"""
from __future__ import annotations

import functools
import logging
import warnings

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from common.errors import ConfigError
from common.lightning import ReproModule
from papers.active_learning.strategies import Prediction

ARCHITECTURES = ("convnet", "mlp")


class MCDropoutNet(ReproModule):
    """A classifier with a deterministic trunk and a dropout head (MC dropout at prediction)."""

    def __init__(self, architecture: str = "convnet", in_features: int = 784, classes: int = 10, hidden: int = 128,
                 dropout: float = 0.5, lr: float = 1e-3):
        super().__init__(functools.partial(torch.optim.Adam, lr=lr))
        if architecture not in ARCHITECTURES:
            raise ConfigError(f"model.architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"model.dropout must lie in [0, 1), got {dropout}")
        self.save_hyperparameters()
        if architecture == "convnet":
            self.trunk = nn.Sequential(
                nn.Conv2d(1, 32, 5), nn.MaxPool2d(2), nn.ReLU(),
                nn.Conv2d(32, 64, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
            )
            width = 64 * 4 * 4
        else:
            self.trunk = nn.Identity()
            width = in_features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, classes))

    def forward(self, x):
        return self.head(self.trunk(x))

    def _loss(self, batch):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def training_step(self, batch, batch_idx):
        return self._loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch), prog_bar=False, batch_size=len(batch[0]))

    @torch.no_grad()
    def mc_probs(self, x: torch.Tensor, draws: int, batch: int = 256) -> np.ndarray:
        """(draws, N, K) softmax outputs with the head's dropout on (or (1, N, K) with draws = 0)."""
        self.eval()
        features = torch.cat([self.trunk(x[i:i + batch]) for i in range(0, len(x), batch)])
        if draws == 0:
            return F.softmax(self.head(features), -1).numpy()[None]
        self.head.train()
        out = np.stack([F.softmax(self.head(features), -1).numpy() for _ in range(draws)])
        self.head.eval()
        return out


class _Quiet:
    """Silences Lightning's per-fit banners (hundreds of fits per run)."""

    def __enter__(self):
        self.loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)
        self.warn = warnings.catch_warnings()
        self.warn.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        for lg, level in zip(self.loggers, self.levels, strict=True):
            lg.setLevel(level)
        self.warn.__exit__(*exc)


class LightningMCDropout:
    task = "classification"

    def __init__(self, architecture: str = "convnet", in_features: int = 784, classes: int = 10, hidden: int = 128,
                 dropout: float = 0.5, lr: float = 1e-3, batch_size: int = 64, max_epochs: int = 100,
                 patience: int = 3, mc_draws: int = 10, image_shape: tuple | None = (1, 28, 28)):
        if mc_draws < 0 or mc_draws == 1:
            raise ConfigError(f"model.mc_draws must be 0 (no uncertainty) or >= 2, got {mc_draws}")
        if max_epochs < 1 or patience < 1 or batch_size < 1:
            raise ConfigError("model.max_epochs, model.patience and model.batch_size must be >= 1")
        self.net_kwargs = dict(architecture=architecture, in_features=in_features, classes=classes, hidden=hidden,
                               dropout=dropout, lr=lr)
        self.batch_size, self.max_epochs, self.patience, self.mc_draws = batch_size, max_epochs, patience, mc_draws
        self.image_shape = tuple(image_shape) if architecture == "convnet" else None
        self.net: MCDropoutNet | None = None
        self.epochs = 0

    @property
    def gives_uncertainty(self) -> bool:
        return self.mc_draws > 0

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        return t.reshape(len(t), *self.image_shape) if self.image_shape else t.reshape(len(t), -1)

    def fit(self, x, y, x_val, y_val, seed: int) -> None:
        torch.manual_seed(seed)
        self.net = MCDropoutNet(**self.net_kwargs)
        generator = torch.Generator().manual_seed(seed)
        train = DataLoader(TensorDataset(self._tensor(x), torch.as_tensor(y, dtype=torch.long)),
                           batch_size=self.batch_size, shuffle=True, generator=generator)
        has_val = x_val is not None and len(x_val) > 0
        val = (DataLoader(TensorDataset(self._tensor(x_val), torch.as_tensor(y_val, dtype=torch.long)),
                          batch_size=4096) if has_val else None)
        callbacks = [pl.callbacks.EarlyStopping("val_loss", patience=self.patience)] if has_val else []
        with _Quiet():
            trainer = pl.Trainer(max_epochs=self.max_epochs, accelerator="cpu", devices=1, logger=False,
                                 enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                 num_sanity_val_steps=0, callbacks=callbacks, deterministic=True)
            trainer.fit(self.net, train, val)
        torch.use_deterministic_algorithms(False)
        self.epochs = trainer.current_epoch

    def predict(self, x) -> Prediction:
        draws = self.net.mc_probs(self._tensor(x), self.mc_draws)
        return Prediction(probs=draws.mean(0), draws=draws if self.mc_draws else None)

    def score(self, x, y) -> float:
        """Test accuracy of the deterministic network (dropout off)."""
        probs = self.net.mc_probs(self._tensor(x), 0)[0]
        return float((probs.argmax(1) == np.asarray(y)).mean())


class ForestManager:
    """Random forest classifier (10 trees, no bootstrap); balanced accuracy; the trees are the draws."""

    task = "classification"

    def __init__(self, classes: int = 2, n_estimators: int = 10, bootstrap: bool = False):
        self.classes, self.n_estimators, self.bootstrap = classes, n_estimators, bootstrap
        self.forest = None
        self.gives_uncertainty = n_estimators > 1

    def fit(self, x, y, x_val, y_val, seed: int) -> None:
        from sklearn.ensemble import RandomForestClassifier

        self.forest = RandomForestClassifier(n_estimators=self.n_estimators, bootstrap=self.bootstrap,
                                             random_state=seed, n_jobs=1).fit(x, y)

    def _full(self, probs: np.ndarray) -> np.ndarray:
        out = np.zeros((*probs.shape[:-1], self.classes))
        out[..., self.forest.classes_.astype(int)] = probs
        return out

    def predict(self, x) -> Prediction:
        draws = np.stack([self._full(tree.predict_proba(x)) for tree in self.forest.estimators_])
        return Prediction(probs=draws.mean(0), draws=draws)

    def predict_proba(self, x) -> np.ndarray:
        return self._full(self.forest.predict_proba(x))

    def score(self, x, y) -> float:
        from sklearn.metrics import balanced_accuracy_score

        return float(balanced_accuracy_score(y, self.predict_proba(x).argmax(1)))


class GPManager:
    """Gaussian-process regressor (constant x isotropic RBF + white noise, normalised targets); MSE on test;
    `draws` posterior samples of the latent function are the ensemble."""

    task = "regression"

    def __init__(self, draws: int = 10):
        if draws < 0 or draws == 1:
            raise ConfigError(f"model.draws must be 0 (no uncertainty) or >= 2, got {draws}")
        self.draws = draws
        self.gives_uncertainty = draws > 0
        self.gp = None
        self.seed = 0

    def fit(self, x, y, x_val, y_val, seed: int) -> None:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(3.0, (1e-1, 1e3)) + WhiteKernel(0.5, (1e-3, 10))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=0).fit(x, y)
        self.seed = seed

    def predict(self, x) -> Prediction:
        mean = self.gp.predict(x)
        if not self.draws:
            return Prediction(mean=mean)
        draws = self.gp.sample_y(x, self.draws, random_state=self.seed).T
        return Prediction(draws=draws, mean=mean)

    def score(self, x, y) -> float:
        return float(np.mean((self.gp.predict(x) - np.asarray(y)) ** 2))


MANAGERS = {"lightning_mc_dropout": LightningMCDropout, "random_forest": ForestManager, "gaussian_process": GPManager}


def make_model(spec: dict):
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in MANAGERS:
        raise ConfigError(f"model.kind must be one of {list(MANAGERS)}, got {kind!r}")
    try:
        return MANAGERS[kind](**spec)
    except TypeError as err:
        raise ConfigError(f"model ({kind}): {err}") from err
