"""What distributed_nonconvex spends its time on: starting a gloo process group, and one communication
round of each algorithm on the tiny scale's MLP (4 processes on this machine, so it includes the cost of
sharing the cores)."""
from __future__ import annotations

import time

import torch

from papers.distributed_nonconvex.comm import launch
from papers.distributed_nonconvex.data import load
from papers.distributed_nonconvex.worker import run_jobs


def _digits():
    ds = load("digits")
    return {"x_train": torch.from_numpy(ds.x_train), "y_train": torch.from_numpy(ds.y_train),
            "x_test": torch.from_numpy(ds.x_test), "y_test": torch.from_numpy(ds.y_test), "classes": 10}


def run() -> list[tuple[str, float, str]]:
    started = time.perf_counter()
    launch(run_jobs, 4, {"jobs": [], "progress": False}, timeout_s=300)
    rows = [("distributed_nonconvex start and stop 4 gloo workers (spawn, rendezvous)", time.perf_counter() - started, "s")]
    rounds = 200
    for algorithm, steps in (("dpsgd", 1), ("gt", 1), ("local", 8), ("sgd", 1)):
        job = {"kind": "train", "algorithm": algorithm, "split": "skewed", "mode": "batch", "seed": 0, "topology": "ring",
               "lr": 0.1, "rounds": rounds, "eval_every": rounds, "batch_size": 32, "hidden": 32, "split_seed": 0,
               "tracking": True, "local_steps": steps}
        payload = {"data": _digits(), "jobs": [job], "progress": False}
        empty = {"data": payload["data"], "jobs": [], "progress": False}
        started = time.perf_counter()
        launch(run_jobs, 4, empty, timeout_s=300)
        base = time.perf_counter() - started
        started = time.perf_counter()
        launch(run_jobs, 4, payload, timeout_s=300)
        per_round = (time.perf_counter() - started - base) / rounds
        rows.append((f"distributed_nonconvex one round of {algorithm} (K={steps}), digits MLP, 4 workers, batch mode",
                     per_round * 1e3, "ms"))
    return rows
