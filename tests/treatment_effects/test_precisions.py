"""The evidence approximation of DKLITE's precisions (model.precisions): MacKay's fixed point is the
marginal likelihood's maximum, each one-sided mode keeps the other precision; the default,
fixed_then_evidence, starts from the public code's fixed lambda = 1000, beta = 1 and switches to the
evidence when the held-out error stalls, keeping the better phase's weights and precisions."""
import math
from functools import partial

import pytest
import torch

from common import run
from common.errors import ConfigError
from common.experiment import load_trained_run
from papers.treatment_effects.gp import BayesianLinearRegression
from papers.treatment_effects.model import BestWeights, Dklite


def nll_at(z, y, alpha, beta):
    return BayesianLinearRegression(z.shape[1], prior_precision=alpha, noise_precision=beta).condition(z, y).negative_log_likelihood.item()


@pytest.fixture
def data():
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(80, 4, generator=generator, dtype=torch.float64)
    y = z @ torch.tensor([1.5, -0.5, 0.0, 2.0], dtype=torch.float64) + 0.3 * torch.randn(80, generator=generator, dtype=torch.float64)
    return z, y


def test_evidence_precisions_maximise_the_marginal_likelihood(data):
    z, y = data
    blr = BayesianLinearRegression(4, evidence="both")
    alpha, beta = (float(v) for v in blr.evidence_precisions(z, y, iterations=200))
    assert 1 / beta == pytest.approx(0.09, rel=0.5)  # the noise variance it was made with (0.3^2)
    best = nll_at(z, y, alpha, beta)
    for a, b in ((alpha * 1.3, beta), (alpha / 1.3, beta), (alpha, beta * 1.3), (alpha, beta / 1.3)):
        assert nll_at(z, y, a, b) > best
    # condition() uses them: its NLL is the one at the fixed point
    assert blr.condition(z, y).negative_log_likelihood.item() == pytest.approx(
        nll_at(z, y, *(float(v) for v in blr.evidence_precisions(z, y))), rel=1e-9)
    assert blr.condition(z, y).noise_precision.item() == pytest.approx(beta, rel=1e-3)


def test_hyperprior_evidence_is_the_map_of_evidence_times_gamma_hyperpriors(data):
    """model.hyperprior_strength nu: alpha ~ Gamma(1 + nu/2, nu / (2 alpha0)), beta likewise around beta0 (modes
    alpha0, beta0); the fixed point maximises log evidence + both log hyperpriors (MAP-II)."""
    z, y = data
    n, nu, alpha0, beta0 = len(y), 30.0, 1000.0, 1.0

    def log_posterior(a, b):  # log p(y | a, b) + log Gamma(a) + log Gamma(b), up to constants
        return (-n * nll_at(z, y, a, b) + nu / 2 * math.log(a) - nu * a / (2 * alpha0)
                + nu / 2 * math.log(b) - nu * b / (2 * beta0))

    blr = BayesianLinearRegression(4, alpha0, beta0, evidence="both", hyperprior_strength=nu)
    alpha, beta = (float(v) for v in blr.evidence_precisions(z, y, iterations=500))
    best = log_posterior(alpha, beta)
    for a, b in ((alpha * 1.05, beta), (alpha / 1.05, beta), (alpha, beta * 1.05), (alpha, beta / 1.05)):
        assert log_posterior(a, b) < best
    # nu = 0 is the plain evidence; nu -> infinity keeps the given precisions.
    plain = BayesianLinearRegression(4, alpha0, beta0, evidence="both", hyperprior_strength=0.0)
    assert [float(v) for v in plain.evidence_precisions(z, y)] == [
        float(v) for v in BayesianLinearRegression(4, alpha0, beta0, evidence="both").evidence_precisions(z, y)]
    strong = BayesianLinearRegression(4, alpha0, beta0, evidence="both", hyperprior_strength=1e9)
    assert [float(v) for v in strong.evidence_precisions(z, y)] == pytest.approx([alpha0, beta0], rel=1e-3)
    with pytest.raises(ValueError, match="hyperprior_strength"):
        BayesianLinearRegression(4, hyperprior_strength=-1.0)


def test_one_sided_evidence_keeps_the_other_precision(data):
    z, y = data
    alpha, beta = BayesianLinearRegression(4, 1000.0, 1.0, evidence="prior").evidence_precisions(z, y, update_noise=False)
    assert float(beta) == pytest.approx(1.0) and float(alpha) != pytest.approx(1000.0)
    alpha, beta = BayesianLinearRegression(4, 1000.0, 1.0, evidence="noise").evidence_precisions(z, y, update_prior=False)
    assert float(alpha) == pytest.approx(1000.0) and float(beta) != pytest.approx(1.0)
    with pytest.raises(ValueError, match="evidence must be one of"):
        BayesianLinearRegression(4, evidence="sometimes")


