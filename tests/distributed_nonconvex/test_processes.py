"""On real gloo processes: the closed form of the quadratic for DGD and gradient tracking on 4 workers,
one worker equals plain SGD bit for bit, the same seed gives the same curves, and a dead, failing or
hanging worker or a port in use gives a clear error and leaves no process behind (every launch bounded)."""
import multiprocessing
import socket
import time

import numpy as np
import pytest
import torch

from common.errors import ConfigError
from papers.distributed_nonconvex.comm import WorkerError, launch
from papers.distributed_nonconvex.data import load, shards
from papers.distributed_nonconvex.experiments import dgd_fixed_point
from papers.distributed_nonconvex.model import Problem, mlp
from papers.distributed_nonconvex.topology import Topology
from papers.distributed_nonconvex.worker import run_jobs
from tests.distributed_nonconvex import helpers

B = [[1.0, -2.0, 0.5], [3.0, 0.5, -1.0], [-1.0, 4.0, 2.0], [2.0, 2.0, 0.0]]
ALPHAS = (0.1, 0.3, 0.5)


def _digits_payload():
    ds = load("digits")
    return {"x_train": torch.from_numpy(ds.x_train), "y_train": torch.from_numpy(ds.y_train),
            "x_test": torch.from_numpy(ds.x_test), "y_test": torch.from_numpy(ds.y_test), "classes": 10}


def _train_job(**values):
    job = {"kind": "train", "algorithm": "dpsgd", "split": "skewed", "mode": "streaming", "seed": 3, "topology": "ring",
           "lr": 0.1, "rounds": 20, "eval_every": 5, "batch_size": 16, "hidden": 8, "split_seed": 0, "tracking": True,
           "local_steps": 1}
    job.update(values)
    return job


@pytest.fixture(scope="module")
def four_workers():
    """One launch of 4 gloo workers for the quadratic and two identical training jobs per algorithm."""
    jobs = [{"kind": "quadratic", "algorithm": "dpsgd", "alpha": a, "rounds": 300, "b": B, "topology": "ring"} for a in ALPHAS]
    jobs += [{"kind": "quadratic", "algorithm": "gt", "alpha": 0.1, "rounds": 300, "b": B, "topology": "ring"},
             {"kind": "quadratic", "algorithm": "gt", "alpha": 0.1, "rounds": 300, "b": B, "topology": "ring", "tracking": False}]
    for algorithm in ("dpsgd", "gt", "local"):
        jobs += [_train_job(algorithm=algorithm, local_steps=2 if algorithm == "local" else 1)] * 2
    started = time.monotonic()
    results = launch(run_jobs, 4, {"data": _digits_payload(), "jobs": jobs, "progress": False}, timeout_s=120)
    return jobs, results, time.monotonic() - started


def _xs(results, k):
    return np.stack([results[r][k]["x"].numpy() for r in range(4)])


def test_dgd_reaches_the_closed_form_fixed_point(four_workers):
    _, results, _ = four_workers
    w, b = Topology.build("ring", 4).w, np.asarray(B)
    offsets = []
    for k, alpha in enumerate(ALPHAS):
        closed = dgd_fixed_point(w, b, alpha)
        assert np.abs(_xs(results, k) - closed).max() < 1e-10
        offsets.append(np.abs(closed - b.mean(axis=0)).max())
    assert offsets[0] < offsets[1] < offsets[2] and offsets[0] > 0.1  # off the optimum, more so with a larger step


def test_gradient_tracking_reaches_the_optimum_and_not_without_tracking(four_workers):
    _, results, _ = four_workers
    b = np.asarray(B)
    assert np.abs(_xs(results, 3) - b.mean(axis=0)).max() < 1e-10
    # tracking off is DGD at the same step: its closed-form fixed point
    assert np.abs(_xs(results, 4) - dgd_fixed_point(Topology.build("ring", 4).w, b, 0.1)).max() < 1e-10


