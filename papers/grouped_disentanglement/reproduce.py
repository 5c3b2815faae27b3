"""grouped_disentanglement's part of `scripts/reproduce.py`: the grouped VAE with the MI penalty on and
off over seeds, the group-size sweep, the SVM read-out of both codes, and the figures.

The plan (configs/paper/grouped_disentanglement.yaml, one scale):
- `experiment` trained per seed in `seeds` with the `mi_on` overrides and with the `mi_off`
  overrides (the paper's baseline, in the same run), at the experiment's group size:
  `<arm>/<metric>` (mean over seeds, `.sd` beside) for the test metrics of
  papers.grouped_disentanglement.model.GroupedVAE (content_acc, style_acc, their sampled-code
  variants, nll, rec, lambda).
- `style_drop`: MI off minus MI on style accuracy, a one-sided two-sample permutation test over seeds
  (common.stats.compare: difference, difference_sd, p_value, n); `style_drop/margin` = difference -
  difference_sd (the margin over the seed spread); `content_change` likewise (on minus off);
  `nll_gap` = (on - off) / off, the relative test NLL cost of the penalty.
- `rec_ratio/<arm>`: the test reconstruction NLL over that of the per-pixel marginal of the training
  images (a model that ignores the image), a floor on reconstruction.
- `group_sizes`: every G trained per seed in `sweep_seeds`, both arms (G = the experiment's own reuses
  the main runs' first seeds): `g<G>/<arm>/<metric>`.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from common.experiment import PaperResults, load_trained_run, train_experiment
from common.stats import compare
from papers.grouped_disentanglement.plots import (
    plot_group_size_sweep,
    plot_style_transfer,
    plot_traversals,
)

ARMS = ("mi_on", "mi_off")
METRICS = ("content_acc", "style_acc", "content_sampled_acc", "style_sampled_acc", "nll", "rec", "lambda")


def _summary(prefix: str, runs: list[dict]) -> dict[str, float]:
    out = {}
    for metric in METRICS:
        values = [float(r[f"test/{metric}"]) for r in runs if f"test/{metric}" in r]
        if values:
            out[f"{prefix}/{metric}"] = statistics.fmean(values)
            if len(values) > 1:
                out[f"{prefix}/{metric}.sd"] = statistics.stdev(values)
    return out


def marginal_reconstruction_nll(train_images: torch.Tensor, test_images: torch.Tensor) -> float:
    """Per-image Bernoulli NLL (nats) of the test images under the training images' per-pixel means."""
    p = train_images.float().mean(0).clamp(1e-4, 1 - 1e-4)
    x = test_images.float()
    return float(-(x * torch.log(p) + (1 - x) * torch.log1p(-p)).flatten(1).sum(1).mean())


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    torch.set_num_threads(int(plan.get("threads", 1)))
    arms = {"mi_on": list(plan.mi_on), "mi_off": list(plan.mi_off)}
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for seed in plan.seeds:
        for arm in ARMS:
            runs[arm].append(train_experiment(cfg, plan.experiment, arms[arm], seed=seed))
    metrics: dict[str, float] = {}
    for arm in ARMS:
        metrics.update(_summary(arm, runs[arm]))
        for seed, r in zip(plan.seeds, runs[arm], strict=True):  # per seed: where lambda ended, and the accuracies
            for metric in ("style_acc", "content_acc", "lambda"):
                if f"test/{metric}" in r:
                    metrics[f"{arm}/seed{seed}/{metric}"] = float(r[f"test/{metric}"])

    style = {arm: [float(r["test/style_acc"]) for r in runs[arm]] for arm in ARMS}
    content = {arm: [float(r["test/content_acc"]) for r in runs[arm]] for arm in ARMS}
    drop = compare(style["mi_off"], style["mi_on"], alternative="greater")
    metrics.update(drop.as_metrics("style_drop"))
    metrics["style_drop/margin"] = drop.mean_difference - drop.sd_difference
    change = compare(content["mi_on"], content["mi_off"], alternative="two-sided")
    metrics.update(change.as_metrics("content_change"))
    metrics["nll_gap"] = (metrics["mi_on/nll"] - metrics["mi_off/nll"]) / metrics["mi_off/nll"]

    loaded = {arm: load_trained_run(runs[arm][0]["run_dir"]) for arm in ARMS}
    datamodule = loaded["mi_on"][0]
    baseline = marginal_reconstruction_nll(datamodule.arrays["train"][0], datamodule.arrays["test"][0])
    metrics["rec_marginal"] = baseline
    for arm in ARMS:
        metrics[f"rec_ratio/{arm}"] = metrics[f"{arm}/rec"] / baseline

    # the group-size sweep
    main_g = int(datamodule.group_size)
    sweep: dict[int, dict[str, list[dict]]] = {}
    for g in plan.group_sizes:
        g = int(g)
        sweep[g] = {arm: [] for arm in ARMS}
        for index, seed in enumerate(plan.sweep_seeds):
            for arm in ARMS:
                if g == main_g and index < len(plan.seeds) and plan.seeds[index] == seed:
                    sweep[g][arm].append(runs[arm][index])
                else:
                    sweep[g][arm].append(train_experiment(cfg, plan.experiment, [*arms[arm], f"data.group_size={g}"],
                                                          seed=seed))
        for arm in ARMS:
            metrics.update(_summary(f"g{g}/{arm}", sweep[g][arm]))

    figures = _figures(plan, loaded, metrics, results_dir)
    sections = _sections(plan, metrics, datamodule, main_g)
    return PaperResults(metrics=metrics, figures=figures, sections=sections)


