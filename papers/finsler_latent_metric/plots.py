"""Figures: latent spaces with geodesics, length ratio against D, Fisher-Rao geodesics."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from papers.finsler_latent_metric.geodesics import latent_grid  # noqa: E402


def _background(ax, manifold, bounds, resolution=40):
    grid = latent_grid(bounds, resolution)
    values = []
    with torch.no_grad():
        for chunk in torch.split(grid, 400):
            mean_jac, cov = manifold.jacobian_moments(chunk)
            metric = mean_jac.transpose(-1, -2) @ mean_jac + manifold.D * cov
            values.append(0.5 * torch.logdet(metric + 1e-12 * torch.eye(2, dtype=metric.dtype)))
    values = torch.cat(values).reshape(resolution, resolution).numpy()
    (low_x, high_x), (low_y, high_y) = bounds
    image = ax.imshow(values.T, origin="lower", extent=(low_x, high_x, low_y, high_y), cmap="Greys", aspect="auto")
    plt.colorbar(image, ax=ax, label="log volume of the expected metric")


def plot_latent(raw: dict, path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 5))
    _background(ax, raw["manifold"], raw["bounds"])
    codes = raw["codes"].numpy()
    ax.scatter(codes[:, 0], codes[:, 1], c=raw["labels"].numpy(), s=6, cmap="tab10", alpha=0.7)
    for curve in raw["curves"]["finsler"]:
        ax.plot(curve[:, 0], curve[:, 1], color="tab:orange", linewidth=2)
    for curve in raw["curves"]["riemann"]:
        ax.plot(curve[:, 0], curve[:, 1], color="tab:purple", linewidth=1.2, linestyle="--")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ratio_vs_dimension(rows, path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, dim, _, ratios in rows:
        ax.scatter([dim] * len(ratios), ratios, label=f"{name} (D = {dim})", s=18)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("D (observation dimension)")
    ax.set_ylabel("Finsler / Riemann geodesic length")
    ax.set_title("Length ratio per pair of test codes (first seed)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fisher(raw: dict, path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 5))
    _background(ax, raw["manifold"], raw["fr"]["bounds"])
    codes = raw["codes"].numpy()
    ax.scatter(codes[:, 0], codes[:, 1], c=raw["labels"].numpy(), s=4, cmap="tab10", alpha=0.6)
    for curve in raw["fr"]["curves"]["riemann"]:
        ax.plot(curve[:, 0], curve[:, 1], color="tab:red", linewidth=2)
    for curve in raw["mean"]["curves"]["riemann"]:
        ax.plot(curve[:, 0], curve[:, 1], color="tab:blue", linewidth=1.2, linestyle="--")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["plot_latent", "plot_ratio_vs_dimension", "plot_fisher", "np"]
