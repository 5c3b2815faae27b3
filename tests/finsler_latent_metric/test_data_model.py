"""Loaders on the real excerpts, the stochastic decoder's Jacobian moments, the Fisher-Rao pullbacks."""
import math

import numpy as np
import pytest
import torch

from common.errors import ConfigError, DataError
from papers.finsler_latent_metric.data import FinslerDataModule, starfish_sphere
from papers.finsler_latent_metric.model import (
    BernoulliVAE,
    StochasticDecoderVAE,
    bernoulli_fisher_rao_metric,
    gaussian_fisher_rao_metric,
)
from tests.shared_data import shared_excerpt


@pytest.mark.parametrize("source,folder,must_hold,shape,n_labels", [
    ("qpcr", "finsler/qpcr_guo2010", "guo_qpcr.csv", (437, 48), 10),
    ("font", "finsler/font_f", "font_f.mat", (46, 1024), 1),
    ("starmen", "finsler/starmen_subset", "df_subset_s0-s19.csv", (200, 4096), 10),
    ("mnist", "mnist", "t10k-images-idx3-ubyte.gz", (2000, 784), 10),
])
def test_real_loaders(source, folder, must_hold, shape, n_labels):
    datamodule = FinslerDataModule(source=source, root=str(shared_excerpt(folder, must_hold)))
    datamodule.setup()
    assert tuple(datamodule.x_all.shape) == shape
    assert len(datamodule.labels.unique()) == n_labels
    assert len(datamodule.train_set) + len(datamodule.val_set) + len(datamodule.test_set) == shape[0]
    if source == "mnist":
        assert set(datamodule.x_all.unique().tolist()) == {0.0, 1.0}
    else:  # centred, one global scale
        assert datamodule.x_all.mean(0).abs().max() < 1e-4
        assert float(datamodule.x_all.std()) == pytest.approx(1.0, rel=1e-3)


def test_loader_errors(tmp_path):
    with pytest.raises(DataError, match="Missing data file"):
        FinslerDataModule(source="qpcr", root=str(tmp_path)).setup()
    (tmp_path / "guo_qpcr.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="48 gene columns"):
        FinslerDataModule(source="qpcr", root=str(tmp_path)).setup()
    with pytest.raises(DataError, match="data.root"):
        FinslerDataModule(source="starmen").setup()
    with pytest.raises(ConfigError, match="data.source"):
        FinslerDataModule(source="cifar")
    with pytest.raises(ConfigError, match="val_fraction"):
        FinslerDataModule(val_fraction=0.7)


def test_starfish_lies_on_the_sphere():
    x, labels = starfish_sphere(500, seed=0)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0)
    assert x.shape == (500, 3) and set(labels) == set(range(5))


def test_circles_lie_on_the_sphere_with_the_authors_radii():
    from papers.finsler_latent_metric.data import circles_sphere

    x, labels = circles_sphere(600, seed=0)
    assert x.shape == (600, 3) and np.allclose(np.linalg.norm(x, axis=1), 1.0)
    assert np.bincount(labels).tolist() == [200, 200, 200]
    # back to the plane (stereographic projection from the north pole): radii 1/4, 2/4, 3/4
    plane = x[:, :2] / (1 - x[:, 2:])
    assert np.allclose(np.linalg.norm(plane, axis=1), (labels + 1) / 4)
    with pytest.raises(ConfigError, match="n_circles"):
        circles_sphere(600, seed=0, n_circles=0)
    with pytest.raises(ConfigError, match="n_points"):
        circles_sphere(4, seed=0)


def small_vae(stochastic=True):
    torch.manual_seed(0)
    model = StochasticDecoderVAE(data_dim=5, hidden=16, variance_features=3, prior_features=16, n_centres=4,
                                 stochastic=stochastic, optimizer=torch.optim.Adam)
    model.fit_centres(torch.randn(50, 2))
    return model


