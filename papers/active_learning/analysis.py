"""Scores of learning curves (area under the curve, labels needed to reach a target) and the figures."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def auc(scores) -> float:
    """Trapezoidal area under a curve of per-round scores with unit spacing (R rounds: at most R - 1
    for scores in [0, 1]); the repository's MNIST AUC over 25 rounds."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) < 2:
        raise ValueError(f"an AUC needs a curve of at least 2 rounds, got shape {scores.shape}")
    return float(((scores[1:] + scores[:-1]) / 2).sum())


def labels_to_reach(labels, mean_curve, target: float, higher_is_better: bool = True) -> float | None:
    """The first labelled-set size at which a (seed-mean) curve reaches `target`; None if it never does."""
    mean_curve = np.asarray(mean_curve, dtype=np.float64)
    hit = mean_curve >= target - 1e-12 if higher_is_better else mean_curve <= target + 1e-12
    return float(np.asarray(labels)[np.argmax(hit)]) if hit.any() else None


def plot_curves(curves: dict[str, np.ndarray], labels: np.ndarray, title: str, ylabel: str, path: Path,
                reference: dict[str, float] | None = None) -> Path:
    """Mean +- sd bands over seeds per strategy; `curves[name]` has shape (seeds, rounds)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=80)
    for name, values in curves.items():
        mean, sd = values.mean(0), values.std(0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
        line, = ax.plot(labels, mean, label=name, lw=1.4)
        ax.fill_between(labels, mean - sd, mean + sd, color=line.get_color(), alpha=0.15, lw=0)
    for name, value in (reference or {}).items():
        ax.axhline(value, ls=":", lw=0.8, color="grey")
        ax.annotate(name, (labels[0], value), fontsize=7, color="grey", va="bottom")
    ax.set_xlabel("labelled points")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
