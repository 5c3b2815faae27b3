"""treatment_effects' part of `scripts/reproduce.py`: DKLITE and baselines over replications.

tiny: generated replications with moderate selection (DKLITE against T/S-learners and econml's
causal forest), and the overlap-regulariser ablation on replications with poor overlap.
full: IHDP replications (1-5 downloaded with pinned checksums, or every ihdp_npci_<i>.csv of the
folder named by `data.root=DIR` in `overrides`, or `+replications=[...]`).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common.errors import ConfigError  # noqa: E402
from common.reproduce import PaperResults, train_experiment  # noqa: E402
from common.run import CONFIG_FILE, load_weights  # noqa: E402
from papers.treatment_effects.baselines import BASELINES, econml_available, score  # noqa: E402
from papers.treatment_effects.data import ihdp_replications  # noqa: E402
from papers.treatment_effects.metrics import mean_and_stderr  # noqa: E402

EXPERIMENTS = {"tiny": "treatment_effects/tiny", "full": "treatment_effects/ihdp"}
TINY_REPLICATIONS = (1, 2, 3)
POOR_OVERLAP = "data.synthetic.selection=3.0"
SCORES = ("in_sqrt_pehe", "out_sqrt_pehe", "in_ate_error", "out_ate_error")
LABELS = {"dklite": "DKLITE", "t_learner": "T-learner (RF)", "s_learner": "S-learner (RF)",
          "causal_forest": "Causal forest (econml)", "dklite_no_variance": "DKLITE without variance term"}


def _replications(cfg: DictConfig) -> list[int]:
    if cfg.get("replications"):
        return [int(r) for r in cfg.replications]
    if cfg.scale == "tiny":
        return list(TINY_REPLICATIONS)
    roots = [o.split("=", 1)[1] for o in cfg.overrides if o.startswith("data.root=")]
    if roots:
        found = ihdp_replications(roots[-1])
        if not found:
            raise ConfigError(f"data.root={roots[-1]} holds no ihdp_npci_<i>.csv files")
        return found
    return [1, 2, 3, 4, 5]


def _load_run(run_dir: Path):
    run_cfg = OmegaConf.load(run_dir / CONFIG_FILE)
    datamodule = instantiate(run_cfg.data)
    datamodule.setup("test")
    model = instantiate(run_cfg.model)
    load_weights(model, run_dir / "checkpoints" / "last.ckpt")
    return datamodule, model


def run_methods(cfg: DictConfig, replications: list[int], extra: list[str], with_baselines: bool, label: str):
    """Per method, a list of per-replication scores; plus the last replication's effects for plots."""
    experiment = EXPERIMENTS[cfg.scale]
    baselines = {n: f for n, f in BASELINES.items() if n != "causal_forest" or econml_available()}
    scores: dict[str, list[dict]] = {}
    example = None
    for replication in tqdm(replications, desc=label, unit="replication"):
        metrics = train_experiment(cfg, experiment, [f"data.replication={replication}", *extra])
        scores.setdefault("dklite", []).append({k: metrics[f"test/{k}"] for k in SCORES})
        if not with_baselines:
            continue
        datamodule, model = _load_run(Path(metrics["run_dir"]))
        data, train = datamodule.data, datamodule.train_mask
        for name, method in baselines.items():
            scores.setdefault(name, []).append(score(method(data, train, seed=cfg.seed), data, train))
        if example is None:
            mu0, mu1 = model.potential_outcomes(datamodule.batch)
            example = (data.name, data.effects, (mu1 - mu0).numpy(), train)
    return scores, example


def summarise(scores: dict[str, list[dict]], prefix: str = "") -> dict[str, float]:
    metrics = {}
    for method, runs in scores.items():
        for key in SCORES:
            mean, stderr = mean_and_stderr([run[key] for run in runs])
            metrics[f"{prefix}{method}/{key}"] = mean
            metrics[f"{prefix}{method}/{key}_se"] = stderr
    return metrics


def results_table(metrics: dict[str, float], methods: list[str], prefix: str = "") -> str:
    lines = ["| method | in-sample √PEHE | out-of-sample √PEHE | in-sample ε_ATE | out-of-sample ε_ATE |",
             "|---|---|---|---|---|"]
    for method in methods:
        cells = [f"{metrics[f'{prefix}{method}/{k}']:.3f} ± {metrics[f'{prefix}{method}/{k}_se']:.3f}" for k in SCORES]
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(metrics: dict[str, float], methods: list[str], example, path: Path) -> Path:
    figure, (bars, scatter) = plt.subplots(1, 2, figsize=(11, 4.2))
    means = [metrics[f"{m}/out_sqrt_pehe"] for m in methods]
    errors = [metrics[f"{m}/out_sqrt_pehe_se"] for m in methods]
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


def reproduce(cfg: DictConfig, results_dir: Path) -> PaperResults:
    if cfg.scale not in EXPERIMENTS:
        raise ConfigError(f"scale must be one of {sorted(EXPERIMENTS)}, got {cfg.scale}")
    torch.set_num_threads(1)  # see Dklite.setup: full-batch steps this small run fastest on one thread
    replications = _replications(cfg)
    scores, example = run_methods(cfg, replications, [], with_baselines=True, label="DKLITE and baselines")
    metrics = summarise(scores)
    methods = list(scores)
    for baseline in methods[1:]:
        metrics[f"dklite_minus_{baseline}/out_sqrt_pehe"] = (
            metrics["dklite/out_sqrt_pehe"] - metrics[f"{baseline}/out_sqrt_pehe"]
        )
    where = "generated replications" if cfg.scale == "tiny" else "IHDP replications"
    sections = [
        f"## DKLITE and baselines on {len(replications)} {where} ({', '.join(map(str, replications))})",
        "", results_table(metrics, methods), "",
    ]
    if not econml_available():
        sections += ["econml is not installed: the causal-forest baseline was skipped.", ""]

    if cfg.scale == "tiny":
        ablation = {}
        for name, extra in (("dklite", [POOR_OVERLAP]), ("dklite_no_variance", [POOR_OVERLAP, "model.variance_weight=0.0"])):
            runs, _ = run_methods(cfg, replications, extra, with_baselines=False, label=f"{LABELS[name]}, poor overlap")
            ablation[name] = runs["dklite"]
        metrics.update(summarise(ablation, prefix="poor_overlap/"))
        metrics["poor_overlap/variance_minus_none/out_sqrt_pehe"] = (
            metrics["poor_overlap/dklite/out_sqrt_pehe"] - metrics["poor_overlap/dklite_no_variance/out_sqrt_pehe"]
        )
        sections += ["## Ablation: the posterior-variance term under poor overlap (selection = 3)", "",
                     results_table(metrics, list(ablation), prefix="poor_overlap/"), ""]
    figure = plot(metrics, methods, example, results_dir / "treatment_effects.png")
    return PaperResults(metrics=metrics, figures=[figure], sections=sections)