def test_default_starts_from_the_public_codes_fixed_precisions():
    cfg = run.compose("train", ["experiment=treatment_effects/ihdp"])
    assert cfg.model.precisions == "fixed_then_evidence" and cfg.model.switch_fraction == 0.5
    assert cfg.model.hyperprior_strength == 0.0
    model = Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, hidden_dim=4, feature_dim=2, patience=5,
                   precisions=cfg.model.precisions)
    for gp in model.gps:
        assert gp.evidence == "none"
        assert gp.prior_precision.item() == pytest.approx(1000.0) and gp.noise_precision.item() == pytest.approx(1.0)
    assert Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, precisions="evidence").gps[0].evidence == "both"
    with pytest.raises(ConfigError, match="model.precisions"):
        Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, precisions="mackay")
    for needs in ({"patience": None}, {"patience": 5, "stopping": "loss_plateau"}, {"patience": 5, "kernel": "rbf"}):
        with pytest.raises(ConfigError, match="fixed_then_evidence"):
            Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, precisions="fixed_then_evidence", **needs)


def test_best_weights_wait_from_restarts_the_patience_only():
    module = torch.nn.Linear(1, 1)
    best = BestWeights(patience=3)
    assert not best.update(module, 1.0, 0)
    assert not best.update(module, 2.0, 1)
    best.wait_from(2)
    assert [best.update(module, 2.0, step) for step in (3, 4, 5)] == [False, False, True]  # 3 steps after 2, not 0
    assert (best.step, best.error) == (0, 1.0)


def _frozen_run(tmp_path, precisions, *extra):
    """A Lightning run whose weights never move (a learning rate of 1e-300 rounds every float32 update to
    zero; 0 is refused by the config check): the held-out error is constant within each phase, so when
    the switch happens and which phase wins are known in advance."""
    cfg = run.compose("train", [
        "experiment=treatment_effects/tiny_heavy", "logger=none", "trainer.enable_progress_bar=false",
        "data.synthetic.units=120", "data.steps_per_epoch=10", "trainer.max_epochs=3", "model.patience=5",
        "model.optimizer.lr=1e-300", f"model.precisions={precisions}", f"paths.output_dir={tmp_path}", *extra,
    ])
    metrics = run.train(cfg)
    return metrics, *load_trained_run(tmp_path)


def test_fixed_then_evidence_switches_when_the_held_out_error_stalls(tmp_path):
    metrics, datamodule, model = _frozen_run(tmp_path / "switch", "fixed_then_evidence")
    # The reloaded model predicts with the winning phase's precisions; the two phases' held-out errors
    # at the (unchanging) weights:
    assert all(gp.evidence == "both" for gp in model.gps)
    evidence_error = float(model.validation_error(datamodule.batch))
    model._use_evidence(False)
    fixed_error = float(model.validation_error(datamodule.batch))
    assert evidence_error < fixed_error  # untrained features: the evidence fits the heavy tail, 1000/1 cannot
    # Fixed phase: best at step 0, patience 5 runs out at step 5; the switch's step changes no weight (Lightning
    # still counts it), the first evidence step, 6, is the new best, and its patience runs out at step 11.
    assert metrics["train/switched_at"] == 5 and metrics["train/best_step"] == 6 and metrics["train/stopped_at"] == 11
    assert metrics["train/best_validation_mse"] == pytest.approx(evidence_error, rel=1e-6)
    # Mechanism off: the public code's fixed precisions never switch, and stop at step 5 with the fixed error.
    off, _, fixed_model = _frozen_run(tmp_path / "fixed", "fixed")
    assert "train/switched_at" not in off and off["train/stopped_at"] == 5
    assert off["train/best_validation_mse"] == pytest.approx(fixed_error, rel=1e-6)
    assert all(gp.evidence == "none" for gp in fixed_model.gps)


def test_switch_fraction_switches_at_that_share_of_the_step_budget(tmp_path):
    # Patience 100 never runs out in 30 steps: with switch_fraction=null (switch on a stall only) the fixed
    # phase runs to the end and never switches; with 0.5 (the default) the evidence takes over at step 15
    # (half of 3 epochs x 10 steps) and, as its held-out error is lower (the test above), its first step,
    # 16, is the best one.
    never, _, _ = _frozen_run(tmp_path / "never", "fixed_then_evidence", "model.patience=100", "model.switch_fraction=null")
    assert "train/switched_at" not in never and never["train/best_step"] == 0
    half, _, model = _frozen_run(tmp_path / "half", "fixed_then_evidence", "model.patience=100", "model.switch_fraction=0.5")
    assert half["train/switched_at"] == 15 and half["train/best_step"] == 16
    assert all(gp.evidence == "both" for gp in model.gps)
    with pytest.raises(ConfigError, match="switch_fraction"):
        Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, patience=5, switch_fraction=1.0)


def test_fixed_then_evidence_keeps_the_fixed_phase_when_the_evidence_does_worse():
    model = Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, hidden_dim=4, feature_dim=2, patience=5,
                   precisions="fixed_then_evidence")
    model.switched_at = 7
    for best_step, mode in ((6, "none"), (7, "both"), (9, "both")):
        model.best.step = best_step
        model._keep_best()
        assert [gp.evidence for gp in model.gps] == [mode, mode]
