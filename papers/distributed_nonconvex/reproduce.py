"""distributed_nonconvex's part of `scripts/reproduce.py`: the review's central statements measured on
real worker processes (torch.distributed, gloo), one process per worker.

1. The quadratic f_i(x) = 0.5 ||x - b_i||^2 on `quadratic.topology`: DGD's fixed point against the closed
   form alpha [(1 + alpha) I - W]^(-1) b for each step, and gradient tracking's distance to mean(b).
2. Topology: gossip averaging on ring, 2-D torus and complete graphs of `consensus.workers` processes;
   rounds until the consensus error falls below `consensus.target` of its start, against the spectral gap.
3. Training: the MLP on label-skewed and i.i.d. shards with D-PSGD, gradient tracking and local SGD (and
   centralised SGD where listed), in batch and/or streaming mode, over the seeds; stationarity, consensus
   error, test accuracy and floats sent per round; GT against D-PSGD and local SGD against D-PSGD.

`tracking=false` switches gradient tracking's tracking off (it becomes D-PSGD): the mechanism-off variant.
"""
from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig

from common.experiment import PaperResults
from papers.distributed_nonconvex import experiments as ex
from papers.distributed_nonconvex.comm import launch
from papers.distributed_nonconvex.plots import plot_consensus, plot_quadratic, plot_training
from papers.distributed_nonconvex.topology import Topology
from papers.distributed_nonconvex.worker import run_jobs


def reproduce(cfg: DictConfig, plan, results_dir: Path) -> PaperResults:
    ex.check_plan(plan)
    data, info = ex.data_payload(plan)
    n, timeout = int(plan.workers), float(plan.timeout_s)
    metrics: dict[str, float] = {}
    timings = {}

    started = time.perf_counter()
    quadratic = ex.quadratic_jobs(plan)
    training = ex.training_jobs(plan)
    per_rank = launch(run_jobs, n, {"data": data, "jobs": quadratic + training, "desc": f"{n} workers"},
                      backend=plan.backend, timeout_s=timeout)
    timings["quadratic_and_training"] = time.perf_counter() - started
    q_metrics, q_rows, q_plot = ex.quadratic_metrics(plan, quadratic, [r[:len(quadratic)] for r in per_rank])
    t_metrics, t_rows, runs = ex.training_metrics(plan, training, per_rank[0][len(quadratic):])

    started = time.perf_counter()
    consensus = ex.consensus_jobs(plan)
    results = launch(run_jobs, int(plan.consensus.workers), {"jobs": consensus, "desc": "gossip"},
                     backend=plan.backend, timeout_s=timeout)[0]
    timings["consensus"] = time.perf_counter() - started
    c_metrics, c_rows, c_plot = ex.consensus_metrics(plan, consensus, results)
    metrics.update(q_metrics)
    metrics.update(c_metrics)
    metrics.update(t_metrics)
    for split in ("iid", "skewed"):
        for key, value in info[split].items():
            metrics[f"data/{split}/{key}"] = value
    metrics["timing/quadratic_and_training_s"] = timings["quadratic_and_training"]
    metrics["timing/consensus_s"] = timings["consensus"]

    t = plan.training
    train_topology = Topology.build(t.topology, n)
    figures = [plot_quadratic(q_plot["alphas"], q_plot["measured"], q_plot["closed"], q_plot["gt_error"],
                              results_dir / "quadratic.png"),
               plot_consensus(c_plot["curves"], c_plot["gaps"], float(plan.consensus.target), results_dir / "topology.png")]
    for mode in t.modes:
        figures.append(plot_training(runs, mode, ("skewed", "iid"), list(t.algorithms), int(t.local_steps),
                                     results_dir / f"training_{mode}.png",
                                     f"{plan.dataset}, {n} workers, {train_topology.describe()}, lr {t.lr:g}, "
                                     f"mean of {len(plan.seeds)} seeds"))
    skew = info["skewed"]
    sections = [
        "## Setting",
        f"Data: {plan.dataset}, {info['train']} training / {info['test']} test examples (seeded split, "
        f"test fraction {plan.test_fraction:g}), {info['inputs']} inputs; model: MLP {info['inputs']} → {plan.hidden} (tanh) → 10. "
        f"{n} worker processes ({plan.backend}); shards of {int(skew['shard_size'])} examples "
        f"({int(skew['dropped'])} dropped). Label-skewed shards: {skew['classes_per_worker_mean']:.2f} classes per "
        f"worker on average (at most {int(skew['classes_per_worker_max'])}), the top class {skew['top_class_share_mean']:.0%} "
        f"of a shard; i.i.d. shards: {info['iid']['classes_per_worker_mean']:.1f} classes, top class "
        f"{info['iid']['top_class_share_mean']:.0%}.",
        f"Training: {train_topology.describe()}, step {t.lr:g} for every algorithm, {t.rounds} "
        f"communication rounds, metrics every {t.eval_every} rounds at the network average x̄, mini-batch "
        f"{plan.batch_size} in streaming mode; local SGD takes K = {t.local_steps} local steps per round; "
        f"seeds {list(plan.seeds)}. Stationarity is the mean over the last {plan.tail_fraction:.0%} of the "
        "evaluation points. Floats sent count what the algorithm sends (gossip: degree × vector; all-reduce: "
        "2 (n − 1)/n × vector); the measuring all-reduces are not counted.",
        f"Wall time: quadratic + training {timings['quadratic_and_training']:.0f} s on {n} processes, gossip "
        f"{timings['consensus']:.0f} s on {plan.consensus.workers} processes.",
        "", "## The quadratic: DGD's fixed point and gradient tracking", "", *q_rows, "",
        "## Topology: gossip rounds against the spectral gap", "", *c_rows, "",
        "## Training curves (final values)", "", *t_rows, "",
    ]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
