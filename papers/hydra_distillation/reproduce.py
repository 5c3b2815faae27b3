"""hydra_distillation's part of `scripts/reproduce.py`: ensemble -> KD and Hydra, per problem.

For each problem of the scale's plan (configs/paper/hydra_distillation.yaml) and each seed: train
the ensemble, then KD and Hydra from that ensemble's checkpoint (and the plan's variants, such as
Hydra with its per-member matching switched off), score all of them on the same in-domain and OOD
points, measure the inference cost, and draw the figures. Metrics are named
`<problem>/<method>/<metric>` (method: ensemble, kd, hydra, or a variant's name).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from common import PROJECT_ROOT
from common.errors import ConfigError
from common.experiment import PaperResults, load_trained_run, train_experiment
from common.run import RunFolder
from common.stats import compare
from papers.hydra_distillation import metrics as M
from papers.hydra_distillation import plots
from papers.hydra_distillation.data import toy_function

PLAN_FILE = PROJECT_ROOT / "configs" / "paper" / "hydra_distillation.yaml"
TABLE_KEYS = {
    "classification": ("acc", "nll", "ece", "brier", "mi", "uncertainty_spearman"),
    "regression": ("nll", "rmse", "width", "width_ood/ood", "epistemic", "epistemic_ood/ood",
                   "auroc_epistemic/ood", "uncertainty_spearman"),
}


def load_plan(scale: str) -> dict:
    document = yaml.safe_load(PLAN_FILE.read_text())
    if scale not in document["scales"]:
        raise ValueError(f"scale must be one of {sorted(document['scales'])}, got {scale}")
    return document["scales"][scale]


def run_metrics(metrics: dict, method: str) -> dict[str, float]:
    """A run's test metrics without the `test/` prefix; the teacher's copies only from the ensemble run."""
    out = {}
    for key, value in metrics.items():
        if not key.startswith("test/") or key.startswith("test/teacher/"):
            continue
        out[key[len("test/"):]] = float(value)
    return out


def macs(net, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one input through the net (all heads), counted by forward hooks on
    its linear, grouped linear and convolution layers."""
    from papers.hydra_distillation.nets import GroupedLinear

    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * kernel * module.in_channels // module.groups
        else:  # Linear: (1, out); GroupedLinear: (G, 1, out)
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in net.modules()
             if isinstance(m, torch.nn.Conv2d | torch.nn.Linear | GroupedLinear)]
    was_training = net.training
    try:
        with torch.inference_mode():
            net.eval()(torch.zeros(1, *input_shape))
    finally:
        net.train(was_training)
        for hook in hooks:
            hook.remove()
    return total


def inference_seconds(net, x: torch.Tensor, repeats: int = 20) -> float:
    from common.timing import median_seconds

    with torch.inference_mode():
        return median_seconds(lambda: net(x), repeats=repeats)


def cost_metrics(models: dict, input_shape: tuple[int, ...], batches=(1, 256), repeats: int = 20) -> dict[str, float]:
    """Inference time on one CPU thread at each batch size (`<name>/time_ratio_batch<B>`: against
    the ensemble), multiply-accumulates and parameters of every model."""
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for batch in batches:
            x = torch.randn(batch, *input_shape)
            times = {name: inference_seconds(model.net.cpu(), x, repeats) for name, model in models.items()}
            for name, seconds in times.items():
                out[f"{name}/inference_ms_batch{batch}"] = seconds * 1000
            for name in ("kd", "hydra"):
                out[f"{name}/time_ratio_batch{batch}"] = times[name] / times["ensemble"]
    finally:
        torch.set_num_threads(threads)
    ensemble_macs = macs(models["ensemble"].net, input_shape)
    for name, model in models.items():
        model_macs = macs(model.net, input_shape)
        out[f"{name}/macs"] = float(model_macs)
        out[f"{name}/macs_ratio"] = model_macs / ensemble_macs
        out[f"{name}/parameters"] = float(sum(p.numel() for p in model.net.parameters()))
    for name in models:
        # Against one network of a member's size (KD's student): Hydra-M's extra heads.
        out[f"{name}/parameter_ratio"] = out[f"{name}/parameters"] / out["kd/parameters"]
    return out


