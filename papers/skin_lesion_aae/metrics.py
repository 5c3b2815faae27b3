"""Scoring a benign/malignant classifier, the linear classifier on codes, and labelled subsets.

`binary_metrics` gives ROC-AUC, accuracy, balanced accuracy, sensitivity and specificity at a
decision threshold, and the specificity reachable at sensitivity 0.90 and 0.95 (the paper's "high
sensitivity" operating points, read off the ROC curve). Label 1 = malignant (the positive class).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from common.errors import ConfigError

HIGH_SENSITIVITIES = (0.90, 0.95)


def specificity_at_sensitivity(labels: np.ndarray, scores: np.ndarray, sensitivity: float) -> float:
    """The highest specificity of any threshold whose sensitivity is >= `sensitivity`."""
    labels = np.asarray(labels).astype(int)
    if labels.min() == labels.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, np.asarray(scores, dtype=float))
    reachable = tpr >= sensitivity - 1e-12
    return float(1.0 - fpr[reachable].min())


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Scores: higher = more likely malignant; a case is called malignant when score >= threshold."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d of one length, got {labels.shape} and {scores.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (benign) or 1 (malignant)")
    predicted = scores >= threshold
    positives, negatives = labels == 1, labels == 0
    sensitivity = float(predicted[positives].mean()) if positives.any() else float("nan")
    specificity = float((~predicted[negatives]).mean()) if negatives.any() else float("nan")
    both = positives.any() and negatives.any()
    out = {
        "auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "accuracy": float((predicted == positives).mean()),
        "balanced_accuracy": 0.5 * (sensitivity + specificity),
        "sensitivity": sensitivity,
        "specificity": specificity,
    }
    for level in HIGH_SENSITIVITIES:
        out[f"spec_at_sens{round(level * 100)}"] = specificity_at_sensitivity(labels, scores, level)
    return out


class CodeClassifier:
    """A fitted classifier on codes: calibrated probabilities and the labelled set's prevalence,
    which is the decision threshold (a case is malignant when its probability of being malignant
    exceeds the base rate: the balanced decision of a calibrated model)."""

    def __init__(self, scaler: StandardScaler, model, prevalence: float):
        self.scaler = scaler
        self.model = model
        self.threshold = float(prevalence)

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.scaler.transform(np.asarray(codes, dtype=np.float64)))


class PlattScaledSVM:
    """A linear SVM whose decision values are mapped to probabilities by a logistic curve (Platt
    scaling) fitted on cross-validated decision values. With a handful of labels the fitted slope
    can come out negative, which would reverse the ranking; then the curve is fitted on the
    in-sample decision values instead, so the probabilities always rank cases as the SVM does."""

    def __init__(self, c: float, seed: int):
        self.svm = LinearSVC(C=c, class_weight="balanced", random_state=seed, max_iter=20000)
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> PlattScaledSVM:
        self.svm.fit(x, y)
        folds = min(3, int(np.bincount(y).min()))
        decision = None
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
            decision = cross_val_predict(clone(self.svm), x, y, cv=cv, method="decision_function")
        self.platt = LogisticRegression(C=1e4, max_iter=5000)
        if decision is not None:
            self.platt.fit(decision[:, None], y)
        if decision is None or self.platt.coef_[0, 0] <= 0:
            self.platt.fit(self.svm.decision_function(x)[:, None], y)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.platt.predict_proba(self.svm.decision_function(x)[:, None])


def fit_code_classifier(codes: np.ndarray, labels: np.ndarray, kind: str = "svm", seed: int = 0,
                        c: float = 0.1) -> CodeClassifier:
    """Standardise the codes, then a linear SVM with Platt calibration (`svm`, the authors'
    classifier made probabilistic) or a logistic regression (`logistic`), both with C = `c`."""
    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    counts = np.bincount(labels, minlength=2)
    if counts.min() < 1 or len(counts) > 2:
        raise ConfigError(f"the labelled set needs both classes (0/1), got counts {counts.tolist()}")
    if kind not in ("svm", "logistic"):
        raise ConfigError(f"classifier must be 'svm' or 'logistic', got {kind!r}")
    scaler = StandardScaler().fit(codes)
    if kind == "svm":
        model = PlattScaledSVM(c, seed)
    else:
        model = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    model.fit(scaler.transform(codes), labels)
    return CodeClassifier(scaler, model, prevalence=counts[1] / counts.sum())


def select_labelled(labels: np.ndarray, fraction: float, seed: int, min_per_class: int = 2) -> np.ndarray:
    """Indices of a stratified random `fraction` of the items, at least `min_per_class` per class."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"label fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels).astype(int)
    rng = np.random.default_rng([int(seed), 1_000_003])
    chosen = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        n = min(len(members), max(min_per_class, int(round(fraction * len(members)))))
        chosen.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(chosen))


