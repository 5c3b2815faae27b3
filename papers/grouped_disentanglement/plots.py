"""Figures: style-transfer grids (content of one image, style of another), latent traversals, and the
SVM accuracies against the group size. Grey images drawn with nearest-neighbour pixels at 72 dpi."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

DPI = 72


def _tile(rows: list[list[np.ndarray | None]], pad: int = 1) -> np.ndarray:
    """A grid of (s, s) images (None = blank) as one array with `pad`-pixel grey separators."""
    size = next(im for row in rows for im in row if im is not None).shape[-1]
    out = np.full((len(rows) * (size + pad) + pad, len(rows[0]) * (size + pad) + pad), 0.5, np.float32)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            if image is not None:
                y, x = pad + i * (size + pad), pad + j * (size + pad)
                out[y:y + size, x:x + size] = image
    return out


def style_transfer_grid(model, sources: torch.Tensor) -> np.ndarray:
    """Row i, column j: the decoder's image of (content of source i, style of source j); the first row
    shows the style sources, the first column the content sources."""
    content, style = model.encode(sources)
    n = len(sources)
    decoded = model.decode(content.repeat_interleave(n, 0), style.repeat(n, 1)).view(n, n, *sources.shape[-2:])
    pictures = sources[:, 0].numpy()
    rows = [[None, *pictures]]
    rows += [[pictures[i], *decoded[i].numpy()] for i in range(n)]
    return _tile(rows)


def plot_style_transfer(models: dict, sources: torch.Tensor, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4.6))
    for ax, (arm, model) in zip(np.atleast_1d(axes), models.items(), strict=True):
        ax.imshow(style_transfer_grid(model, sources), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{arm.replace('_', ' ')}: rows content, columns style", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def traversal_grid(model, image: torch.Tensor, values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """One row per latent dimension (content, then style): the image's mean code with that dimension
    set to each of `values`, decoded."""
    content, style = model.encode(image)
    rows, labels = [], []
    for part, code in (("c", content), ("s", style)):
        for d in range(code.shape[1]):
            varied = code.repeat(len(values), 1)
            varied[:, d] = torch.as_tensor(values, dtype=varied.dtype)
            if part == "c":
                pictures = model.decode(varied, style.repeat(len(values), 1))
            else:
                pictures = model.decode(content.repeat(len(values), 1), varied)
            rows.append(list(pictures[:, 0].numpy()))
            labels.append(f"{part}{d}")
    return _tile(rows), labels


def plot_traversals(model, image: torch.Tensor, path: Path, title: str, values: np.ndarray | None = None) -> Path:
    values = np.linspace(-2.5, 2.5, 9) if values is None else values
    grid, labels = traversal_grid(model, image, values)
    fig, ax = plt.subplots(figsize=(4.5, 0.42 * len(labels) + 0.8))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    step = grid.shape[0] / len(labels)
    ax.set_yticks([step * (i + 0.5) for i in range(len(labels))], labels, fontsize=7)
    ax.set_xticks([])
    ax.set_title(f"{title}\n(each row: one code dimension from {values[0]:g} to {values[-1]:g})", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_group_size_sweep(table: dict[str, dict[int, tuple[float | None, float | None]]], path: Path,
                          chance: float = 0.1) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for arm, marker in zip(table, ("o", "s"), strict=False):
        sizes = sorted(table[arm])
        for index, (what, style) in enumerate((("content", "-"), ("style", "--"))):
            ys = [table[arm][g][index] for g in sizes]
            ax.plot(sizes, ys, style, marker=marker, label=f"{what} code, {arm.replace('_', ' ')}")
    ax.axhline(chance, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    ax.set_xticks(sorted(next(iter(table.values()))), [str(g) for g in sorted(next(iter(table.values())))])
    ax.set_xlabel("group size")
    ax.set_ylabel("SVM test accuracy (digit)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
