"""Binary detection scores (the paper's accuracy and normalised confusion matrix, plus ROC-AUC and
PR-AUC) and their mean and spread over repeated splits."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

SCORES = ("accuracy", "balanced_accuracy", "mosquito_rate", "noise_rate", "roc_auc", "pr_auc")
# Confusion counts, rows true class, columns predicted: summed over splits and row-normalised,
# they give the authors' notebook's confusion matrix.
COUNTS = ("noise_as_noise", "noise_as_mosquito", "mosquito_as_noise", "mosquito_as_mosquito")


def confusion_rates(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Row-normalised 2x2 confusion matrix: rows true (noise, mosquito), columns predicted."""
    labels = np.asarray(labels, dtype=int)
    predicted = np.asarray(predicted, dtype=int)
    counts = np.zeros((2, 2))
    np.add.at(counts, (labels, predicted), 1)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / totals, np.nan)


def binary_scores(labels: Sequence[int], mosquito_probability: Sequence[float]) -> dict[str, float]:
    """Scores of p(mosquito) against 0/1 labels; a clip is called mosquito when p >= 0.5.

    mosquito_rate and noise_rate are the diagonal of the row-normalised confusion matrix (the
    paper's "71% of mosquito clips, 85% of noise clips classified correctly"); balanced_accuracy
    is their mean (0.5 for any constant prediction). ROC-AUC and PR-AUC are nan when the labels
    hold one class only. The four confusion counts come along (see COUNTS).
    """
    labels = np.asarray(labels, dtype=int)
    probability = np.asarray(mosquito_probability, dtype=float)
    if labels.shape != probability.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels {labels.shape} and probabilities {probability.shape} must be equal, non-empty 1-d")
    predicted = (probability >= 0.5).astype(int)
    rates = confusion_rates(labels, predicted)
    both_classes = len(np.unique(labels)) == 2
    counts = np.zeros((2, 2))
    np.add.at(counts, (labels, predicted), 1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "balanced_accuracy": float((rates[0, 0] + rates[1, 1]) / 2),
        "mosquito_rate": float(rates[1, 1]),
        "noise_rate": float(rates[0, 0]),
        "roc_auc": float(roc_auc_score(labels, probability)) if both_classes else math.nan,
        "pr_auc": float(average_precision_score(labels, probability)) if both_classes else math.nan,
        "mosquito_fraction": float(labels.mean()),
        **{name: float(count) for name, count in zip(COUNTS, counts.reshape(-1), strict=True)},
    }


def pooled_rates(per_split: Sequence[dict[str, float]]) -> dict[str, float]:
    """The authors' notebook's confusion matrix: counts summed over the splits, then each row
    normalised. Returns the four cells as `pooled_<true>_as_<predicted>` and the pooled accuracy
    and balanced accuracy."""
    counts = np.array([[sum(s[f"{t}_as_{p}"] for s in per_split) for p in ("noise", "mosquito")]
                       for t in ("noise", "mosquito")])
    rows = counts / counts.sum(axis=1, keepdims=True)
    pooled = {f"pooled_{t}_as_{p}": float(rows[i, j])
              for i, t in enumerate(("noise", "mosquito")) for j, p in enumerate(("noise", "mosquito"))}
    pooled["pooled_accuracy"] = float(np.trace(counts) / counts.sum())
    pooled["pooled_balanced_accuracy"] = float((rows[0, 0] + rows[1, 1]) / 2)
    return pooled


def summarise_splits(per_split: Sequence[dict[str, float]], prefix: str = "") -> dict[str, float]:
    """mean, std (population, as numpy's default), min and max of every score over the splits."""
    if not per_split:
        raise ValueError("no splits to summarise")
    summary = {}
    for key in per_split[0]:
        values = np.asarray([scores[key] for scores in per_split], dtype=float)
        summary[f"{prefix}{key}_mean"] = float(np.mean(values))
        summary[f"{prefix}{key}_std"] = float(np.std(values))
        summary[f"{prefix}{key}_min"] = float(np.min(values))
        summary[f"{prefix}{key}_max"] = float(np.max(values))
    summary[f"{prefix}splits"] = float(len(per_split))
    return summary
