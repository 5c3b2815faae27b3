"""GIN's loss, spectrum, knee and MCC against closed forms; bad batches never give a NaN loss."""
import math
import warnings

import numpy as np
import pytest
import torch

from papers.gin import metrics as M
from papers.gin.flows import fc_flow
from papers.gin.model import GINModule


def test_loss_is_half_plus_mean_log_class_std_plus_half_log_two_pi():
    generator = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 50 + [1] * 70)
    stds = torch.tensor([[0.5, 2.0, 1.0], [3.0, 0.1, 1.5]])
    z = torch.randn(120, 3, generator=generator) * stds[labels] + torch.tensor([[4.0, -1.0, 0.0]])
    loss, dropped = M.gin_nll(z, labels)
    empirical = torch.stack([z[labels == c].std(0, unbiased=False) for c in (0, 1)])
    expected = (0.5 + empirical.log()[labels].mean(1) + 0.5 * math.log(2 * math.pi)).mean()
    assert dropped == 0
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # ... which equals the exact Gaussian NLL per dimension at the ML mean and std of each class
    means = torch.stack([z[labels == c].mean(0) for c in (0, 1)])
    nll = (0.5 * ((z - means[labels]) / empirical[labels]) ** 2 + empirical[labels].log()
           + 0.5 * math.log(2 * math.pi)).mean()
    assert loss.item() == pytest.approx(nll.item(), rel=1e-5)


def test_loss_subtracts_log_det_per_dimension_and_unit_variance_variant():
    z = torch.randn(40, 4)
    labels = torch.zeros(40, dtype=torch.long)
    base, _ = M.gin_nll(z, labels)
    shifted, _ = M.gin_nll(z, labels, log_det=torch.full((40,), 2.0))
    assert shifted.item() == pytest.approx(base.item() - 0.5, abs=1e-6)
    unit, _ = M.gin_nll(z, labels, variance="unit")
    centred = z - z.mean(0)
    assert unit.item() == pytest.approx((0.5 * centred.pow(2).mean() + 0.5 * math.log(2 * math.pi)).item(), rel=1e-5)


def test_classes_with_one_sample_are_left_out_and_counted():
    z = torch.randn(7, 3)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2])
    loss, dropped = M.gin_nll(z, labels)
    assert dropped == 1 and torch.isfinite(loss)
    expected, _ = M.gin_nll(z[:6], labels[:6])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    none, dropped = M.gin_nll(z[:2], torch.tensor([0, 1]))
    assert none is None and dropped == 2


def test_volume_preserving_flow_cannot_lower_the_loss_by_scaling():
    # With empirical variances, scaling every latent by a lowers mean log σ by log a; a GIN flow
    # cannot do that (log-det 0), a GLOW flow pays it back through its log-det.
    z = torch.randn(100, 6)
    labels = torch.randint(0, 2, (100,))
    loss, _ = M.gin_nll(z, labels)
    scaled, _ = M.gin_nll(z * 0.1, labels, log_det=torch.full((100,), 6 * math.log(0.1)))
    assert scaled.item() == pytest.approx(loss.item(), abs=1e-5)


def test_spectrum_knee_and_gap_on_known_values():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 5000)
    stds = np.array([2.0, 1.0, 0.01, 0.01, 0.01, 0.01])
    z = rng.standard_normal((10000, 6)) * stds
    spec = M.spectrum(z, labels)
    assert np.allclose(spec, stds, rtol=0.05)
    assert M.count_above(spec, 0.1) == 2
    assert M.knee(spec) == 2
    assert M.gap_ratio(spec, 2) == pytest.approx(math.sqrt(2.0) / 0.01, rel=0.05)
    # a flat spectrum has no gap
    assert M.gap_ratio(np.ones(8), 3) == pytest.approx(1.0)
    # the knee ignores a steep tail beyond the first half
    assert M.knee(np.array([1.0, 0.9, 0.1, 0.09, 0.085, 0.08, 0.075, 0.07, 0.0001, 0.00001])) == 2


def test_mcc_is_one_for_permuted_scaled_monotone_sources_and_low_for_mixtures():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((3000, 2))
    recovered = np.c_[-3 * s[:, 1] + 1, 0.5 * s[:, 0]]
    assert M.mcc(recovered, s) == pytest.approx(1.0, abs=1e-9)
    assert M.mcc(np.c_[np.exp(s[:, 1]), s[:, 0] ** 3], s, "spearman") == pytest.approx(1.0, abs=1e-9)
    rotated = s @ np.array([[1, 1], [-1, 1]]) / math.sqrt(2)
    assert M.mcc(rotated, s) == pytest.approx(math.sqrt(0.5), abs=0.03)


def test_training_step_with_nan_rows_and_singleton_classes_warns_and_stays_finite():
    torch.manual_seed(0)
    module = GINModule(fc_flow(dims=4, n_blocks=2, width=8, seed=0), optimizer=torch.optim.Adam, n_classes=3)
    x = torch.randn(12, 4)
    x[3, 1] = float("nan")
    x[5, 0] = float("inf")
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 1])
    with pytest.warns(UserWarning) as caught:
        loss = module.training_step((x, labels), 0)
    messages = " ".join(str(w.message) for w in caught)
    assert "2 input rows with NaN/inf" in messages
    assert "1 samples of classes with < 2 members" in messages
    assert torch.isfinite(loss)
    assert module.dropped["nonfinite"] == 2 and module.dropped["small_class"] == 1
    # a batch with nothing usable is skipped, not a NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert module.training_step((torch.full((2, 4), float("nan")), torch.tensor([0, 1])), 1) is None
        assert module.training_step((torch.randn(2, 4), torch.tensor([0, 1])), 2) is None


