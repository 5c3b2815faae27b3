"""treatment_effects' part of `scripts/reproduce.py`: DKLITE and baselines over replications.

tiny: generated replications with moderate selection (DKLITE against T/S-learners and econml's
causal forest), and the overlap-regulariser ablation on replications with poor overlap.
full: IHDP replications (1-5 downloaded with pinned checksums, or read from `data.root=DIR` in
`overrides`), then Twins (5 seeded treatment draws and splits) and Jobs (cfrnet's 10 replications).
`data.root=DIR` may name the folder of one data set or a folder holding ihdp/, twins/ and jobs/.
Which data sets and replications run is `scales.<scale>.datasets` of configs/paper/treatment_effects.yaml.
IHDP's metrics keep plain keys (`dklite/out_sqrt_pehe`); Twins' and Jobs' are prefixed `twins/`, `jobs/`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import torch
from omegaconf import DictConfig
from tqdm import tqdm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common.errors import ConfigError  # noqa: E402
from common.reproduce import PaperResults, load_trained_run, train_experiment  # noqa: E402
from papers.treatment_effects.baselines import BASELINES, econml_available, score  # noqa: E402
from papers.treatment_effects.metrics import mean_and_stderr  # noqa: E402

EFFECT_SCORES = ("in_sqrt_pehe", "out_sqrt_pehe", "in_ate_error", "out_ate_error")
POLICY_SCORES = ("in_policy_risk", "out_policy_risk", "in_att_error", "out_att_error")
HEADERS = {"in_sqrt_pehe": "in-sample √PEHE", "out_sqrt_pehe": "out-of-sample √PEHE", "in_ate_error": "in-sample ε_ATE",
           "out_ate_error": "out-of-sample ε_ATE", "in_policy_risk": "in-sample R_pol", "out_policy_risk": "out-of-sample R_pol",
           "in_att_error": "in-sample ε_ATT", "out_att_error": "out-of-sample ε_ATT"}
LABELS = {"dklite": "DKLITE", "t_learner": "T-learner (RF)", "s_learner": "S-learner (RF)",
          "causal_forest": "Causal forest (econml)", "tarnet": "TARNet (same encoder)", "dklite_no_variance": "DKLITE without variance term"}


def run_methods(cfg: DictConfig, dataset: str, experiment: str, replications: list[int], extra: list[str],
                with_baselines: bool, label: str):
    """Per method, a list of per-replication scores; plus the first replication's effects for plots."""
    keys = POLICY_SCORES if dataset == "jobs" else EFFECT_SCORES
    baselines = {n: f for n, f in BASELINES.items() if n != "causal_forest" or econml_available()}
    scores: dict[str, list[dict]] = {}
    example = None
    for replication in tqdm(replications, desc=label, unit="replication"):
        metrics = train_experiment(cfg, experiment, [f"data.replication={replication}", *extra])
        scores.setdefault("dklite", []).append({k: metrics[f"test/{k}"] for k in keys})
        if not with_baselines:
            continue
        datamodule, model = load_trained_run(metrics["run_dir"])
        data, train = datamodule.data, datamodule.train_mask
        for name, method in baselines.items():
            scores.setdefault(name, []).append(score(method(data, train, seed=cfg.seed), data, train))
        if example is None and data.has_potential_outcomes:
            mu0, mu1 = model.potential_outcomes(datamodule.batch)
            example = (data.name, data.effects, (mu1 - mu0).numpy(), train)
    return scores, example


def summarise(scores: dict[str, list[dict]], prefix: str = "") -> dict[str, float]:
    metrics = {}
    for method, runs in scores.items():
        for key in runs[0]:
            mean, stderr = mean_and_stderr([run[key] for run in runs])
            metrics[f"{prefix}{method}/{key}"] = mean
            metrics[f"{prefix}{method}/{key}_se"] = stderr
    return metrics


