"""The geometry checks a reproduction records: the metric's two derivations, the connections' two
derivations, the alpha -> 1 limit, and the curvature of I_alpha's connections on two-parameter
families (the alpha-power-law family among them)."""
from __future__ import annotations

import numpy as np
import torch

from papers.csiszar_cramer_rao.divergence import (
    generalized_csiszar,
    kl_divergence,
    relative_alpha_entropy,
)
from papers.csiszar_cramer_rao.families import DiscreteExponential, DiscretePowerLaw, make_family
from papers.csiszar_cramer_rao.geometry import (
    connections,
    connections_eguchi,
    curvature,
    escort_fisher,
    ialpha_christoffel,
    metric,
    metric_eguchi,
)

# the two-parameter families of the curvature check: {0..4} with f(x) = (x, x^2/4)
CURVATURE_VALUES = np.arange(5)
CURVATURE_FEATURES = np.stack([CURVATURE_VALUES, CURVATURE_VALUES**2 / 4], axis=1)
CURVATURE_THETA = torch.tensor([0.1, 0.05], dtype=torch.float64)


def curvature_families(alpha: float):
    return {"power_law": DiscretePowerLaw(CURVATURE_VALUES, alpha, CURVATURE_FEATURES),
            "exponential": DiscreteExponential(CURVATURE_VALUES, CURVATURE_FEATURES)}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def geometry_checks(plan) -> tuple[dict[str, float], list[str]]:
    """Metrics (largest disagreements, curvatures) and a markdown table per family."""
    geo = plan.geometry
    metrics = {"geometry/metric_max_rel_diff": 0.0, "geometry/metric_vs_escort_fisher_max_rel_diff": 0.0,
               "geometry/connection_max_rel_diff": 0.0}
    rows = ["| family | alpha | theta | g (closed form) | g (Eguchi, autograd) | J^(alpha)/alpha | Gamma_111 closed / autograd | "
            "Gamma*_111 closed / autograd |", "|---|---|---|---|---|---|---|---|"]
    for name, spec in plan.families.items():
        for alpha in geo.alphas:
            alpha = float(alpha)
            family = make_family(spec, alpha)
            try:
                family.check_escort(alpha)
            except ValueError:
                continue
            if family.name == "power_law_q" and alpha >= 2:
                # compact support moving with theta: from alpha = 2 on the third derivatives of I_alpha pick
                # up boundary terms that fixed quadrature nodes miss, and above 2 the connections diverge
                continue
            for theta in geo.thetas.get(name, [spec.theta]):
                theta = torch.tensor([float(theta)], dtype=torch.float64)
                g, g_e, J = metric(family, theta, alpha), metric_eguchi(family, theta, alpha), escort_fisher(family, theta, alpha)
                (c, c_dual), (c_e, c_dual_e) = connections(family, theta, alpha), connections_eguchi(family, theta, alpha)
                metrics["geometry/metric_max_rel_diff"] = max(metrics["geometry/metric_max_rel_diff"], _rel(g, g_e))
                metrics["geometry/metric_vs_escort_fisher_max_rel_diff"] = max(
                    metrics["geometry/metric_vs_escort_fisher_max_rel_diff"], _rel(alpha * g, J))
                scale = max(float(c.abs().max()), float(c_dual.abs().max()), float(g.abs().max()))
                diff = max(float((c - c_e).abs().max()), float((c_dual - c_dual_e).abs().max())) / scale
                metrics["geometry/connection_max_rel_diff"] = max(metrics["geometry/connection_max_rel_diff"], diff)
                rows.append(f"| {family.describe()} | {alpha:g} | {float(theta):g} | {float(g):.8g} | {float(g_e):.8g} | "
                            f"{float(J) / alpha:.8g} | {float(c):.6g} / {float(c_e):.6g} | {float(c_dual):.6g} / {float(c_dual_e):.6g} |")
    metrics.update(alpha_one_limit())
    curv_rows = ["| two-parameter family on {0..4}, f = (x, x²/4) | alpha | max abs R (I_alpha's Gamma) | max abs R (Gamma*) |",
                 "|---|---|---|---|"]
    for alpha in geo.curvature_alphas:
        alpha = float(alpha)
        for name, family in curvature_families(alpha).items():
            primal, dual = (float(curvature(ialpha_christoffel(family, alpha, dual=d), CURVATURE_THETA).abs().max())
                            for d in (False, True))
            metrics[f"geometry/curvature/{name}/a{alpha:g}"] = max(primal, dual)
            curv_rows.append(f"| {family.describe()} | {alpha:g} | {primal:.3g} | {dual:.3g} |")
    off_one = [v for k, v in metrics.items() if k.startswith("geometry/curvature/power_law/") and not k.endswith("/a1")]
    if off_one:
        metrics["geometry/curvature/power_law_min_alpha_ne_1"] = min(off_one)
    if "geometry/curvature/power_law/a1" in metrics:
        metrics["geometry/curvature/power_law_at_alpha_1"] = metrics["geometry/curvature/power_law/a1"]
    metrics.update(escort_kl_flatness())
    return metrics, rows + [""] + curv_rows


def alpha_one_limit() -> dict[str, float]:
    """|I_alpha - KL| at alpha = 1 +- 1e-3 and 1 +- 1e-5 on a pair of distributions (rate O(|alpha - 1|))."""
    family = DiscreteExponential(np.arange(6))
    support = family.support()
    log_p, log_q = family.log_prob(torch.tensor([0.3]), support), family.log_prob(torch.tensor([-0.2]), support)
    kl = kl_divergence(log_p, log_q, support)
    out = {}
    for eps in (1e-3, 1e-5):
        worst = max(abs(float(relative_alpha_entropy(log_p, log_q, 1 + s * eps, support) - kl)) for s in (-1, 1))
        out[f"geometry/ialpha_minus_kl/eps{eps:g}"] = worst
    return out


def escort_kl_flatness() -> dict[str, float]:
    """The generalized Csiszar divergence with f(u) = u log u, KL between escorts: its dual connection
    vanishes in the natural parameters of an exponential family at every alpha (e-flat), its metric is J^(alpha)."""
    out = {}
    family = DiscreteExponential(CURVATURE_VALUES, CURVATURE_FEATURES)
    support = family.support()
    worst_gamma, worst_metric = 0.0, 0.0
    for alpha in (0.5, 1.5, 2.0):
        def divergence(log_p, log_q, alpha=alpha):
            return generalized_csiszar(log_p, log_q, alpha, lambda u: u * torch.log(u), support)
        _, dual = connections_eguchi(family, CURVATURE_THETA, alpha, divergence=divergence)
        g = metric_eguchi(family, CURVATURE_THETA, alpha, divergence=divergence)
        worst_gamma = max(worst_gamma, float(dual.abs().max()))
        worst_metric = max(worst_metric, _rel(g, escort_fisher(family, CURVATURE_THETA, alpha)))
    out["geometry/escort_kl/exponential_dual_connection_max"] = worst_gamma
    out["geometry/escort_kl/metric_vs_escort_fisher_max_rel_diff"] = worst_metric
    return out
