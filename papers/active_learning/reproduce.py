"""active_learning's part of `scripts/reproduce.py`: pool-based active learning after PyRelationAL.

What runs is `scales.<scale>` of configs/paper/active_learning.yaml:
- `seeds`: every (benchmark, set-up, strategy) runs once per seed; a seed fixes the split and the first
  labels, so every strategy of a seed starts from the same labelled set.
- `benchmarks.<name>`: `dataset` (digits | breast_cancer | diabetes | mnist), `root` (MNIST's folder),
  `split` ({train, val, test}: counts or fractions), `setups` ({name: {setup: cold | warm | stratified |
  random, initial_size}}), `model` (models.make_model), `strategies` (names, or {label, name, sampler,
  retrain}), `batch_size` (labels per round), `rounds` (evaluations; null: until the pool is empty),
  `higher_is_better`, `reference` (the strategy whose final score the others must reach: random) and
  `comparisons` ([{a, b, alternative, paired}]: permutation tests of a's AUC against b's over the seeds,
  paired by seed unless paired=false, since a seed's strategies share its split and first labels).
- `peer` (optional): scikit-activeml's uncertainty sampling beside ours (peer.py).
- `random_scores`: true replaces every strategy's scores by uniform random numbers (the mechanism off).
- `threads`: torch's CPU threads.

Metrics per benchmark/set-up/strategy (mean over seeds, `.sd` beside): `auc` (trapezoid over the
rounds, unit spacing), `mean_score` (auc / (rounds - 1)), `first`, `final`, `labels_to_reference`
(labels the seed-mean curve needs to reach the reference's final seed-mean score; absent if never),
and per comparison `<a>_vs_<b>/{difference, difference_sd, p_value, n, excess}` with excess = the
margin in the claimed direction minus the seed spread of the difference.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from common.errors import ConfigError
from common.experiment import PaperResults
from common.stats import compare
from papers.active_learning.analysis import auc, labels_to_reach, plot_curves
from papers.active_learning.data import load_benchmark
from papers.active_learning.data_manager import make_manager
from papers.active_learning.loop import check_compatible, run_loop
from papers.active_learning.models import make_model
from papers.active_learning.peer import run_peer
from papers.active_learning.strategies import Strategy

TASK_OF = {"digits": "classification", "breast_cancer": "classification", "mnist": "classification",
           "diabetes": "regression"}
YLABEL = {"digits": "test accuracy", "mnist": "test accuracy", "breast_cancer": "test balanced accuracy",
          "diabetes": "test MSE"}


def _strategy_specs(bench: DictConfig, task: str, random_scores: bool) -> list[tuple[str, Strategy, bool]]:
    """(label, strategy, retrain) per entry of bench.strategies, each checked."""
    specs = []
    for entry in bench.strategies:
        if isinstance(entry, str):
            entry = {"name": entry}
        entry = dict(entry)
        unknown = set(entry) - {"label", "name", "sampler", "retrain"}
        if unknown:
            raise ConfigError(f"strategies: unknown keys {sorted(unknown)} (a strategy has label, name, sampler, retrain)")
        strategy = Strategy(entry["name"], task, entry.get("sampler", "top_k"),
                            random_scores=random_scores and entry["name"] != "random")
        specs.append((entry.get("label", entry["name"]), strategy, bool(entry.get("retrain", True))))
    labels = [s[0] for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"strategies: duplicate labels {labels}")
    return specs


def check_plan(plan: DictConfig) -> None:
    """Every name, size and pairing in the plan checked before anything trains."""
    seeds = list(plan.seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be >= 2 distinct integers, got {seeds}")
    for name, bench in plan.benchmarks.items():
        if bench.dataset not in TASK_OF:
            raise ConfigError(f"benchmarks.{name}.dataset must be one of {list(TASK_OF)}, got {bench.dataset!r}")
        task = TASK_OF[bench.dataset]
        model = make_model(OmegaConf.to_container(bench.model))
        specs = _strategy_specs(bench, task, bool(plan.get("random_scores", False)))
        for _, strategy, _ in specs:
            check_compatible(strategy, model, bench.batch_size)
        labels = {s[0] for s in specs}
        for comparison in bench.get("comparisons", []):
            for side in (comparison.a, comparison.b):
                if side not in labels:
                    raise ConfigError(f"benchmarks.{name}.comparisons: {side!r} is not one of its strategies {sorted(labels)}")
        if bench.reference not in labels:
            raise ConfigError(f"benchmarks.{name}.reference={bench.reference!r} is not one of its strategies")
        if bench.rounds is not None and bench.rounds < 2:
            raise ConfigError(f"benchmarks.{name}.rounds must be >= 2 or null, got {bench.rounds}")
        x, y, fixed_test = load_benchmark(bench.dataset, bench.get("root"), bool(bench.get("full_mnist", False)))
        for setup_name, setup in bench.setups.items():
            manager = make_manager(x, y, OmegaConf.to_container(bench.split), setup.setup,
                                   np.random.default_rng([seeds[0], 11]), setup.get("initial_size"), task, fixed_test)
            if bench.batch_size > len(manager.unlabelled):
                raise ConfigError(f"benchmarks.{name}.batch_size={bench.batch_size} is larger than the unlabelled pool "
                                  f"({len(manager.unlabelled)} points) of set-up {setup_name}")


def run_benchmark(name: str, bench: DictConfig, plan: DictConfig, results_dir: Path
                  ) -> tuple[dict[str, float], list[Path], list[str]]:
    task = TASK_OF[bench.dataset]
    higher = task == "classification"
    x, y, fixed_test = load_benchmark(bench.dataset, bench.get("root"), bool(bench.get("full_mnist", False)))
    specs = _strategy_specs(bench, task, bool(plan.get("random_scores", False)))
    seeds = [int(s) for s in plan.seeds]
    metrics, figures = {}, []
    sections = [f"## {name}: {bench.dataset}, {len(y)} points", "",
                f"Split {dict(bench.split)}; model {dict(bench.model)}; {bench.batch_size} label(s) per round; "
                f"{bench.rounds or 'until the pool is empty:'} rounds; seeds {seeds}. "
                f"Score: {YLABEL[bench.dataset]} ({'higher' if higher else 'lower'} is better). AUC: trapezoid over "
                "the rounds with unit spacing. Labels to reach: the first labelled-set size at which the strategy's "
                f"seed-mean curve reaches {bench.reference}'s final seed-mean score.", ""]
    for setup_name, setup in bench.setups.items():
        prefix = f"{name}/{setup_name}"
        curves, labels_axis, aucs, seconds = {}, None, {}, {}
        total = len(specs) * len(seeds)
        with tqdm(total=total, desc=prefix, unit="curve") as bar:
            for label, strategy, retrain in specs:
                runs, times = [], []
                for seed in seeds:
                    rng = np.random.default_rng([seed, 11])
                    manager = make_manager(x, y, OmegaConf.to_container(bench.split), setup.setup, rng,
                                           setup.get("initial_size"), task, fixed_test)
                    model = make_model(OmegaConf.to_container(bench.model))
                    curve = run_loop(manager, model, strategy, bench.rounds, int(bench.batch_size), seed, retrain)
                    runs.append(curve.scores)
                    times.extend(curve.round_seconds)
                    if labels_axis is None:
                        labels_axis = np.asarray(curve.labels)
                    bar.update(1)
                lengths = {len(r) for r in runs}
                if len(lengths) != 1:
                    raise ConfigError(f"{prefix}/{label}: curves of different lengths over seeds {sorted(lengths)}")
                curves[label] = np.asarray(runs)
                aucs[label] = np.array([auc(r) for r in runs])
                seconds[label] = float(np.mean(times))
        rounds = curves[specs[0][0]].shape[1]
        ref_final = curves[bench.reference][:, -1].mean()
        rows = ["| strategy | AUC | mean score | first | final | labels to reach "
                f"{bench.reference}'s final {ref_final:.4g} | s / round |", "|---|---|---|---|---|---|---|"]
        for label, values in curves.items():
            key = f"{prefix}/{label}"
            a = aucs[label]
            metrics[f"{key}/auc"] = float(a.mean())
            metrics[f"{key}/auc.sd"] = float(a.std(ddof=1))
            metrics[f"{key}/mean_score"] = float(a.mean() / (rounds - 1))
            metrics[f"{key}/mean_score.sd"] = float(a.std(ddof=1) / (rounds - 1))
            metrics[f"{key}/first"] = float(values[:, 0].mean())
            metrics[f"{key}/final"] = float(values[:, -1].mean())
            metrics[f"{key}/final.sd"] = float(values[:, -1].std(ddof=1))
            metrics[f"{key}/round_seconds"] = seconds[label]
            reach = labels_to_reach(labels_axis, values.mean(0), ref_final, higher)
            if reach is not None:
                metrics[f"{key}/labels_to_reference"] = reach
            rows.append(f"| {label} | {a.mean():.4g} ± {a.std(ddof=1):.2g} | {a.mean() / (rounds - 1):.4g} "
                        f"| {values[:, 0].mean():.4g} | {values[:, -1].mean():.4g} ± {values[:, -1].std(ddof=1):.2g} "
                        f"| {'not reached' if reach is None else f'{reach:g}'} | {seconds[label]:.3g} |")
        comparison_rows = []
        for comparison in bench.get("comparisons", []):
            alternative = comparison.get("alternative", "greater" if higher else "less")
            result = compare(aucs[comparison.a], aucs[comparison.b], paired=bool(comparison.get("paired", True)),
                             alternative=alternative)
            ckey = f"{prefix}/{comparison.a}_vs_{comparison.b}"
            metrics.update(result.as_metrics(ckey))
            direction = {"greater": 1.0, "less": -1.0, "two-sided": 0.0}[alternative]
            excess = (direction * result.mean_difference if direction else -abs(result.mean_difference)) - result.sd_difference
            metrics[f"{ckey}/excess"] = excess
            comparison_rows.append(f"| {comparison.a} − {comparison.b} | {alternative} | {result.mean_difference:.4g} "
                                   f"| {result.sd_difference:.3g} | {result.p_value:.4g} | {result.n_a} vs {result.n_b}"
                                   f"{' paired' if result.paired else ''} |")
        sections += [f"### {prefix} (set-up: {setup.setup}, initial {setup.get('initial_size', 'one per class' if higher else 'two farthest')})",
                     "", *rows, ""]
        if comparison_rows:
            sections += ["AUC comparisons (permutation p-value, exact):", "",
                         "| a − b | alternative | difference | seed sd of difference | p | n |", "|---|---|---|---|---|---|",
                         *comparison_rows, ""]
        path = results_dir / f"{name}_{setup_name}.png"
        figures.append(plot_curves(curves, labels_axis, f"{name} ({setup_name} start), mean ± sd over {len(seeds)} seeds",
                                   YLABEL[bench.dataset], path, dict(bench.get("paper_lines") or {})))
    return metrics, figures, sections


def run_peer_comparison(peer: DictConfig, plan: DictConfig) -> tuple[dict[str, float], list[str]]:
    bench = plan.benchmarks[peer.benchmark]
    setup = bench.setups[peer.setup]
    x, y, fixed_test = load_benchmark(bench.dataset, bench.get("root"), bool(bench.get("full_mnist", False)))
    rounds = peer.get("rounds", bench.rounds)
    ours, theirs = [], []
    for seed in tqdm([int(s) for s in plan.seeds], desc="peer: scikit-activeml", unit="seed"):
        for mode, out in (("ours", ours), ("peer", theirs)):
            manager = make_manager(x, y, OmegaConf.to_container(bench.split), setup.setup, np.random.default_rng([seed, 11]),
                                   setup.get("initial_size"), "classification", fixed_test)
            out.append(run_peer(manager, make_model(OmegaConf.to_container(bench.model)), rounds, seed, mode))
    auc_ours, auc_theirs = np.array([o["auc"] for o in ours]), np.array([t["auc"] for t in theirs])
    result = compare(auc_ours, auc_theirs, alternative="two-sided")
    metrics = {"peer/same_index": float(np.mean([o["same_index"] for o in ours])),
               "peer/same_score": float(np.mean([o["same_score"] for o in ours])),
               "peer/ours_auc": float(auc_ours.mean()), "peer/ours_auc.sd": float(auc_ours.std(ddof=1)),
               "peer/skactiveml_auc": float(auc_theirs.mean()), "peer/skactiveml_auc.sd": float(auc_theirs.std(ddof=1)),
               "peer/abs_auc_difference": abs(result.mean_difference), "peer/auc_difference_sd": result.sd_difference,
               "peer/auc_p_two_sided": result.p_value,
               "peer/abs_difference_over_sd": abs(result.mean_difference) / max(result.sd_difference, 1e-12),
               "peer/ours_round_seconds": float(np.mean([o["round_seconds"] for o in ours])),
               "peer/skactiveml_round_seconds": float(np.mean([t["round_seconds"] for t in theirs]))}
    sections = ["## Peer: scikit-activeml 1.0.1 uncertainty sampling (least confident)", "",
                f"Task {peer.benchmark}/{peer.setup}, the same 10-tree forest, one label per round, {rounds or 'all'} rounds, "
                f"seeds {list(plan.seeds)}.", "",
                "| | ours | scikit-activeml |", "|---|---|---|",
                f"| AUC (own loop) | {auc_ours.mean():.4g} ± {auc_ours.std(ddof=1):.2g} | {auc_theirs.mean():.4g} ± {auc_theirs.std(ddof=1):.2g} |",
                f"| wall time of one round (fit + score + choose), s | {metrics['peer/ours_round_seconds']:.4g} "
                f"| {metrics['peer/skactiveml_round_seconds']:.4g} |", "",
                f"Given our fitted forest at each round of our loop, scikit-activeml picked our point in "
                f"{metrics['peer/same_index']:.1%} of rounds and a point with our top score in {metrics['peer/same_score']:.1%} "
                "(ties: the forest's probabilities are multiples of 1/10; we break ties by position, it at random). "
                f"AUC difference {result.mean_difference:.4g} (seed sd {result.sd_difference:.3g}, two-sided p {result.p_value:.3g}).", ""]
    return metrics, sections


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    check_plan(plan)
    threads = plan.get("threads")
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    metrics, figures, sections = {}, [], []
    if plan.get("random_scores", False):
        sections += ["**Mechanism off: every strategy's scores are uniform random numbers.**", ""]
    try:
        for name, bench in plan.benchmarks.items():
            started = time.perf_counter()
            m, f, s = run_benchmark(name, bench, plan, results_dir)
            m[f"{name}/minutes"] = (time.perf_counter() - started) / 60
            metrics.update(m)
            figures += f
            sections += s
        if plan.get("peer"):
            m, s = run_peer_comparison(plan.peer, plan)
            metrics.update(m)
            sections += s
    finally:
        torch.set_num_threads(before)
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
