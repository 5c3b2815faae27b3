"""What finsler_latent_metric spends its time on: geodesic solves per metric, the Nakagami mean."""
from __future__ import annotations

import torch

from common.timing import median_seconds
from papers.finsler_latent_metric.metrics import DTYPE, nakagami_mean, optimise_geodesic
from papers.finsler_latent_metric.model import StochasticDecoderVAE


def run(points: int = 20, iterations: int = 50) -> list[tuple[str, float, str]]:
    # Small batched ops: one thread is fastest (and what reproduce.py uses).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(points, iterations)
    finally:
        torch.set_num_threads(threads)


def _run(points: int, iterations: int) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    model = StochasticDecoderVAE(data_dim=48, optimizer=torch.optim.Adam)
    model.fit_centres(torch.randn(300, 2))
    manifold = model.geometry()
    z0, z1 = torch.tensor([-1.5, 0.3], dtype=DTYPE), torch.tensor([1.2, -0.8], dtype=DTYPE)
    rows = []
    for metric in ("riemann", "finsler"):
        seconds = median_seconds(
            lambda metric=metric: optimise_geodesic(manifold, z0, z1, metric, points=points, iterations=iterations),
            repeats=2)
        rows.append((f"finsler_latent_metric geodesic solve, {metric} metric ({points} points, "
                     f"{iterations} L-BFGS iterations, D = 48)", seconds, "s"))
    var = torch.rand(100_000, dtype=DTYPE)
    mean_sq = 100 * torch.rand(100_000, dtype=DTYPE)
    seconds = median_seconds(lambda: nakagami_mean(var, mean_sq, 3), repeats=3)
    rows.append(("finsler_latent_metric Nakagami mean E||Jv||, D = 3 (1F1 branch)", 1e5 / seconds, "evaluations/s"))
    return rows
