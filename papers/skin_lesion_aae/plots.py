"""Figures of the reproduction: reconstructions, ROC curves, AUC vs labelled fraction, code embedding."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

COLOURS = {"daae": "tab:red", "aae": "tab:orange", "dae": "tab:blue", "ae": "tab:gray", "supervised": "tab:green",
           "pca": "tab:purple"}


def plot_reconstructions(rows: dict[str, np.ndarray], path: Path) -> Path:
    """rows: name -> (n, 3, s, s) images in [0, 1], drawn as one labelled row each."""
    names = list(rows)
    n = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(names), n, figsize=(1.1 * n, 1.15 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c in range(n):
            axes[r, c].imshow(np.clip(rows[name][c].transpose(1, 2, 0), 0, 1))
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=72)  # a grid of photographs: at 110 dpi the PNG passed 500 KB
    plt.close(fig)
    return path


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path: Path) -> Path:
    """curves: model -> (labels, scores) on the test images."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for name, (labels, scores) in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=name.upper() if name != "supervised" else "supervised", color=COLOURS.get(name))
    ax.plot([0, 1], [0, 1], ":", color="black", lw=0.8)
    for level in (0.9, 0.95):
        ax.axhline(level, color="black", lw=0.4, ls="--")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_auc_vs_fraction(table: dict[str, dict[float, tuple[float, float]]], title: str, path: Path) -> Path:
    """table: model -> {fraction: (mean AUC, sd)}."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for name, points in table.items():
        fractions = sorted(points)
        means = [points[f][0] for f in fractions]
        sds = [points[f][1] for f in fractions]
        ax.errorbar([100 * f for f in fractions], means, yerr=sds, marker="o", capsize=3, label=name.upper()
                    if name not in ("supervised", "pca") else name, color=COLOURS.get(name))
    ax.set_xscale("log")
    ax.set_xlabel("labelled training images (%)")
    ax.set_ylabel("test ROC-AUC (mean ± sd)")
    ax.axhline(0.5, color="black", lw=0.6, ls=":")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_embedding(points: np.ndarray, groups: list[str], title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4.4))
    groups = np.asarray(groups)
    for name in sorted(set(groups.tolist())):
        chosen = groups == name
        ax.scatter(points[chosen, 0], points[chosen, 1], s=6, label=f"{name} ({chosen.sum()})", alpha=0.7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
