"""DKLITE: losses, training lowers sqrt(PEHE), an untrained model fails the tiny claims, determinism."""
import pytest
import torch

from common.claims import claims_path, load_claims
from common.errors import ConfigError, DataError
from papers.treatment_effects.data import TreatmentEffectDataModule
from papers.treatment_effects.metrics import effect_errors
from papers.treatment_effects.model import Dklite


def _batch(replication=1, units=400, selection=1.0, heavy_tail=0.0):
    datamodule = TreatmentEffectDataModule(source="synthetic", test_fraction=0.2, replication=replication,
                                           synthetic={"units": units, "selection": selection, "heavy_tail": heavy_tail})
    datamodule.setup()
    return datamodule.batch


def _model(**kwargs):
    torch.manual_seed(0)
    return Dklite(optimizer=torch.optim.Adam, input_dim=5, hidden_dim=32, feature_dim=16, **kwargs)


def _train(model, batch, steps):
    torch.set_num_threads(1)  # full-batch steps this small: one thread is fastest (see Dklite.cpu_threads)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        model.losses(batch)["loss"].backward()
        optimizer.step()
    return model


def _out_of_sample(model, batch):
    mu0, mu1 = model.potential_outcomes(batch)
    test = ~batch["train_mask"]
    return effect_errors(mu0[test], mu1[test], batch["mu0"][test], batch["mu1"][test], "")


def test_losses_are_finite_and_reach_every_part():
    model, batch = _model(), _batch(units=120)
    losses = model.losses(batch)
    assert set(losses) == {"loss", "nll", "overlap_variance", "reconstruction"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert 0 <= losses["overlap_variance"] <= 2  # two means of variances relative to the prior
    losses["loss"].backward()
    for part in (model.encoder, model.decoder, model.gps):
        assert all(p.grad is not None for p in part.parameters())


def test_variance_weight_zero_removes_the_term_only():
    batch = _batch(units=120)
    with_term, without = _model(variance_weight=2.0).losses(batch), _model(variance_weight=0.0).losses(batch)
    assert torch.allclose(with_term["loss"] - without["loss"], 2.0 * with_term["overlap_variance"])


@pytest.fixture(scope="module")
def tiny_thresholds():
    claims = {c.id: c for c in load_claims(claims_path("treatment_effects"))}
    return claims["tiny_out_sqrt_pehe"].threshold, claims["tiny_out_ate_error"].threshold


def test_untrained_model_fails_the_tiny_claims(tiny_thresholds):
    """The tiny claims are strict enough to catch a model that learned nothing (mean of 3 replications)."""
    pehe_bound, ate_bound = tiny_thresholds
    errors = [_out_of_sample(_model(), _batch(replication)) for replication in (1, 2, 3)]
    assert sum(e["sqrt_pehe"] for e in errors) / 3 > pehe_bound
    assert sum(e["ate_error"] for e in errors) / 3 > ate_bound


def test_training_lowers_sqrt_pehe_and_is_deterministic():
    batch = _batch(units=240)
    before = _out_of_sample(_model(), batch)["sqrt_pehe"]
    after = _out_of_sample(_train(_model(), batch, 250), batch)["sqrt_pehe"]
    assert after < 0.8 * before
    first, again = (_out_of_sample(_train(_model(), batch, 30), batch)["sqrt_pehe"] for _ in range(2))
    assert first == again


def test_predictive_variance_ranks_the_errors_and_a_random_ranking_does_not():
    """The mechanism-off check of the variance claims (claims.yaml `heavy_variance_drop`; the slow
    test checks `tiny_variance_drop` on the whole tiny run): on a replication with heavy-tailed
    effects, DKLITE's posterior variance puts the largest errors among the 10 % it drops, so √PEHE
    falls below the claim's ratio; the same model's effects ranked at random (all a point-estimate
    model such as TARNet can offer) do not. All 240 units scored, 200 training steps."""
    from papers.treatment_effects.reproduce import effect_variance, uncertainty_scores

    claims = {c.id: c for c in load_claims(claims_path("treatment_effects"))}
    batch = _batch(units=240, heavy_tail=3.0)
    model = _train(_model(), batch, 200)
    mu0, mu1 = model.potential_outcomes(batch)
    effects, true = (mu1 - mu0).numpy(), (batch["mu1"] - batch["mu0"]).numpy()
    every_unit = torch.ones(len(effects), dtype=torch.bool).numpy()  # all units scored, as "in"
    ratios = {u: uncertainty_scores(effects, true, effect_variance(model, batch, u, 1), every_unit)["in_keep90_ratio"]
              for u in ("posterior", "random")}
    claim = claims["heavy_variance_drop"]
    assert claim.judge(ratios["posterior"]) == "reproduced", ratios
    assert claim.judge(ratios["random"]) == "not reproduced", ratios


def test_bad_configuration_and_shapes_are_named():
    with pytest.raises(ConfigError, match="model.feature_dim"):
        Dklite(optimizer=torch.optim.Adam, input_dim=5, feature_dim=0)
    with pytest.raises(ConfigError, match="variance_weight"):
        Dklite(optimizer=torch.optim.Adam, input_dim=5, variance_weight=-1)
    with pytest.raises(DataError, match="model.input_dim=7"):
        Dklite(optimizer=torch.optim.Adam, input_dim=7).losses(_batch(units=60))


def test_rbf_kernel_stays_available():
    model, batch = _model(kernel="rbf"), _batch(units=120)
    losses = model.losses(batch)
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"]) and model.gps[0].log_noise.grad is not None
    with pytest.raises(ConfigError, match="model.kernel"):
        _model(kernel="poly")


def test_early_stopping_restores_the_best_weights(tmp_path):
    """With a learning rate far too large the held-out factual error soon stops improving: training
    ends `patience` steps after its best step, and the saved weights are those of the best step (fixed
    precisions: the default's switch to the evidence when the error stalls is tested in test_precisions)."""
    from common import run
    from common.experiment import load_trained_run

    cfg = run.compose("train", [
        "experiment=treatment_effects/tiny", "logger=none", "trainer.enable_progress_bar=false",
        "data.synthetic.units=120", "data.steps_per_epoch=10", "trainer.max_epochs=20", "model.patience=15",
        "model.optimizer.lr=0.3", "model.precisions=fixed", f"paths.output_dir={tmp_path}",
    ])
    metrics = run.train(cfg)
    best_step = int(metrics["train/best_step"])
    assert best_step + 15 < 200  # stopped before max_epochs * steps_per_epoch
    datamodule, model = load_trained_run(tmp_path)
    saved = run.read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["dklite_early_stopping"]
    assert saved["stopped_at"] == best_step + 15 and saved["best_step"] == best_step
    assert float(model.validation_error(datamodule.batch)) == pytest.approx(metrics["train/best_validation_mse"], rel=1e-6)
    again = run.train(cfg)  # re-running the finished run trains no further
    assert again["test/out_sqrt_pehe"] == pytest.approx(metrics["test/out_sqrt_pehe"])


def test_patience_without_held_out_units_is_a_clear_error():
    model, batch = _model(patience=5), _batch(units=60)
    batch = {**batch, "fit_mask": batch["train_mask"]}
    with pytest.raises(ConfigError, match="data.validation_fraction"):
        model.training_step(batch, 0)
