"""GIN's loss and the analyses of its latent space: spectrum, informative dimensions, MCC."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def class_stds(z: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """(len(classes), dims) per-class standard deviation (biased, as the paper's code)."""
    return torch.stack([z[labels == c].std(0, unbiased=False) for c in classes])


VARIANCES = ("empirical", "unit", "learned")


def gin_nll(
    z: torch.Tensor,
    labels: torch.Tensor,
    log_det: torch.Tensor | float = 0.0,
    min_per_class: int = 2,
    variance: str = "empirical",
    mu: torch.Tensor | None = None,
    log_sig: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, int]:
    """The paper's loss: Gaussian NLL per dimension with the class mean and std of this batch.

    Per sample of class c: 0.5 + mean_d log σ_{c,d} + 0.5 log 2π − log|det J| / D, where σ_{c,d}
    is the (biased) std of the batch's class-c latents. With the mean and variance set to their
    maximum-likelihood values, the quadratic term is exactly 0.5 per dimension. Samples of a class
    with fewer than `min_per_class` members in the batch have no std and are left out; returns
    (mean loss or None if nothing is left, number of samples left out).

    `variance="unit"` is the ablation with a unit-variance prior around the class means:
    0.5 mean_d (z_d − μ_{c,d})² + 0.5 log 2π − log|det J| / D.

    `variance="learned"` is the authors' other option (`empirical_vars=False` in vislearn/GIN): a
    per-class mean `mu` (classes, D) and log-std `log_sig` (classes, D) trained with the flow,
    mean_d [0.5 (z_d − μ_{c,d})² e^{−2 log σ_{c,d}} + log σ_{c,d}] + 0.5 log 2π − log|det J| / D;
    labels index the rows of `mu` directly and no sample is left out.
    """
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    if variance == "learned":
        if mu is None or log_sig is None:
            raise ValueError("variance='learned' needs the prior's mu and log_sig")
        if len(z) == 0:
            return None, 0
        m, ls = mu[labels], log_sig[labels]
        loss = (0.5 * (z - m) ** 2 * torch.exp(-2 * ls) + ls).mean(1) + HALF_LOG_2PI
        return (loss - log_det / z.shape[1]).mean(), 0
    classes, counts = torch.unique(labels, return_counts=True)
    usable = classes[counts >= min_per_class]
    keep = torch.isin(labels, usable)
    dropped = int((~keep).sum())
    if usable.numel() == 0:
        return None, dropped
    z, labels = z[keep], labels[keep]
    index = torch.searchsorted(usable, labels)
    if variance == "unit":
        means = torch.stack([z[labels == c].mean(0) for c in usable])
        loss = 0.5 * ((z - means[index]) ** 2).mean(1) + HALF_LOG_2PI
    else:
        sig = class_stds(z, labels, usable)
        loss = 0.5 + sig.clamp_min(1e-12).log()[index].mean(1) + HALF_LOG_2PI
    if torch.is_tensor(log_det) and log_det.ndim > 0:
        log_det = log_det[keep]
    loss = loss - log_det / z.shape[1]
    return loss.mean(), dropped


def spectrum(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per latent dimension: root mean square over classes of the within-class std (unsorted)."""
    z, labels = np.asarray(z, dtype=np.float64), np.asarray(labels)
    stds = np.stack([z[labels == c].std(0) for c in np.unique(labels) if (labels == c).sum() >= 2])
    return np.sqrt(np.mean(stds**2, axis=0))


def count_above(values: np.ndarray, threshold: float) -> int:
    return int(np.sum(np.asarray(values) > threshold))


def knee(values: np.ndarray, fraction: float = 0.5) -> int:
    """Number of dimensions before the knee: the largest drop between neighbours of the sorted spectrum.

    The drop is the ratio of consecutive sorted values, searched among the first `fraction` of
    the dimensions, so that the steep fall of the last, least-used dimensions (visible in the
    paper's EMNIST spectrum too) cannot be taken for the knee. The fraction a run is judged by is
    fixed in its config (`model.knee_fraction`), before the run.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"the knee's fraction must be in (0, 1], got {fraction}")
    ordered = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    head = ordered[: max(2, int(np.ceil(len(ordered) * fraction)))]
    ratios = head[:-1] / np.maximum(head[1:], 1e-300)
    return int(np.argmax(ratios)) + 1


def gap_ratio(values: np.ndarray, k: int) -> float:
    """Geometric mean of the top k values over the median of the rest: how far the informative dims stand out."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    if not 0 < k < len(ordered):
        return 1.0
    return float(np.exp(np.mean(np.log(np.maximum(ordered[:k], 1e-300)))) / max(np.median(ordered[k:]), 1e-300))


def correlation_matrix(a: np.ndarray, b: np.ndarray, method: str = "pearson") -> np.ndarray:
    """|corr(a_i, b_j)| for the columns of a (n, p) and b (n, q): (p, q)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if method == "spearman":
        a, b = rankdata(a, axis=0), rankdata(b, axis=0)
    elif method != "pearson":
        raise ValueError(f"method must be pearson or spearman, got {method}")
    a = (a - a.mean(0)) / np.maximum(a.std(0), 1e-300)
    b = (b - b.mean(0)) / np.maximum(b.std(0), 1e-300)
    return np.abs(a.T @ b / a.shape[0])


def mcc(recovered: np.ndarray, true: np.ndarray, method: str = "pearson") -> float:
    """Mean correlation coefficient: Hungarian matching of |corr| between recovered and true sources."""
    corr = correlation_matrix(recovered, true, method)
    rows, cols = linear_sum_assignment(-corr)
    return float(corr[rows, cols].mean())
