"""The key mechanism: Hydra's per-member matching of its heads. Switched off, the tiny claims fail.

papers/hydra_distillation/claims.yaml lists the variant (`tied_heads`: scales.tiny.match_members=false)
and the claims it must fail; tests/test_mechanism_off.py's slow test runs the tiny reproduction with it
(`scripts/reproduce.py paper=hydra_distillation scale=tiny switch_off=tied_heads`). The fast tests train the
tiny regression run's settings (5 members, 200 epochs, batch 256) once for the module: the ensemble,
Hydra as configured, and Hydra with `match_members=False` (heads tied to the mean).
"""
import pytest
import pytorch_lightning as pl
import torch

from common.claims import REPRODUCED, check_claims, claims_path, load_claims
from papers.hydra_distillation import metrics as M
from papers.hydra_distillation.data import SpiralData, ToyRegressionData
from papers.hydra_distillation.model import DistillModule, EnsembleModule
from papers.hydra_distillation.nets import MultiHeadMLP
from papers.hydra_distillation.reproduce import derived, run_metrics
from tests.conftest import (
    mechanism_variants,
)

PAPER = "hydra_distillation"
MECHANISM_CLAIMS = ("tiny_reg_hydra_tracks_ensemble_uncertainty", "tiny_reg_hydra_ood_auroc")
FLOOR_CLAIMS = ("tiny_reg_hydra_nll", "tiny_reg_ensemble_nll")


def adam(params):
    return torch.optim.Adam(params, lr=3e-3)


def fit_and_test(module, datamodule, epochs, ckpt=None):
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, gradient_clip_val=5.0, deterministic=True,
                         num_sanity_val_steps=0)
    trainer.fit(module, datamodule=datamodule)
    if ckpt is not None:
        trainer.save_checkpoint(ckpt)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def regression_net(shared, heads):
    return MultiHeadMLP(1, 2, hidden=[50, 50, 50], shared_layers=shared, num_heads=heads)


@pytest.fixture(scope="module")
def regression_runs(tmp_path_factory):
    torch.set_num_threads(1)
    pl.seed_everything(0, verbose=False)
    datamodule = ToyRegressionData(batch_size=256, n_test=400)
    ensemble = EnsembleModule(regression_net(0, 5), adam, task="regression")
    ckpt = tmp_path_factory.mktemp("ensemble") / "ensemble.ckpt"
    results = {"ensemble": run_metrics(fit_and_test(ensemble, datamodule, 200, ckpt), "ensemble")}
    for name, match in (("hydra", True), ("hydra_tied", False)):
        pl.seed_everything(1, verbose=False)
        hydra = DistillModule(regression_net(2, 5), regression_net(0, 5), adam, method="hydra", teacher_ckpt=str(ckpt),
                              phase1_epochs=50, match_members=match, task="regression")
        results[name] = run_metrics(fit_and_test(hydra, datamodule, 200), name)
    return results


def verdicts(results: dict, hydra_key: str) -> dict[str, str]:
    one = {"ensemble": results["ensemble"], "hydra": results[hydra_key], "kd": {"auroc_epistemic/ood": 0.5}}
    metrics = {f"regression/{m}/{k}": v for m, values in one.items() for k, v in values.items()}
    metrics.update({f"regression/{k}": v for k, v in derived(one).items()})
    claims = [c for c in load_claims(claims_path("hydra_distillation")) if c.id in MECHANISM_CLAIMS + FLOOR_CLAIMS]
    return {v.claim.id: v.status for v in check_claims(claims, metrics, "tiny")}


def test_hydra_passes_the_mechanism_and_floor_claims(regression_runs):
    status = verdicts(regression_runs, "hydra")
    assert all(status[c] == REPRODUCED for c in MECHANISM_CLAIMS + FLOOR_CLAIMS), status


def test_tied_heads_fail_the_mechanism_claims(regression_runs):
    status = verdicts(regression_runs, "hydra_tied")
    assert all(status[c] != REPRODUCED for c in MECHANISM_CLAIMS), status
    # It is still a good KD-like predictor: only the mechanism claims separate it.
    assert status["tiny_reg_hydra_nll"] == REPRODUCED
    tied = regression_runs["hydra_tied"]
    assert tied["epistemic"] == 0.0 and tied["epistemic_ood/ood"] == 0.0
    assert tied["auroc_epistemic/ood"] == 0.5


def test_untrained_models_fail_the_floors():
    """An untrained ensemble / Hydra does not meet the absolute floors of the tiny claims."""
    torch.manual_seed(0)
    datamodule = ToyRegressionData(n_test=400)
    datamodule.setup()
    x, y = datamodule.test_set.tensors
    means, variances = EnsembleModule(regression_net(0, 5), adam, task="regression").predict(x)
    assert float(M.mixture_nll(means, variances, y)) > 1.6
    spiral = SpiralData(n_test=600)
    spiral.setup()
    x, labels = spiral.test_set.tensors
    probs = EnsembleModule(MultiHeadMLP(2, 3, hidden=[100] * 4, num_heads=5), adam).predict(x)
    assert float(M.accuracy(probs, labels)) < 0.95
    assert float(M.nll(probs, labels)) > 0.15


    assert set(MECHANISM_CLAIMS) <= set(mechanism_variants(PAPER)["tied_heads"]["must_fail"])

