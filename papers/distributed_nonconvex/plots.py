"""Figures: training curves against rounds and against floats sent, gossip consensus by topology, and
DGD's offset on the quadratic against its step."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLOURS = {"sgd": "black", "dpsgd": "tab:red", "gt": "tab:blue", "local": "tab:green"}
NAMES = {"sgd": "centralised SGD", "dpsgd": "D-PSGD", "gt": "gradient tracking", "local": "local SGD"}
DPI = 72


def _mean_curve(histories, key):
    length = min(len(h) for h in histories)
    x_rounds = np.array([p["round"] for p in histories[0][:length]])
    x_floats = np.array([p["floats_sent"] for p in histories[0][:length]])
    y = np.array([[p[key] for p in h[:length]] for h in histories])
    return x_rounds, x_floats, y.mean(axis=0)


def plot_training(runs: dict, mode: str, splits, algorithms, local_steps: int, path: Path, title: str) -> str:
    keys = [("stationarity", "‖∇f(x̄)‖² (train)", True), ("consensus", "consensus error", True),
            ("test_accuracy", "test accuracy", False)]
    fig, axes = plt.subplots(len(keys), 2 * len(splits), figsize=(4.2 * 2 * len(splits), 2.6 * len(keys)), squeeze=False)
    for s, split in enumerate(splits):
        for row, (key, label, log) in enumerate(keys):
            for c, against in enumerate(("rounds", "floats sent per worker")):
                ax = axes[row, 2 * s + c]
                for algorithm in algorithms:
                    if (split, mode, algorithm) not in runs:
                        continue
                    rounds, floats, y = _mean_curve(runs[(split, mode, algorithm)], key)
                    name = NAMES[algorithm] + (f" (K={local_steps})" if algorithm == "local" else "")
                    x = rounds if c == 0 else floats
                    if log:
                        y = np.maximum(y, 1e-12)
                    ax.plot(x, y, color=COLOURS[algorithm], label=name, lw=1.2)
                if log:
                    ax.set_yscale("log")
                if key == "test_accuracy":
                    ax.set_ylim(0.5, 1.0)
                ax.set_xlabel(against)
                ax.set_ylabel(label)
                if row == 0:
                    ax.set_title(f"{split} shards, {mode}")
                ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path.name


def plot_consensus(curves: dict, gaps: dict, target: float, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for topology, runs in curves.items():
        errors = np.asarray(runs[0]) / runs[0][0]
        ax.semilogy(np.arange(len(errors)), np.maximum(errors, 1e-20), marker=".",
                    label=f"{topology} (gap {gaps[topology]:.3f})")
    ax.axhline(target, color="grey", ls="--", lw=0.8, label="target")
    ax.set_xlabel("gossip rounds")
    ax.set_ylabel("consensus error / start")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path.name


def plot_quadratic(alphas, measured, closed, gt_error: float, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(alphas, closed, "k-", label="closed form α[(1+α)I − W]⁻¹b")
    ax.plot(alphas, measured, "o", color="tab:red", label="DGD, measured")
    ax.axhline(max(gt_error, 1e-17), color="tab:blue", ls="--", label=f"gradient tracking ({gt_error:.1e})")
    ax.set_yscale("log")
    ax.set_xlabel("step α")
    ax.set_ylabel("max_i ‖x_i − mean(b)‖")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path.name