def test_learned_prior_loss_closed_form_and_equal_to_empirical_at_the_ml_values():
    # The authors' learned prior (empirical_vars=False): mean_d [0.5 (z-mu)^2 e^{-2 ls} + ls] + 0.5 log 2pi.
    z = torch.tensor([[1.0, -2.0], [3.0, 0.0], [0.0, 4.0]])
    labels = torch.tensor([0, 0, 1])
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    log_sig = torch.tensor([[0.0, math.log(2.0)], [math.log(0.5), 0.0]])
    loss, dropped = M.gin_nll(z, labels, variance="learned", mu=mu, log_sig=log_sig)
    # by hand: sample 0: (0 + 0)/2 + (0.5*4/4 + log 2)/2; sample 1: (0.5*4 + 0)/2 + (0 + log 2)/2 ...
    per_sample = [
        (0.0 + 0.0 + 0.5 * 4 / 4 + math.log(2)) / 2,
        (0.5 * 4 + 0.0 + 0.5 * 0 / 4 + math.log(2)) / 2,
        (0.0 + math.log(0.5) + 0.5 * 4 + 0.0) / 2,
    ]
    assert dropped == 0
    assert loss.item() == pytest.approx(np.mean(per_sample) + 0.5 * math.log(2 * math.pi), rel=1e-6)
    # at the class's ML mean and std the learned loss equals the empirical one
    generator = torch.Generator().manual_seed(1)
    labels = torch.tensor([0] * 30 + [1] * 40)
    z = torch.randn(70, 3, generator=generator) * torch.tensor([[0.5, 2.0, 1.0]]) + labels[:, None] * 3.0
    mu = torch.stack([z[labels == c].mean(0) for c in (0, 1)])
    log_sig = M.class_stds(z, labels, torch.tensor([0, 1])).log()
    learned, _ = M.gin_nll(z, labels, variance="learned", mu=mu, log_sig=log_sig)
    empirical, _ = M.gin_nll(z, labels)
    assert learned.item() == pytest.approx(empirical.item(), rel=1e-5)
    with pytest.raises(ValueError, match="mu and log_sig"):
        M.gin_nll(z, labels, variance="learned")


def test_learned_prior_module_trains_its_per_class_parameters():
    torch.manual_seed(0)
    model = GINModule(lambda volume_preserving: fc_flow(dims=4, n_blocks=2, width=8, seed=0,
                                                        volume_preserving=volume_preserving),
                      optimizer=lambda params: torch.optim.Adam(params, 1e-2), n_classes=3, variance="learned")
    assert model.prior_mu.shape == (3, 4) and model.prior_log_sig.shape == (3, 4)
    assert torch.count_nonzero(model.prior_mu) == 0  # the authors start from zeros
    x, labels = torch.randn(12, 4), torch.tensor([0, 1, 2] * 4)
    loss = model.training_step((x, labels), 0)
    loss.backward()
    assert torch.isfinite(loss) and model.prior_mu.grad.abs().sum() > 0 and model.prior_log_sig.grad.abs().sum() > 0


def test_bad_prior_and_knee_settings_name_the_problem():
    from common.errors import ConfigError

    flow = lambda volume_preserving: fc_flow(dims=4, n_blocks=1, width=4, seed=0)  # noqa: E731
    with pytest.raises(ConfigError, match="model.variance"):
        GINModule(flow, optimizer=None, variance="bayes")
    with pytest.raises(ConfigError, match="model.knee_fraction"):
        GINModule(flow, optimizer=None, knee_fraction=0.0)
    with pytest.raises(ValueError, match="fraction"):
        M.knee(np.array([3.0, 2.0, 1.0]), fraction=1.5)


def test_knee_rule_searches_only_the_configured_fraction():
    # the largest neighbour ratio lies at the tail (after 7 of 8): the first half finds the one after 2
    values = np.array([8.0, 7.0, 2.0, 1.9, 1.8, 1.7, 1.6, 0.01])
    assert M.knee(values, 0.5) == 2
    assert M.knee(values, 1.0) == 7


def test_trained_flow_inverts_to_float32_precision():
    # invertibility holds for any coupling flow (tested here, not claimed): a briefly trained GIN
    torch.manual_seed(0)
    flow = fc_flow(dims=10, n_blocks=8, width=10, seed=0)
    optimizer = torch.optim.Adam(flow.parameters(), 1e-2)
    x, labels = torch.randn(200, 10) * torch.linspace(0.01, 3, 10), torch.randint(0, 5, (200,))
    first = None
    for _ in range(30):
        z, log_det = flow(x)
        loss, _ = M.gin_nll(z, labels, log_det)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        z, _ = flow(x)
        back, _ = flow(z, rev=True)
    assert loss.item() < first - 0.1  # it trained
    assert (back - x).abs().max().item() < 1e-4