def results_table(metrics: dict[str, float], methods: list[str], prefix: str = "", keys=EFFECT_SCORES) -> str:
    lines = ["| method | " + " | ".join(HEADERS[k] for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for method in methods:
        cells = [f"{metrics[f'{prefix}{method}/{k}']:.3f} ± {metrics[f'{prefix}{method}/{k}_se']:.3f}" for k in keys]
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(metrics: dict[str, float], methods: list[str], example, path: Path, prefix: str = "") -> Path:
    figure, (bars, scatter) = plt.subplots(1, 2, figsize=(11, 4.2))
    means = [metrics[f"{prefix}{m}/out_sqrt_pehe"] for m in methods]
    errors = [metrics[f"{prefix}{m}/out_sqrt_pehe_se"] for m in methods]
    bars.bar(range(len(methods)), means, yerr=errors, capsize=4, color="tab:blue")
    bars.set_xticks(range(len(methods)), [LABELS[m] for m in methods], rotation=20, ha="right", fontsize=8)
    bars.set_ylabel("out-of-sample √PEHE (mean ± s.e.)")
    name, true, estimated, train = example
    scatter.scatter(true[train], estimated[train], s=8, alpha=0.5, label="in-sample")
    scatter.scatter(true[~train], estimated[~train], s=12, alpha=0.8, label="out-of-sample")
    low, high = float(min(true.min(), estimated.min())), float(max(true.max(), estimated.max()))
    scatter.plot([low, high], [low, high], "k--", linewidth=1)
    scatter.set_xlabel("true effect μ1 − μ0")
    scatter.set_ylabel("DKLITE estimate")
    scatter.set_title(name, fontsize=9)
    scatter.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    torch.set_num_threads(1)  # see Dklite.setup: full-batch steps this small run fastest on one thread
    metrics, sections, figures = {}, [], []
    names = {"tiny": "generated replications", "ihdp": "IHDP replications", "twins": "Twins replications",
             "jobs": "Jobs replications"}
    for dataset, setting in plan.datasets.items():
        if dataset not in names:
            raise ConfigError(f"scales.{cfg.scale}.datasets may hold {sorted(names)}, got {dataset!r}")
        replications = [int(r) for r in setting.replications]
        prefix = "" if dataset in ("tiny", "ihdp") else f"{dataset}/"
        scores, example = run_methods(cfg, dataset, setting.experiment, replications, [], with_baselines=True,
                                      label=f"{dataset}: DKLITE and baselines")
        metrics.update(summarise(scores, prefix))
        methods = list(scores)
        keys = POLICY_SCORES if dataset == "jobs" else EFFECT_SCORES
        headline = "out_policy_risk" if dataset == "jobs" else "out_sqrt_pehe"
        for baseline in methods[1:]:
            metrics[f"{prefix}dklite_minus_{baseline}/{headline}"] = (
                metrics[f"{prefix}dklite/{headline}"] - metrics[f"{prefix}{baseline}/{headline}"]
            )
        sections += [
            f"## DKLITE and baselines on {len(replications)} {names[dataset]} ({', '.join(map(str, replications))})",
            "", results_table(metrics, methods, prefix, keys), "",
        ]
        if not econml_available():
            sections += ["econml is not installed: the causal-forest baseline was skipped.", ""]
        if example is not None and not figures:
            figures.append(plot(metrics, methods, example, results_dir / "treatment_effects.png", prefix))

    if plan.get("ablation"):
        setting = plan.datasets.tiny
        replications = [int(r) for r in setting.replications]
        poor_overlap = list(plan.ablation.overrides)
        ablation = {}
        for name, extra in (("dklite", poor_overlap), ("dklite_no_variance", [*poor_overlap, "model.variance_weight=0.0"])):
            runs, _ = run_methods(cfg, "tiny", setting.experiment, replications, extra, with_baselines=False,
                                  label=f"{LABELS[name]}, poor overlap")
            ablation[name] = runs["dklite"]
        metrics.update(summarise(ablation, prefix="poor_overlap/"))
        metrics["poor_overlap/variance_minus_none/out_sqrt_pehe"] = (
            metrics["poor_overlap/dklite/out_sqrt_pehe"] - metrics["poor_overlap/dklite_no_variance/out_sqrt_pehe"]
        )
        sections += ["## Ablation: the posterior-variance term under poor overlap (selection = 3)", "",
                     results_table(metrics, list(ablation), prefix="poor_overlap/"), ""]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