def test_decoder_jacobian_moments_match_sampled_random_functions():
    """f_d(z) = mu_d(z) + eps_d^T phi(z): the rows of sampled Jacobians have mean grad mu_d and covariance Sigma."""
    model = small_vae()
    manifold = model.geometry()
    z = torch.tensor([[0.3, -2.0]], dtype=torch.float64)  # off the centres: the prior part is active
    mean_jac, cov = manifold.jacobian_moments(z)
    feature_jac = torch.func.jacfwd(lambda p: manifold.model.features(p))(z[0])  # (K, q)
    mu_jac = torch.func.jacfwd(lambda p: manifold.model.decoder_mean(p))(z[0])  # (D, q)
    generator = torch.Generator().manual_seed(0)
    eps = torch.randn(20000, 5, feature_jac.shape[0], generator=generator, dtype=torch.float64)
    samples = mu_jac + eps @ feature_jac  # (S, D, q): Jacobians of sampled random functions
    assert torch.allclose(samples.mean(0), mean_jac[0], atol=0.05 * float(feature_jac.abs().max()) + 1e-9)
    rows = samples - mean_jac[0]
    sample_cov = torch.einsum("sdq,sdr->qr", rows, rows) / (rows.shape[0] * 5)
    assert torch.allclose(sample_cov, cov[0], rtol=0.05, atol=1e-3 * float(cov.abs().max()))
    assert float(torch.linalg.eigvalsh(cov[0]).min()) > 0  # the prior part makes Sigma full rank off the data
    # the output variance is ||phi||^2 + noise
    _, variance = manifold.decode(z)
    noise = math.exp(2 * float(model.log_noise.detach())) + model.hparams.min_noise**2
    assert float(variance) == pytest.approx(float((manifold.model.features(z) ** 2).sum()) + noise, rel=1e-9)


def test_variance_off_decoder_has_zero_covariance():
    manifold = small_vae(stochastic=False).geometry()
    _, cov = manifold.jacobian_moments(torch.randn(7, 2, dtype=torch.float64))
    assert torch.count_nonzero(cov) == 0


def test_vae_training_step_and_bad_config():
    model = small_vae()
    loss, parts = model.loss(torch.randn(8, 5))
    assert torch.isfinite(loss) and parts["mse"] >= 0
    loss.backward()
    assert all(p.grad is not None for p in model.decoder_mean.parameters())
    with pytest.raises(ConfigError, match="data_dim"):
        StochasticDecoderVAE(data_dim=0, optimizer=torch.optim.Adam)


def test_bernoulli_fisher_rao_equals_score_covariance():
    """G = J^T diag(p(1-p)) J equals E[grad log p(x|z) grad log p(x|z)^T] (Monte Carlo over x)."""
    torch.manual_seed(0)
    model = BernoulliVAE(data_dim=6, hidden=8, optimizer=torch.optim.Adam).double()
    z = torch.tensor([0.2, -0.4], dtype=torch.float64)
    logit_jac = torch.func.jacfwd(model.decoder)(z)
    probs = torch.sigmoid(model.decoder(z))
    metric = bernoulli_fisher_rao_metric(logit_jac, probs)
    x = torch.bernoulli(probs.expand(200000, -1), generator=torch.Generator().manual_seed(1))
    scores = (x - probs) @ logit_jac  # d/dz log p(x|z) = (x - p)^T d logits / dz
    empirical = scores.T @ scores / len(x)
    assert torch.allclose(empirical, metric, rtol=0.03, atol=0.01 * float(metric.abs().max()))
    manifold = model.fisher_rao_manifold()
    mean_jac, cov = manifold.jacobian_moments(z[None])
    assert torch.allclose(mean_jac[0].T @ mean_jac[0], metric, rtol=1e-10)
    assert torch.count_nonzero(cov) == 0


def test_gaussian_fisher_rao_is_the_known_pullback():
    """Fixed sigma: the Fisher-Rao pullback is J_mu^T J_mu / sigma^2 (the usual pullback, scaled)."""
    generator = torch.Generator().manual_seed(0)
    mean_jac = torch.randn(7, 2, generator=generator, dtype=torch.float64)
    sigma = torch.full((7,), 0.5, dtype=torch.float64)
    metric = gaussian_fisher_rao_metric(mean_jac, sigma, torch.zeros(7, 2, dtype=torch.float64))
    assert torch.allclose(metric, mean_jac.T @ mean_jac / 0.25)
    # with a varying sigma, the extra term is 2 J_sigma^T J_sigma / sigma^2 (Fisher information of a scale)
    std_jac = torch.randn(7, 2, generator=generator, dtype=torch.float64)
    metric = gaussian_fisher_rao_metric(mean_jac, sigma, std_jac)
    assert torch.allclose(metric, (mean_jac.T @ mean_jac + 2 * std_jac.T @ std_jac) / 0.25)


