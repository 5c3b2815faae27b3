"""The sparse GP-LVM decoder: its bound, its Jacobian moments against finite differences and Monte
Carlo of the sparse posterior, training with Lightning, checkpoints, and bad configs."""
import functools

import pytest
import pytorch_lightning as pl
import torch

from common.errors import ConfigError
from papers.finsler_latent_metric.data import FinslerDataModule
from papers.finsler_latent_metric.gplvm import SparseGPLVM, matern52_gradient
from papers.finsler_latent_metric.metrics import finsler_norm, riemann_norm

DT = torch.float64


def fitted_gplvm(n: int = 60, D: int = 4, M: int = 12, steps: int = 30, stochastic: bool = True) -> SparseGPLVM:
    """A GP-LVM on a noisy 2-D surface in R^D after a few Adam steps (so the hyperparameters are not the defaults)."""
    generator = torch.Generator().manual_seed(0)
    t = torch.rand(n, 2, generator=generator, dtype=DT) * 3
    y = torch.stack([torch.sin(t[:, 0]), torch.cos(t[:, 1]), t[:, 0] * t[:, 1] / 3, t.sum(1) / 2][:D], 1)
    y = y + 0.05 * torch.randn(y.shape, generator=generator, dtype=DT)
    model = SparseGPLVM(data_dim=D, inducing_points=M, stochastic=stochastic, optimizer=torch.optim.Adam)
    model.initialise(y, torch.arange(n))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        optimiser.zero_grad()
        model.loss(model.latent, model.train_y).backward()
        optimiser.step()
    return model


def joint_posterior(manifold, points: torch.Tensor):
    """Mean (P, D) and covariance (P, P) of f at `points` under the sparse posterior, written with Sigma_u
    = (K_uu + sigma^-2 K_uf K_fu)^-1 directly (explicit inverses: the textbook form, not the code's factors)."""
    model = manifold.model
    kernel, z = model.kernel, model.inducing
    kuu = kernel(z).to_dense() + model.hparams.jitter * kernel.outputscale * torch.eye(len(z), dtype=DT)
    kuf = kernel(z, model.latent).to_dense()
    sigma_u = torch.linalg.inv(kuu + kuf @ kuf.T / model.noise)
    a = sigma_u @ kuf @ model.train_y / model.noise
    kpu = kernel(points, z).to_dense()
    cov = kernel(points).to_dense() - kpu @ torch.linalg.solve(kuu, kpu.T) + kpu @ sigma_u @ kpu.T
    return kpu @ a, cov


def test_matern_gradient_matches_autograd_through_gpytorch():
    """The analytic dk(x, z)/dx against torch.autograd.functional.jacobian of GPyTorch's own kernel."""
    model = fitted_gplvm()
    lengthscale = model.kernel.base_kernel.lengthscale.reshape(-1).detach()
    assert not torch.allclose(lengthscale[0], lengthscale[1])  # ARD: the two axes differ after training
    x = torch.randn(3, 2, dtype=DT, generator=torch.Generator().manual_seed(1))
    x[2] = model.inducing[4].detach()  # on an inducing point: r = 0, the gradient is 0 and finite
    g = matern52_gradient(x, model.inducing.detach(), lengthscale, model.kernel.outputscale.detach())
    for n in range(3):
        reference = torch.autograd.functional.jacobian(
            lambda p: model.kernel(p[None], model.inducing).to_dense()[0], x[n])
        assert torch.allclose(g[n], reference.detach(), atol=1e-12)
    assert torch.allclose(g[2, 4], torch.zeros(2, dtype=DT))
    x2 = x[2:].clone().requires_grad_(True)
    matern52_gradient(x2, model.inducing.detach(), lengthscale, model.kernel.outputscale.detach()).sum().backward()
    assert torch.isfinite(x2.grad).all()


def test_collapsed_bound_is_the_exact_marginal_likelihood_when_inducing_inputs_are_the_data():
    """Z = X: Q_ff = K_ff, the trace term vanishes and Titsias' bound is sum_d log N(y_d | 0, K + sigma^2 I)."""
    model = fitted_gplvm(n=12, M=12, steps=0)
    with torch.no_grad():
        model.inducing.copy_(model.latent)
        model.hparams.jitter = 1e-10
        bound = model.collapsed_bound(model.latent, model.train_y)
        cov = model.kernel(model.latent).to_dense() + model.noise * torch.eye(12, dtype=DT)
        exact = torch.distributions.MultivariateNormal(torch.zeros(12, dtype=DT), cov).log_prob(model.train_y.T).sum()
    assert float(bound) == pytest.approx(float(exact), rel=1e-6)
    # with fewer inducing inputs it is a lower bound
    with torch.no_grad():
        fewer = SparseGPLVM(data_dim=4, inducing_points=4, optimizer=torch.optim.Adam)
        fewer.load_state_dict({k: v for k, v in model.state_dict().items() if k != "inducing"}, strict=False)
        fewer.inducing.copy_(model.latent[:4])
        assert float(fewer.collapsed_bound(model.latent, model.train_y)) < float(exact)


