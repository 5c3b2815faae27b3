"""The experiments of a scale as job lists for the workers (worker.py), and what the claims read from
their results. Every job list runs on one process group (comm.launch): the quadratic and the training
jobs on `workers` processes, the topology experiment on `consensus.workers`."""
from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError
from common.stats import compare, correlation
from papers.distributed_nonconvex.algorithms import ALGORITHMS
from papers.distributed_nonconvex.data import MODES, SPLITS, load, shards, skew_summary
from papers.distributed_nonconvex.topology import TOPOLOGIES, Topology


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def check_plan(plan: DictConfig) -> None:
    """Every value a scale needs, checked before a process starts."""
    n = _positive_int(plan.workers, "workers")
    _positive_int(plan.consensus.workers, "consensus.workers", 2)
    seeds = list(plan.seeds)
    if len(seeds) < 3 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must list at least 3 distinct seeds (claims compare methods over seeds), got {seeds}")
    for topology in [plan.quadratic.topology, plan.training.topology]:
        Topology.build(topology, n)  # names a bad topology
    for topology in plan.consensus.topologies:
        Topology.build(topology, plan.consensus.workers)
    b = np.asarray(OmegaConf.to_container(plan.quadratic.b), dtype=float)
    if b.ndim != 2 or len(b) != n:
        raise ConfigError(f"quadratic.b must list one vector per worker ({n} rows), got shape {b.shape}")
    for alpha in [*plan.quadratic.dgd_alphas, plan.quadratic.gt_alpha]:
        _positive(alpha, "quadratic alphas")
    if len(plan.quadratic.dgd_alphas) < 4:
        raise ConfigError("quadratic.dgd_alphas must list at least 4 step sizes (a rank correlation is claimed)")
    t = plan.training
    _positive(t.lr, "training.lr")
    _positive_int(t.rounds, "training.rounds")
    _positive_int(t.eval_every, "training.eval_every")
    _positive_int(t.local_steps, "training.local_steps")
    if not t.modes or any(mode not in MODES for mode in t.modes):
        raise ConfigError(f"training.modes must list some of {list(MODES)}, got {list(t.modes)}")
    if t.local_mode not in t.modes:
        raise ConfigError(f"training.local_mode must be one of training.modes {list(t.modes)}, got {t.local_mode!r}")
    missing = {"dpsgd", "gt", "local"} - set(t.algorithms)
    unknown = set(t.algorithms) - set(ALGORITHMS)
    if missing or unknown:
        raise ConfigError(f"training.algorithms must hold dpsgd, gt and local (claims compare them) and only "
                          f"{list(ALGORITHMS)}, got {list(t.algorithms)}")
    if not 0 < t.target_accuracy < 1:
        raise ConfigError(f"training.target_accuracy must be in (0, 1), got {t.target_accuracy!r}")
    if not 0 < plan.tail_fraction <= 1:
        raise ConfigError(f"tail_fraction must be in (0, 1], got {plan.tail_fraction!r}")
    if set(plan.consensus.topologies) != set(TOPOLOGIES):
        raise ConfigError(f"consensus.topologies must be {list(TOPOLOGIES)} (the ordering claim compares them)")


def data_payload(plan: DictConfig) -> tuple[dict, dict]:
    ds = load(plan.dataset, root=plan.get("data_root"), test_fraction=plan.test_fraction, seed=plan.data_seed)
    payload = {"x_train": torch.from_numpy(ds.x_train), "y_train": torch.from_numpy(ds.y_train),
               "x_test": torch.from_numpy(ds.x_test), "y_test": torch.from_numpy(ds.y_test), "classes": ds.classes}
    info = {"train": len(ds.y_train), "test": len(ds.y_test), "inputs": ds.x_train.shape[1]}
    for split in SPLITS:
        info[split] = skew_summary(ds.y_train, shards(ds.y_train, plan.workers, split, seed=plan.data_seed))
    return payload, info


