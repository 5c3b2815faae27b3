"""The alpha-Cramer-Rao inequality checked by Monte Carlo.

For n i.i.d. draws from the escort p_theta^(alpha) and an estimator T unbiased for tau(theta) under
the escort (E^(alpha)[T] = tau(theta)),

    Var^(alpha)(T) >= tau'(theta)^2 / (n J^(alpha)(theta)),   J^(alpha) = alpha g^(alpha)

(g^(alpha): the metric of I_alpha; J^(alpha): the escort model's Fisher information; derived here by
Amari-Nagaoka's argument with the escort's score, see README). tau(theta) = theta for a location family
(estimators: the mean and the median of the sample, unbiased because the escort is symmetric) and
tau(theta) = E^(alpha)[f] for a family linear in f (estimator: the sample mean of f).

Each cell (family, alpha, n, estimator) draws `replications` samples of size n, measures the variance
of T with its standard error (delta method, from the fourth central moment) and compares it with the
bound: a one-sided z for "below the bound" and a two-sided z for "equal to the bound", with p-values
Bonferroni-corrected over the cells they are taken over.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jacfwd

from common.errors import ConfigError
from papers.csiszar_cramer_rao.divergence import check_alpha, escort
from papers.csiszar_cramer_rao.families import Family, make_family
from papers.csiszar_cramer_rao.geometry import escort_fisher

ESTIMATORS = {"mean", "median", "mean_f", "learned"}


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


@dataclass
class Cell:
    family: str
    alpha: float
    n: int
    estimator: str
    variance: float
    variance_se: float
    bias: float
    bias_se: float
    bound: float            # tau'^2 / (n J^(bound_alpha)), the bound the claims judge
    bound_escort: float     # tau'^2 / (n J^(alpha)): the alpha-metric bound (= bound unless the mechanism is off)
    bound_fisher: float     # tau'^2 / (n J^(1)): the classical Fisher information of p in its place
    bound_eguchi: float     # tau'^2 / (n g^(alpha)): the metric of I_alpha itself, without the factor alpha
    group: str              # efficient | power_law | student_t | other
    exact_variance: float | None = None   # Var^(alpha)(T) by quadrature where T is a sample mean, else None

    @property
    def ratio(self) -> float:
        return self.variance / self.bound

    @property
    def rel_se(self) -> float:
        return self.variance_se / self.variance

    def z(self, bound: float | None = None) -> float:
        return (self.variance - (self.bound if bound is None else bound)) / self.variance_se

    @property
    def key(self) -> str:
        return f"{self.family}/a{self.alpha:g}/n{self.n}/{self.estimator}"


def variance_and_se(estimates: torch.Tensor, target: float) -> dict[str, float]:
    """Variance (ddof 1) of the estimates with its delta-method standard error, and the bias with its."""
    r = estimates.numel()
    centred = estimates - estimates.mean()
    variance = float(centred.pow(2).sum() / (r - 1))
    m4 = float(centred.pow(4).mean())
    return {"variance": variance, "variance_se": math.sqrt(max(m4 - variance**2, 0.0) / r),
            "bias": float(estimates.mean() - target), "bias_se": math.sqrt(variance / r)}


def estimate(samples: torch.Tensor, estimator: str, family: Family) -> torch.Tensor:
    """T for each row of samples [R, n]."""
    if estimator == "mean":
        return samples.mean(1)
    if estimator == "median":
        ordered = samples.sort(1).values
        n = samples.shape[1]
        return ordered[:, n // 2] if n % 2 else 0.5 * (ordered[:, n // 2 - 1] + ordered[:, n // 2])
    if estimator == "mean_f":
        return family.statistic(samples).mean(1)
    raise ConfigError(f"unknown estimator {estimator!r}; choose from {sorted(ESTIMATORS - {'learned'})}")


def target_and_slope(family: Family, theta: float, alpha: float) -> tuple[float, float]:
    """(tau, tau') at theta: theta and 1 for a location family, E^(alpha)[f] and its derivative otherwise."""
    if family.location:
        return float(theta), 1.0
    t0 = torch.tensor([theta], dtype=torch.float64)
    support = family.support(t0)
    f = family.statistic(support.x)

    def tau(t):
        log_p = family.log_prob(t, support)
        return torch.sum(torch.exp(support.log_w + escort(log_p, alpha, support)) * f)

    return float(tau(t0)), float(jacfwd(tau)(t0)[0])


def exact_variance(family: Family, theta: float, alpha: float, n: int, estimator: str) -> float | None:
    """Var^(alpha) of the sample mean (of x, or of f) by quadrature / finite sums; None for the median."""
    if estimator not in ("mean", "mean_f"):
        return None
    t0 = torch.tensor([theta], dtype=torch.float64)
    support = family.support(t0)
    values = support.x if estimator == "mean" else family.statistic(support.x)
    with torch.no_grad():
        probs = torch.exp(support.log_w + escort(family.log_prob(t0, support), alpha, support))
        mean = (probs * values).sum()
        return float((probs * (values - mean) ** 2).sum()) / n


def bounds(family: Family, theta: float, alpha: float, n: int, bound_alpha: float | None) -> dict[str, float]:
    """The bound variants of one (family, alpha, n): escort (alpha-metric), fisher (alpha = 1 in the bound
    only), eguchi (g^(alpha) without the factor alpha) and the one judged (bound_alpha or alpha)."""
    _, slope = target_and_slope(family, theta, alpha)

    def at(a):
        return slope**2 / (n * float(escort_fisher(family, theta, a)[0, 0]))

    escort_bound = at(alpha)
    out = {"bound_escort": escort_bound, "bound_fisher": at(1.0), "bound_eguchi": escort_bound * alpha}
    out["bound"] = escort_bound if bound_alpha is None else at(bound_alpha)
    return out


def group_of(family: Family, estimator: str, alpha: float) -> str:
    """efficient: the estimator the classical equality condition makes efficient (the escort is an
    exponential family with T linear in its statistic); power_law: the issue's efficient candidate
    for the alpha-power-law family at alpha != 1; student_t: a location family that should not attain."""
    if family.name == "normal" and estimator == "mean":
        return "efficient"
    if family.name == "exponential" and estimator == "mean_f":
        return "efficient"
    if family.name in ("power_law", "power_law_q") and estimator == "mean_f":
        return "efficient" if alpha == 1.0 else "power_law"
    if family.name == "student_t":
        return "student_t"
    return "other"


def check_plan(plan) -> None:
    """ConfigError (one line) for a plan no run can use: alpha <= 0, a sample size below 2, a family
    whose escort does not normalise at one of its alphas, too few replications..."""
    for alpha in plan.alphas:
        check_alpha(alpha, "alphas entry")
    sizes = list(plan.sample_sizes)
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ConfigError(f"sample_sizes entries must be integers >= 2, got {n!r} (with one observation every "
                              "location estimator of the grid is that observation: the grid compares nothing)")
    for where, value in [("replications", plan.replications)] + [
            (f"families.{k}.replications", v.replications) for k, v in plan.families.items() if "replications" in v]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1000:
            raise ConfigError(f"{where} must be an integer >= 1000 (a usable variance standard error), got {value!r}")
    if not 0 < float(plan.confidence) < 1:
        raise ConfigError(f"confidence must lie in (0, 1), got {plan.confidence}")
    if plan.get("bound_alpha") is not None:
        check_alpha(plan.bound_alpha, "bound_alpha")
    for name, spec in plan.families.items():
        for alpha in spec.get("alphas", plan.alphas):
            alpha = check_alpha(alpha, f"families.{name}.alphas entry")
            family = make_family(spec, alpha)
            family.estimator_variance_finite(alpha)
            family.check_theta(spec.theta)
            for est in spec.estimators:
                if est not in ESTIMATORS - {"learned"}:
                    raise ConfigError(f"families.{name}.estimators: unknown {est!r}; choose from "
                                      f"{sorted(ESTIMATORS - {'learned'})}")
                if est in ("mean", "median") and not family.location:
                    raise ConfigError(f"families.{name}: {est} estimates a location; {family.name} needs mean_f")
                if est == "mean_f" and family.location:
                    raise ConfigError(f"families.{name}: mean_f needs a family linear in f, {family.name} is a location family")


def run_grid(plan, seed: int) -> list[Cell]:
    """Every (family, alpha, n, estimator) cell of the plan, each with its own seeded generator; the
    replications are drawn in chunks of `plan.chunk` rows."""
    check_plan(plan)
    cells = []
    bound_alpha = plan.get("bound_alpha")
    chunk = int(plan.get("chunk", 100_000))
    for name, spec in plan.families.items():
        replications = int(spec.get("replications", plan.replications))
        for alpha in spec.get("alphas", plan.alphas):
            alpha = float(alpha)
            family = make_family(spec, alpha)
            tau, _ = target_and_slope(family, spec.theta, alpha)
            for n in plan.sample_sizes:
                # a cell's draws depend on (seed, family name, alpha, n) only: editing the grid elsewhere keeps them
                rng = np.random.default_rng([seed, zlib.crc32(name.encode()), round(alpha * 1e6), n])
                estimates = {estimator: [] for estimator in spec.estimators}
                for start in range(0, replications, chunk):   # chunks keep memory at chunk x n draws
                    rows = min(chunk, replications - start)
                    samples = torch.from_numpy(family.sample_escort(spec.theta, alpha, (rows, n), rng))
                    for estimator in spec.estimators:
                        estimates[estimator].append(estimate(samples, estimator, family))
                b = bounds(family, spec.theta, alpha, n, bound_alpha)
                for estimator in spec.estimators:
                    stats = variance_and_se(torch.cat(estimates[estimator]), tau)
                    cells.append(Cell(name, alpha, n, estimator, **stats, **b, group=group_of(family, estimator, alpha),
                                      exact_variance=exact_variance(family, spec.theta, alpha, n, estimator)))
    return cells


def adjusted(p: float, m: int) -> float:
    return min(1.0, p * m)


def summarise(cells: list[Cell]) -> tuple[dict[str, float], dict[str, str]]:
    """The record's numbers (flat keys) and the cases that show the extremes (for the report)."""
    metrics: dict[str, float] = {"crb/cells": float(len(cells))}
    cases: dict[str, str] = {}
    for c in cells:
        metrics[f"crb/{c.key}/ratio"] = c.ratio
        metrics[f"crb/{c.key}/rel_se"] = c.rel_se
    m = len(cells)
    # the inequality: below the bound, one-sided, over every cell
    worst = int(np.argmin([c.z() for c in cells]))
    metrics["crb/holds_min_p_adj"] = adjusted(normal_cdf(cells[worst].z()), m)
    metrics["crb/min_ratio"] = min(c.ratio for c in cells)
    cases["holds"] = f"{cells[worst].key}: Var/bound = {cells[worst].ratio:.4f}, z = {cells[worst].z():+.2f}"
    metrics["crb/max_rel_se"] = max(c.rel_se for c in cells)
    metrics["crb/max_abs_bias_z"] = max(abs(c.bias) / c.bias_se for c in cells)
    with_exact = [c for c in cells if c.exact_variance is not None]
    if with_exact:   # the Monte Carlo against the exact variance of the sample means: a check of the machinery
        metrics["crb/max_abs_z_vs_exact_variance"] = max(abs(c.variance - c.exact_variance) / c.variance_se for c in with_exact)
    for c in with_exact:
        metrics[f"crb/{c.key}/exact_ratio"] = c.exact_variance / c.bound
    # the variants of the bound: how far below each one the measured variances go
    for variant in ("escort", "fisher", "eguchi"):
        zs = [c.z(getattr(c, f"bound_{variant}")) for c in cells]
        i = int(np.argmin(zs))
        metrics[f"crb/variant_{variant}/min_z"] = zs[i]
        metrics[f"crb/variant_{variant}/min_ratio"] = cells[i].variance / getattr(cells[i], f"bound_{variant}")
        metrics[f"crb/variant_{variant}/violations"] = float(sum(adjusted(normal_cdf(z), m) < 0.01 for z in zs))
        cases[f"variant_{variant}"] = (f"{cells[i].key}: Var = {cells[i].variance:.5g}, bound = "
                                       f"{getattr(cells[i], f'bound_{variant}'):.5g}, z = {zs[i]:+.2f}")
    # attainment by the efficient estimators (two-sided)
    efficient = [c for c in cells if c.group == "efficient"]
    if efficient:
        i = int(np.argmax([abs(c.z()) for c in efficient]))
        metrics["crb/efficient_min_p_adj"] = adjusted(2 * (1 - normal_cdf(abs(efficient[i].z()))), len(efficient))
        gaps = [abs(c.ratio - 1) for c in efficient]
        metrics["crb/efficient_max_rel_gap"] = max(gaps)
        j = int(np.argmax(gaps))
        cases["efficient"] = f"{efficient[j].key}: Var/bound = {efficient[j].ratio:.4f} (rel. se {efficient[j].rel_se:.4f})"
    # the alpha-power-law family's candidate at alpha != 1
    power = [c for c in cells if c.group == "power_law"]
    if power:
        gaps = [abs(c.ratio - 1) for c in power]
        j = int(np.argmax(gaps))
        metrics["crb/power_law_max_rel_gap"] = gaps[j]
        metrics["crb/power_law_min_ratio"] = min(c.ratio for c in power)
        metrics["crb/power_law_max_ratio"] = max(c.ratio for c in power)
        metrics["crb/power_law_min_p_adj_attained"] = min(
            adjusted(2 * (1 - normal_cdf(abs(c.z()))), len(power)) for c in power)
        exact = [c.exact_variance / c.bound for c in power if c.exact_variance is not None]
        if exact:
            metrics["crb/power_law_exact_max_ratio"] = max(exact)
            metrics["crb/power_law_exact_min_ratio"] = min(exact)
        cases["power_law"] = f"{power[j].key}: Var/bound = {power[j].ratio:.4f} (rel. se {power[j].rel_se:.4f})"
    # a location family that should not attain: the best estimator of each (alpha, n) stays above
    t_cells = [c for c in cells if c.group == "student_t" and c.estimator != "learned"]
    if t_cells:
        best = {}
        for c in t_cells:
            key = (c.alpha, c.n)
            if key not in best or c.variance < best[key].variance:
                best[key] = c
        chosen = min(best.values(), key=lambda c: c.z())
        metrics["crb/student_t_max_p_adj_no_gap"] = adjusted(1 - normal_cdf(chosen.z()), len(best))
        metrics["crb/student_t_min_best_ratio"] = min(c.ratio for c in best.values())
        cases["student_t"] = f"{chosen.key}: Var/bound = {chosen.ratio:.4f}, z = {chosen.z():+.2f}"
    return metrics, cases


def cell_table(cells: list[Cell]) -> list[str]:
    lines = ["| family | alpha | n | estimator | Var × n | bound × n (alpha-metric) | Var/bound | rel. se | exact Var/bound | "
             "Var/bound, Fisher in place | Var/bound, g without alpha | group |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        exact = "—" if c.exact_variance is None else f"{c.exact_variance / c.bound_escort:.4f}"
        lines.append(f"| {c.family} | {c.alpha:g} | {c.n} | {c.estimator} | {c.variance * c.n:.5g} | "
                     f"{c.bound_escort * c.n:.5g} | {c.variance / c.bound_escort:.4f} | {c.rel_se:.4f} | {exact} | "
                     f"{c.variance / c.bound_fisher:.4f} | {c.variance / c.bound_eguchi:.4f} | {c.group} |")
    return lines
