"""What csiszar_cramer_rao spends its time on: one Monte Carlo cell, and the geometry by autograd."""
from __future__ import annotations

import torch
from omegaconf import OmegaConf

from common.timing import median_seconds
from papers.csiszar_cramer_rao.analysis import CURVATURE_FEATURES, CURVATURE_THETA, CURVATURE_VALUES
from papers.csiszar_cramer_rao.crb import run_grid
from papers.csiszar_cramer_rao.families import DiscretePowerLaw, StudentTLocation
from papers.csiszar_cramer_rao.geometry import (
    connections_eguchi,
    curvature,
    ialpha_christoffel,
    metric_eguchi,
)


def run() -> list[tuple[str, float, str]]:
    cell = OmegaConf.create({"alphas": [1.5], "sample_sizes": [10], "replications": 200000, "confidence": 0.99,
                             "chunk": 100000, "families": {"student_t": {"kind": "student_t", "nu": 10, "theta": 0.0,
                                                                         "estimators": ["mean", "median"]}}})
    rows = [("csiszar_cramer_rao Monte Carlo cell: Student-t escort, n = 10, 200,000 samples, mean + median",
             median_seconds(lambda: run_grid(cell, seed=0), repeats=2), "s")]
    t = StudentTLocation(10)
    theta = torch.tensor([0.0], dtype=torch.float64)
    rows.append(("csiszar_cramer_rao metric of I_alpha by autograd (Student-t, 1601 quadrature nodes)",
                 median_seconds(lambda: metric_eguchi(t, theta, 1.5), repeats=3), "s"))
    rows.append(("csiszar_cramer_rao connections of I_alpha by third derivatives (Student-t, 1601 nodes)",
                 median_seconds(lambda: connections_eguchi(t, theta, 1.5), repeats=3), "s"))
    family = DiscretePowerLaw(CURVATURE_VALUES, 1.5, CURVATURE_FEATURES)
    rows.append(("csiszar_cramer_rao curvature tensor, two-parameter power-law family on 5 points",
                 median_seconds(lambda: curvature(ialpha_christoffel(family, 1.5), CURVATURE_THETA), repeats=3), "s"))
    return rows
