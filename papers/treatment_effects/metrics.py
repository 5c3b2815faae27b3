"""Treatment-effect errors: sqrt(PEHE), |ATE error|, and their mean and standard error over runs."""
from __future__ import annotations

import numpy as np


def _effects(estimated, true) -> tuple[np.ndarray, np.ndarray]:
    estimated = np.asarray(estimated, dtype=float).ravel()
    true = np.asarray(true, dtype=float).ravel()
    if estimated.shape != true.shape or estimated.size == 0:
        raise ValueError(f"effects must be non-empty and of one length, got {estimated.shape} and {true.shape}")
    return estimated, true


def sqrt_pehe(estimated_effects, true_effects) -> float:
    """Root of the mean squared error of individual effects (Hill's precision in estimating HTE)."""
    estimated, true = _effects(estimated_effects, true_effects)
    return float(np.sqrt(np.mean((estimated - true) ** 2)))


def ate_error(estimated_effects, true_effects) -> float:
    """|mean estimated effect - mean true effect| over the same units."""
    estimated, true = _effects(estimated_effects, true_effects)
    return float(abs(estimated.mean() - true.mean()))


def sqrt_pehe_keeping(estimated_effects, true_effects, variance, keep: float = 0.9) -> float:
    """sqrt(PEHE) on the units left after dropping the most uncertain ones: the n - int((1 - keep) n)
    units of lowest predicted `variance` (ties by position), as the public DKLITE tutorial counts."""
    estimated, true = _effects(estimated_effects, true_effects)
    variance = np.asarray(variance, dtype=float).ravel()
    if variance.shape != estimated.shape or not 0 < keep <= 1:
        raise ValueError(f"variance must match the effects ({estimated.shape}) and keep lie in (0, 1], got "
                         f"{variance.shape}, {keep}")
    kept = np.argsort(variance, kind="stable")[: estimated.size - int((1 - keep) * estimated.size + 1e-9)]
    return sqrt_pehe(estimated[kept], true[kept])


def mean_and_stderr(values) -> tuple[float, float]:
    """Mean and standard error (sample std with ddof=1 over sqrt(n)); 0 error for a single value."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("no values to average")
    if values.size == 1:
        return float(values[0]), 0.0
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def effect_errors(mu0_hat, mu1_hat, mu0, mu1, prefix: str) -> dict[str, float]:
    """sqrt(PEHE) and |ATE error| of predicted potential outcomes, keyed `<prefix>sqrt_pehe` / `<prefix>ate_error`."""
    estimated = np.asarray(mu1_hat, dtype=float) - np.asarray(mu0_hat, dtype=float)
    true = np.asarray(mu1, dtype=float) - np.asarray(mu0, dtype=float)
    return {f"{prefix}sqrt_pehe": sqrt_pehe(estimated, true), f"{prefix}ate_error": ate_error(estimated, true)}


def policy_risk(estimated_effects, t, y) -> float:
    """1 - value of the policy "treat iff the estimated effect > 0", estimated on randomised units.

    value = P(policy treats) * mean y of treated units it treats
          + P(policy withholds) * mean y of control units it withholds
    (an empty group contributes 0, as in cfrnet's evaluation). y is a good outcome (Jobs: employed).
    """
    effects, t, y = (np.asarray(a, dtype=float).ravel() for a in (estimated_effects, t, y))
    if not effects.size or not effects.shape == t.shape == y.shape:
        raise ValueError(f"effects, t and y must be non-empty and of one length, got {effects.shape}, {t.shape}, {y.shape}")
    treat = effects > 0
    agree_treated, agree_control = treat & (t == 1), ~treat & (t == 0)
    treated_value = y[agree_treated].mean() if agree_treated.any() else 0.0
    control_value = y[agree_control].mean() if agree_control.any() else 0.0
    share = treat.mean()
    return float(1 - (share * treated_value + (1 - share) * control_value))


def att_error(estimated_effects, t, y) -> float:
    """|mean estimated effect on the treated - (mean y of treated - mean y of controls)| on randomised units."""
    effects, t, y = (np.asarray(a, dtype=float).ravel() for a in (estimated_effects, t, y))
    if not effects.shape == t.shape == y.shape or not (t == 1).any() or not (t == 0).any():
        raise ValueError("att_error needs units of both arms and arrays of one length")
    true_att = y[t == 1].mean() - y[t == 0].mean()
    return float(abs(effects[t == 1].mean() - true_att))


def effect_scores(estimated_effects, t, y, train, true_effects=None, randomised=None) -> dict[str, float]:
    """In-sample (training units, `in_`) and out-of-sample (`out_`) scores of estimated effects:
    sqrt(PEHE) and |ATE error| when the true effects are known; else policy risk and |ATT error|
    on the units of the randomised trial (Jobs)."""
    estimated, t, y = (np.asarray(a, dtype=float).ravel() for a in (estimated_effects, t, y))
    train = np.asarray(train, dtype=bool).ravel()
    scores = {}
    for prefix, units in (("in_", train), ("out_", ~train)):
        if true_effects is not None:
            true = np.asarray(true_effects, dtype=float).ravel()
            scores[f"{prefix}sqrt_pehe"] = sqrt_pehe(estimated[units], true[units])
            scores[f"{prefix}ate_error"] = ate_error(estimated[units], true[units])
        else:
            if randomised is None:
                raise ValueError("without true effects, scores need the randomised units (Jobs' e)")
            trial = units & np.asarray(randomised, dtype=bool).ravel()
            scores[f"{prefix}policy_risk"] = policy_risk(estimated[trial], t[trial], y[trial])
            scores[f"{prefix}att_error"] = att_error(estimated[trial], t[trial], y[trial])
    return scores
