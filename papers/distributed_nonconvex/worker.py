"""What every worker process runs: a list of jobs on one process group (one launch for a whole
experiment, so the processes start once).

Job kinds:
- `quadratic`: f_i(x) = 0.5 ||x - b_i||^2 with float64 vectors; returns every worker's final x_i.
- `consensus`: pure gossip x <- W x from random x_i(0); the consensus error per round and the rounds
  until it falls below `target` times its start.
- `train`: the MLP on the worker's shard with one algorithm; per evaluation round the metrics of the
  network average x_bar: stationarity ||grad f(x_bar)||^2 on the whole training set, consensus error
  (1/n) sum_i ||x_i - x_bar||^2, test accuracy, training loss, and floats sent per worker.

Multi-machine: `torchrun --nnodes=N --nproc-per-node=P --rdzv-endpoint=HOST:PORT -m
papers.distributed_nonconvex.worker scale=<scale> out=<prefix>` joins torchrun's group (env://) and runs the
same quadratic and training jobs (see `main`).
"""
from __future__ import annotations

import datetime
import sys

import numpy as np
import torch
from tqdm import tqdm

from papers.distributed_nonconvex.algorithms import Algorithm
from papers.distributed_nonconvex.data import shards
from papers.distributed_nonconvex.model import Problem, mlp
from papers.distributed_nonconvex.topology import Topology


def _quadratic(comm, job) -> dict:
    comm.set_topology(Topology.build(job["topology"], comm.world))
    b = torch.tensor(job["b"], dtype=torch.float64)[comm.rank]
    x = torch.zeros_like(b)
    algorithm = Algorithm(job["algorithm"], comm, lambda v: v - b, job["alpha"], tracking=job.get("tracking", True))
    for _ in range(job["rounds"]):
        x = algorithm.step(x)
    return {"x": x}


def _consensus(comm, job) -> dict:
    comm.set_topology(Topology.build(job["topology"], comm.world))
    generator = torch.Generator().manual_seed(int(job["seed"]) * 7919 + comm.rank)
    x = torch.randn(job["dim"], dtype=torch.float64, generator=generator)
    errors = []
    for _ in range(job["max_rounds"] + 1):
        mean = comm.measure_mean(x)
        errors.append(float(comm.measure_sum(((x - mean) ** 2).sum().reshape(1))) / comm.world)
        if errors[-1] <= job["target"] * errors[0]:
            break
        (x,) = comm.gossip([x])
    reached = len(errors) - 1 if errors[-1] <= job["target"] * errors[0] else job["max_rounds"] + 1
    return {"errors": errors, "rounds_to_target": reached}


def _evaluate(comm, problem: Problem, x: torch.Tensor, data: dict, n_train: int) -> dict:
    mean = comm.measure_mean(x)
    consensus = float(comm.measure_sum(((x - mean) ** 2).sum().reshape(1))) / comm.world
    loss_sum, grad_sum = problem.local_sums(mean)
    grad = comm.measure_sum(grad_sum) / n_train
    loss = float(comm.measure_sum(loss_sum.reshape(1))) / n_train
    x_test, y_test = data["x_test"][comm.rank::comm.world], data["y_test"][comm.rank::comm.world]
    correct = comm.measure_sum(torch.tensor([float(problem.correct(mean, x_test, y_test))]))
    return {"stationarity": float((grad ** 2).sum()), "consensus": consensus, "train_loss": loss,
            "test_accuracy": float(correct) / len(data["y_test"])}


def _train(comm, job, data: dict) -> dict:
    comm.set_topology(Topology.build(job["topology"], comm.world))
    comm.floats_sent = 0.0
    parts = shards(data["y_train"].numpy(), comm.world, job["split"], seed=job.get("split_seed", 0))
    mine = parts[comm.rank]
    torch.manual_seed(int(job["seed"]))
    model = mlp(data["x_train"].shape[1], job["hidden"], int(data["classes"]))
    generator = torch.Generator().manual_seed(int(job["seed"]) * 10007 + comm.rank)
    problem = Problem(model, data["x_train"][mine], data["y_train"][mine], mode=job["mode"],
                      batch_size=job["batch_size"], generator=generator)
    n_train = comm.world * len(mine)
    x = problem.vector()
    algorithm = Algorithm(job["algorithm"], comm, problem.grad, job["lr"], local_steps=job.get("local_steps", 1),
                          tracking=job.get("tracking", True))
    history = []
    for r in range(job["rounds"] + 1):
        if r % job["eval_every"] == 0 or r == job["rounds"]:
            point = _evaluate(comm, problem, x, data, n_train)
            point.update(round=r, floats_sent=float(comm.measure_mean(torch.tensor([comm.floats_sent]))),
                         gradient_steps=algorithm.gradient_steps)
            history.append(point)
            if not np.isfinite(point["train_loss"]):
                break
        if r < job["rounds"]:
            x = algorithm.step(x)
    return {"history": history, "x": x} if job.get("return_x") else {"history": history}


def run_jobs(comm, payload: dict) -> list[dict]:
    data = payload.get("data")
    results = []
    for job in tqdm(payload["jobs"], desc=payload.get("desc", "jobs"), disable=comm.rank != 0 or not payload.get("progress", True),
                    leave=False):
        kind = job["kind"]
        if kind == "quadratic":
            results.append(_quadratic(comm, job))
        elif kind == "consensus":
            results.append(_consensus(comm, job))
        else:
            results.append(_train(comm, job, data))
    return results


def main(argv: list[str]) -> None:
    """The torchrun entry (one machine or many): every rank runs a scale's quadratic and training jobs on
    torchrun's process group and writes OUT.rank<r>.pt (its results by job, and the job list).

    torchrun --nnodes=2 --nproc-per-node=4 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 \\
        -m papers.distributed_nonconvex.worker scale=tiny out=DIR/run [reproduce-config overrides]
    """
    import torch.distributed as dist

    from common import run
    from common.errors import ConfigError
    from papers.distributed_nonconvex import experiments as ex
    from papers.distributed_nonconvex.comm import Comm

    options = dict(a.split("=", 1) for a in argv if a.split("=", 1)[0] in ("scale", "out"))
    if "scale" not in options or "out" not in options:
        raise SystemExit("usage: -m papers.distributed_nonconvex.worker scale=<scale> out=<path prefix> [overrides]")
    overrides = [a for a in argv if a.split("=", 1)[0] not in ("scale", "out")]
    cfg = run.compose("reproduce", ["paper=distributed_nonconvex", f"scale={options['scale']}", *overrides])
    plan = cfg.scales[options["scale"]]
    torch.set_num_threads(1)
    dist.init_process_group(plan.backend, init_method="env://", timeout=datetime.timedelta(seconds=120))
    try:
        if dist.get_world_size() != plan.workers:
            raise ConfigError(f"scale {options['scale']} needs {plan.workers} workers, torchrun started "
                              f"{dist.get_world_size()} (set scales.{options['scale']}.workers or --nproc-per-node)")
        ex.check_plan(plan)
        data, _ = ex.data_payload(plan)
        jobs = ex.quadratic_jobs(plan) + ex.training_jobs(plan)
        results = run_jobs(Comm(), {"data": data, "jobs": jobs})
        torch.save({"jobs": jobs, "results": results}, f"{options['out']}.rank{dist.get_rank()}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
