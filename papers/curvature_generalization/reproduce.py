"""curvature_generalization's part of `scripts/reproduce.py`.

1. The closed form of R against the brute-force Riemann tensor (random quadratics, a small MLP).
2. A family of trained networks, one factor at a time (batch size, learning rate, width, training
   length), every setting over the scale's seeds: test gap, R, λ_max, tr H, ε-sharpness, and their
   Spearman rank correlations (with the setting, and with the gap) over levels x seeds, each with
   its permutation p-value (common/stats.correlation, one-sided: `_p_less`, `_p_greater`).
3. The Hutchinson estimate of R against the exact R of a small trained net: 95% interval coverage.
4. The width study: curvature along the gradient (full Hessian, Gauss-Newton part G, functional
   part H − G) along full-batch training for several widths and seeds, and at initialisation over
   widths x seeds the trend of |cos(g, (H − G)g)| and |gᵀ(H − G)g| / gᵀGg with width.
5. Reparameterisation: a trained ReLU network with one layer scaled by α and the next by 1/α
   (the same function): R, λ_max, tr H and ε-sharpness before and after.
Steps 3-5 run when the scale's plan asks for them (coverage_seeds > 0, widths, reparam); `parts`
limits a run to some of sweep / coverage / width / reparam (the mechanism-off variants run only the
part that shows them). Plan keys for the variants: `hessian_part` (gauss_newton: H − G := 0 in every
measure) and `width_bottleneck` (the width study's networks get a last hidden layer that narrow).
"""
from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from scipy.stats import spearmanr
from torch import nn

from common import PROJECT_ROOT
from common.errors import ConfigError
from common.experiment import PaperResults, load_trained_run, train_experiment
from common.stats import correlation
from papers.curvature_generalization.curvature import (
    brute_force_scalar_curvature,
    scalar_curvature_of,
)
from papers.curvature_generalization.data import ClassificationDataModule
from papers.curvature_generalization.estimator import (
    FlatLoss,
    estimate_curvature,
    exact_curvature,
    gradient_alignment,
    sharpness,
    top_eigenvalue,
)
from papers.curvature_generalization.model import MLP, TRAJECTORY_FILE, rescale_layers

MEASURES = ("R", "lambda_max", "trace", "sharpness")
PARTS = ("sweep", "coverage", "width", "reparam")


def _plan(cfg: DictConfig, plan) -> DictConfig:
    if plan is not None:
        return plan
    paper_cfg = OmegaConf.load(PROJECT_ROOT / "configs" / "paper" / "curvature_generalization.yaml")
    return paper_cfg.scales[cfg.scale]


def _train(cfg: DictConfig, experiment: str, overrides: list[str], seed: int) -> dict:
    if "seed" in inspect.signature(train_experiment).parameters:
        return train_experiment(cfg, experiment, overrides, seed=seed)
    return train_experiment(cfg, experiment, overrides)


# ------------------------------------------------------------------------------ 1. closed form
def closed_form_check(seed: int = 0) -> float:
    """Largest relative gap between the closed form and the brute-force Riemann tensor's R."""
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for n in (2, 3, 5):
        for _ in range(3):
            A = torch.randn(n, n, generator=gen, dtype=torch.float64)
            A = A + A.T
            b = torch.randn(n, generator=gen, dtype=torch.float64)
            f = lambda x, A=A, b=b: 0.5 * x @ A @ x + b @ x + 0.1 * torch.tanh(x).pow(3).sum()  # noqa: E731
            x = torch.randn(n, generator=gen, dtype=torch.float64)
            exact, brute = float(scalar_curvature_of(f, x)), float(brute_force_scalar_curvature(f, x))
            worst = max(worst, abs(exact - brute) / max(1.0, abs(exact)))
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2)).double()
    flat = FlatLoss(net, F.cross_entropy, torch.randn(20, 2, dtype=torch.float64), torch.randint(0, 2, (20,)))
    exact, brute = float(scalar_curvature_of(flat, flat.theta)), float(brute_force_scalar_curvature(flat, flat.theta))
    return max(worst, abs(exact - brute) / max(1.0, abs(exact)))


