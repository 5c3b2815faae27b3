"""Permutation tests for claims: an ordering of methods or a rank correlation passes only when chance
rarely gives it (DESIGN.md, "What counts as evidence").

Small designs are enumerated exactly (every relabelling, every sign pattern); larger ones draw
`n_permutations` random relabellings with a fixed seed and report (hits + 1) / (draws + 1), which never
returns 0. Exact enumeration matters at the seed counts claims use: with 3 seeds per method the smallest
attainable two-sample p-value is 1/20 = 0.05, and a paired sign-flip test over 3 pairs cannot go below
1/8, so a claim over 3 paired seeds can never pass at 0.05 (use 5 seeds: 1/32)."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

ALTERNATIVES = ("greater", "less", "two-sided")
EXACT_LIMIT = 100_000


def _check(alternative: str, *arrays: np.ndarray) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    for values in arrays:
        if values.ndim != 1 or len(values) < 2:
            raise ValueError(f"a permutation test needs 1-D samples of at least 2 values, got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("a permutation test got a non-finite value")


def _p_value(observed: float, null: np.ndarray, alternative: str, exact: bool) -> float:
    # a tolerance so that relabellings equal to the observed statistic up to rounding count as ties
    tol = 1e-12 * max(1.0, abs(observed))
    if alternative == "greater":
        hits = np.count_nonzero(null >= observed - tol)
    elif alternative == "less":
        hits = np.count_nonzero(null <= observed + tol)
    else:
        hits = np.count_nonzero(np.abs(null) >= abs(observed) - tol)
    return float(hits / len(null)) if exact else float((hits + 1) / (len(null) + 1))


@dataclass(frozen=True)
class Comparison:
    """a - b: the mean difference, the seed spread of the difference, the p-value and the design."""

    mean_difference: float
    sd_difference: float
    p_value: float
    n_a: int
    n_b: int
    paired: bool
    exact: bool

    def as_metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/difference": self.mean_difference, f"{prefix}/difference_sd": self.sd_difference,
                f"{prefix}/p_value": self.p_value, f"{prefix}/n": float(min(self.n_a, self.n_b))}


def compare(a, b, *, paired: bool = False, alternative: str = "greater", n_permutations: int = 20_000,
            seed: int = 0) -> Comparison:
    """Is mean(a) - mean(b) larger (`greater`), smaller (`less`) or different (`two-sided`) than chance gives?

    Unpaired: the labels a/b are exchangeable under the null (every split of the pooled values).
    Paired (a[i] and b[i] share a seed or a data split): the sign of each difference is exchangeable.
    `sd_difference` is the sample sd of the per-pair differences (paired) or the standard error of the
    difference of means scaled back to one run, sqrt(var(a) + var(b)) (unpaired): the seed spread a
    margin must exceed."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    _check(alternative, a, b)
    if paired:
        if len(a) != len(b):
            raise ValueError(f"a paired comparison needs as many values in a as in b, got {len(a)} and {len(b)}")
        diffs = a - b
        observed = float(diffs.mean())
        exact = 2 ** len(diffs) <= EXACT_LIMIT
        if exact:
            signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(diffs))))
        else:
            signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_permutations, len(diffs)))
        null = (signs * diffs).mean(axis=1)
        sd = float(diffs.std(ddof=1))
    else:
        pooled = np.concatenate([a, b])
        n_a = len(a)
        observed = float(a.mean() - b.mean())
        exact = math.comb(len(pooled), n_a) <= EXACT_LIMIT
        total = pooled.sum()
        if exact:
            sums = np.array([pooled[list(idx)].sum() for idx in itertools.combinations(range(len(pooled)), n_a)])
        else:
            rng = np.random.default_rng(seed)
            sums = np.array([pooled[rng.permutation(len(pooled))[:n_a]].sum() for _ in range(n_permutations)])
        null = sums / n_a - (total - sums) / len(b)
        sd = float(math.sqrt(a.var(ddof=1) + b.var(ddof=1)))
    return Comparison(mean_difference=observed, sd_difference=sd, p_value=_p_value(observed, null, alternative, exact),
                      n_a=len(a), n_b=len(b), paired=paired, exact=exact)


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=np.float64)
    # ties share their mean rank
    for value in np.unique(values):
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of x with every row of y."""
    xc = x - x.mean()
    yc = y - y.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((xc ** 2).sum()) * np.sqrt((yc ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (yc * xc).sum(axis=-1) / denominator, 0.0)


@dataclass(frozen=True)
class Correlation:
    rho: float
    p_value: float
    n: int
    method: str
    exact: bool

    def as_metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/rho": self.rho, f"{prefix}/p_value": self.p_value, f"{prefix}/n": float(self.n)}


def correlation(x, y, *, method: str = "spearman", alternative: str = "greater", n_permutations: int = 20_000,
                seed: int = 0) -> Correlation:
    """Rank (spearman) or linear (pearson) correlation of x and y with the permutation p-value of y's order
    (exact over all n! orders up to n = 8)."""
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    _check(alternative, x, y)
    if len(x) != len(y):
        raise ValueError(f"a correlation needs as many x as y values, got {len(x)} and {len(y)}")
    if method == "spearman":
        x, y = _ranks(x), _ranks(y)
    observed = float(_pearson(x, y[None, :])[0])
    exact = math.factorial(len(y)) <= EXACT_LIMIT
    if exact:
        orders = np.array(list(itertools.permutations(range(len(y)))))
    else:
        rng = np.random.default_rng(seed)
        orders = np.stack([rng.permutation(len(y)) for _ in range(n_permutations)])
    null = _pearson(x, y[orders])
    return Correlation(rho=observed, p_value=_p_value(observed, null, alternative, exact), n=len(y), method=method,
                       exact=exact)