def test_jacobian_mean_matches_finite_differences_of_the_posterior_mean():
    manifold = fitted_gplvm().geometry()
    x = torch.tensor([[0.3, -0.4], [1.5, 0.8], [-2.5, 2.0]], dtype=DT)  # near and far from the data
    mean_jac, _ = manifold.jacobian_moments(x)
    h = 1e-6
    for n in range(len(x)):
        columns = [(joint_posterior(manifold, (x[n] + h * e)[None])[0] - joint_posterior(manifold, (x[n] - h * e)[None])[0])[0]
                   / (2 * h) for e in torch.eye(2, dtype=DT)]
        assert torch.allclose(mean_jac[n], torch.stack(columns, -1), atol=1e-6 * (1 + float(mean_jac[n].abs().max())))
    # and the posterior mean itself is the textbook A^T k(x)
    assert torch.allclose(manifold.decode(x)[0], joint_posterior(manifold, x)[0], atol=1e-8)


def test_jacobian_covariance_matches_monte_carlo_of_posterior_samples():
    """Sample f jointly at x, x + h e_1, x + h e_2 from the sparse posterior; the covariance of the difference
    quotients (f(x + h e_i) - f(x)) / h tends to Cov as h -> 0."""
    manifold = fitted_gplvm().geometry()
    _, cov = manifold.jacobian_moments(torch.tensor([[0.3, -0.4], [-2.5, 2.0]], dtype=DT))
    generator = torch.Generator().manual_seed(0)
    h = 1e-3
    for n, x in enumerate(torch.tensor([[0.3, -0.4], [-2.5, 2.0]], dtype=DT)):
        points = torch.stack([x, x + h * torch.tensor([1.0, 0.0], dtype=DT), x + h * torch.tensor([0.0, 1.0], dtype=DT)])
        _, joint = joint_posterior(manifold, points)
        factor = torch.linalg.cholesky(joint + 1e-13 * torch.eye(3, dtype=DT))
        samples = torch.randn(400_000, 3, generator=generator, dtype=DT) @ factor.T
        quotients = (samples[:, 1:] - samples[:, :1]) / h
        sample_cov = quotients.T @ quotients / len(quotients)
        assert torch.allclose(sample_cov, cov[n], rtol=0.02, atol=0.02 * float(cov[n].diagonal().max()))
    # far from the data the posterior is close to the prior's (5 s / 3) diag(1 / l^2)
    prior = (5 / 3) * manifold.outputscale / manifold.lengthscale**2
    assert torch.allclose(cov[1].diagonal(), prior, rtol=0.05)
    assert float(cov[0].diagonal().sum()) < 0.5 * float(prior.sum())  # near data it shrinks


def test_covariance_is_symmetric_psd_and_finsler_below_riemann():
    manifold = fitted_gplvm().geometry()
    grid = torch.stack(torch.meshgrid(torch.linspace(-3, 3, 9, dtype=DT), torch.linspace(-3, 3, 9, dtype=DT),
                                      indexing="ij"), -1).reshape(-1, 2)
    grid = torch.cat([grid, manifold.inducing, manifold.model.latent.detach()])  # also exactly on Z and on the data
    mean_jac, cov = manifold.jacobian_moments(grid)
    assert torch.equal(cov, cov.transpose(-1, -2))
    assert float(torch.linalg.eigvalsh(cov).min()) >= -1e-10
    v = torch.randn(len(grid), 2, dtype=DT, generator=torch.Generator().manual_seed(2))
    finsler, riemann = finsler_norm(mean_jac, cov, v), riemann_norm(mean_jac, cov, v)
    assert (finsler <= riemann * (1 + 1e-12)).all()
    assert float((1 - finsler / riemann).max()) > 1e-3  # not trivially equal: Sigma matters off the data


def test_variance_off_gives_zero_covariance_and_equal_metrics():
    manifold = fitted_gplvm(stochastic=False).geometry()
    x = torch.randn(5, 2, dtype=DT)
    mean_jac, cov = manifold.jacobian_moments(x)
    assert torch.count_nonzero(cov) == 0
    v = torch.randn(5, 2, dtype=DT)
    assert torch.allclose(finsler_norm(mean_jac, cov, v), riemann_norm(mean_jac, cov, v), rtol=1e-9)


