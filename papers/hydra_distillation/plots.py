"""Figures: predictive bands on the regression toy, uncertainty maps on the spiral, MI histograms."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def regression_bands(x_train, y_train, grid, truth, models: dict, train_range, path: Path) -> Path:
    """models: name -> (head means (H, G), head variances (H, G)); band = mixture mean ± 2 sd."""
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), sharey=True)
    for ax, (name, (means, variances)) in zip(np.atleast_1d(axes), models.items(), strict=True):
        mean = means.mean(0)
        sd = np.sqrt(variances.mean(0) + means.var(0))
        ax.axvspan(*train_range, color="0.93", zorder=0)
        ax.fill_between(grid, mean - 2 * sd, mean + 2 * sd, color="C0", alpha=0.25, label="±2 sd (total)")
        epistemic = np.sqrt(means.var(0))
        ax.fill_between(grid, mean - 2 * epistemic, mean + 2 * epistemic, color="C3", alpha=0.35,
                        label="±2 sd (model)")
        for head in means[:10]:
            ax.plot(grid, head, color="C0", lw=0.5, alpha=0.6)
        ax.plot(grid, truth, "k--", lw=1, label="true mean")
        ax.scatter(x_train, y_train, s=3, color="k", alpha=0.4)
        ax.set_title(f"{name} ({means.shape[0]} head{'s' if means.shape[0] > 1 else ''})")
        ax.set_xlabel("x")
        ax.set_ylim(-25, 40)
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def uncertainty_maps(xx, yy, maps: dict, x_train, y_train, path: Path, title: str = "mutual information") -> Path:
    """maps: name -> (G, G) values on the grid (xx, yy)."""
    vmax = max(float(np.max(m)) for m in maps.values()) or 1.0
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 3.8))
    for ax, (name, values) in zip(np.atleast_1d(axes), maps.items(), strict=True):
        image = ax.pcolormesh(xx, yy, values, cmap="magma", vmin=0, vmax=vmax, shading="auto")
        ax.scatter(x_train[:, 0], x_train[:, 1], c=y_train, s=2, cmap="tab10", alpha=0.5)
        ax.set_title(f"{name}: {title}")
        ax.set_aspect("equal")
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def mi_histograms(values: dict, path: Path) -> Path:
    """values: name -> {set name: MI per point}; one panel per model."""
    fig, axes = plt.subplots(1, len(values), figsize=(4.2 * len(values), 3.2), sharey=True)
    for ax, (name, sets) in zip(np.atleast_1d(axes), values.items(), strict=True):
        top = max(float(np.max(v)) for v in sets.values())
        bins = np.linspace(0, max(top, 1e-6), 40)
        for label, mi in sets.items():
            ax.hist(mi, bins=bins, alpha=0.5, density=True, label=label)
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("mutual information (nats)")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
