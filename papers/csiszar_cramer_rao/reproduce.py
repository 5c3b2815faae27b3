"""csiszar_cramer_rao's part of `scripts/reproduce.py`: a numerical check of the paper's statements.

1. The alpha-Cramer-Rao inequality by Monte Carlo over (family, alpha, n, estimator) (crb.py): the
   variances of escort-unbiased estimators under the escort against tau'^2 / (n alpha g^(alpha)).
2. The inequality's adversary: an L-estimator trained by Lightning per cell of `learned` (model.py).
3. The geometry (analysis.py): the metric and the connections of I_alpha from closed forms and by
   autograd of the divergence, the alpha -> 1 limit, and the curvature on two-parameter families.
4. Figures: the bound and the measured variances against alpha; the metric against theta.

`scales.<scale>.bound_alpha=1.0` puts the classical Fisher information of p in place of the
alpha-metric in the bound (the data keep their alpha): the mechanism-off variant.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from common import run
from common.errors import ConfigError
from common.experiment import PaperResults, train_experiment
from papers.csiszar_cramer_rao.analysis import geometry_checks
from papers.csiszar_cramer_rao.crb import Cell, bounds, cell_table, check_plan, run_grid, summarise
from papers.csiszar_cramer_rao.divergence import check_alpha
from papers.csiszar_cramer_rao.families import make_family
from papers.csiszar_cramer_rao.plots import plot_bounds, plot_metric


def _learned_entries(cfg: DictConfig, plan) -> list[tuple[float, int, DictConfig]]:
    """(alpha, n, the composed training config) per cell of plan.learned, checked before anything runs."""
    entries = []
    for entry in plan.learned.cells:
        alpha, n = check_alpha(entry.alpha, "learned.cells alpha"), entry.n
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ConfigError(f"learned.cells: n must be an integer >= 2, got {n!r}")
        overrides = [f"experiment={plan.learned.experiment}", f"data.alpha={alpha}", f"data.n={n}", *cfg.overrides]
        train_cfg = run.compose("train", overrides)
        make_family(OmegaConf.to_container(train_cfg.data.family), alpha).estimator_variance_finite(alpha)
        entries.append((alpha, n, train_cfg))
    return entries


def learned_cells(cfg: DictConfig, plan, entries) -> tuple[list[Cell], dict[str, float]]:
    """Train the learned estimator per (alpha, n) of plan.learned and make each a cell of the grid."""
    cells, metrics = [], {}
    for alpha, n, train_cfg in entries:
        result = train_experiment(cfg, plan.learned.experiment, [f"data.alpha={alpha}", f"data.n={n}"])
        family_spec = OmegaConf.to_container(train_cfg.data.family)
        family = make_family(family_spec, alpha)
        b = bounds(family, 0.0, alpha, n, plan.get("bound_alpha"))
        cells.append(Cell(family.name, alpha, n, "learned", result["test/variance"], result["test/variance_se"],
                          result["test/bias"], result["test/bias_se"], **b, group="student_t" if family.name == "student_t"
                          else "other"))
        metrics[f"learned/a{alpha:g}/n{n}/weight_spread"] = result["test/weight_spread"]
        metrics[f"learned/a{alpha:g}/n{n}/variance_over_best_simple"] = result["test/variance_over_best_simple"]
    return cells, metrics


def reproduce(cfg: DictConfig, plan, results_dir: Path) -> PaperResults:
    check_plan(plan)
    entries = _learned_entries(cfg, plan)
    cells = run_grid(plan, seed=int(cfg.seed))
    learned, learned_metrics = learned_cells(cfg, plan, entries)
    metrics, cases = summarise(cells + learned)
    metrics.update(learned_metrics)
    ratios = [v for k, v in metrics.items() if k.startswith("learned/") and k.endswith("variance_over_best_simple")]
    if ratios:
        metrics["learned/max_variance_over_best_simple"] = max(ratios)
    geometry, geometry_rows = geometry_checks(plan)
    metrics.update(geometry)

    figures = [plot_bounds(plan, cells + learned, results_dir / "crb_vs_alpha.png"),
               plot_metric(plan, results_dir / "metric_vs_theta.png")]
    bound_note = ("the alpha-metric, J^(alpha) = alpha g^(alpha)" if plan.get("bound_alpha") is None else
                  f"J^({plan.bound_alpha:g}) in place of the alpha-metric (mechanism off)")
    sections = [
        "## The alpha-Cramér-Rao inequality, cell by cell",
        f"Bound judged by the claims: {bound_note}. Var × n and bound × n use the alpha-metric; the last two "
        "ratios put the classical Fisher information of p, and the metric of I_alpha without the factor alpha, in its place.",
        "", *cell_table(cells + learned), "",
        "Extreme cases: " + "; ".join(f"**{k}**: {v}" for k, v in cases.items()),
        "", "## Geometry: metric and connections from the closed forms and by autograd of I_alpha", "",
        *geometry_rows,
    ]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