def test_bad_config_values_give_clear_errors():
    adamw = functools.partial(torch.optim.AdamW, lr=1e-2)
    with pytest.raises(ConfigError, match="inducing_points"):
        SparseGPLVM(data_dim=3, inducing_points=0, optimizer=adamw)
    with pytest.raises(ConfigError, match="lr"):
        SparseGPLVM(data_dim=3, optimizer=functools.partial(torch.optim.AdamW, lr=0.0))
    with pytest.raises(ConfigError, match="latent_dim"):
        SparseGPLVM(data_dim=2, latent_dim=3, optimizer=adamw)
    with pytest.raises(ConfigError, match="jitter"):
        SparseGPLVM(data_dim=3, jitter=0.0, optimizer=adamw)
    model = SparseGPLVM(data_dim=3, inducing_points=8, optimizer=adamw)
    with pytest.raises(ConfigError, match="data_dim"):
        model.initialise(torch.randn(20, 4), torch.arange(20))
    with pytest.raises(ConfigError, match="inducing_points"):
        model.initialise(torch.randn(5, 3), torch.arange(5))
    with pytest.raises(ConfigError, match="train it"):
        model.geometry()
    manifold = fitted_gplvm().geometry()
    with pytest.raises(ConfigError, match="latent_dim"):
        manifold.jacobian_moments(torch.zeros(4, 3, dtype=DT))


def test_lightning_training_checkpoint_and_full_batch_check(tmp_path):
    data = FinslerDataModule(source="starfish_sphere", n_points=120, batch_size=1000)
    model = SparseGPLVM(data_dim=3, inducing_points=10, optimizer=functools.partial(torch.optim.AdamW, lr=0.02))
    trainer = pl.Trainer(max_epochs=40, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, check_val_every_n_epoch=40)
    data.setup()
    with torch.no_grad():
        start = SparseGPLVM(data_dim=3, inducing_points=10, optimizer=torch.optim.Adam)
        start.initialise(data.x_all[data.train_idx], data.train_idx)
        loss_before = float(start.loss(start.latent, start.train_y))
    trainer.fit(model, datamodule=data)
    assert float(model.loss(model.latent, model.train_y)) < loss_before - 0.1
    trainer.test(model, datamodule=data, verbose=False)
    assert trainer.callback_metrics["test/mse"] < 0.05  # held-out points projected and reconstructed
    # a fresh model takes the training-set sized tensors from the saved weights
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    loaded = SparseGPLVM(data_dim=3, inducing_points=10, optimizer=torch.optim.Adam)
    loaded.load_state_dict(torch.load(path, weights_only=True))
    x = torch.randn(4, 2, dtype=DT)
    for a, b in zip(model.geometry().jacobian_moments(x), loaded.geometry().jacobian_moments(x), strict=True):
        assert torch.allclose(a, b)
    # mini-batches would silently optimise another objective: refused
    small = FinslerDataModule(source="starfish_sphere", n_points=120, batch_size=16)
    with pytest.raises(ConfigError, match="full batch"):
        pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0).fit(
            SparseGPLVM(data_dim=3, inducing_points=10, optimizer=torch.optim.Adam), datamodule=small)


def test_authors_clamps_hold_after_every_step_and_bad_bounds_are_refused():
    """models/train.py of the authors clamps log lengthscale to [0.01, 0.5] and log variance to >= 0.1 after
    each step: the lengthscales stay in [e^0.01, e^0.5] and the outputscale >= e^0.1, from any start."""
    data = FinslerDataModule(source="starfish_sphere", n_points=120, batch_size=1000)
    low, high, floor = 1.010050167, 1.648721271, 1.105170918
    model = SparseGPLVM(data_dim=3, inducing_points=10, lengthscale_bounds=[low, high], outputscale_min=floor,
                        optimizer=functools.partial(torch.optim.AdamW, lr=0.05))
    model.kernel.base_kernel.lengthscale = torch.tensor([[0.2, 5.0]], dtype=DT)
    model.kernel.outputscale = torch.tensor(0.3, dtype=DT)
    trainer = pl.Trainer(max_epochs=15, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0)
    trainer.fit(model, datamodule=data)
    lengthscale = model.kernel.base_kernel.lengthscale.detach().reshape(-1)
    assert (lengthscale >= low - 1e-9).all() and (lengthscale <= high + 1e-9).all()
    assert float(model.kernel.outputscale) >= floor - 1e-9
    # the clamp itself on a model out of bounds
    model.kernel.base_kernel.lengthscale = torch.tensor([[0.5, 3.0]], dtype=DT)
    model.clamp_hyperparameters()
    assert torch.allclose(model.kernel.base_kernel.lengthscale.detach().reshape(-1),
                          torch.tensor([low, high], dtype=DT))
    adamw = functools.partial(torch.optim.AdamW, lr=1e-2)
    with pytest.raises(ConfigError, match="lengthscale_bounds"):
        SparseGPLVM(data_dim=3, lengthscale_bounds=[2.0, 1.0], optimizer=adamw)
    with pytest.raises(ConfigError, match="lengthscale_bounds"):
        SparseGPLVM(data_dim=3, lengthscale_bounds=[1.0], optimizer=adamw)
    with pytest.raises(ConfigError, match="outputscale_min"):
        SparseGPLVM(data_dim=3, outputscale_min=0.0, optimizer=adamw)