def training_jobs(plan: DictConfig) -> list[dict]:
    """Every algorithm of `training.algorithms` on both splits in every mode, over every seed; local SGD only
    in `local_mode` (the mode its claims read: K full local gradients per round cost K times D-PSGD's)."""
    t = plan.training
    jobs = []
    for mode in t.modes:
        for split in SPLITS:
            for algorithm in t.algorithms:
                if algorithm == "local" and mode != t.local_mode:
                    continue
                for seed in plan.seeds:
                    jobs.append({"kind": "train", "algorithm": algorithm, "split": split, "mode": mode, "seed": int(seed),
                                 "topology": t.topology, "lr": float(t.lr), "rounds": int(t.rounds),
                                 "eval_every": int(t.eval_every), "batch_size": int(plan.batch_size),
                                 "hidden": int(plan.hidden), "split_seed": int(plan.data_seed),
                                 "tracking": bool(plan.tracking),
                                 "local_steps": int(t.local_steps) if algorithm == "local" else 1})
    return jobs


def quadratic_jobs(plan: DictConfig) -> list[dict]:
    q = plan.quadratic
    b = OmegaConf.to_container(q.b)
    jobs = [{"kind": "quadratic", "algorithm": "dpsgd", "alpha": float(a), "rounds": int(q.rounds), "b": b,
             "topology": q.topology} for a in q.dgd_alphas]
    jobs.append({"kind": "quadratic", "algorithm": "gt", "alpha": float(q.gt_alpha), "rounds": int(q.rounds), "b": b,
                 "topology": q.topology, "tracking": bool(plan.tracking)})
    return jobs


def consensus_jobs(plan: DictConfig) -> list[dict]:
    c = plan.consensus
    return [{"kind": "consensus", "topology": t, "seed": int(s), "dim": int(c.dim), "target": float(c.target),
             "max_rounds": int(c.max_rounds)} for t in c.topologies for s in plan.seeds]


# --------------------------------------------------------------------------- analysis


