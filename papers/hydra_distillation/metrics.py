"""Predictive metrics of an ensemble, a distilled network or a multi-headed (Hydra) network.

Every prediction here is a stack over members (or heads): class probabilities of shape
(M, N, C), or Gaussian means and variances of shape (M, N). A single network is the case M = 1.
The predictive distribution is the uniform mixture of the M members.

Classification (Depeweg et al. 2018; Malinin et al. 2019):
    total    H[ E_m p_m ]                 entropy of the mean prediction
    expected E_m H[p_m]                   aleatoric (data) uncertainty
    MI       total - expected  >= 0       model (epistemic) uncertainty, 0 iff all members agree
Regression (law of total variance of the Gaussian mixture):
    total variance = E_m var_m + Var_m mu_m, the second term being the model uncertainty.
"""
from __future__ import annotations

import math

import torch
from torchmetrics.functional.classification import binary_auroc, multiclass_calibration_error

EPS = 1e-12


def _check_probs(probs: torch.Tensor) -> torch.Tensor:
    if probs.ndim != 3:
        raise ValueError(f"probabilities must have shape (members, points, classes), got {tuple(probs.shape)}")
    return probs


def mean_probs(probs: torch.Tensor) -> torch.Tensor:
    """(M, N, C) member probabilities -> (N, C) predictive (mixture) probabilities."""
    return _check_probs(probs).mean(0)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy in nats over the last axis; 0 log 0 = 0."""
    return -(p * torch.log(p.clamp_min(EPS))).sum(-1)


def entropy_decomposition(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per point: total (predictive) entropy, expected entropy and mutual information, each (N,)."""
    probs = _check_probs(probs)
    total = entropy(probs.mean(0))
    expected = entropy(probs).mean(0)
    # MI is a Jensen gap, >= 0; clamp the float round-off of agreeing members to exactly 0.
    mutual_information = (total - expected).clamp_min(0.0)
    return {"total": total, "expected": expected, "mutual_information": mutual_information}


def nll(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the labels under the mixture prediction."""
    p = mean_probs(probs)
    return -torch.log(p.gather(1, labels[:, None]).squeeze(1).clamp_min(EPS)).mean()


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (mean_probs(probs).argmax(1) == labels).float().mean()


def brier(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over points of sum_c (p_c - 1[c = y])^2 (the multi-class Brier score, in [0, 2])."""
    p = mean_probs(probs)
    one_hot = torch.nn.functional.one_hot(labels, p.shape[1]).to(p.dtype)
    return ((p - one_hot) ** 2).sum(1).mean()


def ece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 10) -> torch.Tensor:
    """Expected calibration error with `n_bins` equal-width confidence bins (torchmetrics, L1)."""
    p = mean_probs(probs)
    return multiclass_calibration_error(p, labels, num_classes=p.shape[1], n_bins=n_bins, norm="l1")


def auroc(score_in: torch.Tensor, score_out: torch.Tensor) -> float:
    """AUROC of telling out-of-distribution points (positives) from in-domain ones by a score
    (higher = more OOD); ties count one half, so a constant score gives exactly 0.5."""
    scores = torch.cat([score_in, score_out]).double()
    target = torch.cat([torch.zeros(len(score_in)), torch.ones(len(score_out))]).long().to(scores.device)
    if len(score_in) == 0 or len(score_out) == 0:
        raise ValueError("AUROC needs both in-domain and OOD points")
    if torch.all(scores == scores[0]):
        return 0.5
    return float(binary_auroc(scores, target))


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation (average ranks for ties); 0 when either side is constant."""
    from scipy.stats import spearmanr

    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def spearman_p_value(a: torch.Tensor, b: torch.Tensor, n_permutations: int = 1000) -> float:
    """One-sided permutation p-value of the Spearman correlation of a and b (common/stats.py, seeded
    Monte Carlo over `n_permutations` shuffles); 1 when either side is constant."""
    from common.stats import correlation

    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    if a.std() == 0 or b.std() == 0:
        return 1.0
    return correlation(a, b, method="spearman", n_permutations=n_permutations).p_value


# --- Gaussian regression -------------------------------------------------------------------------

def _check_gauss(means: torch.Tensor, variances: torch.Tensor) -> None:
    if means.ndim != 2 or means.shape != variances.shape:
        raise ValueError(f"means and variances must both be (members, points), got {tuple(means.shape)}, "
                         f"{tuple(variances.shape)}")
    if torch.any(variances <= 0):
        raise ValueError("variances must be > 0")


def gaussian_nll(mean: torch.Tensor, variance: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-point negative log density of y under N(mean, variance) (full, with log 2π)."""
    return 0.5 * (torch.log(2 * math.pi * variance) + (y - mean) ** 2 / variance)


def mixture_nll(means: torch.Tensor, variances: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of y under the uniform mixture of M Gaussians (members, N)."""
    _check_gauss(means, variances)
    log_components = -gaussian_nll(means, variances, y[None])
    log_mixture = torch.logsumexp(log_components, 0) - math.log(means.shape[0])
    return -log_mixture.mean()


def mixture_moments(means: torch.Tensor, variances: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean, total variance, aleatoric (E var) and epistemic (Var mean) variance per point."""
    _check_gauss(means, variances)
    aleatoric = variances.mean(0)
    epistemic = means.var(0, unbiased=False)
    return {"mean": means.mean(0), "aleatoric": aleatoric, "epistemic": epistemic,
            "variance": aleatoric + epistemic}


def gaussian_kl(mean_p: torch.Tensor, var_p: torch.Tensor, mean_q: torch.Tensor, var_q: torch.Tensor) -> torch.Tensor:
    """KL( N(mean_p, var_p) || N(mean_q, var_q) ), elementwise."""
    return 0.5 * (torch.log(var_q / var_p) + (var_p + (mean_p - mean_q) ** 2) / var_q - 1.0)


def rmse(means: torch.Tensor, variances: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(((mixture_moments(means, variances)["mean"] - y) ** 2).mean())


def interval_width(means: torch.Tensor, variances: torch.Tensor, z: float = 1.959964) -> torch.Tensor:
    """Mean width of the ±z·σ interval of the moment-matched predictive (95 % for z = 1.96)."""
    return (2 * z * torch.sqrt(mixture_moments(means, variances)["variance"])).mean()


def classification_report(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 10) -> dict[str, float]:
    decomposition = entropy_decomposition(probs)
    return {
        "acc": float(accuracy(probs, labels)),
        "nll": float(nll(probs, labels)),
        "ece": float(ece(probs, labels, n_bins)),
        "brier": float(brier(probs, labels)),
        "entropy": float(decomposition["total"].mean()),
        "expected_entropy": float(decomposition["expected"].mean()),
        "mi": float(decomposition["mutual_information"].mean()),
    }


def regression_report(means: torch.Tensor, variances: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    moments = mixture_moments(means, variances)
    return {
        "nll": float(mixture_nll(means, variances, y)),
        "rmse": float(rmse(means, variances, y)),
        "width": float(interval_width(means, variances)),
        "epistemic": float(moments["epistemic"].mean()),
        "aleatoric": float(moments["aleatoric"].mean()),
    }