# ------------------------------------------------------------------------------ 2. the sweep
def sweep_overrides(plan) -> list[tuple[str, str, list[str]]]:
    """(factor, value, overrides) one factor at a time; the experiment's own setting once, as 'base'."""
    runs = [("base", "", [])]
    for key, values in plan.sweep.items():
        for value in values:
            runs.append((key, str(value), [f"{key}={value}"]))
    return runs


def run_sweep(cfg, plan, extra: list[str]) -> list[dict]:
    experiment = plan.experiments.sweep
    defaults = _composed(cfg, experiment)
    rows = []
    for factor, value, overrides in sweep_overrides(plan):
        if factor != "base" and str(OmegaConf.select(defaults, factor)) == value:
            continue  # that is the base run
        for seed in plan.seeds:
            metrics = _train(cfg, experiment, [*overrides, *extra], seed)
            rows.append({"factor": factor, "value": value, "seed": seed, **metrics})
    return rows


def _composed(cfg: DictConfig, experiment: str) -> DictConfig:
    """The training config of `experiment` with the reproduce command's overrides."""
    from common import run

    return run.compose("train", [f"experiment={experiment}", *list(cfg.get("overrides", []) or [])])


def _rho(x, y) -> float:
    """Spearman's rho (0 when either side is constant)."""
    rho = spearmanr(x, y).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def rank_test(x, y, key: str) -> dict[str, float]:
    """Spearman's rho of (x, y) as `key`, its one-sided permutation p-values as `key_p_less` (rho < 0)
    and `key_p_greater` (rho > 0), and n as `key_n` (common/stats.correlation; exact up to n = 8)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:  # nothing to rank: no evidence either way
        return {key: 0.0, f"{key}_p_less": 1.0, f"{key}_p_greater": 1.0, f"{key}_n": float(len(x))}
    less = correlation(x, y, alternative="less")
    greater = correlation(x, y, alternative="greater")
    return {key: less.rho, f"{key}_p_less": less.p_value, f"{key}_p_greater": greater.p_value,
            f"{key}_n": float(less.n)}


def spearman(rows: list[dict], measure: str, target: str = "test/gap") -> float:
    return _rho([r[f"curv/{measure}"] for r in rows], [r[target] for r in rows])


# ------------------------------------------------------------------------------ 3. coverage
def coverage(net: nn.Module, x: torch.Tensor, y: torch.Tensor, seeds: int, probes: int, part: str = "full"):
    flat = FlatLoss(net, F.cross_entropy, x, y)
    exact = exact_curvature(flat, part)["R"]
    z = []
    for seed in range(seeds):
        est = estimate_curvature(flat, probes=probes, seed=seed, part=part)
        z.append((est.R - exact) / est.R_se if est.R_se > 0 else math.inf)
    z = np.array(z)
    return {"exact_R": exact, "coverage": float(np.mean(np.abs(z) <= 1.96)), "mean_z": float(np.mean(z)),
            "n_params": float(flat.n_params)}


# ------------------------------------------------------------------------------ 5. reparameterisation
def reparameterisation(model, x: torch.Tensor, y: torch.Tensor, alphas, layer: int = 0) -> dict[str, float]:
    """R, λ_max, tr H and ε-sharpness of the trained `model`'s network, and of copies with weight
    layer `layer` scaled by α and the next by 1/α (the same function). R is exact when the net is
    small enough for the dense Hessian (model.hparams.exact_max_params), else the Hutchinson estimate."""
    hp = model.hparams
    part = "gauss_newton" if hp.hessian_part == "gauss_newton" else "full"
    out: dict[str, float] = {}
    reference = None
    for alpha in [1.0, *[float(a) for a in alphas]]:
        net = model.net if alpha == 1.0 else rescale_layers(model.net, layer, alpha)
        with torch.no_grad():
            logits = net(x)
        if reference is None:
            reference = logits
        flat = FlatLoss(net, F.cross_entropy, x, y)
        estimate = estimate_curvature(flat, probes=hp.probes, seed=hp.curvature_seed, part=part)
        values = {"R": estimate.R, "R_se": estimate.R_se, "trace": estimate.trace,
                  "lambda_max": top_eigenvalue(flat, hp.lanczos_iterations, seed=hp.curvature_seed, part=part),
                  "sharpness": sharpness(flat, hp.sharpness_epsilon, hp.sharpness_steps),
                  "loss": float(flat(flat.theta)),
                  "max_logit_change": float((logits - reference).abs().max())}
        if flat.n_params <= hp.exact_max_params:
            exact = exact_curvature(flat, part)
            values.update(R=exact["R"], R_se=0.0, trace=exact["trace"])
        out.update({f"{alpha:g}/{k}": v for k, v in values.items()})
    base = {k: out[f"1/{k}"] for k in ("R", "lambda_max", "trace", "sharpness")}
    alphas = [float(a) for a in alphas]
    out["max_logit_change"] = max(out[f"{a:g}/max_logit_change"] for a in alphas)
    for key, value in base.items():  # how far the rescaling moves each measure (orders of magnitude)
        out[f"max_abs_log10_ratio_{key}"] = max(abs(math.log10(abs(out[f"{a:g}/{key}"]) / abs(value)))
                                                 if value != 0 and out[f"{a:g}/{key}"] != 0 else math.inf
                                                 for a in alphas)
    out["n_params"] = float(sum(p.numel() for p in model.net.parameters() if p.requires_grad))
    return out


# ------------------------------------------------------------------------------ 4. width
def init_ratios(datamodule: ClassificationDataModule, widths, seeds: int, depth: int, activation: str,
                hessian_part: str = "full", bottleneck: int | None = None) -> dict:
    """Per width, one value per init seed: |gᵀ(H−G)g| / gᵀGg (`ratio`) and |cos(g, (H−G)g)| (`abs_cos`)
    at initialisation. With hessian_part=gauss_newton (the H-part off) the functional part is taken as
    zero; `bottleneck` narrows the last hidden layer (MLP's mechanism-off variant)."""
    x, y = datamodule.measure_set.tensors
    out = {}
    for width in widths:
        ratios, cosines = [], []
        for seed in range(seeds):
            torch.manual_seed(seed)
            net = MLP(x.shape[1], int(width), depth, datamodule.n_classes, activation, bottleneck)
            a = gradient_alignment(FlatLoss(net, F.cross_entropy, x, y))
            if hessian_part == "gauss_newton":
                a.update(functional=0.0, cos_functional=0.0)
            ratios.append(abs(a["functional"]) / a["gauss_newton"])
            cosines.append(abs(a["cos_functional"]))
        out[int(width)] = {"ratio": ratios, "abs_cos": cosines}
    return out


def trajectory_summary(trajectory: list[dict]) -> dict[str, float]:
    """One training run's width-paper quantities: the curvature along the gradient at the start and end,
    its smallest |value| inside the run relative to the start (the dip through near-zero curvature),
    the H-part's minimum, and the median |cos(g, Hg)| over training."""
    full = [p["full"] for p in trajectory]
    interior = full[1:-1] or full
    return {"start_full": full[0], "end_full": full[-1], "min_full": min(full),
            "interior_min_abs_full_over_start": min(abs(v) for v in interior) / full[0] if full[0] > 0 else math.inf,
            "min_functional": min(p["functional"] for p in trajectory),
            "start_gauss_newton": trajectory[0]["gauss_newton"],
            "start_abs_cos": abs(trajectory[0]["cos_functional"]),
            "median_abs_cos": float(np.median([abs(p["cos_functional"]) for p in trajectory]))}


def _figures(results_dir: Path, rows, trajectories, init, part_off: bool, reparam=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig, name: str) -> Path:
        path = results_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    figures = []
    factors = [f for f in dict.fromkeys(r["factor"] for r in rows) if f != "base"]
    if not factors:
        return figures + _width_figures(save, plt, trajectories, init, part_off)
    base = [r for r in rows if r["factor"] == "base"]
    fig, axes = plt.subplots(2, len(factors), figsize=(4 * len(factors), 6.5), squeeze=False)
    for column, factor in enumerate(factors):
        group = sorted(base + [r for r in rows if r["factor"] == factor], key=lambda r: r["curv/R"])
        for row_index, measure in enumerate(("R", "lambda_max")):
            ax = axes[row_index, column]
            gaps = [r["test/gap"] for r in group]
            values = [r[f"curv/{measure}"] for r in group]
            ax.scatter(gaps, values)
            for r, gx, vy in zip(group, gaps, values, strict=True):
                label = "base" if r["factor"] == "base" else r["value"]
                ax.annotate(label, (gx, vy), fontsize=8)
            ax.set_xlabel("test gap (train acc − test acc)")
            ax.tick_params(axis="x", labelrotation=30)
            ax.set_ylabel("scalar curvature R" if measure == "R" else "λ_max")
            ax.set_title(f"{factor.split('.')[-1]}")
    figures.append(save(fig, "curvature_vs_gap.png"))

    if reparam:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        keys = ("R", "lambda_max", "trace", "sharpness")
        labels = ("R", "λ_max", "tr H", "ε-sharpness")
        alphas = sorted(reparam)
        for i, alpha in enumerate(alphas):
            ax.bar([k + (i - (len(alphas) - 1) / 2) * 0.35 for k in range(len(keys))],
                   [reparam[alpha][k] for k in keys], width=0.35, label=f"α = {alpha:g}")
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_xticks(range(len(keys)), labels)
        ax.set_ylabel("log10(rescaled / original)")
        ax.set_title("same function, layers rescaled by α and 1/α")
        ax.legend()
        figures.append(save(fig, "reparam_ratios.png"))
    return figures + _width_figures(save, plt, trajectories, init, part_off)


def _width_figures(save, plt, trajectories, init, part_off: bool) -> list[Path]:
    if not trajectories:
        return []
    figures = []
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for colour, (width, runs) in enumerate(trajectories.items()):
        for index, trajectory in enumerate(runs):
            steps = [p["step"] for p in trajectory]
            for ax, key, title in zip(axes, ("full", "gauss_newton", "functional", "cos_functional"),
                                      ("gᵀ(G+H)g / |g|²", "gᵀGg / |g|²", "gᵀHg / |g|² (H = Hessian − G)",
                                       "cos(g, Hg), H-part"), strict=True):
                ax.plot(steps, [p[key] for p in trajectory], color=f"C{colour}", lw=1, alpha=0.8,
                        label=f"width {width}" if index == 0 else None)
                ax.set_title(title + (" [H-part off]" if part_off else ""))
                ax.set_xlabel("gradient-descent step")
                ax.axhline(0, color="gray", lw=0.5)
    axes[0].legend()
    figures.append(save(fig, "width_curvature_along_training.png"))

    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    widths = sorted(init)
    for key, marker, label in (("ratio", "o", "|gᵀHg| / gᵀGg"), ("abs_cos", "s", "|cos(g, Hg)|")):
        line, = ax.loglog(widths, [max(float(np.median(init[w][key])), 1e-12) for w in widths], marker + "-",
                          label=label)
        for w in widths:
            ax.scatter([w] * len(init[w][key]), np.maximum(init[w][key], 1e-12), s=6, color=line.get_color(),
                       alpha=0.4)
    ax.set_xlabel("width")
    ax.set_title("at initialisation (median, dots: seeds)")
    ax.legend()
    figures.append(save(fig, "width_init_ratio.png"))
    return figures


def reproduce(cfg: DictConfig, plan=None, results_dir: Path | None = None) -> PaperResults:
    if results_dir is None:  # called as reproduce(cfg, results_dir) by the older entry point
        plan, results_dir = None, plan
    plan = _plan(cfg, plan)
    results_dir = Path(results_dir)
    extra = list(plan.get("extra_overrides", []) or [])
    hessian_part = str(plan.get("hessian_part", "full") or "full")
    if hessian_part not in ("full", "gauss_newton"):
        raise ConfigError(f"scales.{cfg.scale}.hessian_part must be 'full' or 'gauss_newton', got {hessian_part!r}")
    if hessian_part != "full":
        extra.append(f"model.hessian_part={hessian_part}")
    parts = list(plan.get("parts", PARTS) or PARTS)
    if unknown := sorted(set(parts) - set(PARTS)):
        raise ConfigError(f"scales.{cfg.scale}.parts has {unknown}; choose from {list(PARTS)}")
    if len(plan.get("seeds", []) or []) < 1:
        raise ConfigError(f"scales.{cfg.scale}.seeds must list at least one seed")
    # the closed form against the brute-force Riemann tensor: a correctness check (a unit test too), not a claim
    metrics: dict[str, float] = {"check/closed_vs_brute_max_rel_err": closed_form_check()}

    # 2. the family of trained networks
    rows = run_sweep(cfg, plan, extra) if "sweep" in parts else []
    sweep_defaults = _composed(cfg, plan.experiments.sweep)
    part_off = hessian_part == "gauss_newton" or sweep_defaults.model.hessian_part == "gauss_newton"
    if rows:
        metrics.update(sweep_metrics(rows, sweep_defaults))
    # 3.-5.
    metrics.update(_remaining_parts(cfg, plan, parts, extra, rows, hessian_part, results_dir))
    return _results(results_dir, plan, metrics, rows, part_off)


def sweep_metrics(rows: list[dict], sweep_defaults: DictConfig) -> dict[str, float]:
    """Rank correlations over the family (levels x seeds), each with n and one-sided permutation p-values."""
    metrics: dict[str, float] = {}
    for measure in MEASURES:  # the flat-minima premise: every run of the family, gap against sharpness
        metrics.update(rank_test([r["test/gap"] for r in rows], [r[f"curv/{measure}"] for r in rows],
                                 f"sweep/spearman_gap_{measure}"))
    for factor in dict.fromkeys(r["factor"] for r in rows):
        if factor == "base":
            continue
        group = [r for r in rows if r["factor"] in (factor, "base")]
        short = factor.split(".")[-1]
        values = [float(r["value"]) if r["value"] else float(OmegaConf.select(sweep_defaults, factor)) for r in group]
        metrics[f"sweep/{short}/levels"] = float(len(set(values)))
        metrics.update(rank_test(values, [r["test/gap"] for r in group], f"sweep/{short}/spearman_value_gap"))
        for measure in MEASURES:  # the setting against the curvature it leads to
            metrics.update(rank_test(values, [r[f"curv/{measure}"] for r in group],
                                     f"sweep/{short}/spearman_value_{measure}"))
        for measure in MEASURES:
            metrics[f"sweep/{short}/spearman_gap_{measure}"] = spearman(group, measure)
    # members that reached their target training loss (the others ran out of epochs)
    for r in rows:
        target = float(r["value"]) if r["factor"].endswith("stop_at_train_loss") else sweep_defaults.model.stop_at_train_loss
        r["at_target"] = target is None or r["train/loss"] <= float(target)
    at_target = [r for r in rows if r["at_target"]]
    metrics["sweep/runs_at_target_loss"] = float(len(at_target))
    if len(at_target) >= 3:
        for measure in MEASURES:
            metrics[f"sweep/at_target/spearman_gap_{measure}"] = spearman(at_target, measure)
    base = [r for r in rows if r["factor"] == "base"]
    metrics["sweep/base_test_acc"] = float(np.mean([r["test/acc"] for r in base]))
    metrics["sweep/min_test_acc"] = float(min(r["test/acc"] for r in rows))
    metrics["sweep/min_train_acc"] = float(min(r["train/acc"] for r in rows))
    metrics["sweep/runs"] = float(len(rows))
    for key in ("test/gap", "curv/R", "curv/R_se", "curv/lambda_max", "curv/trace", "curv/sharpness"):
        metrics[f"sweep/base_{key.split('/')[1]}"] = float(np.mean([r[key] for r in base]))
    return metrics


def _remaining_parts(cfg, plan, parts, extra, rows, hessian_part, results_dir) -> dict[str, float]:
    metrics: dict[str, float] = {}
    base = [r for r in rows if r["factor"] == "base"]
    # 3. the estimator against the exact R
    if "coverage" in parts and int(plan.get("coverage_seeds", 0) or 0) > 0:
        if plan.get("coverage_width") is None and not base:
            raise ConfigError("coverage on the sweep's base network needs the sweep: add 'sweep' to parts or set "
                              "coverage_width")
        if plan.get("coverage_width") is None:
            datamodule, model = load_trained_run(base[0]["run_dir"])
        else:
            run = _train(cfg, plan.experiments.sweep, [f"model.net.width={plan.coverage_width}", *extra], plan.seeds[0])
            datamodule, model = load_trained_run(run["run_dir"])
        x, y = datamodule.measure_set.tensors
        part = model.hparams.hessian_part
        cover = coverage(model.net, x, y, int(plan.coverage_seeds), int(plan.coverage_probes), part)
        metrics.update({f"estimator/{k}": v for k, v in cover.items()})

    # 4. the width study
    metrics["width/trajectories"] = {}
    metrics["width/init"] = {}
    if "width" in parts and plan.get("widths"):
        bottleneck = plan.get("width_bottleneck")
        width_extra = [f"model.net.bottleneck={int(bottleneck)}"] if bottleneck is not None else []
        width_seeds = list(plan.get("width_seeds", plan.seeds) or plan.seeds)
        trajectories: dict[int, list] = {}
        summaries: dict[int, list] = {}
        for width in plan.widths:
            for seed in width_seeds:
                run = _train(cfg, plan.experiments.width, [f"model.net.width={width}", *width_extra, *extra], seed)
                trajectory = json.loads((Path(run["run_dir"]) / TRAJECTORY_FILE).read_text())["trajectory"]
                trajectories.setdefault(int(width), []).append(trajectory)
                summaries.setdefault(int(width), []).append({**trajectory_summary(trajectory),
                                                             "test_acc": run["test/acc"]})
        for width, runs in summaries.items():
            for key in ("test_acc", "median_abs_cos", "start_full", "end_full"):
                metrics[f"width/{width}/{key}"] = float(np.median([r[key] for r in runs]))
        widest = summaries[max(summaries)]  # the widest network: median over its seeds
        for key in ("start_full", "end_full", "min_full", "min_functional", "start_gauss_newton",
                    "interior_min_abs_full_over_start", "median_abs_cos"):
            metrics[f"width/widest_{key}"] = float(np.median([r[key] for r in widest]))
        metrics["width/widest_start_abs_cos"] = float(np.median([r["start_abs_cos"] for r in widest]))
        metrics["width/seeds"] = float(len(width_seeds))
        # trained: does |cos(g, Hg)| over training fall with width? (reported, not claimed)
        trained_w = [w for w, runs in summaries.items() for _ in runs]
        trained_cos = [r["median_abs_cos"] for runs in summaries.values() for r in runs]
        metrics.update(rank_test(trained_w, trained_cos, "width/trained/spearman_width_abs_cos"))

        width_cfg = _composed(cfg, plan.experiments.width)
        width_dm = ClassificationDataModule(**{k: v for k, v in OmegaConf.to_container(width_cfg.data, resolve=True).items()
                                               if k != "_target_"})
        width_dm.setup()
        init = init_ratios(width_dm, plan.init_widths, int(plan.init_seeds), int(width_cfg.model.net.depth),
                           str(width_cfg.model.net.activation),
                           "gauss_newton" if hessian_part == "gauss_newton" else str(width_cfg.model.hessian_part),
                           None if bottleneck is None else int(bottleneck))
        widths = sorted(init)
        medians = {w: (float(np.median(init[w]["ratio"])), float(np.median(init[w]["abs_cos"]))) for w in widths}
        logw = np.log(widths)
        metrics["width/init_ratio_slope"] = float(np.polyfit(logw, np.log([max(medians[w][0], 1e-12) for w in widths]), 1)[0])
        metrics["width/init_abs_cos_widest"] = medians[widths[-1]][1]
        points = [w for w in widths for _ in init[w]["ratio"]]
        metrics.update(rank_test(points, [v for w in widths for v in init[w]["abs_cos"]],
                                 "width/init/spearman_width_abs_cos"))
        metrics.update(rank_test(points, [v for w in widths for v in init[w]["ratio"]],
                                 "width/init/spearman_width_ratio"))
        for w in widths:
            metrics[f"width/init/{w}/ratio"] = medians[w][0]
            metrics[f"width/init/{w}/abs_cos"] = medians[w][1]
        metrics["width/trajectories"] = trajectories
        metrics["width/init"] = {w: init[w] for w in widths}

    # 5. reparameterisation: the same function, rescaled layers
    if "reparam" in parts and plan.get("reparam"):
        rp = plan.reparam
        if str(rp.get("run", "base")) == "base":
            if not base:
                raise ConfigError("reparam.run=base needs the sweep: add 'sweep' to parts")
            run_dir = base[0]["run_dir"]
        else:
            run_dir = _train(cfg, plan.experiments.sweep, [*list(rp.overrides), *extra], plan.seeds[0])["run_dir"]
        datamodule, model = load_trained_run(run_dir)
        x, y = datamodule.measure_set.tensors
        result = reparameterisation(model, x, y, list(rp.alphas), int(rp.get("layer", 0)))
        metrics.update({f"reparam/{k}": v for k, v in result.items()})
    return metrics


def _results(results_dir: Path, plan, metrics: dict, rows: list[dict], part_off: bool) -> PaperResults:
    trajectories = metrics.pop("width/trajectories", {})
    init = metrics.pop("width/init", {})

    reparam_ratios = {}
    if "reparam/n_params" in metrics:
        for alpha in plan.reparam.alphas:
            a = float(alpha)
            reparam_ratios[a] = {k: math.log10(abs(metrics[f"reparam/{a:g}/{k}"]) / abs(metrics[f"reparam/1/{k}"]))
                                 if metrics[f"reparam/1/{k}"] != 0 and metrics[f"reparam/{a:g}/{k}"] != 0 else 0.0
                                 for k in ("R", "lambda_max", "trace", "sharpness")}
    figures = _figures(results_dir, rows, trajectories, init, part_off, reparam_ratios)
    (results_dir / "sweep_runs.json").write_text(json.dumps(rows, indent=1, default=str) + "\n")
    sections = ["## The family of trained networks (one factor at a time)", "",
                "| factor | value | seed | train loss | train acc | test acc | gap | R (± se) | R exact | λ_max | tr H "
                "| sharpness |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        exact = f"{r['curv/R_exact']:.4g}" if "curv/R_exact" in r else "—"
        sections.append(
            f"| {r['factor'].split('.')[-1]} | {r['value'] or 'default'} | {r['seed']} "
            f"| {r['train/loss']:.3f}{'' if r['at_target'] else ' (above target)'} | {r['train/acc']:.3f} | {r['test/acc']:.3f} "
            f"| {r['test/gap']:.3f} | {r['curv/R']:.4g} ± {r['curv/R_se']:.2g} | {exact} | {r['curv/lambda_max']:.4g} "
            f"| {r['curv/trace']:.4g} | {r['curv/sharpness']:.3g} |")
    tests = sorted(k[:-len("_p_less")] for k in metrics if k.endswith("_p_less"))
    if tests:
        sections += ["", "## Rank correlations (Spearman ρ over levels x seeds, one-sided permutation p-values)", "",
                     "| correlation | n | ρ | p (ρ < 0) | p (ρ > 0) |", "|---|---|---|---|---|"]
        sections += [f"| {k} | {metrics[k + '_n']:.0f} | {metrics[k]:.3f} | {metrics[k + '_p_less']:.3g} "
                     f"| {metrics[k + '_p_greater']:.3g} |" for k in tests]
    if trajectories:
        sections += ["", "## Width study along full-batch training (median over seeds)", "",
                     "| width | seeds | test acc | gᵀ(G+H)g/abs(g)² start | end | median abs(cos(g, Hg)) over training |",
                     "|---|---|---|---|---|---|"]
        sections += [f"| {w} | {len(trajectories[w])} | {metrics[f'width/{w}/test_acc']:.3f} "
                     f"| {metrics[f'width/{w}/start_full']:.4f} | {metrics[f'width/{w}/end_full']:.4f} "
                     f"| {metrics[f'width/{w}/median_abs_cos']:.3f} |" for w in sorted(trajectories)]
    if init:
        sections += ["", "## Width study at initialisation (median over seeds)", "",
                     "| width | seeds | abs(gᵀHg) / gᵀGg | abs(cos(g, Hg)) |", "|---|---|---|---|"]
        sections += [f"| {w} | {len(init[w]['ratio'])} | {float(np.median(init[w]['ratio'])):.4f} "
                     f"| {float(np.median(init[w]['abs_cos'])):.4f} |" for w in sorted(init)]
    if "reparam/n_params" in metrics:
        alphas = [1.0, *[float(a) for a in plan.reparam.alphas]]
        sections += ["", "## Reparameterisation: layer scaled by α, the next by 1/α (the same function)", "",
                     "| α | max logit change | loss | R (± se) | λ_max | tr H | sharpness |", "|---|---|---|---|---|---|---|"]
        for a in alphas:
            v = {k: metrics[f"reparam/{a:g}/{k}"] for k in ("max_logit_change", "loss", "R", "R_se", "lambda_max",
                                                              "trace", "sharpness")}
            sections.append(f"| {a:g} | {v['max_logit_change']:.2g} | {v['loss']:.5g} | {v['R']:.4g} ± {v['R_se']:.2g} "
                            f"| {v['lambda_max']:.4g} | {v['trace']:.4g} | {v['sharpness']:.3g} |")
    sections.append("")
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
