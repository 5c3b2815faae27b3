"""The data manager, the task set-ups, the strategies' checks, the loop and the model managers."""
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf

from common import PROJECT_ROOT
from common.errors import ConfigError
from papers.active_learning.analysis import auc, labels_to_reach
from papers.active_learning.data import load, load_benchmark
from papers.active_learning.data_manager import DataManager, initial_labels, make_manager, split
from papers.active_learning.loop import check_compatible, run_loop
from papers.active_learning.models import ForestManager, GPManager, LightningMCDropout, make_model
from papers.active_learning.reproduce import check_plan
from papers.active_learning.strategies import Prediction, Strategy

PLAN = OmegaConf.load(PROJECT_ROOT / "configs" / "paper" / "active_learning.yaml").scales.tiny


def test_split_and_update_keep_the_sets_disjoint():
    rng = np.random.default_rng(0)
    parts = split(100, {"train": 60, "val": 0.1, "test": 30}, rng)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [60, 10, 30]
    assert len(np.unique(np.concatenate(list(parts.values())))) == 100
    fixed = split(100, {"val": 0.1, "test": 0}, rng, test_indices=np.arange(80, 100))
    assert fixed["test"].tolist() == list(range(80, 100)) and len(fixed["val"]) == 8 and len(fixed["train"]) == 72
    x, y = np.arange(10.0)[:, None], np.arange(10) % 2
    manager = DataManager(x, y, [0, 1], [2, 3, 4, 5], np.array([6, 7]), np.array([8, 9]))
    manager.update([4, 2])
    assert manager.labelled == [0, 1, 4, 2] and manager.unlabelled == [3, 5]
    with pytest.raises(ConfigError, match="distinct points of the pool"):
        manager.update([0])
    with pytest.raises(ConfigError, match="disjoint"):
        DataManager(x, y, [0], [0, 1], np.array([2]))


def test_setups_cold_warm_stratified():
    x, y = load("digits")
    train = np.arange(1000)
    rng = np.random.default_rng(0)
    cold = initial_labels("cold", train, y, x, rng)
    assert sorted(y[cold].tolist()) == list(range(10))  # one per class
    assert len(initial_labels("warm", train, y, x, rng)) == 100  # a random 10 %
    strat = initial_labels("stratified", train, y, x, rng, 20)
    assert np.bincount(y[strat]).tolist() == [2] * 10
    # regression cold start: the two training points farthest apart
    pts = np.array([[0.0], [5.0], [-3.0], [1.0]])
    assert sorted(initial_labels("cold", np.arange(4), np.zeros(4), pts, rng, task="regression").tolist()) == [1, 2]
    with pytest.raises(ConfigError, match="setup must be one of"):
        initial_labels("lukewarm", train, y, x, rng)


def test_unknown_strategy_and_missing_uncertainty_are_named():
    with pytest.raises(ConfigError, match="unknown classification strategy 'confidence'"):
        Strategy("confidence", "classification")
    with pytest.raises(ConfigError, match="unknown batch sampler"):
        Strategy("margin", "classification", sampler="best")
    deterministic = LightningMCDropout(architecture="mlp", in_features=64, mc_draws=0)
    with pytest.raises(ConfigError, match="'bald' needs a model that gives uncertainty"):
        check_compatible(Strategy("bald", "classification"), deterministic, 10)
    check_compatible(Strategy("margin", "classification"), deterministic, 10)  # probabilities suffice
    with pytest.raises(ConfigError, match="needs a model that gives uncertainty"):
        check_compatible(Strategy("upper_confidence_bound", "regression"), GPManager(draws=0), 1)
    with pytest.raises(ConfigError, match="is a regression strategy but the model is a classification model"):
        check_compatible(Strategy("bald", "regression"), ForestManager(), 1)
    with pytest.raises(ConfigError, match="needs a model that gives uncertainty"):
        Strategy("bald", "classification").scores(Prediction(probs=np.full((3, 2), 0.5)), np.zeros((3, 1)),
                                                 np.zeros((1, 1)), np.zeros(1), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="model.kind must be one of"):
        make_model({"kind": "svm"})


def test_plan_checks_name_the_bad_entry():
    plan = OmegaConf.create(OmegaConf.to_container(PLAN))
    check_plan(plan)
    plan.benchmarks.digits.strategies = ["random", "margin", "entropy", "bald", "coreset"]
    with pytest.raises(ConfigError, match="unknown classification strategy 'coreset'"):
        check_plan(plan)
    plan = OmegaConf.create(OmegaConf.to_container(PLAN))
    plan.benchmarks.digits.batch_size = 0
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        check_plan(plan)
    plan.benchmarks.digits.batch_size = 5000
    with pytest.raises(ConfigError, match=r"benchmarks.digits.batch_size=5000 is larger than the unlabelled pool \(1090 points\)"):
        check_plan(plan)
    plan = OmegaConf.create(OmegaConf.to_container(PLAN))
    plan.benchmarks.digits.model.mc_draws = 0
    with pytest.raises(ConfigError, match="'bald' needs a model that gives uncertainty"):
        check_plan(plan)