def dgd_fixed_point(w: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """DGD's fixed point on f_i = 0.5 ||x - b_i||^2: x* = alpha [(1 + alpha) I - W]^(-1) b."""
    return alpha * np.linalg.solve((1.0 + alpha) * np.eye(len(w)) - w, b)


def quadratic_metrics(plan, jobs, per_rank) -> tuple[dict, list[str], dict]:
    """per_rank[r][k]: rank r's result of job k."""
    q = plan.quadratic
    b = np.asarray(OmegaConf.to_container(q.b), dtype=float)
    w = Topology.build(q.topology, plan.workers).w
    metrics, rows = {}, ["| algorithm | alpha | max error to closed form | max_i ‖x_i − mean(b)‖ measured | closed form |",
                         "|---|---|---|---|---|"]
    closed_errors, offsets, alphas, closed_offsets = [], [], [], []
    for k, job in enumerate(jobs):
        xs = np.stack([per_rank[r][k]["x"].numpy() for r in range(plan.workers)])
        offset = float(np.linalg.norm(xs - b.mean(axis=0), axis=1).max())
        if job["algorithm"] == "dpsgd":
            closed = dgd_fixed_point(w, b, job["alpha"])
            error = float(np.abs(xs - closed).max())
            closed_offset = float(np.linalg.norm(closed - b.mean(axis=0), axis=1).max())
            closed_errors.append(error)
            offsets.append(offset)
            alphas.append(job["alpha"])
            closed_offsets.append(closed_offset)
            metrics[f"quadratic/dgd/a{job['alpha']:g}/offset"] = offset
            rows.append(f"| DGD | {job['alpha']:g} | {error:.2e} | {offset:.6f} | {closed_offset:.6f} |")
        else:
            metrics["quadratic/gt/error"] = offset
            rows.append(f"| gradient tracking{'' if job.get('tracking', True) else ' (tracking off)'} | {job['alpha']:g} | "
                        f"| {offset:.2e} | 0 |")
    metrics["quadratic/dgd/closed_form_max_error"] = max(closed_errors)
    metrics["quadratic/dgd/offset_min"] = min(offsets)
    if np.all(np.isfinite(offsets)):
        metrics.update(correlation(alphas, offsets, method="spearman", alternative="greater").as_metrics(
            "quadratic/dgd/offset_vs_alpha"))
    else:  # a step past DGD's stability limit (|lambda_i(W) - alpha| >= 1): no order to test
        metrics["quadratic/dgd/offset_vs_alpha/p_value"] = 1.0
    return metrics, rows, {"alphas": alphas, "measured": offsets, "closed": closed_offsets,
                           "gt_error": metrics["quadratic/gt/error"]}


def consensus_metrics(plan, jobs, results) -> tuple[dict, list[str], dict]:
    c = plan.consensus
    rounds: dict[str, list[float]] = {t: [] for t in c.topologies}
    curves: dict[str, list[list[float]]] = {t: [] for t in c.topologies}
    for job, result in zip(jobs, results, strict=True):
        rounds[job["topology"]].append(float(result["rounds_to_target"]))
        curves[job["topology"]].append(result["errors"])
    metrics, rows = {}, [f"| topology ({c.workers} workers) | spectral gap | rounds to consensus error ≤ {c.target:g} × start "
                         f"(mean ± sd over {len(plan.seeds)} seeds) | floats sent per worker per round |", "|---|---|---|---|"]
    gaps = {}
    for t in c.topologies:
        topo = Topology.build(t, c.workers)
        gaps[t] = topo.gap
        metrics[f"topology/{t}/gap"] = topo.gap
        metrics[f"topology/{t}/rounds_to_target"] = float(np.mean(rounds[t]))
        degree = len(topo.adjacency[0])
        rows.append(f"| {topo.describe()} | {topo.gap:.4f} | {np.mean(rounds[t]):.1f} ± {np.std(rounds[t], ddof=1):.1f} | "
                    f"{degree} × {c.dim} |")
    for slow, fast in (("ring", "torus"), ("torus", "complete")):
        comparison = compare(rounds[slow], rounds[fast], alternative="greater")
        metrics.update(comparison.as_metrics(f"topology/{slow}_vs_{fast}"))
        metrics[f"topology/{slow}_vs_{fast}/margin_over_sd"] = _margin(comparison)
    return metrics, rows, {"curves": curves, "gaps": gaps}


def _margin(comparison) -> float:
    """The mean difference over its seed spread (a large finite number when the spread is 0)."""
    if comparison.sd_difference == 0:
        return 1e6 if comparison.mean_difference > 0 else (-1e6 if comparison.mean_difference < 0 else 0.0)
    return comparison.mean_difference / comparison.sd_difference


# log10 stationarity given to a run that diverged (a non-finite or huge value), so that it loses every
# comparison instead of stopping the analysis
DIVERGED_LOG10 = 10.0


def tail_mean(history: list[dict], key: str, fraction: float) -> float:
    """The mean of `key` over the last `fraction` of the evaluation points (at least one); a run that
    diverged counts as 10^DIVERGED_LOG10."""
    values = [p[key] for p in history]
    k = max(1, int(round(fraction * len(values))))
    value = float(np.mean(values[-k:]))
    return value if np.isfinite(value) and value < 10 ** DIVERGED_LOG10 else 10 ** DIVERGED_LOG10


def rounds_to(history: list[dict], key: str, target: float, never: float) -> float:
    for point in history:
        if point[key] >= target:
            return float(point["round"])
    return float(never)


def training_metrics(plan, jobs, results) -> tuple[dict, list[str], dict]:
    t = plan.training
    metrics: dict[str, float] = {}
    rows = ["| split | mode | algorithm | stationarity ‖∇f(x̄)‖² (tail mean; log10 mean ± sd) | consensus error | "
            f"test accuracy | floats sent / worker | rounds to test acc ≥ {t.target_accuracy:g} |",
            "|---|---|---|---|---|---|---|---|"]
    runs: dict[tuple, list[list[dict]]] = {}
    for job, result in zip(jobs, results, strict=True):
        runs.setdefault((job["split"], job["mode"], job["algorithm"]), []).append(result["history"])
    never = float(t.rounds + t.eval_every)  # a run that never reaches the target counts one evaluation past the end

    def log_stat(key):
        return [float(np.log10(tail_mean(h, "stationarity", plan.tail_fraction))) for h in runs[key]]

    def reach(key):
        return [rounds_to(h, "test_accuracy", t.target_accuracy, never) for h in runs[key]]

    for (split, mode, algorithm), histories in runs.items():
        prefix = f"train/{split}/{mode}/{algorithm}"
        stationarity = [tail_mean(h, "stationarity", plan.tail_fraction) for h in histories]
        logs = log_stat((split, mode, algorithm))
        accuracy = [h[-1]["test_accuracy"] for h in histories]
        consensus = [tail_mean(h, "consensus", plan.tail_fraction) for h in histories]
        floats = histories[0][-1]["floats_sent"]
        reached = reach((split, mode, algorithm))
        metrics[f"{prefix}/log10_stationarity"] = float(np.mean(logs))
        metrics[f"{prefix}/test_accuracy"] = float(np.mean(accuracy))
        metrics[f"{prefix}/consensus"] = float(np.mean(consensus))
        metrics[f"{prefix}/floats_sent"] = float(floats)
        metrics[f"{prefix}/rounds_to_target"] = float(np.mean(reached))
        metrics[f"{prefix}/diverged"] = float(sum(not np.isfinite(h[-1]["train_loss"]) for h in histories))
        rows.append(f"| {split} | {mode} | {algorithm} | {np.mean(stationarity):.2e} ({np.mean(logs):.2f} ± "
                    f"{np.std(logs, ddof=1):.2f}) | {np.mean(consensus):.2e} | {np.mean(accuracy):.4f} ± "
                    f"{np.std(accuracy, ddof=1):.4f} | {floats:.3g} | {np.mean(reached):.0f} ± {np.std(reached, ddof=1):.0f} |")
    # gradient tracking against D-PSGD: log10 stationarity of D-PSGD minus GT's (> 0: GT lower)
    for mode in t.modes:
        for split in SPLITS:
            d, g = log_stat((split, mode, "dpsgd")), log_stat((split, mode, "gt"))
            prefix = f"gt_vs_dpsgd/{split}/{mode}"
            greater = compare(d, g, alternative="greater")
            metrics.update(greater.as_metrics(prefix))
            metrics[f"{prefix}/margin_over_sd"] = _margin(greater)
            metrics[f"{prefix}/p_value_two_sided"] = compare(d, g, alternative="two-sided").p_value
            metrics[f"{prefix}/abs_difference"] = abs(greater.mean_difference)
    if {"batch", "streaming"} <= set(t.modes):
        # batch against streaming: GT's gain over D-PSGD per seed (log10), larger with full local gradients?
        gains = {mode: np.subtract(log_stat(("skewed", mode, "dpsgd")), log_stat(("skewed", mode, "gt"))) for mode in MODES}
        batch_vs_streaming = compare(gains["batch"], gains["streaming"], alternative="greater")
        metrics.update(batch_vs_streaming.as_metrics("gt_vs_dpsgd/skewed/batch_minus_streaming"))
        metrics["gt_vs_dpsgd/skewed/batch_minus_streaming/margin_over_sd"] = _margin(batch_vs_streaming)
    # local SGD against D-PSGD: rounds to the target test accuracy, and the advantage log2(rounds D-PSGD / local)
    advantage = {}
    for split in SPLITS:
        d, loc = reach((split, t.local_mode, "dpsgd")), reach((split, t.local_mode, "local"))
        comparison = compare(d, loc, alternative="greater")
        metrics.update(comparison.as_metrics(f"local_vs_dpsgd/{split}"))
        metrics[f"local_vs_dpsgd/{split}/margin_over_sd"] = _margin(comparison)
        advantage[split] = np.log2(np.asarray(d) / np.asarray(loc))
        metrics[f"local_vs_dpsgd/{split}/log2_advantage"] = float(advantage[split].mean())
    shrink = compare(advantage["iid"], advantage["skewed"], alternative="greater")
    metrics.update(shrink.as_metrics("local_vs_dpsgd/advantage_iid_minus_skewed"))
    metrics["local_vs_dpsgd/advantage_iid_minus_skewed/margin_over_sd"] = _margin(shrink)
    return metrics, rows, runs
