"""Figures: example log-Mel spectrograms with the network's verdicts, and ROC curves."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

CLASS_NAMES = ("noise", "mosquito")


def plot_examples(features_db: np.ndarray, labels: np.ndarray, probability: np.ndarray, clip_seconds: float,
                  sample_rate: int, path: Path, columns: int = 4) -> Path:
    """A grid of (n, 1, n_mels, n_frames) clips, titled with label and p(mosquito)."""
    rows = int(np.ceil(len(features_db) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.8 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, label, p in zip(axes.flat, features_db, labels, probability, strict=False):
        axis.axis("on")
        axis.imshow(image[0], origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0,
                    extent=(0, clip_seconds, 0, image.shape[1]))
        right = (p >= 0.5) == bool(label)
        axis.set_title(f"true {CLASS_NAMES[int(label)]}, p={p:.2f}", color="black" if right else "red", fontsize=9)
        axis.set_xlabel("s", fontsize=8)
        axis.set_ylabel(f"Mel band (0-{sample_rate // 2} Hz)", fontsize=8)
        axis.tick_params(labelsize=7)
    figure.suptitle("log-Mel features (dB re clip max) of test clips; red title = misclassified")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """ROC curves of {name: (labels, p(mosquito))}."""
    figure, axis = plt.subplots(figsize=(5, 5))
    for name, (labels, probability) in curves.items():
        false_positive, true_positive, _ = roc_curve(labels, probability)
        axis.plot(false_positive, true_positive, label=name)
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axis.set_xlabel("false positive rate (noise called mosquito)")
    axis.set_ylabel("true positive rate (mosquito found)")
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title("ROC on held-out clips")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_trace(starts: np.ndarray, probability: np.ndarray, truth: np.ndarray | None, title: str, path: Path,
               threshold: float = 0.5, intervals: list[tuple[float, float]] = ()) -> Path:
    """p(mosquito) per window along a long recording, with the true flight when known and the detected
    intervals when given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(10, 2.8))
    axis.step(starts, probability, where="post", label="p(mosquito)")
    if truth is not None:
        axis.fill_between(starts, 0, truth, step="post", alpha=0.25, color="tab:green", label="mosquito (truth)")
    for number, (start, end) in enumerate(intervals):
        axis.axvspan(start, end, color="tab:orange", alpha=0.25, label="detected" if number == 0 else None)
    axis.axhline(threshold, color="grey", linestyle=":")
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel("time (s)")
    axis.legend(loc="upper right", fontsize=8)
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