def test_same_seed_same_curves_and_the_metrics_are_sane(four_workers):
    jobs, results, seconds = four_workers
    first = len(ALPHAS) + 2
    for k in range(first, len(jobs), 2):
        a, b = results[0][k]["history"], results[0][k + 1]["history"]
        assert a == b  # every metric at every evaluation round, bit for bit
        assert [p["round"] for p in a] == [0, 5, 10, 15, 20]
        assert a[0]["consensus"] == 0.0 and a[-1]["train_loss"] < a[0]["train_loss"]
    # floats sent per worker: ring gossip sends 2 neighbours x d per round (GT twice that); local SGD one all-reduce
    d = 64 * 8 + 8 + 8 * 10 + 10
    assert results[0][first]["history"][-1]["floats_sent"] == 20 * 2 * d
    assert results[0][first + 2]["history"][-1]["floats_sent"] == 20 * 2 * 2 * d
    assert results[0][first + 4]["history"][-1]["floats_sent"] == pytest.approx(20 * 2 * 3 / 4 * d)
    assert seconds < 120


def _plain_sgd(job, data):
    """The same run written as ordinary single-process torch: torch.optim.SGD on the module."""
    mine = shards(data["y_train"].numpy(), 1, job["split"], seed=job["split_seed"])[0]
    torch.manual_seed(job["seed"])
    model = mlp(64, job["hidden"], 10)
    generator = torch.Generator().manual_seed(job["seed"] * 10007)
    problem = Problem(model, data["x_train"][mine], data["y_train"][mine], mode=job["mode"],
                      batch_size=job["batch_size"], generator=generator)
    optimiser = torch.optim.SGD(model.parameters(), lr=job["lr"])
    for _ in range(job["rounds"]):
        idx = problem.sample()
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(problem.x[idx]), problem.y[idx]).backward()
        optimiser.step()
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach()


def test_one_worker_is_plain_sgd_bit_for_bit():
    data = _digits_payload()
    jobs = [_train_job(algorithm=a, rounds=15, eval_every=15, split="iid") for a in ("dpsgd", "gt", "sgd", "local")]
    for job in jobs:
        job["return_x"] = True
    results = launch(run_jobs, 1, {"data": data, "jobs": jobs, "progress": False}, timeout_s=60)[0]
    expected = _plain_sgd(jobs[0], data)
    for job, result in zip(jobs, results, strict=True):
        if job["algorithm"] == "gt":  # y = y + g_new - g_old is g_new only up to rounding
            assert torch.allclose(result["x"], expected, atol=1e-5)
        else:
            assert torch.equal(result["x"], expected), job["algorithm"]


def _no_children_left():
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not multiprocessing.active_children()


@pytest.mark.parametrize(("fn", "message"), [
    (helpers.die_on_rank_one, r"worker 1 died \(exit code 3\); the others were stopped"),
    pytest.param(helpers.raise_on_rank_one, "worker 1 failed: ValueError: bad shard on worker 1", marks=pytest.mark.slow)])
def test_a_dead_or_failing_worker_is_named_and_nothing_hangs(fn, message):
    started = time.monotonic()
    with pytest.raises(WorkerError, match=message):
        launch(fn, 2, {}, timeout_s=60, collective_timeout_s=10)
    assert time.monotonic() - started < 45
    assert _no_children_left()


@pytest.mark.slow
def test_a_hanging_worker_is_stopped_at_the_deadline():
    started = time.monotonic()
    with pytest.raises(WorkerError, match="worker 0 failed|did not finish within"):
        launch(helpers.hang_on_rank_one, 2, {}, timeout_s=30, collective_timeout_s=3)
    assert time.monotonic() - started < 45
    assert _no_children_left()


def test_a_port_in_use_is_named():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(WorkerError, match=f"port {port} on 127.0.0.1 is in use"):
            launch(helpers.die_on_rank_one, 2, {}, port=port, timeout_s=30)
    assert _no_children_left()


@pytest.mark.parametrize(("kwargs", "message"), [({"world_size": 0}, "world_size must be an integer >= 1"),
                                                 ({"world_size": 2, "backend": "mpi"}, "backend must be one of"),
                                                 ({"world_size": 2, "port": 70000}, "port must be an integer in 1..65535")])
def test_bad_launch_arguments_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        launch(helpers.die_on_rank_one, payload={}, **kwargs)


@pytest.mark.slow
def test_groups_with_no_work_start_and_stop_cleanly():
    """No rank closes its connections while another is still connecting (a barrier after joining and
    before leaving): repeated empty launches all succeed."""
    for _ in range(3):
        assert launch(run_jobs, 4, {"jobs": [], "progress": False}, timeout_s=60) == [[], [], [], []]
