"""Bad input is named before a process starts: the plan's values, the data, the algorithm's arguments;
shards are what the README says they are."""
import numpy as np
import pytest

from common import run
from common.errors import ConfigError, DataError
from papers.distributed_nonconvex.algorithms import Algorithm
from papers.distributed_nonconvex.data import load, shards, skew_summary
from papers.distributed_nonconvex.experiments import check_plan, training_jobs


def _plan(*overrides, scale="tiny"):
    cfg = run.compose("reproduce", ["paper=distributed_nonconvex", f"scale={scale}", *overrides])
    return cfg.scales[scale]


def test_the_tiny_plan_is_valid_and_its_jobs_cover_the_claims():
    plan = _plan()
    check_plan(plan)
    jobs = training_jobs(plan)
    assert len(jobs) == 2 * 3 * 5  # (skewed, iid) x (dpsgd, gt, local) x 5 seeds, batch mode
    assert {j["local_steps"] for j in jobs if j["algorithm"] == "local"} == {8}


def test_local_sgd_runs_only_in_its_mode():
    plan = _plan("scales.tiny.training.modes=[streaming,batch]", "scales.tiny.training.local_mode=streaming")
    modes = {j["mode"] for j in training_jobs(plan) if j["algorithm"] == "local"}
    assert modes == {"streaming"}


@pytest.mark.parametrize(("override", "message"), [
    ("scales.tiny.seeds=[0,1]", "seeds must list at least 3 distinct seeds"),
    ("scales.tiny.training.topology=star", "topology must be one of"),
    ("scales.tiny.training.lr=-1", "training.lr must be a number > 0"),
    ("scales.tiny.training.modes=[online]", "training.modes must list some of"),
    ("scales.tiny.training.local_mode=streaming", "training.local_mode must be one of training.modes"),
    ("scales.tiny.training.algorithms=[dpsgd,gt]", "training.algorithms must hold dpsgd, gt and local"),
    ("scales.tiny.training.local_steps=0", "training.local_steps must be an integer >= 1"),
    ("scales.tiny.quadratic.b=[[1.0],[2.0]]", r"quadratic.b must list one vector per worker \(4 rows\)"),
    ("scales.tiny.workers=0", "workers must be an integer >= 1"),
    ("scales.tiny.consensus.topologies=[ring,complete]", "consensus.topologies must be"),
])
def test_bad_plan_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        check_plan(_plan(override))


def test_data_errors_are_named(tmp_path):
    with pytest.raises(ConfigError, match="mnist needs data_root"):
        load("mnist", root=None)
    with pytest.raises(DataError, match="is not a folder"):
        load("mnist", root=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="dataset must be one of"):
        load("imagenet")
    with pytest.raises(ConfigError, match="split must be one of"):
        shards(np.arange(10) % 2, 2, "dirichlet")


def test_shards_are_equal_disjoint_and_skewed_as_stated():
    ds = load("digits")
    iid, skewed = shards(ds.y_train, 4, "iid"), shards(ds.y_train, 4, "skewed")
    for parts in (iid, skewed):
        assert len({len(p) for p in parts}) == 1
        assert len(np.unique(np.concatenate(parts))) == sum(len(p) for p in parts)
    s, i = skew_summary(ds.y_train, skewed), skew_summary(ds.y_train, iid)
    assert s["classes_per_worker_max"] <= 4 and i["classes_per_worker_mean"] == 10
    assert s["top_class_share_mean"] > 2 * i["top_class_share_mean"]


def test_bad_algorithm_arguments_are_named():
    with pytest.raises(ConfigError, match="algorithm must be one of"):
        Algorithm("adam", None, lambda x: x, 0.1)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        Algorithm("dpsgd", None, lambda x: x, 0.0)
    with pytest.raises(ConfigError, match="local_steps must be an integer >= 1"):
        Algorithm("local", None, lambda x: x, 0.1, local_steps=0)


def test_a_diverged_run_loses_instead_of_stopping_the_analysis():
    from papers.distributed_nonconvex.experiments import DIVERGED_LOG10, tail_mean

    history = [{"stationarity": 0.1}, {"stationarity": float("nan")}]
    assert tail_mean(history, "stationarity", 0.5) == 10 ** DIVERGED_LOG10
    assert tail_mean([{"stationarity": 0.1}, {"stationarity": 0.3}], "stationarity", 1.0) == 0.2