def test_fisher_rao_geodesic_never_longer_than_its_mean_pullback_start():
    """The Fisher-Rao solve also starts from the mean-pullback geodesic and keeps the shortest under
    Fisher-Rao: per pair, the Fisher-Rao geodesic is no longer (under Fisher-Rao) than that curve."""
    import copy

    from papers.finsler_latent_metric.geodesics import geodesic_pairs
    from papers.finsler_latent_metric.metrics import DeterministicManifold, curve_length

    torch.manual_seed(3)
    model = BernoulliVAE(data_dim=12, hidden=16, optimizer=torch.optim.Adam)
    fisher = model.fisher_rao_manifold()
    decoder64 = copy.deepcopy(model.decoder).double()
    mean_pullback = DeterministicManifold(lambda z: torch.sigmoid(decoder64(z)), 12, 2)
    codes = 2 * torch.randn(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    kwargs = dict(pairs=4, seed=0, points=8, iterations=15, resolution=8, metrics=("riemann",))
    _, mean_raw = geodesic_pairs(mean_pullback, codes, **kwargs)
    _, fr_raw = geodesic_pairs(fisher, codes, **kwargs, extra_starts={"riemann": mean_raw["curves"]["riemann"]})
    with torch.no_grad():
        for fr_curve, mean_curve, row in zip(fr_raw["curves"]["riemann"], mean_raw["curves"]["riemann"], fr_raw["rows"],
                                             strict=True):
            fr_length = float(curve_length(fisher, fr_curve, "riemann"))
            assert fr_length <= float(curve_length(fisher, mean_curve, "riemann")) + 1e-12
            assert fr_length <= row["riemann_default_solve_length"] + 1e-12
            assert row["riemann_kept"] in ("default", "extra_start", "from_extra_start")
    with pytest.raises(ConfigError, match="extra_starts"):
        geodesic_pairs(fisher, codes, **kwargs, extra_starts={"riemann": mean_raw["curves"]["riemann"][:2]})
    with pytest.raises(ConfigError, match="extra_starts"):
        geodesic_pairs(fisher, codes, **kwargs, extra_starts={"finsler": mean_raw["curves"]["riemann"]})


def test_fashion_mnist_missing_files_give_a_clear_error(tmp_path):
    """No FashionMNIST copy here: data.root pointing at an empty folder names the files and checksums to get."""
    from common.errors import DataUnavailableError

    with pytest.raises(DataUnavailableError, match="FashionMNIST.resources md5"):
        FinslerDataModule(source="fashion_mnist", root=str(tmp_path)).setup()


def test_fashion_mnist_wrong_file_is_refused(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match="not the FashionMNIST test file"):
        FinslerDataModule(source="fashion_mnist", root=str(tmp_path)).setup()


def test_fashion_mnist_content_is_checked_whatever_the_compression(tmp_path, monkeypatch):
    """The md5 pins the unpacked content: one content gzipped two ways (torchvision's files and
    Debian's dataset-fashion-mnist package differ so) is accepted both times; other content is not."""
    import gzip
    import hashlib

    import papers.finsler_latent_metric.data as finsler

    images = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes(range(256)) * 6 + bytes(32)
    labels = bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 7])
    monkeypatch.setattr(finsler, "FASHION_MNIST_MD5", {"t10k-images-idx3-ubyte": hashlib.md5(images).hexdigest(),
                                                       "t10k-labels-idx1-ubyte": hashlib.md5(labels).hexdigest()})
    loaded = []
    for level in (1, 9):
        folder = tmp_path / f"level{level}"
        folder.mkdir()
        (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images, compresslevel=level, mtime=level))
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels, compresslevel=level, mtime=level))
        loaded.append(finsler.load_fashion_mnist(folder, tmp_path, 2))
    assert (loaded[0][0] == loaded[1][0]).all() and list(loaded[0][1]) == [3, 7]
    (tmp_path / "level9" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels[:-1] + b"\1"))
    with pytest.raises(DataError, match="not the FashionMNIST test file"):
        finsler.load_fashion_mnist(tmp_path / "level9", tmp_path, 2)


def test_far_from_data_prior_variance_is_fixed_for_every_experiment():
    """The VAE's prior variance far from the data (far_variance) and its feature length (bandwidth_scale) are
    stated once, 1 (the standardised data's variance per coordinate), not set per data set."""
    from hydra import compose, initialize_config_dir

    from common import CONFIG_DIR

    folder = CONFIG_DIR / "experiment" / "finsler_latent_metric"
    seen = 0
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for path in sorted(folder.glob("*.yaml")):
            cfg = compose(config_name="train", overrides=[f"experiment=finsler_latent_metric/{path.stem}"])
            if cfg.model._target_.endswith("StochasticDecoderVAE"):
                seen += 1
                assert cfg.model.far_variance == 1.0 and cfg.model.bandwidth_scale == 1.0, path.name
    assert seen >= 7
