"""What curvature_generalization spends its time on: the Hutchinson estimate of R (probes + 1
Hessian-vector products) against the parameter count, 10³ to 10⁷, and its log-log slope."""
from __future__ import annotations

import resource

import numpy as np
import torch
import torch.nn.functional as F

from common.timing import median_seconds
from papers.curvature_generalization.estimator import FlatLoss, estimate_curvature
from papers.curvature_generalization.model import MLP

# hidden width of a 64-w-w-10 MLP with about 10^3 ... 10^7 parameters
WIDTHS = (12, 90, 300, 970, 3150)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(probes: int = 4, batch: int = 64, widths=WIDTHS) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    x, y = torch.randn(batch, 64), torch.randint(0, 10, (batch,))
    rows, sizes, seconds = [], [], []
    for width in widths:
        flat = FlatLoss(MLP(64, width, 2, 10, "tanh"), F.cross_entropy, x, y)
        repeats = 3 if flat.n_params < 1e6 else 1
        estimate_curvature(flat, probes=2, seed=0, chunk=1)  # warm-up
        before = _peak_rss_mib()
        t = median_seconds(lambda flat=flat: estimate_curvature(flat, probes=probes, seed=0, chunk=1), repeats=repeats)
        sizes.append(flat.n_params)
        seconds.append(t)
        rows.append((f"curvature R estimate, {probes} probes, batch {batch}, {flat.n_params:.2g} params", t, "s"))
        rows.append((f"peak RSS after the {flat.n_params:.2g}-parameter estimate (growth {_peak_rss_mib() - before:.0f})",
                     _peak_rss_mib(), "MiB"))
    slope = float(np.polyfit(np.log10(sizes), np.log10(seconds), 1)[0])
    rows.append(("curvature R estimate: log-log slope of time against parameter count", slope, ""))
    return rows
