"""Figures: the bound against the measured variance over alpha, and the metric against theta."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from papers.csiszar_cramer_rao.crb import bounds  # noqa: E402
from papers.csiszar_cramer_rao.families import make_family  # noqa: E402
from papers.csiszar_cramer_rao.geometry import metric, metric_eguchi  # noqa: E402

MARKERS = {"mean": "o", "median": "s", "mean_f": "o", "learned": "^"}
COLOURS = {"mean": "tab:green", "median": "tab:orange", "mean_f": "tab:green", "learned": "tab:purple"}


def _valid_alphas(spec, lo: float, hi: float, points: int) -> np.ndarray:
    alphas = []
    for alpha in np.linspace(lo, hi, points):
        family = make_family(spec, float(alpha))
        try:
            family.estimator_variance_finite(float(alpha))
            family.check_theta(spec.theta)
        except ValueError:
            continue
        alphas.append(float(alpha))
    return np.array(alphas)


def plot_bounds(plan, cells, path: Path) -> Path:
    """Per family: n x bound against alpha (the alpha-metric; dashed: Fisher's information of p in its
    place; dotted: g^(alpha) without the factor alpha) and n x the measured variances, +- 2 se."""
    n = int(plan.figure.n)
    families = list(plan.families.items())
    fig, axes = plt.subplots(1, len(families), figsize=(3.3 * len(families), 3.2))
    axes = np.atleast_1d(axes)
    grid = [float(a) for a in plan.alphas]
    for ax, (name, spec) in zip(axes, families, strict=True):
        own = [float(a) for a in spec.get("alphas", grid)]
        alphas = _valid_alphas(spec, min(own), max(own), int(plan.figure.alpha_points))
        curves = {k: [] for k in ("bound_escort", "bound_fisher", "bound_eguchi")}
        for alpha in alphas:
            b = bounds(make_family(spec, alpha), spec.theta, alpha, n, None)
            for key in curves:
                curves[key].append(n * b[key])
        ax.plot(alphas, curves["bound_escort"], "k-", lw=1.6, label="bound, alpha-metric")
        ax.plot(alphas, curves["bound_fisher"], "--", color="tab:red", lw=1, label="Fisher info. of p (mech. off)")
        ax.plot(alphas, curves["bound_eguchi"], ":", color="tab:blue", lw=1, label="g without factor alpha")
        for estimator in sorted({c.estimator for c in cells if c.family == name}):
            chosen = [c for c in cells if c.family == name and c.n == n and c.estimator == estimator]
            if chosen:
                ax.errorbar([c.alpha for c in chosen], [n * c.variance for c in chosen],
                            yerr=[2 * n * c.variance_se for c in chosen], fmt=MARKERS.get(estimator, "o"), ms=4,
                            color=COLOURS.get(estimator, "tab:gray"), mfc="none" if estimator == "learned" else None,
                            capsize=2, label=f"Var × n, {estimator}")
        ax.set_title(make_family(spec, 1.0).describe().replace(" (index=1, ", " ("), fontsize=8)
        ax.set_xlabel("alpha")
        ax.set_yscale("log")
    axes[0].set_ylabel(f"n × variance (n = {n})")
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_metric(plan, path: Path) -> Path:
    """g^(alpha)(theta) of the families linear in f (closed form, lines; Eguchi's autograd, points)."""
    panels = [spec for spec in plan.families.values() if spec.kind in ("power_law", "exponential", "power_law_q")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.1))
    axes = np.atleast_1d(axes)
    for ax, spec in zip(axes, panels, strict=True):
        alphas = [a for a in (0.5, 0.8, 1.0, 1.5, 2.0) if not (spec.kind == "power_law_q" and a >= 2)]
        if spec.kind == "power_law_q":
            thetas = np.linspace(0.3, 3.0, 28)
        elif spec.kind == "power_law":
            top = 1 / ((int(spec.get("support", 6)) - 1) * (max(alphas) - 1)) if max(alphas) > 1 else 1.0
            thetas = np.linspace(0.0, 0.95 * top, 28)
        else:
            thetas = np.linspace(-1.0, 1.0, 28)
        for alpha in alphas:
            family = make_family(spec, alpha)
            values = [float(metric(family, torch.tensor([t], dtype=torch.float64), alpha)[0, 0]) for t in thetas]
            line, = ax.plot(thetas, values, lw=1.3, label=f"alpha = {alpha:g}")
            marks = thetas[::6]
            ax.plot(marks, [float(metric_eguchi(family, torch.tensor([t], dtype=torch.float64), alpha)[0, 0]) for t in marks], "o",
                    color=line.get_color(), ms=3.5, mfc="none")
        ax.set_title(make_family(spec, 1.0).describe().replace("index=1, ", ""), fontsize=8)
        ax.set_xlabel("theta")
        ax.set_yscale("log")
    axes[0].set_ylabel("metric g^(alpha)(theta)")
    axes[-1].plot([], [], "ko", mfc="none", ms=3.5, label="Eguchi (autograd)")
    axes[-1].plot([], [], "k-", label="closed form")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