@pytest.mark.slow
def test_a_batch_larger_than_the_pool_is_named_in_one_line():
    """Through the command line (Hydra's start-up and the imports take seconds; slow under load)."""
    done = subprocess.run([sys.executable, "scripts/reproduce.py", "paper=active_learning", "scale=tiny",
                           "results_dir=/tmp/al_never_written", "scales.tiny.benchmarks.digits.batch_size=5000"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "batch_size=5000 is larger than the unlabelled pool" in last and "Traceback" not in done.stderr


def test_loop_on_breast_cancer_counts_labels_and_is_deterministic():
    x, y = load("breast_cancer")

    def curve(seed):
        manager = make_manager(x, y, {"train": 300, "val": 100, "test": 169}, "random", np.random.default_rng(seed), 10)
        return run_loop(manager, ForestManager(), Strategy("least_confidence", "classification"), 6, 3, seed)

    first = curve(0)
    assert first.labels == [10, 13, 16, 19, 22, 25] and len(first.queried) == 5
    assert first.scores == curve(0).scores and first.queried == curve(0).queried
    assert all(0.5 < s <= 1 for s in first.scores)


def test_pool_runs_out():
    x, y = load("breast_cancer")
    manager = make_manager(x, y, {"train": 14, "val": 0, "test": 100}, "random", np.random.default_rng(0), 10)
    curve = run_loop(manager, ForestManager(), Strategy("random", "classification"), None, 3, 0)
    assert curve.labels == [10, 13, 14] and not manager.unlabelled  # the last batch is what remains


def test_mc_dropout_manager_trains_with_lightning_and_gives_draws():
    x, y = load("digits")
    manager = make_manager(x, y, {"test": 300, "val": 100}, "stratified", np.random.default_rng(0), 100)
    model = LightningMCDropout(architecture="mlp", in_features=64, hidden=64, dropout=0.3, lr=0.01, batch_size=128,
                               max_epochs=60, patience=10, mc_draws=5)
    lab = manager.labelled_array
    model.fit(x[lab], y[lab], x[manager.val], y[manager.val], seed=0)
    pred = model.predict(x[manager.unlabelled_array[:50]])
    assert pred.draws.shape == (5, 50, 10) and np.allclose(pred.probs.sum(1), 1)
    assert np.ptp(pred.draws, axis=0).max() > 0  # dropout makes the draws differ
    assert model.score(x[manager.test], y[manager.test]) > 0.7
    again = LightningMCDropout(architecture="mlp", in_features=64, hidden=64, dropout=0.3, lr=0.01, batch_size=128,
                               max_epochs=60, patience=10, mc_draws=5)
    again.fit(x[lab], y[lab], x[manager.val], y[manager.val], seed=0)
    assert again.score(x[manager.test], y[manager.test]) == model.score(x[manager.test], y[manager.test])


def test_gp_draws_and_the_convnet_shape():
    x, y = load("diabetes")
    gp = GPManager(draws=4)
    gp.fit(x[:30], y[:30], None, None, seed=0)
    pred = gp.predict(x[30:40])
    assert pred.draws.shape == (4, 10) and pred.mean.shape == (10,)
    net = LightningMCDropout(architecture="convnet", mc_draws=3)
    net.fit(np.random.default_rng(0).normal(size=(20, 1, 28, 28)), np.arange(20) % 10, None, None, seed=0)
    assert net.predict(np.zeros((4, 1, 28, 28))).draws.shape == (3, 4, 10)


def test_mnist_from_the_shared_idx_files(mnist_excerpt):
    x, y, fixed = load_benchmark("mnist", str(mnist_excerpt))
    assert x.shape == (10000, 1, 28, 28) and fixed is None and sorted(np.unique(y).tolist()) == list(range(10))
    assert abs(float(x.mean())) < 0.1 and 0.9 < float(x.std()) < 1.1
    with pytest.raises(ConfigError, match="needs data.root"):
        load("mnist")


def test_auc_and_labels_to_reach():
    assert auc([0.5, 0.7, 0.9]) == pytest.approx(0.6 + 0.8)
    assert labels_to_reach([10, 20, 30], [0.5, 0.8, 0.9], 0.8) == 20
    assert labels_to_reach([10, 20, 30], [0.5, 0.8, 0.9], 0.95) is None
    assert labels_to_reach([2, 3, 4], [9.0, 5.0, 4.0], 5.0, higher_is_better=False) == 3
