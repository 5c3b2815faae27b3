"""The paper's decoder: a sparse GP-LVM (GPyTorch kernel and likelihood, trained with Lightning).

Model: y_d = f_d(x) + noise for the D outputs, f_d ~ GP(0, k) independent over d with one scaled ARD
Matérn-5/2 kernel k, Gaussian noise sigma^2; latent codes x_n (n x q) are free parameters (MAP with a
N(0, I) prior, initialised by PCA), and the GP is sparse with M inducing inputs Z: the loss is Titsias'
(2009) collapsed bound (SGPR),

    log p(Y) >= sum_d log N(y_d | 0, Q_ff + sigma^2 I) - D / (2 sigma^2) tr(K_ff - Q_ff),
    Q_ff = K_fu K_uu^-1 K_uf,

computed full batch through Cholesky factors (GPflow's SGPR algebra). Its posterior at a latent
point x has, with Sigma_u = (K_uu + sigma^-2 K_uf K_fu)^-1 and A = sigma^-2 Sigma_u K_uf Y (M x D),
mean K_xu A and covariance k(x, x') - K_xu K_uu^-1 K_ux' + K_xu Sigma_u K_ux'. Differentiating both
sides, the Jacobian J (D x q) has rows that are Gaussian, independent over d, with

    E[J] = A^T G,   Cov = d2k(x, x')/dx dx'|_{x=x'} - G^T K_uu^-1 G + G^T Sigma_u G,   G = dK_ux/dx (M x q),

one covariance shared over the D outputs: the setting of the Finsler metric (metrics.py). For the
scaled Matérn-5/2 the first term is (5 s / 3) diag(1 / l_i^2). G is written out analytically (the
tests check it against autograd through GPyTorch's kernel): torch.func transforms through GPyTorch
kernels returned wrong Jacobians silently, and the geodesic solver needs G differentiable in x.

`stochastic=False` keeps the posterior mean and sets Cov = 0: the mechanism-off setting.
"""
from __future__ import annotations

import copy
import math

import gpytorch
import torch
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import nn

from common.errors import ConfigError
from common.lightning import ReproModule
from papers.finsler_latent_metric.metrics import DTYPE


def matern52_gradient(x: torch.Tensor, inducing: torch.Tensor, lengthscale: torch.Tensor,
                      outputscale: torch.Tensor) -> torch.Tensor:
    """G[n, m, :] = d k(x_n, z_m) / d x_n for k = s (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r), r = |(x - z) / l|."""
    scaled = (x[:, None, :] - inducing[None]) / lengthscale  # (n, M, q)
    # clamped so that the gradient of r is finite where x sits on an inducing point (the value is 0 there)
    r = torch.sqrt((scaled**2).sum(-1).clamp_min(1e-30))
    radial = -(5.0 / 3.0) * outputscale * (1 + math.sqrt(5.0) * r) * torch.exp(-math.sqrt(5.0) * r)
    return radial[..., None] * scaled / lengthscale


