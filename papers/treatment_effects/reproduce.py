"""treatment_effects' part of `scripts/reproduce.py`: DKLITE and baselines over replications.

What runs is `scales.<scale>` of configs/paper/treatment_effects.yaml:
- `datasets`: name -> {experiment, replications}; `tiny` (generated, moderate selection), `heavy`
  (generated with a heavy-tailed effect), `ihdp`, `twins`, `jobs`. IHDP's and tiny's metrics keep
  plain keys (`dklite/out_sqrt_pehe`); the others are prefixed with the data set's name (`heavy/`).
- `baselines`: which of baselines.BASELINES run beside DKLITE on the same units (those whose
  library is missing are skipped and said so).
- `uncertainty`: `posterior` (DKLITE's predictive variance ranks the units) or `random` (a seeded
  random ranking: the mechanism switched off, which the variance claims must then fail).
- `datasets.<name>.variants` (optional): name -> overrides, DKLITE rerun with each (the public
  code's choices one at a time), keys `<prefix>variant_<name>/...`.
- `ablation` (optional): the variance-term ablation, {experiment, replications, overrides}.
Per data set: mean, standard error and median over replications of every score, the per-replication
headline score, and √PEHE after dropping the 10 % of units with the highest predicted variance.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch
from omegaconf import DictConfig
from tqdm import tqdm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common.errors import ConfigError  # noqa: E402
from common.experiment import PaperResults, load_trained_run, train_experiment  # noqa: E402
from papers.treatment_effects.baselines import AVAILABLE, BASELINES, score  # noqa: E402
from papers.treatment_effects.metrics import mean_and_stderr, sqrt_pehe, sqrt_pehe_keeping  # noqa: E402
from papers.treatment_effects.model import KEEP  # noqa: E402

EFFECT_SCORES = ("in_sqrt_pehe", "out_sqrt_pehe", "in_ate_error", "out_ate_error")
POLICY_SCORES = ("in_policy_risk", "out_policy_risk", "in_att_error", "out_att_error")
KEEP_SCORES = ("in_sqrt_pehe_keep90", "out_sqrt_pehe_keep90", "in_keep90_ratio", "out_keep90_ratio")
HEADERS = {"in_sqrt_pehe": "in-sample √PEHE", "out_sqrt_pehe": "out-of-sample √PEHE", "in_ate_error": "in-sample ε_ATE",
           "out_ate_error": "out-of-sample ε_ATE", "in_policy_risk": "in-sample R_pol", "out_policy_risk": "out-of-sample R_pol",
           "in_att_error": "in-sample ε_ATT", "out_att_error": "out-of-sample ε_ATT",
           "in_sqrt_pehe_keep90": "in-sample √PEHE, 90 % least uncertain",
           "out_sqrt_pehe_keep90": "out-of-sample √PEHE, 90 % least uncertain",
           "in_keep90_ratio": "in-sample ratio kept/all", "out_keep90_ratio": "out-of-sample ratio kept/all",
           "out_sqrt_pehe_over_sd": "out-of-sample √PEHE / sd of true effects"}
LABELS = {"dklite": "DKLITE", "t_learner": "T-learner (RF, OOB-tuned)", "s_learner": "S-learner (RF, OOB-tuned)",
          "causal_forest": "Causal forest (econml)", "tarnet": "TARNet (same encoder)",
          "catenets_tarnet": "TARNet (catenets)", "catenets_cfrnet": "CFRNet (catenets)",
          "catenets_dragonnet": "DragonNet (catenets)", "dklite_no_variance": "DKLITE without variance term"}
NAMES = {"tiny": "generated replications", "heavy": "generated replications with heavy-tailed effects",
         "ihdp": "IHDP replications", "twins": "Twins replications", "jobs": "Jobs replications"}
UNCERTAINTY = ("posterior", "random")


def uncertainty_scores(effects: np.ndarray, true: np.ndarray, variance: np.ndarray, train: np.ndarray) -> dict:
    """√PEHE of the 90 % of units with the lowest predicted variance, and its ratio to √PEHE on all."""
    scores = {}
    for prefix, units in (("in_", train), ("out_", ~train)):
        if not units.any():
            continue
        kept = sqrt_pehe_keeping(effects[units], true[units], variance[units], KEEP)
        scores[f"{prefix}sqrt_pehe_keep90"] = kept
        scores[f"{prefix}keep90_ratio"] = kept / sqrt_pehe(effects[units], true[units])
    return scores


def effect_variance(model, batch: dict, uncertainty: str, replication: int) -> np.ndarray:
    if uncertainty == "random":  # what a model without a posterior offers: no ranking of units at all
        return np.random.default_rng(replication).uniform(size=len(batch["t"]))
    return model.effect_variance(batch).numpy()


def run_methods(cfg: DictConfig, dataset: str, experiment: str, replications: list[int], extra: list[str],
                baselines: list[str], uncertainty: str, label: str):
    """Per method, a list of per-replication scores; plus the first replication's effects for plots."""
    keys = POLICY_SCORES if dataset == "jobs" else EFFECT_SCORES
    scores: dict[str, list[dict]] = {}
    example = None
    for replication in tqdm(replications, desc=label, unit="replication"):
        metrics = train_experiment(cfg, experiment, [f"data.replication={replication}", *extra])
        dklite = {k: metrics[f"test/{k}"] for k in keys}
        datamodule, model = load_trained_run(metrics["run_dir"])
        data, train = datamodule.data, datamodule.train_mask
        if data.has_potential_outcomes:
            mu0, mu1 = model.potential_outcomes(datamodule.batch)
            effects = (mu1 - mu0).numpy()
            variance = effect_variance(model, datamodule.batch, uncertainty, replication)
            dklite.update(uncertainty_scores(effects, data.effects, variance, train))
            dklite["true_effect_sd"] = float(data.effects.std())
            if example is None:
                example = (data.name, data.effects, effects, variance, train)
        scores.setdefault("dklite", []).append(dklite)
        for name in baselines:
            scores.setdefault(name, []).append(score(BASELINES[name](data, train, seed=cfg.seed), data, train))
        if data.has_potential_outcomes:  # √PEHE in units of the true effects' sd: 1 ~ predicting the mean effect
            spread = float(data.effects[~train].std()) or 1.0
            for name in ("dklite", *baselines):
                scores[name][-1]["out_sqrt_pehe_over_sd"] = scores[name][-1]["out_sqrt_pehe"] / spread
    return scores, example


