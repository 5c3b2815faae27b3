"""The learned L-estimator (Lightning) and its data: symmetric weights summing to one make it unbiased
on a symmetric escort, training improves on the sample mean, bad data settings are named."""
import subprocess
import sys

import pytest
import torch

from common import PROJECT_ROOT, run
from common.errors import ConfigError
from papers.csiszar_cramer_rao.data import EscortSampleSets
from papers.csiszar_cramer_rao.model import LearnedLEstimator

SMALL = dict(family={"kind": "student_t", "nu": 10}, alpha=1.0, n=6, n_train=4000, n_val=500, n_test=20000,
             batch_size=500, seed=0)


def test_weights_are_symmetric_sum_to_one_and_start_at_the_mean():
    model = LearnedLEstimator(5, optimizer=torch.optim.Adam)
    assert torch.allclose(model.weights(), torch.full((5,), 0.2, dtype=torch.float64))
    with torch.no_grad():
        model.raw.copy_(torch.tensor([0.3, -1.0, 0.2, 0.5, 0.1], dtype=torch.float64))
    w = model.weights()
    assert torch.allclose(w, w.flip(0)) and float(w.sum()) == pytest.approx(1.0)


def test_any_symmetric_weights_give_an_unbiased_estimator():
    data = EscortSampleSets(**SMALL)
    data.setup()
    ordered, theta = data.test_set.tensors
    model = LearnedLEstimator(6, optimizer=torch.optim.Adam)
    with torch.no_grad():
        model.raw.copy_(torch.tensor([1.5, -0.7, 0.3, 0.9, 0.0, -0.2], dtype=torch.float64))
        errors = model(ordered) - theta
    assert abs(float(errors.mean())) < 4 * float(errors.std()) / len(errors) ** 0.5
    assert bool((ordered[:, 1:] >= ordered[:, :-1]).all()) and float(theta.abs().max()) <= 1.0


def test_training_beats_the_sample_mean_and_repeats_exactly(tmp_path):
    def train(folder):
        overrides = ["experiment=csiszar_cramer_rao/learned_estimator", "logger=none", "trainer.enable_progress_bar=false",
                     "+trainer.enable_model_summary=false", "trainer.max_epochs=4", f"paths.output_dir={tmp_path / folder}",
                     *(f"data.{k}={v}" for k, v in SMALL.items() if k not in ("family", "seed")), "data.alpha=0.6"]
        return run.train(run.compose("train", overrides))

    metrics = train("a")
    assert metrics["test/variance_over_best_simple"] < 0.97       # heavy tails (escort t with 5.6 dof): the mean is poor
    assert abs(metrics["test/bias"]) < 4 * metrics["test/bias_se"]
    assert train("b") == metrics                                  # same seed, same numbers


@pytest.mark.parametrize(("change", "message"), [
    ({"n": 1}, r"data.n must be an integer >= 2"),
    ({"family": {"kind": "power_law"}}, r"data.family must be a location family"),
    ({"family": {"kind": "student_t", "nu": 1}, "alpha": 0.5}, r"student_t \(nu=1\) has no escort at alpha=0.5"),
    ({"alpha": 0.0}, r"must be a finite number > 0"),
])
def test_bad_data_settings_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        EscortSampleSets(**{**SMALL, **change})


def test_entry_script_names_a_bad_alpha_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "scripts/reproduce.py", "paper=csiszar_cramer_rao", "scale=tiny",
                           f"results_dir={tmp_path}", "scales.tiny.alphas=[0.5,-1.0]"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: alphas entry must be a finite number > 0"), done.stderr