class SparseGPLVM(ReproModule):
    def __init__(
        self, data_dim: int, latent_dim: int = 2, inducing_points: int = 64, stochastic: bool = True,
        jitter: float = 1e-6, init_noise: float = 0.1, projection_iterations: int = 100,
        lengthscale_bounds: tuple[float, float] | None = None, outputscale_min: float | None = None, optimizer=None,
        scheduler=None, cpu_threads: int | None = 1,
    ):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        for name, value in (("data_dim", data_dim), ("latent_dim", latent_dim), ("inducing_points", inducing_points),
                            ("projection_iterations", projection_iterations)):
            if int(value) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {value}")
        if latent_dim > data_dim:
            raise ConfigError(f"model.latent_dim ({latent_dim}) must be <= model.data_dim ({data_dim}) for the PCA start")
        if not jitter > 0 or not init_noise > 0:
            raise ConfigError(f"model.jitter and model.init_noise must be > 0, got {jitter} and {init_noise}")
        if lengthscale_bounds is not None:
            if len(lengthscale_bounds) != 2 or not 0 < float(lengthscale_bounds[0]) <= float(lengthscale_bounds[1]):
                raise ConfigError(f"model.lengthscale_bounds must be [low, high] with 0 < low <= high, got {lengthscale_bounds}")
            lengthscale_bounds = [float(b) for b in lengthscale_bounds]
        if outputscale_min is not None and not outputscale_min > 0:
            raise ConfigError(f"model.outputscale_min must be > 0 (or null), got {outputscale_min}")
        lr = getattr(optimizer, "keywords", {}).get("lr")
        if lr is not None and not lr > 0:
            raise ConfigError(f"model.optimizer.lr must be > 0, got {lr}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        # float64 throughout: the Cholesky factors of K_uu and of I + V V^T need it
        self.kernel = gpytorch.kernels.ScaleKernel(
            gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=latent_dim)).to(DTYPE)
        self.likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(1e-6)).to(DTYPE)
        self.likelihood.noise = init_noise
        self.inducing = nn.Parameter(torch.zeros(inducing_points, latent_dim, dtype=DTYPE))
        # Filled in `setup` from the training data (sizes unknown until then); saved with the weights.
        self.latent = nn.Parameter(torch.zeros(0, latent_dim, dtype=DTYPE))
        self.register_buffer("train_y", torch.zeros(0, data_dim, dtype=DTYPE))
        self.register_buffer("train_index", torch.zeros(0, dtype=torch.long))

    # ---------------------------------------------------------------- set-up and loading
    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit" and len(self.latent) == 0:
            datamodule = self.trainer.datamodule
            self.initialise(datamodule.x_all[datamodule.train_idx], datamodule.train_idx)

    @torch.no_grad()
    def initialise(self, y: torch.Tensor, index: torch.Tensor) -> None:
        """PCA codes (unit variance per axis, matching the N(0, I) prior); Z a seeded subset of them."""
        y = torch.as_tensor(y, dtype=DTYPE)
        h = self.hparams
        if y.ndim != 2 or y.shape[1] != h.data_dim:
            raise ConfigError(f"model.data_dim={h.data_dim} but the data have shape {tuple(y.shape)}")
        if len(y) < h.inducing_points:
            raise ConfigError(f"model.inducing_points={h.inducing_points} exceeds the {len(y)} training points")
        centred = y - y.mean(0)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        codes = centred @ vh[: h.latent_dim].T
        codes = codes / codes.std(0).clamp_min(1e-12)
        self.latent = nn.Parameter(codes)
        self.train_y = y.clone()
        self.train_index = torch.as_tensor(index, dtype=torch.long).clone()
        pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[: h.inducing_points]
        self.inducing.copy_(codes[pick])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the training-set sized tensors are empty until `setup`: take their shape from the checkpoint
        for name in ("latent", "train_y", "train_index"):
            saved = state_dict.get(prefix + name)
            if saved is not None and saved.shape != getattr(self, name).shape:
                if name == "latent":
                    self.latent = nn.Parameter(torch.zeros_like(saved, dtype=DTYPE))
                else:
                    setattr(self, name, torch.zeros_like(saved))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ---------------------------------------------------------------- sparse GP algebra
    @property
    def noise(self) -> torch.Tensor:
        return self.likelihood.noise.squeeze()

    def _factors(self, codes: torch.Tensor, y: torch.Tensor):
        """Luu = chol(K_uu + jitter s I), V = Luu^-1 K_uf / sigma, LB = chol(I + V V^T), c = LB^-1 V Y / sigma."""
        outputscale = self.kernel.outputscale
        kuu = self.kernel(self.inducing).to_dense()
        eye = torch.eye(len(kuu), dtype=DTYPE, device=kuu.device)
        luu = psd_safe_cholesky(kuu + self.hparams.jitter * outputscale * eye)
        kuf = self.kernel(self.inducing, codes).to_dense()
        sigma = self.noise.sqrt()
        v = torch.linalg.solve_triangular(luu, kuf, upper=False) / sigma
        lb = psd_safe_cholesky(eye + v @ v.T)
        c = torch.linalg.solve_triangular(lb, v @ y, upper=False) / sigma
        return luu, v, lb, c

    def collapsed_bound(self, codes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Titsias' lower bound on log p(Y | X), summed over the n points and D outputs."""
        n, D = y.shape
        luu, v, lb, c = self._factors(codes, y)
        noise = self.noise
        fit = (-0.5 * n * D * math.log(2 * math.pi) - D * torch.log(torch.diagonal(lb)).sum()
               - 0.5 * n * D * torch.log(noise) - 0.5 * (y**2).sum() / noise + 0.5 * (c**2).sum())
        # tr(K_ff - Q_ff) / sigma^2 = n s / sigma^2 - ||V||_F^2
        trace = n * self.kernel.outputscale / noise - (v**2).sum()
        return fit - 0.5 * D * trace

    def posterior_weights(self, codes: torch.Tensor, y: torch.Tensor):
        """(A = Luu^-T LB^-T c, so that the posterior mean is K_xu A; Luu; LB)."""
        luu, _, lb, c = self._factors(codes, y)
        alpha = torch.linalg.solve_triangular(luu.T, torch.linalg.solve_triangular(lb.T, c, upper=True), upper=True)
        return alpha, luu, lb

    def loss(self, codes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Negative (bound + log N(codes | 0, I)) per data entry."""
        prior = -0.5 * (codes**2).sum() - 0.5 * codes.numel() * math.log(2 * math.pi)
        return -(self.collapsed_bound(codes, y) + prior) / y.numel()

    def project(self, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Codes of new points: argmin_x |y - K_xu A|^2 by L-BFGS, from the code of the nearest training point."""
        y = torch.as_tensor(y, dtype=DTYPE)
        with torch.no_grad():
            start = self.latent[torch.cdist(y, self.train_y).argmin(1)]
        codes = start.detach().clone().requires_grad_(True)
        alpha = alpha.detach()
        optimiser = torch.optim.LBFGS([codes], lr=1.0, max_iter=self.hparams.projection_iterations,
                                      line_search_fn="strong_wolfe")

        def closure():
            optimiser.zero_grad()
            error = ((self.kernel(codes, self.inducing).to_dense() @ alpha - y) ** 2).sum()
            error.backward()
            return error

        optimiser.step(closure)
        return codes.detach()

    @torch.no_grad()
    def clamp_hyperparameters(self) -> None:
        """The authors' clamps after every optimiser step (their models/train.py clamps Pyro's unconstrained,
        i.e. log, lengthscale to [0.01, 0.5] and log variance to >= 0.1): here the same bounds on the
        lengthscales and the outputscale themselves (exp(0.01), exp(0.5), exp(0.1)); null: no clamp."""
        h = self.hparams
        if h.lengthscale_bounds is not None:
            low, high = h.lengthscale_bounds
            base = self.kernel.base_kernel
            base.lengthscale = base.lengthscale.clamp(low, high)
        if h.outputscale_min is not None:
            self.kernel.outputscale = self.kernel.outputscale.clamp_min(h.outputscale_min)

    def on_fit_start(self) -> None:
        self.clamp_hyperparameters()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.clamp_hyperparameters()

    # ---------------------------------------------------------------- Lightning
    def training_step(self, batch, batch_idx):
        y, index = batch
        if len(y) != len(self.latent):
            raise ConfigError(
                f"the GP-LVM's collapsed bound is full batch: set data.batch_size >= {len(self.latent)} "
                f"(the number of training points), got a batch of {len(y)}")
        rows = torch.searchsorted(self.train_index, index)
        loss = self.loss(self.latent[rows], y.to(DTYPE))
        self.log("train/loss", loss, prog_bar=True, batch_size=len(y))
        self.log("train/noise", self.noise, batch_size=len(y))
        self.log("train/lengthscale_min", self.kernel.base_kernel.lengthscale.min(), batch_size=len(y))
        self.log("train/outputscale", self.kernel.outputscale, batch_size=len(y))
        return loss

    def _evaluate(self, batch, stage: str):
        """Held-out fit: project the points onto the latent space, then the MSE of the posterior mean there."""
        y, _ = batch
        # Lightning evaluates under inference mode; the projection needs gradients (clone: not an inference tensor)
        with torch.inference_mode(False), torch.enable_grad():
            y = y.clone().to(DTYPE)
            with torch.no_grad():
                alpha, _, _ = self.posterior_weights(self.latent, self.train_y)
            codes = self.project(y, alpha)
            with torch.no_grad():
                mse = ((self.kernel(codes, self.inducing).to_dense() @ alpha - y) ** 2).mean()
                loss = self.loss(self.latent, self.train_y)
        self.log(f"{stage}/mse", float(mse), batch_size=len(y))
        self.log(f"{stage}/loss", float(loss), batch_size=len(y))
        self.log(f"{stage}/noise", float(self.noise.detach()), batch_size=len(y))
        lengthscale = self.kernel.base_kernel.lengthscale.detach().reshape(-1)
        self.log(f"{stage}/lengthscale_min", float(lengthscale.min()), batch_size=len(y))
        self.log(f"{stage}/lengthscale_max", float(lengthscale.max()), batch_size=len(y))
        self.log(f"{stage}/outputscale", float(self.kernel.outputscale.detach()), batch_size=len(y))

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    # ---------------------------------------------------------------- geometry
    def geometry(self) -> GPLVMManifold:
        return GPLVMManifold(self)


class GPLVMManifold:
    """The trained GP-LVM's posterior as a stochastic manifold: (E[J], Cov) per latent point, frozen copy."""

    def __init__(self, model: SparseGPLVM):
        if len(model.latent) == 0:
            raise ConfigError("the GP-LVM has no latent codes: train it (or load its weights) first")
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.D = model.hparams.data_dim
        self.q = model.hparams.latent_dim
        self.stochastic = bool(model.hparams.stochastic)
        with torch.no_grad():
            self.alpha, self.luu, self.lb = self.model.posterior_weights(self.model.latent, self.model.train_y)
            self.lengthscale = self.model.kernel.base_kernel.lengthscale.reshape(-1).detach()
            self.outputscale = self.model.kernel.outputscale.detach()
        self.inducing = self.model.inducing.detach()

    def _check(self, z: torch.Tensor) -> torch.Tensor:
        z = torch.as_tensor(z, dtype=DTYPE)
        if z.ndim != 2 or z.shape[1] != self.q:
            raise ConfigError(f"latent points must have shape (n, {self.q}) (model.latent_dim), got {tuple(z.shape)}")
        return z

    def jacobian_moments(self, z: torch.Tensor):
        z = self._check(z)
        g = matern52_gradient(z, self.inducing, self.lengthscale, self.outputscale)  # (n, M, q)
        mean_jac = torch.einsum("nmq,md->ndq", g, self.alpha)
        if not self.stochastic:
            return mean_jac, torch.zeros(len(z), self.q, self.q, dtype=DTYPE)
        w = torch.linalg.solve_triangular(self.luu, g, upper=False)  # Luu^-1 G
        w2 = torch.linalg.solve_triangular(self.lb, w, upper=False)  # LB^-1 Luu^-1 G
        prior = torch.diag((5.0 / 3.0) * self.outputscale / self.lengthscale**2)
        # G^T Sigma_u G = W^T B^-1 W with B = I + V V^T: Sigma_u = Luu^-T B^-1 Luu^-1
        cov = prior - w.transpose(-1, -2) @ w + w2.transpose(-1, -2) @ w2
        return mean_jac, 0.5 * (cov + cov.transpose(-1, -2))

    def decode(self, z: torch.Tensor):
        """Posterior mean (n, D) and predictive variance (n,) of y at z (noise included)."""
        z = self._check(z)
        kzu = self.model.kernel(z, self.inducing).to_dense()
        w = torch.linalg.solve_triangular(self.luu, kzu.T, upper=False)
        w2 = torch.linalg.solve_triangular(self.lb, w, upper=False)
        variance = self.outputscale - (w**2).sum(0) + (w2**2).sum(0) if self.stochastic else torch.zeros(len(z), dtype=DTYPE)
        return kzu @ self.alpha, variance + self.model.noise

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes of data points by projection (the GP-LVM has no encoder)."""
        with torch.enable_grad():
            return self.model.project(x, self.alpha)