def prior_match(codes: np.ndarray) -> dict[str, float]:
    """How far codes are from the N(0, I) prior, by their moments: mean |mean_j|, mean |sd_j - 1|,
    and their sum (`prior_gap`, 0 for a perfect match; an unregularised autoencoder's codes have an
    arbitrary location and scale, hence a large gap)."""
    codes = np.asarray(codes, dtype=np.float64)
    mean_abs = float(np.abs(codes.mean(0)).mean())
    sd_gap = float(np.abs(codes.std(0) - 1.0).mean())
    return {"code_mean_abs": mean_abs, "code_sd_gap": sd_gap, "prior_gap": mean_abs + sd_gap}


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """The (V-statistic) energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between two samples of
    points (rows): 0 for one sample against itself, > 0 when the distributions differ."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or not len(x) or not len(y):
        raise ValueError(f"energy_distance needs two non-empty (n, d) samples of one d, got {x.shape} and {y.shape}")

    def mean_distance(a, b):
        squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return float(np.sqrt(np.clip(squared, 0, None)).mean())

    return 2 * mean_distance(x, y) - mean_distance(x, x) - mean_distance(y, y)


def prior_energy(codes: np.ndarray, seed: int = 0, max_points: int = 1000, permutations: int = 199) -> dict[str, float]:
    """How far codes are from the N(0, I) prior, by a two-sample energy statistic against as many
    prior samples (at most `max_points` of each, seeded):

    - `prior_energy`: energy distance(codes, prior samples);
    - `prior_energy_ratio`: that divided by the energy distance of the best constant code (the
      origin, the prior's median) from the same prior samples: 1 for any encoder that collapses to
      the origin, above 1 for any other constant code, 0 for a perfect match, whatever nz;
    - `prior_energy_p`: the permutation p-value of the energy distance (codes and prior samples
      relabelled `permutations` times): small when the codes are told apart from the prior;
    - `code_sd`: the mean over code dimensions of the codes' sd (0 for a constant encoder; 1 for the
      prior), the spread floor a collapsed encoder fails."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"prior_energy needs (n >= 2, nz) codes, got shape {codes.shape}")
    rng = np.random.default_rng([int(seed), 97])
    if len(codes) > max_points:
        codes = codes[rng.choice(len(codes), max_points, replace=False)]
    prior = rng.standard_normal(codes.shape)
    pooled = np.concatenate([codes, prior])
    squared = (pooled * pooled).sum(1)
    distances = np.sqrt(np.clip(squared[:, None] + squared[None, :] - 2 * pooled @ pooled.T, 0, None))
    n = len(codes)
    # every split at once: column k of `first` marks the points labelled "codes" in relabelling k
    # (column 0 the observed labels); u'Du sums a block of distances for all of them in one product
    first = np.zeros((2 * n, permutations + 1))
    first[:n, 0] = 1
    for k in range(1, permutations + 1):
        first[rng.permutation(2 * n)[:n], k] = 1
    second = 1 - first
    dist_first, dist_second = distances @ first, distances @ second
    between = (first * dist_second).sum(0) / n**2
    within = (first * dist_first).sum(0) / n**2 + (second * dist_second).sum(0) / n**2
    statistics = 2 * between - within
    observed, null = float(statistics[0]), statistics[1:]
    constant = energy_distance(np.zeros((1, codes.shape[1])), prior)
    return {"prior_energy": observed, "prior_energy_ratio": observed / constant,
            "prior_energy_p": float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + permutations)),
            "code_sd": float(codes.std(0).mean())}


def reconstruction_ratio(reconstructions: np.ndarray, images: np.ndarray, mean_image: np.ndarray) -> float:
    """Mean squared error of the reconstructions over that of the mean (training) image for every
    input: about 1 or more for a decoder that returns one image whatever the input, 0 for perfect
    reconstructions."""
    reconstructions, images = np.asarray(reconstructions, dtype=np.float64), np.asarray(images, dtype=np.float64)
    if reconstructions.shape != images.shape or np.asarray(mean_image).shape != images.shape[1:]:
        raise ValueError(f"shapes differ: reconstructions {reconstructions.shape}, images {images.shape}, "
                         f"mean image {np.asarray(mean_image).shape}")
    baseline = float(((images - np.asarray(mean_image, dtype=np.float64)[None]) ** 2).mean())
    if baseline == 0:
        raise ValueError("every image equals the mean image: the reconstruction ratio is undefined")
    return float(((reconstructions - images) ** 2).mean()) / baseline
