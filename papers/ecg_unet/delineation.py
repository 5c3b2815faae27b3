"""From per-sample labels to wave boundaries, and the paper's boundary-matching score.

Labels: 0 = no wave, 1 = P, 2 = QRS, 3 = T, and IGNORE (-100) where the cardiologists did not
annotate (LUDB leaves the first and last beats of a record unannotated).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

NONE, P, QRS, T = 0, 1, 2, 3
IGNORE = -100
WAVES = {P: "p", QRS: "qrs", T: "t"}
BOUNDARIES = ("onset", "offset")


@dataclass(frozen=True)
class Wave:
    kind: int  # P, QRS or T
    onset: int  # first sample of the wave
    offset: int  # last sample of the wave (inclusive)


def labels_from_waves(waves: list[Wave], length: int, span: tuple[int, int] | None) -> np.ndarray:
    """Per-sample labels; samples outside the annotated `span` (inclusive) are IGNORE."""
    labels = np.zeros(length, dtype=np.int64)
    for wave in waves:
        labels[max(wave.onset, 0) : min(wave.offset, length - 1) + 1] = wave.kind
    if span is not None:
        labels[: max(span[0], 0)] = IGNORE
        labels[span[1] + 1 :] = IGNORE
    return labels


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    change = np.flatnonzero(np.diff(labels)) + 1
    return np.concatenate([[0], change]), np.concatenate([change - 1, [len(labels) - 1]])


def close_gaps(labels: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of NONE of at most `max_gap` samples lying between two runs of the same wave."""
    labels = np.array(labels, copy=True)
    if max_gap <= 0:
        return labels
    starts, ends = _runs(labels)
    for i in range(1, len(starts) - 1):
        before, after = labels[starts[i - 1]], labels[starts[i + 1]]
        if labels[starts[i]] == NONE and before == after and before in WAVES and ends[i] - starts[i] + 1 <= max_gap:
            labels[starts[i] : ends[i] + 1] = before
    return labels


def waves_from_labels(
    labels: np.ndarray, min_samples: dict[int, int] | None = None, max_gap: int = 0
) -> list[Wave]:
    """Runs of one wave class become waves, after closing gaps of at most `max_gap` samples
    inside a wave; runs shorter than `min_samples[kind]` are dropped.

    Runs touching either end of the signal are dropped too: their true boundary is unseen.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    min_samples = min_samples or {}
    labels = close_gaps(labels, max_gap)
    starts, ends = _runs(labels)
    waves = []
    for start, end in zip(starts, ends, strict=True):
        kind = int(labels[start])
        if kind not in WAVES or start == 0 or end == len(labels) - 1:
            continue
        if end - start + 1 < min_samples.get(kind, 1):
            continue
        waves.append(Wave(kind, int(start), int(end)))
    return waves


def boundary_points(waves: list[Wave]) -> dict[str, np.ndarray]:
    """{'p_onset': samples, 'p_offset': ..., 'qrs_onset': ..., ...}, each sorted."""
    points = {f"{name}_{b}": [] for name in WAVES.values() for b in BOUNDARIES}
    for wave in waves:
        name = WAVES[wave.kind]
        points[f"{name}_onset"].append(wave.onset)
        points[f"{name}_offset"].append(wave.offset)
    return {key: np.array(sorted(values), dtype=np.int64) for key, values in points.items()}


def match_points(
    truth: np.ndarray, detected: np.ndarray, tolerance: int, span: tuple[int, int] | None = None
) -> tuple[int, int, int, list[int]]:
    """One-to-one matching of detected to annotated points within `tolerance` samples.

    Pairs are taken closest first, so each annotated point keeps at most one detection and each
    detection counts once. Unmatched detections outside the annotated `span` are not scored: no
    annotation says whether a wave is there. Returns (TP, FN, FP, errors = detected - truth).
    """
    truth = np.asarray(truth, dtype=np.int64)
    detected = np.asarray(detected, dtype=np.int64)
    candidates = sorted(
        (abs(int(d) - int(t)), i, j)
        for i, t in enumerate(truth)
        for j, d in enumerate(detected)
        if abs(int(d) - int(t)) <= tolerance
    )
    truth_used, detected_used, errors = set(), set(), []
    for _, i, j in candidates:
        if i in truth_used or j in detected_used:
            continue
        truth_used.add(i)
        detected_used.add(j)
        errors.append(int(detected[j] - truth[i]))
    unmatched = [j for j in range(len(detected)) if j not in detected_used]
    if span is not None:
        unmatched = [j for j in unmatched if span[0] <= detected[j] <= span[1]]
    return len(truth_used), len(truth) - len(truth_used), len(unmatched), errors


@dataclass
class BoundaryScore:
    """Accumulates matches over many leads/records for one boundary (say, P onset)."""

    tp: int = 0
    fn: int = 0
    fp: int = 0
    errors: list[int] = field(default_factory=list)

    def add(self, tp: int, fn: int, fp: int, errors: list[int]) -> None:
        self.tp += tp
        self.fn += fn
        self.fp += fp
        self.errors.extend(errors)

    def summary(self, sampling_rate: float) -> dict[str, float]:
        se = self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")
        ppv = self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")
        f1 = 2 * se * ppv / (se + ppv) if se + ppv > 0 else 0.0
        errors_ms = np.asarray(self.errors, dtype=float) * 1000.0 / sampling_rate
        return {
            "se": se,
            "ppv": ppv,
            "f1": f1,
            "mean_err_ms": float(errors_ms.mean()) if errors_ms.size else float("nan"),
            "std_err_ms": float(errors_ms.std()) if errors_ms.size else float("nan"),
            "n_true": float(self.tp + self.fn),
        }


class DelineationScorer:
    """Scores detected waves against annotated ones, lead by lead, as the paper does."""

    def __init__(self, sampling_rate: float, tolerance_ms: float = 150.0):
        if tolerance_ms <= 0:
            raise ValueError(f"tolerance_ms must be > 0, got {tolerance_ms}")
        self.sampling_rate = sampling_rate
        self.tolerance = int(round(tolerance_ms * sampling_rate / 1000.0))
        self.scores: dict[str, BoundaryScore] = defaultdict(BoundaryScore)

    def add(self, true_waves: list[Wave], detected_waves: list[Wave], span: tuple[int, int] | None):
        truth, detected = boundary_points(true_waves), boundary_points(detected_waves)
        for key in truth:
            self.scores[key].add(*match_points(truth[key], detected[key], self.tolerance, span))

    def add_points(self, truth: dict[str, np.ndarray], detected: dict[str, np.ndarray], span):
        """Like `add`, for delineators that give boundary points rather than waves."""
        for key in truth:
            points = detected.get(key, np.array([], dtype=np.int64))
            self.scores[key].add(*match_points(truth[key], points, self.tolerance, span))

    def metrics(self, prefix: str = "") -> dict[str, float]:
        out = {}
        for key in sorted(self.scores):
            for name, value in self.scores[key].summary(self.sampling_rate).items():
                out[f"{prefix}{key}_{name}"] = value
        return out
