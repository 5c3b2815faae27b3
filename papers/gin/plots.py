"""GIN's figures: spectra, recovered-vs-true latents, latent traversals of digits."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def plot_spectra(spectra: dict[str, np.ndarray], title: str, path: Path, threshold: float | None = None,
                 knees: dict[str, int] | None = None) -> Path:
    """Sorted spectra (log scale), one line per model; optional threshold line and knee marks."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in spectra.items():
        ordered = np.sort(np.asarray(values))[::-1]
        (line,) = ax.semilogy(np.arange(1, len(ordered) + 1), ordered, "-o" if len(ordered) <= 20 else "-",
                              ms=3, label=name)
        if knees and name in knees and 0 < knees[name] < len(ordered):
            ax.axvline(knees[name] + 0.5, color=line.get_color(), ls=":", lw=1)
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("latent dimension (sorted)")
    ax.set_ylabel("std (RMS over classes)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_recovery(latent: np.ndarray, x: np.ndarray, z: np.ndarray, labels: np.ndarray, order: np.ndarray,
                  matching: list[tuple[int, int, float]], path: Path) -> Path:
    """Ground truth, observed data (first two dims), the two recovered informative dims, and each
    matched recovered dim against its true latent."""
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.6))
    style = {"c": labels, "s": 4, "alpha": 0.4, "cmap": "tab10"}
    axes[0].scatter(latent[:, 0], latent[:, 1], **style)
    axes[0].set_title("true latent (informative dims)")
    axes[1].scatter(x[:, 0], x[:, 1], **style)
    axes[1].set_title("observed x (dims 1, 2)")
    axes[2].scatter(z[:, order[0]], z[:, order[1]], **style)
    axes[2].set_title("GIN latent (top-2 by spectrum)")
    for ax, (recovered, true, corr) in zip(axes[3:], matching, strict=False):
        ax.scatter(latent[:, true], z[:, recovered], **style)
        ax.set_xlabel(f"true latent {true + 1}")
        ax.set_ylabel(f"recovered dim {recovered}")
        ax.set_title(f"|r| = {corr:.3f}")
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_traversal(images: np.ndarray, dims: list[int], path: Path, title: str) -> Path:
    """images: (len(dims), classes, steps, s, s) → one block of classes × steps per latent dim."""
    n_dims, n_classes, n_steps, size, _ = images.shape
    cols = min(4, n_dims)
    rows = int(np.ceil(n_dims / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * n_steps * 0.32 + 0.5, rows * n_classes * 0.32 + 0.6),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, dim in enumerate(dims):
        grid = images[i].transpose(0, 2, 1, 3).reshape(n_classes * size, n_steps * size)
        ax = axes.flat[i]
        # nearest: each digit pixel a flat block, which PNG compresses better than resampled pixels
        ax.imshow(np.clip(grid, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"#{i + 1}: latent {dim}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
    # The figure is grey: one channel instead of RGBA keeps the EMNIST grid under 300 KB (it took 361 KB).
    Image.open(path).convert("L").save(path, optimize=True)
    return path
