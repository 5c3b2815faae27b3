"""curvature_generalization's part of `scripts/reproduce.py`.

1. The closed form of R against the brute-force Riemann tensor (random quadratics, a small MLP).
2. A family of trained MLPs, one factor at a time (batch size, learning rate, width): test gap,
   R, λ_max, tr H, ε-sharpness, and their Spearman rank correlations with the gap.
3. The Hutchinson estimate of R against the exact R of a small trained net: 95% interval coverage.
4. The width study: curvature along the gradient (full Hessian, Gauss-Newton part G, functional
   part H − G) along full-batch training for several widths, and its ratio at initialisation.
5. Reparameterisation: a trained ReLU network with one layer scaled by α and the next by 1/α
   (the same function): R, λ_max, tr H and ε-sharpness before and after.
Steps 3-5 run when the scale's plan asks for them (coverage_seeds > 0, widths, reparam).
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
from common.experiment import PaperResults, load_trained_run, train_experiment
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
    rho = spearmanr(x, y).statistic
    return float(rho) if np.isfinite(rho) else 0.0


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
                hessian_part: str = "full") -> dict:
    """Per width: median over init seeds of |gᵀ(H−G)g| / gᵀGg and of |cos(g, (H−G)g)| at initialisation.
    With hessian_part=gauss_newton (the mechanism off) the functional part is taken as zero."""
    x, y = datamodule.measure_set.tensors
    out = {}
    for width in widths:
        ratios, cosines = [], []
        for seed in range(seeds):
            torch.manual_seed(seed)
            net = MLP(x.shape[1], int(width), depth, datamodule.n_classes, activation)
            a = gradient_alignment(FlatLoss(net, F.cross_entropy, x, y))
            if hessian_part == "gauss_newton":
                a.update(functional=0.0, cos_functional=0.0)
            ratios.append(abs(a["functional"]) / a["gauss_newton"])
            cosines.append(abs(a["cos_functional"]))
        out[int(width)] = (float(np.median(ratios)), float(np.median(cosines)))
    return out


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
    if not trajectories:
        return figures
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for width, trajectory in trajectories.items():
        steps = [p["step"] for p in trajectory]
        for ax, key, title in zip(axes, ("full", "gauss_newton", "functional", "cos_functional"),
                                  ("gᵀ(G+H)g / |g|²", "gᵀGg / |g|²", "gᵀHg / |g|² (H = Hessian − G)",
                                   "cos(g, Hg), H-part"), strict=True):
            ax.plot(steps, [p[key] for p in trajectory], label=f"width {width}")
            ax.set_title(title + (" [H-part off]" if part_off else ""))
            ax.set_xlabel("gradient-descent step")
            ax.axhline(0, color="gray", lw=0.5)
    axes[0].legend()
    figures.append(save(fig, "width_curvature_along_training.png"))

    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    widths = sorted(init)
    ax.loglog(widths, [init[w][0] for w in widths], "o-", label="|gᵀHg| / gᵀGg")
    ax.loglog(widths, [init[w][1] for w in widths], "s--", label="|cos(g, Hg)|")
    ax.set_xlabel("width")
    ax.set_title("at initialisation (median over seeds)")
    ax.legend()
    figures.append(save(fig, "width_init_ratio.png"))
    return figures


def reproduce(cfg: DictConfig, plan=None, results_dir: Path | None = None) -> PaperResults:
    if results_dir is None:  # called as reproduce(cfg, results_dir) by the older entry point
        plan, results_dir = None, plan
    plan = _plan(cfg, plan)
    results_dir = Path(results_dir)
    extra = list(plan.get("extra_overrides", []) or [])
    metrics: dict[str, float] = {"check/closed_vs_brute_max_rel_err": closed_form_check()}

    # 2. the family of trained networks
    rows = run_sweep(cfg, plan, extra)
    sweep_defaults = _composed(cfg, plan.experiments.sweep)
    part_off = sweep_defaults.model.hessian_part == "gauss_newton"
    for measure in MEASURES:
        metrics[f"sweep/spearman_gap_{measure}"] = spearman(rows, measure)
    for factor in dict.fromkeys(r["factor"] for r in rows):
        if factor == "base":
            continue
        group = [r for r in rows if r["factor"] in (factor, "base")]
        short = factor.split(".")[-1]
        values = [float(r["value"]) if r["value"] else float(OmegaConf.select(sweep_defaults, factor)) for r in group]
        metrics[f"sweep/{short}/spearman_value_gap"] = _rho(values, [r["test/gap"] for r in group])
        for measure in MEASURES:  # the setting against the curvature it leads to
            metrics[f"sweep/{short}/spearman_value_{measure}"] = _rho(values, [r[f"curv/{measure}"] for r in group])
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

    # 3. the estimator against the exact R
    if int(plan.get("coverage_seeds", 0) or 0) > 0:
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
    trajectories, init = {}, {}
    if plan.get("widths"):
        for width in plan.widths:
            run = _train(cfg, plan.experiments.width, [f"model.net.width={width}", *extra], plan.seeds[0])
            trajectories[int(width)] = json.loads((Path(run["run_dir"]) / TRAJECTORY_FILE).read_text())["trajectory"]
            metrics[f"width/{width}/test_acc"] = run["test/acc"]
        widest = trajectories[max(trajectories)]
        metrics["width/widest_start_full"] = widest[0]["full"]
        metrics["width/widest_end_full"] = widest[-1]["full"]
        metrics["width/widest_min_full"] = min(p["full"] for p in widest)
        metrics["width/widest_min_functional"] = min(p["functional"] for p in widest)
        metrics["width/widest_start_gauss_newton"] = widest[0]["gauss_newton"]
        metrics["width/widest_start_abs_cos"] = abs(widest[0]["cos_functional"])
        width_cfg = _composed(cfg, plan.experiments.width)
        width_dm = ClassificationDataModule(**{k: v for k, v in OmegaConf.to_container(width_cfg.data, resolve=True).items()
                                               if k != "_target_"})
        width_dm.setup()
        init = init_ratios(width_dm, plan.init_widths, int(plan.init_seeds), int(width_cfg.model.net.depth),
                           str(width_cfg.model.net.activation), str(width_cfg.model.hessian_part))
        widths = sorted(init)
        logw = np.log(widths)
        metrics["width/init_ratio_slope"] = float(np.polyfit(logw, np.log([max(init[w][0], 1e-12) for w in widths]), 1)[0])
        metrics["width/init_abs_cos_widest"] = init[widths[-1]][1]
        for w in widths:
            metrics[f"width/init/{w}/ratio"] = init[w][0]
            metrics[f"width/init/{w}/abs_cos"] = init[w][1]

    # 5. reparameterisation: the same function, rescaled layers
    if plan.get("reparam"):
        rp = plan.reparam
        if str(rp.get("run", "base")) == "base":
            run_dir = base[0]["run_dir"]
        else:
            run_dir = _train(cfg, plan.experiments.sweep, [*list(rp.overrides), *extra], plan.seeds[0])["run_dir"]
        datamodule, model = load_trained_run(run_dir)
        x, y = datamodule.measure_set.tensors
        result = reparameterisation(model, x, y, list(rp.alphas), int(rp.get("layer", 0)))
        metrics.update({f"reparam/{k}": v for k, v in result.items()})

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
                "| factor | value | train loss | train acc | test acc | gap | R (± se) | R exact | λ_max | tr H | sharpness |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        exact = f"{r['curv/R_exact']:.4g}" if "curv/R_exact" in r else "—"
        sections.append(
            f"| {r['factor'].split('.')[-1]} | {r['value'] or 'default'} "
            f"| {r['train/loss']:.3f}{'' if r['at_target'] else ' (above target)'} | {r['train/acc']:.3f} | {r['test/acc']:.3f} "
            f"| {r['test/gap']:.3f} | {r['curv/R']:.4g} ± {r['curv/R_se']:.2g} | {exact} | {r['curv/lambda_max']:.4g} "
            f"| {r['curv/trace']:.4g} | {r['curv/sharpness']:.3g} |")
    if init:
        sections += ["", "## Width study at initialisation (median over seeds)", "",
                     "| width | abs(gᵀHg) / gᵀGg | abs(cos(g, Hg)) |", "|---|---|---|"]
        sections += [f"| {w} | {init[w][0]:.4f} | {init[w][1]:.4f} |" for w in sorted(init)]
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