def summarise(scores: dict[str, list[dict]], replications: list[int], headline: str, prefix: str = "") -> dict:
    """Mean (`key`), standard error (`key_se`) and median (`key_median`) over replications; the
    headline score per replication (`<method>/<headline>/rep<r>`)."""
    metrics = {}
    for method, runs in scores.items():
        for key in runs[0]:
            values = [run[key] for run in runs]
            mean, stderr = mean_and_stderr(values)
            metrics[f"{prefix}{method}/{key}"] = mean
            metrics[f"{prefix}{method}/{key}_se"] = stderr
            metrics[f"{prefix}{method}/{key}_median"] = float(np.median(values))
        for replication, run in zip(replications, runs, strict=True):
            metrics[f"{prefix}{method}/{headline}/rep{replication}"] = run[headline]
            if headline == "out_sqrt_pehe" and "in_sqrt_pehe" in run:  # in-sample beside it, per replication
                metrics[f"{prefix}{method}/in_sqrt_pehe/rep{replication}"] = run["in_sqrt_pehe"]
    return metrics


def against_tarnet(metrics: dict, method: str, headline: str, prefix: str) -> None:
    """`<method>_minus_tarnet` and `<method>_over_tarnet` of the headline mean, and `<method>_over_tarnet`
    of the medians over replications (`<headline>_median`: one replication cannot carry it), when TARNet ran."""
    tarnet = metrics.get(f"{prefix}tarnet/{headline}")
    if tarnet is not None:
        ours = metrics[f"{prefix}{method}/{headline}"]
        metrics[f"{prefix}{method}_minus_tarnet/{headline}"] = ours - tarnet
        metrics[f"{prefix}{method}_over_tarnet/{headline}"] = ours / tarnet if tarnet > 0 else float("inf")
        tarnet_median = metrics[f"{prefix}tarnet/{headline}_median"]
        metrics[f"{prefix}{method}_over_tarnet/{headline}_median"] = (
            metrics[f"{prefix}{method}/{headline}_median"] / tarnet_median if tarnet_median > 0 else float("inf"))