def macs_ratio_at(models: dict, input_shape: tuple[int, ...], heads: int) -> float:
    """Hydra's multiply-accumulates relative to an ensemble of `heads` members, extrapolated from
    the measured body and per-head costs (body + heads * head) / (heads * member)."""
    hydra, ensemble = models["hydra"].net, models["ensemble"].net
    body = macs(hydra.body, input_shape)
    per_head = (macs(hydra, input_shape) - body) / hydra.num_heads
    member = macs(ensemble, input_shape) / ensemble.num_heads
    return (body + heads * per_head) / (heads * member)


def train_problem(cfg: DictConfig, experiments: dict, variants: dict, seed: int,
                  match_members: bool = True) -> tuple[dict, dict]:
    """Train the ensemble, KD, Hydra and the plan's variants (name -> {of: kd|hydra, overrides})
    for one seed; (metrics per method, run dirs). `match_members=False` (the plan's mechanism-off
    switch) trains every Hydra run, variants included, with its heads tied to the ensemble mean."""
    ensemble = train_experiment(cfg, experiments["ensemble"], seed=seed)
    runs = {"ensemble": Path(ensemble.pop("run_dir"))}
    teacher = [f"model.teacher_ckpt={RunFolder(runs['ensemble']).last_checkpoint}"]
    results = {"ensemble": run_metrics(ensemble, "ensemble")}
    tied = [] if match_members else ["model.match_members=false"]
    jobs = [("kd", experiments["kd"], []), ("hydra", experiments["hydra"], tied)]
    for name, variant in variants.items():
        jobs.append((name, experiments[variant["of"]], [*(tied if variant["of"] == "hydra" else []),
                                                        *variant["overrides"]]))
    for name, experiment, extra in jobs:
        metrics = train_experiment(cfg, experiment, [*teacher, *extra], seed=seed)
        runs[name] = Path(metrics.pop("run_dir"))
        results[name] = run_metrics(metrics, name)
    return results, runs


def derived(results: dict) -> dict[str, float]:
    """Comparisons inside one seed's runs of one problem: every multi-headed model against KD
    (`<method>_minus_kd/auroc...`) and the share of the ensemble's OOD model uncertainty it keeps
    (`<method>/mi_ood_kept/<set>`, `<method>/epistemic_ood_kept/<set>`)."""
    out = {}
    for method, values in results.items():
        if method in ("ensemble", "kd"):
            continue
        for key, value in values.items():
            if key.startswith("auroc") and key in results["kd"]:
                out[f"{method}_minus_kd/{key}"] = value - results["kd"][key]
            if key.startswith("auroc_mi/") and "auroc_entropy/" + key[len("auroc_mi/"):] in results["kd"]:
                # Against KD's best OOD score: its predictive entropy (its MI is 0 by construction).
                ood_set = key[len("auroc_mi/"):]
                out[f"{method}_minus_kd_entropy/{ood_set}"] = value - results["kd"]["auroc_entropy/" + ood_set]
            if key.startswith(("mi_ood/", "epistemic_ood/")):
                teacher = results["ensemble"][key]
                name, ood_set = key.split("/", 1)
                out[f"{method}/{name}_kept/{ood_set}"] = value / max(teacher, 1e-12)
    return out


def orderings(per_seed: list[dict[str, float]], design: str = "paired") -> dict[str, float]:
    """Hydra against KD over the seeds, per OOD set: Hydra's MI AUROC minus KD's predictive-entropy
    AUROC (KD's best score), `hydra_vs_kd_entropy/<set>/{difference, difference_sd, p_value, n,
    margin}` from common/stats.py's permutation test (`design`: paired by seed, the two share the
    seed's ensemble, or unpaired); margin = difference - difference_sd, the difference beyond its
    seed spread. Nothing with fewer than 2 seeds."""
    if design not in ("paired", "unpaired"):
        raise ConfigError(f"the plan's ordering must be 'paired' or 'unpaired', got {design!r}")
    if len(per_seed) < 2:
        return {}
    out = {}
    for key in per_seed[0]:
        if not key.startswith("hydra/auroc_mi/"):
            continue
        ood_set = key[len("hydra/auroc_mi/"):]
        kd_key = f"kd/auroc_entropy/{ood_set}"
        if kd_key not in per_seed[0]:
            continue
        result = compare([s[key] for s in per_seed], [s[kd_key] for s in per_seed], paired=design == "paired",
                         alternative="greater")
        prefix = f"hydra_vs_kd_entropy/{ood_set}"
        out.update(result.as_metrics(prefix))
        out[f"{prefix}/margin"] = result.mean_difference - result.sd_difference
    return out


