"""What distributed_nonconvex spends its time on: starting a gloo process group, and one communication
round of each algorithm on the tiny scale's MLP (4 processes on this machine, so it includes the cost of
sharing the cores), timed inside the workers."""
from __future__ import annotations

import time

import torch

from papers.distributed_nonconvex.comm import launch
from papers.distributed_nonconvex.data import load
from papers.distributed_nonconvex.worker import run_jobs

ROUNDS = 200


def timed_jobs(comm, payload) -> list[float]:
    """Seconds of each job on this worker (run one at a time, after a barrier)."""
    import torch.distributed as dist

    seconds = []
    for job in payload["jobs"]:
        dist.barrier()
        started = time.perf_counter()
        run_jobs(comm, {"data": payload["data"], "jobs": [job], "progress": False})
        seconds.append(time.perf_counter() - started)
    return seconds


def run() -> list[tuple[str, float, str]]:
    ds = load("digits")
    data = {"x_train": torch.from_numpy(ds.x_train), "y_train": torch.from_numpy(ds.y_train),
            "x_test": torch.from_numpy(ds.x_test), "y_test": torch.from_numpy(ds.y_test), "classes": 10}
    started = time.perf_counter()
    launch(run_jobs, 4, {"jobs": [], "progress": False}, timeout_s=300)
    rows = [("distributed_nonconvex start and stop 4 gloo workers (spawn, rendezvous)", time.perf_counter() - started, "s")]
    algorithms = (("dpsgd", 1), ("gt", 1), ("local", 8), ("sgd", 1))
    jobs = [{"kind": "train", "algorithm": algorithm, "split": "skewed", "mode": "batch", "seed": 0, "topology": "ring",
             "lr": 0.1, "rounds": ROUNDS, "eval_every": ROUNDS, "batch_size": 32, "hidden": 32, "split_seed": 0,
             "tracking": True, "local_steps": steps} for algorithm, steps in algorithms]
    seconds = launch(timed_jobs, 4, {"data": data, "jobs": jobs}, timeout_s=300)[0]
    for (algorithm, steps), s in zip(algorithms, seconds, strict=True):
        rows.append((f"distributed_nonconvex one round of {algorithm} (K={steps}), digits MLP, 4 workers, batch mode",
                     s / ROUNDS * 1e3, "ms"))
    return rows