def results_table(metrics: dict[str, float], methods: list[str], prefix: str = "", keys=EFFECT_SCORES) -> str:
    lines = ["| method | " + " | ".join(HEADERS[k] for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for method in methods:
        cells = [f"{metrics[f'{prefix}{method}/{k}']:.3f} ± {metrics[f'{prefix}{method}/{k}_se']:.3f} "
                 f"(median {metrics[f'{prefix}{method}/{k}_median']:.3f})" for k in keys]
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def replication_table(metrics: dict[str, float], methods: list[str], replications: list[int], headline: str,
                      prefix: str = "") -> str:
    with_sd = f"{prefix}dklite/true_effect_sd_median" in metrics
    head = "| replication |" + (" sd of true effects |" if with_sd else "") + "".join(f" {LABELS[m]} |" for m in methods)
    lines = [head, "|---" * (len(methods) + 1 + with_sd) + "|"]
    for r in replications:
        cells = [f"{metrics[f'{prefix}{m}/{headline}/rep{r}']:.3f}" for m in methods]
        sd = [f"{metrics[f'{prefix}dklite/true_effect_sd/rep{r}']:.2f}"] if with_sd else []
        lines.append(f"| {r} | " + " | ".join(sd + cells) + " |")
    return "\n".join(lines)


def plot(metrics: dict[str, float], methods: list[str], example, path: Path, prefix: str = "") -> Path:
    figure, (bars, scatter, dropping) = plt.subplots(1, 3, figsize=(15, 4.2))
    means = [metrics[f"{prefix}{m}/out_sqrt_pehe"] for m in methods]
    errors = [metrics[f"{prefix}{m}/out_sqrt_pehe_se"] for m in methods]
    bars.bar(range(len(methods)), means, yerr=errors, capsize=4, color="tab:blue")
    bars.set_xticks(range(len(methods)), [LABELS[m] for m in methods], rotation=20, ha="right", fontsize=8)
    bars.set_ylabel("out-of-sample √PEHE (mean ± s.e.)")
    name, true, estimated, variance, train = example
    scatter.scatter(true[train], estimated[train], s=8, alpha=0.5, label="in-sample")
    scatter.scatter(true[~train], estimated[~train], s=12, alpha=0.8, label="out-of-sample")
    low, high = float(min(true.min(), estimated.min())), float(max(true.max(), estimated.max()))
    scatter.plot([low, high], [low, high], "k--", linewidth=1)
    scatter.set_xlabel("true effect μ1 − μ0")
    scatter.set_ylabel("DKLITE estimate")
    scatter.set_title(name, fontsize=9)
    scatter.legend(fontsize=8)
    order = np.argsort(variance, kind="stable")
    squared = (estimated - true)[order] ** 2
    shares = np.linspace(0.5, 1.0, 26)
    kept = [np.sqrt(squared[: max(1, int(round(s * len(order))))].mean()) for s in shares]
    dropping.plot(shares, kept, marker="o", markersize=3)
    dropping.set_xlabel("share of units kept (lowest predicted variance first)")
    dropping.set_ylabel("√PEHE on the kept units (all units)")
    dropping.set_title(f"{name}: DKLITE's variance ranks its errors", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def variants_section(cfg: DictConfig, dataset: str, setting: DictConfig, replications: list[int], prefix: str,
                     uncertainty: str, metrics: dict) -> list[str]:
    """DKLITE with other settings (`variants`: name -> overrides) on the same replications, each one
    difference from the default at a time (e.g. the public code's choices); keys `<prefix>variant_<name>/`."""
    names = []
    for name, overrides in setting.variants.items():
        runs, _ = run_methods(cfg, dataset, setting.experiment, replications, list(overrides), [], uncertainty,
                              label=f"{dataset}: DKLITE, {name}")
        headline = "out_policy_risk" if dataset == "jobs" else "out_sqrt_pehe"
        metrics.update(summarise({f"variant_{name}": runs["dklite"]}, replications, headline, prefix))
        against_tarnet(metrics, f"variant_{name}", headline, prefix)
        LABELS.setdefault(f"variant_{name}", f"DKLITE, {name}: " + ", ".join(overrides))
        names.append(f"variant_{name}")
    keys = POLICY_SCORES if dataset == "jobs" else EFFECT_SCORES
    methods = ["dklite", *names]
    lines = [f"## DKLITE variants on {NAMES[dataset]} (one setting changed at a time)", "",
             results_table(metrics, methods, prefix, keys), "",
             f"Per replication, {HEADERS[keys[1]]}:", "",
             replication_table(metrics, methods, replications, keys[1], prefix), ""]
    if dataset != "jobs":
        lines += [f"Per replication, {HEADERS['in_sqrt_pehe']}:", "",
                  replication_table(metrics, methods, replications, "in_sqrt_pehe", prefix), ""]
    if f"{prefix}tarnet/{keys[1]}" in metrics:
        lines += [f"{HEADERS[keys[1]]} over TARNet's (mean over replications): "
                  + ", ".join(f"{LABELS[m].split(':')[0]} {metrics[f'{prefix}{m}_over_tarnet/{keys[1]}']:.2f}" for m in methods), ""]
    return lines


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    torch.set_num_threads(1)  # full-batch steps this small run fastest on one thread (model.cpu_threads)
    uncertainty = str(plan.get("uncertainty", "posterior"))
    if uncertainty not in UNCERTAINTY:
        raise ConfigError(f"scales.{cfg.scale}.uncertainty must be one of {UNCERTAINTY}, got {uncertainty!r}")
    wanted = [str(b) for b in plan.get("baselines", [])]
    unknown = [b for b in wanted if b not in BASELINES]
    if unknown:
        raise ConfigError(f"scales.{cfg.scale}.baselines: unknown {unknown}; choose from {sorted(BASELINES)}")
    baselines = [b for b in wanted if AVAILABLE.get(b, lambda: True)()]
    skipped = [b for b in wanted if b not in baselines]
    metrics, sections, figures = {}, [], []
    if uncertainty == "random":
        sections += ["**uncertainty=random**: units ranked by a random draw instead of DKLITE's predictive "
                     "variance (the mechanism switched off).", ""]
    for dataset, setting in plan.datasets.items():
        if dataset not in NAMES:
            raise ConfigError(f"scales.{cfg.scale}.datasets may hold {sorted(NAMES)}, got {dataset!r}")
        replications = [int(r) for r in setting.replications]
        prefix = "" if dataset in ("tiny", "ihdp") else f"{dataset}/"
        headline = "out_policy_risk" if dataset == "jobs" else "out_sqrt_pehe"
        scores, example = run_methods(cfg, dataset, setting.experiment, replications, [], baselines, uncertainty,
                                      label=f"{dataset}: DKLITE and baselines")
        metrics.update(summarise(scores, replications, headline, prefix))
        if "true_effect_sd" in scores["dklite"][0]:
            for r, run in zip(replications, scores["dklite"], strict=True):
                metrics[f"{prefix}dklite/true_effect_sd/rep{r}"] = run["true_effect_sd"]
        methods = list(scores)
        for baseline in methods[1:]:
            metrics[f"{prefix}dklite_minus_{baseline}/{headline}"] = (
                metrics[f"{prefix}dklite/{headline}"] - metrics[f"{prefix}{baseline}/{headline}"]
            )
        against_tarnet(metrics, "dklite", headline, prefix)
        keys = POLICY_SCORES if dataset == "jobs" else (*EFFECT_SCORES, "out_sqrt_pehe_over_sd")
        sections += [
            f"## DKLITE and baselines on {len(replications)} {NAMES[dataset]} ({', '.join(map(str, replications))})",
            "", "Mean ± standard error over replications (median in brackets).", "",
            results_table(metrics, methods, prefix, keys), "",
            f"Per replication, {HEADERS[headline]}:", "",
            replication_table(metrics, methods, replications, headline, prefix), "",
        ]
        if headline == "out_sqrt_pehe":
            sections += [f"Per replication, {HEADERS['in_sqrt_pehe']}:", "",
                         replication_table(metrics, methods, replications, "in_sqrt_pehe", prefix), ""]
        if dataset != "jobs":
            sections += [f"DKLITE, dropping the {1 - KEEP:.0%} of units with the highest predicted variance "
                         f"({uncertainty} ranking):", "", results_table(metrics, ["dklite"], prefix, KEEP_SCORES), ""]
        if skipped:
            sections += [f"Not installed, skipped: {', '.join(LABELS[b] for b in skipped)}.", ""]
        if example is not None and not figures:
            figures.append(plot(metrics, methods, example, results_dir / "treatment_effects.png", prefix))
        if setting.get("variants"):
            sections += variants_section(cfg, dataset, setting, replications, prefix, uncertainty, metrics)

    if plan.get("ablation"):
        setting = plan.ablation
        replications = [int(r) for r in setting.replications]
        poor_overlap = list(setting.overrides)
        ablation = {}
        for name, extra in (("dklite", poor_overlap), ("dklite_no_variance", [*poor_overlap, "model.variance_weight=0.0"])):
            runs, _ = run_methods(cfg, "tiny", setting.experiment, replications, extra, [], uncertainty,
                                  label=f"{LABELS[name]}, poor overlap")
            ablation[name] = runs["dklite"]
        metrics.update(summarise(ablation, replications, "out_sqrt_pehe", prefix="poor_overlap/"))
        metrics["poor_overlap/variance_minus_none/out_sqrt_pehe"] = (
            metrics["poor_overlap/dklite/out_sqrt_pehe"] - metrics["poor_overlap/dklite_no_variance/out_sqrt_pehe"]
        )
        sections += [f"## Ablation: the posterior-variance term under poor overlap ({', '.join(poor_overlap)})", "",
                     results_table(metrics, list(ablation), prefix="poor_overlap/"), ""]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