def _figures(plan, loaded, metrics, results_dir: Path) -> list[Path]:
    datamodule = loaded["mi_on"][0]
    x_test, y_test = datamodule.arrays["test"]
    rng = np.random.default_rng(0)
    # one test image of each of the first classes, in class order, as content and as style sources
    count = int(plan.get("figure_images", 8))
    classes = np.unique(y_test.numpy())[:count]
    chosen = [int(rng.choice(np.flatnonzero(y_test.numpy() == k))) for k in classes]
    sources = x_test[chosen]
    models = {arm: model for arm, (_, model) in loaded.items()}
    figures = [plot_style_transfer(models, sources, results_dir / "style_transfer.png")]
    figures.append(plot_traversals(models["mi_on"], sources[0:1], results_dir / "traversals.png",
                                   title="MI on (first seed): latent traversals from one test image"))
    table = {arm: {int(g): (metrics.get(f"g{g}/{arm}/content_acc"), metrics.get(f"g{g}/{arm}/style_acc"))
                   for g in plan.group_sizes} for arm in ARMS}
    figures.append(plot_group_size_sweep(table, results_dir / "accuracy_vs_group_size.png"))
    return figures


def _cell(metrics, key, digits=3):
    if key not in metrics:
        return "—"
    sd = metrics.get(key + ".sd")
    return f"{metrics[key]:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def _sections(plan, metrics, datamodule, main_g) -> list[str]:
    n_train, n_test = len(datamodule.arrays["train"][1]), len(datamodule.arrays["test"][1])
    n_groups = len(datamodule.test_set)
    lines = [
        "## MI penalty on and off (test images; mean ± sd over seeds)",
        "",
        f"Data: {datamodule.source}, {n_train} training images, {n_test} test images in {n_groups} fixed test "
        f"groups of {main_g}; the SVM (RBF, gamma 'scale') fits the codes of {datamodule.n_fit} labelled training "
        f"images. Seeds {list(plan.seeds)}. Chance: {1 / len(np.unique(datamodule.arrays['test'][1].numpy())):.2f}.",
        "",
        "| | content acc (mean code) | style acc (mean code) | content acc (sampled) | style acc (sampled) "
        "| test NLL (nats/image) | reconstruction NLL | final lambda |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        lines.append(f"| {arm.replace('_', ' ')} | " + " | ".join(
            _cell(metrics, f"{arm}/{m}", 2 if m in ("nll", "rec", "lambda") else 3) for m in METRICS) + " |")
    lines += [
        "",
        f"Style accuracy drop (off − on): {metrics['style_drop/difference']:.3f} (seed spread "
        f"{metrics['style_drop/difference_sd']:.3f}, one-sided permutation p = {metrics['style_drop/p_value']:.4f}, "
        f"n = {int(metrics['style_drop/n'])} seeds per arm). Content accuracy change (on − off): "
        f"{metrics['content_change/difference']:+.3f} (two-sided p = {metrics['content_change/p_value']:.4f}). "
        f"Test NLL with MI on is {100 * metrics['nll_gap']:+.1f} % of MI off's. Reconstruction NLL of the per-pixel "
        f"marginal: {metrics['rec_marginal']:.1f} nats/image.",
        "",
        "Per seed (mean-code SVM accuracies; lambda at the end of training):",
        "",
        "| seed | style acc, MI on | style acc, MI off | content acc, MI on | content acc, MI off | final lambda, MI on |",
        "|---|---|---|---|---|---|",
        *[f"| {seed} | " + " | ".join(_cell(metrics, f"{arm}/seed{seed}/{m}", 2 if m == "lambda" else 3)
                                     for m, arm in (("style_acc", "mi_on"), ("style_acc", "mi_off"),
                                                    ("content_acc", "mi_on"), ("content_acc", "mi_off"),
                                                    ("lambda", "mi_on"))) + " |"
          for seed in plan.seeds],
        "",
        f"## Group-size sweep (seeds {list(plan.sweep_seeds)})",
        "",
        "| group size | content acc, MI on | content acc, MI off | style acc, MI on | style acc, MI off | NLL, MI on | NLL, MI off |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in plan.group_sizes:
        lines.append(f"| {g} | " + " | ".join(
            _cell(metrics, f"g{g}/{arm}/{m}", 2 if m == "nll" else 3)
            for m in ("content_acc", "style_acc", "nll") for arm in ARMS) + " |")
    return lines + [""]
