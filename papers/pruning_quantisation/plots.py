"""Accuracy against size on disk and against CPU latency, one point per network and method."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MARKERS = {
    "float": "o", "pruned": "s", "quantised": "^", "pruned_quantised": "D", "pruned_bn": "<", "pruned_bn_quantised": ">",
    "slimmed": "v", "slimmed_quantised": "P",
}
COLOURS = {"alexnet": "tab:red", "mobilenet": "tab:blue", "shufflenet": "tab:green"}


def plot_tradeoffs(
    metrics: dict[str, float], networks: list[str], methods: tuple[str, ...], batch_size: int, path: Path,
) -> Path:
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, (quantity, label) in zip(axes, (
        ("size_mb", "size on disk (MiB, log scale)"),
        (f"latency_ms_b{batch_size}", f"CPU latency, batch of {batch_size} (ms, log scale)"),
    ), strict=True):
        for network in networks:
            xs = [metrics[f"{network}/{method}/{quantity}"] for method in methods]
            ys = [100 * metrics[f"{network}/{method}/accuracy"] for method in methods]
            axis.plot(xs, ys, color=COLOURS[network], linewidth=0.8, alpha=0.5)
            for x, y, method in zip(xs, ys, methods, strict=True):
                axis.scatter(x, y, color=COLOURS[network], marker=MARKERS[method], s=50, zorder=3)
        axis.set_xscale("log")
        axis.set_xlabel(label)
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("test accuracy (%)")
    network_handles = [plt.Line2D([], [], color=COLOURS[n], linewidth=3, label=n) for n in networks]
    method_handles = [plt.Line2D([], [], color="grey", marker=MARKERS[m], linestyle="", label=m) for m in methods]
    axes[1].legend(handles=network_handles + method_handles, loc="lower right", fontsize=8)
    figure.suptitle("Pruning and quantisation: accuracy against size and latency")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