def regression_figure(runs: dict, results_dir: Path) -> Path:
    datamodule, _ = load_trained_run(runs["ensemble"])
    grid = torch.linspace(-12, 12, 400)[:, None]
    models = {}
    for name, label in (("ensemble", "ensemble"), ("kd", "KD"), ("hydra", "Hydra"),
                        ("hydra_jitter", "Hydra, jittered inputs")):
        if name not in runs:
            continue
        _, model = load_trained_run(runs[name])
        means, variances = model.predict(grid)
        models[label] = (means.numpy(), variances.numpy())
    x, y = datamodule.train_set.tensors
    return plots.regression_bands(x[:, 0].numpy(), y.numpy(), grid[:, 0].numpy(), toy_function(grid[:, 0]).numpy(),
                                  models, datamodule.train_range, results_dir / "regression_bands.png")


def _predict(model, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """The model's per-head probabilities on x, in batches, on the GPU when there is one."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)
    return torch.cat([model.predict(x[i : i + batch].to(device)).cpu() for i in range(0, len(x), batch)], 1)


def classification_figures(problem: str, runs: dict, results_dir: Path) -> tuple[list[Path], dict[str, float]]:
    datamodule, _ = load_trained_run(runs["ensemble"])
    models = {name: load_trained_run(run)[1] for name, run in runs.items()}
    labels = {"ensemble": "ensemble", "kd": "KD", "hydra": "Hydra"}
    figures, extra = [], {}
    sets = {"in-domain": datamodule.test_set.tensors[0]}
    sets.update({name: d.tensors[0] for name, d in zip(datamodule.ood_names, datamodule.ood_sets, strict=True)})
    histograms = {labels[name]: {s: M.entropy_decomposition(_predict(model, x))["mutual_information"].numpy()
                                 for s, x in sets.items()} for name, model in models.items() if name in labels}
    figures.append(plots.mi_histograms(histograms, results_dir / f"{problem}_mi_histograms.png"))
    train_tensors = getattr(datamodule.train_set, "tensors", None)
    if train_tensors is not None and train_tensors[0].ndim == 2 and train_tensors[0].shape[1] == 2:  # the spiral: uncertainty maps on a grid
        axis = torch.linspace(-2.5, 2.5, 120)
        xx, yy = torch.meshgrid(axis, axis, indexing="xy")
        grid = torch.stack([xx.flatten(), yy.flatten()], 1)
        maps = {name: M.entropy_decomposition(_predict(model, grid))["mutual_information"] for name, model in models.items()}
        for name in maps:
            if name != "ensemble":
                extra[f"{name}/grid_mi_spearman"] = M.spearman(maps[name], maps["ensemble"])
                extra[f"{name}/grid_mi_spearman_p"] = M.spearman_p_value(maps[name], maps["ensemble"])
                extra[f"{name}/grid_mi_spearman_n"] = float(len(grid))
                extra[f"{name}/grid_mi_kept"] = float(maps[name].mean() / maps["ensemble"].mean())
        x, y = datamodule.train_set.tensors
        shown = {labels[n]: maps[n].view(xx.shape).numpy() for n in ("ensemble", "kd", "hydra") if n in maps}
        figures.append(plots.uncertainty_maps(xx.numpy(), yy.numpy(), shown, x.numpy(), y.numpy(),
                                              results_dir / f"{problem}_mi_maps.png"))
    return figures, extra


def table(problem: str, task: str, metrics: dict, methods: list[str]) -> list[str]:
    keys = [k for k in TABLE_KEYS[task] if any(f"{problem}/{m}/{k}" in metrics for m in methods)]
    if task == "classification":
        keys += sorted({k.split("/", 2)[2] for k in metrics
                        if k.startswith(f"{problem}/ensemble/auroc_mi/") and not k.endswith(".sd")})
    timed = sorted({k.rsplit("/", 1)[1] for k in metrics
                    if k.startswith(f"{problem}/hydra/time_ratio_batch") and not k.endswith(".sd")},
                   key=lambda k: int(k[len("time_ratio_batch"):]))
    keys += ["parameter_ratio", "macs_ratio", *timed[-1:]]
    lines = [f"### {problem}", "", "| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for method in methods:
        if f"{problem}/{method}/nll" not in metrics:
            continue
        cells = []
        for key in keys:
            value = metrics.get(f"{problem}/{method}/{key}")
            sd = metrics.get(f"{problem}/{method}/{key}.sd")
            cells.append("–" if value is None else (f"{value:.4g}" + (f" ± {sd:.2g}" if sd else "")))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("")
    ordered = sorted({k.split("/")[2] for k in metrics if k.startswith(f"{problem}/hydra_vs_kd_entropy/")})
    if ordered:
        lines += ["Hydra's MI AUROC minus KD's predictive-entropy AUROC over the seeds (permutation test):", "",
                  "| OOD set | difference | seed sd | margin | p | n |", "|---|---|---|---|---|---|"]
        for ood_set in ordered:
            row = {name: metrics[f"{problem}/hydra_vs_kd_entropy/{ood_set}/{name}"]
                   for name in ("difference", "difference_sd", "margin", "p_value", "n")}
            lines.append(f"| {ood_set} | {row['difference']:.4g} | {row['difference_sd']:.2g} | {row['margin']:.4g} "
                         f"| {row['p_value']:.3g} | {row['n']:.0f} |")
        lines.append("")
    return lines


def reproduce(cfg: DictConfig, *args) -> PaperResults:
    """`reproduce(cfg, results_dir)` or `reproduce(cfg, plan, results_dir)`."""
    if len(args) == 2:
        plan, results_dir = args
        plan = OmegaConf.to_container(plan, resolve=True) if isinstance(plan, DictConfig) else dict(plan)
    else:
        (results_dir,) = args
        plan = load_plan(cfg.scale)
    results_dir = Path(results_dir)
    seeds = list(plan.get("seeds", [cfg.seed]))
    metrics: dict[str, float] = {}
    figures: list[Path] = []
    sections = ["## Ensemble, KD and Hydra on the same points", "",
                f"Seeds: {seeds}. Hydra tied = Hydra with phase 2's per-member matching switched off "
                "(`model.match_members=false`). MI / epistemic: model uncertainty; `uncertainty_spearman`: "
                "rank correlation of the model's uncertainty with the ensemble's over the in-domain and OOD "
                "test points; `macs_ratio` / `time_ratio_batch256`: inference cost relative to the ensemble.", ""]
    for problem, spec in plan["problems"].items():
        per_seed: list[dict[str, float]] = []
        first_runs = None
        for seed in seeds:
            started = time.perf_counter()
            results, runs = train_problem(cfg, spec["experiments"], spec.get("variants") or {}, int(seed),
                                          bool(plan.get("match_members", True)))
            flat = {f"{method}/{key}": value for method, values in results.items() for key, value in values.items()}
            flat.update(derived(results))
            models = {name: load_trained_run(run)[1] for name, run in runs.items()}
            input_shape = _input_shape(models["ensemble"].net)
            cost = spec.get("cost") or {}
            flat.update(cost_metrics(models, input_shape, tuple(cost.get("batches", (1, 256))),
                                     int(cost.get("repeats", 20))))
            if cost.get("extrapolate_heads"):
                heads = int(cost["extrapolate_heads"])
                flat[f"hydra/macs_ratio_at_{heads}_heads"] = macs_ratio_at(models, input_shape, heads)
            flat["train_minutes"] = (time.perf_counter() - started) / 60
            if spec["task"] == "classification":
                problem_figures, extra = classification_figures(problem, runs, results_dir)
                flat.update(extra)
                if first_runs is None:
                    figures += problem_figures
            elif first_runs is None:
                figures.append(regression_figure(runs, results_dir))
            first_runs = first_runs or runs
            per_seed.append(flat)
        for key in per_seed[0]:
            values = np.array([s[key] for s in per_seed if key in s], dtype=float)
            if key.endswith(("_p", "_n")):
                # a per-seed p-value: the largest (every seed must pass); a count: the smallest
                metrics[f"{problem}/{key}"] = float(values.max() if key.endswith("_p") else values.min())
                continue
            metrics[f"{problem}/{key}"] = float(values.mean())
            if len(values) > 1:
                metrics[f"{problem}/{key}.sd"] = float(values.std(ddof=1))
        metrics.update({f"{problem}/{k}": v for k, v in orderings(per_seed, plan.get("ordering", "paired")).items()})
        sections += table(problem, spec["task"], metrics, ["ensemble", "kd", "hydra", *(spec.get("variants") or {})])
    return PaperResults(metrics=metrics, figures=figures, sections=sections)


def _input_shape(net) -> tuple[int, ...]:
    """One input's shape: the ResNets say it; the MLPs' is their first layer's in_features."""
    if hasattr(net, "input_shape"):
        return tuple(net.input_shape)
    first = next(m for m in net.modules() if hasattr(m, "in_features"))
    return (int(first.in_features),)
