"""Geodesics between pairs of latent codes under the Finsler and the Riemann metric, and their lengths."""
from __future__ import annotations

import numpy as np
import torch

from common.errors import ConfigError
from papers.finsler_latent_metric.metrics import (
    DTYPE,
    curve_length,
    graph_geodesic,
    optimise_geodesic,
    straight_line,
)


def latent_bounds(codes: torch.Tensor, margin: float = 0.15):
    low, high = codes.min(0).values, codes.max(0).values
    pad = margin * (high - low)
    return ((float(low[0] - pad[0]), float(high[0] + pad[0])), (float(low[1] - pad[1]), float(high[1] + pad[1])))


def choose_pairs(count: int, n_codes: int, seed: int) -> list[tuple[int, int]]:
    if n_codes < 2:
        raise ConfigError(f"need at least 2 latent codes for geodesics, got {n_codes}")
    rng = np.random.default_rng(seed)
    pairs = []
    while len(pairs) < count:
        i, j = rng.choice(n_codes, size=2, replace=False)
        pairs.append((int(i), int(j)))
    return pairs


def geodesic_pairs(
    manifold, codes: torch.Tensor, pairs: int, seed: int = 0, points: int = 20, iterations: int = 100,
    resolution: int = 20, metrics=("riemann", "finsler"),
) -> tuple[dict[str, float], dict]:
    """Geodesics for `pairs` random pairs of codes; per pair L_F(gamma_F) / L_R(gamma_R) and more."""
    codes = torch.as_tensor(codes, dtype=DTYPE)
    bounds = latent_bounds(codes)
    chosen = choose_pairs(pairs, len(codes), seed)
    curves = {metric: [] for metric in metrics}
    rows = []
    for i, j in chosen:
        z0, z1 = codes[i], codes[j]
        row = {}
        line = straight_line(z0, z1, points)
        for metric in metrics:
            # start from the shortest of: the graph geodesic (the authors' initialisation), the
            # straight line, and the geodesics already found under the other metric
            starts = [graph_geodesic(manifold, z0, z1, metric, bounds, resolution), line]
            starts += [curves[other][-1] for other in metrics if other != metric and len(curves[other]) > len(curves[metric])]
            with torch.no_grad():
                initial = min(starts, key=lambda c: float(curve_length(manifold, c, metric)))
            curve = optimise_geodesic(manifold, z0, z1, metric, points=points, initial=initial, iterations=iterations)
            curves[metric].append(curve)
            with torch.no_grad():
                row[f"{metric}_length"] = float(curve_length(manifold, curve, metric))
                row[f"{metric}_straight"] = float(curve_length(manifold, line, metric))
        if set(metrics) == {"finsler", "riemann"}:
            with torch.no_grad():
                row["finsler_of_riemann_curve"] = float(curve_length(manifold, curves["riemann"][-1], "finsler"))
                row["riemann_of_finsler_curve"] = float(curve_length(manifold, curves["finsler"][-1], "riemann"))
            separation = (curves["finsler"][-1] - curves["riemann"][-1]).norm(dim=1).max()
            row["curve_separation"] = float(separation / (z1 - z0).norm())
        rows.append(row)
    metrics_out = summarise(rows, metrics)
    return metrics_out, {"pairs": chosen, "curves": curves, "rows": rows, "bounds": bounds}


def summarise(rows: list[dict], metrics) -> dict[str, float]:
    out: dict[str, float] = {"geodesics/pairs": float(len(rows))}
    for metric in metrics:
        to_line = np.array([r[f"{metric}_length"] / r[f"{metric}_straight"] for r in rows])
        out[f"geodesics/{metric}_over_straight_mean"] = float(to_line.mean())
        out[f"geodesics/{metric}_over_straight_max"] = float(to_line.max())
    if set(metrics) == {"finsler", "riemann"}:
        ratio = np.array([r["finsler_length"] / r["riemann_length"] for r in rows])
        out.update({
            "geodesics/ratio_mean": float(ratio.mean()), "geodesics/ratio_sd": float(ratio.std()),
            "geodesics/ratio_min": float(ratio.min()), "geodesics/ratio_max": float(ratio.max()),
            "geodesics/one_minus_ratio_mean": float(1 - ratio.mean()),
            "geodesics/curve_separation_mean": float(np.mean([r["curve_separation"] for r in rows])),
            # each geodesic is no longer than the other metric's geodesic under its own metric
            "geodesics/finsler_optimality_gap_max": float(max(
                r["finsler_length"] / r["finsler_of_riemann_curve"] for r in rows)),
            "geodesics/riemann_optimality_gap_max": float(max(
                r["riemann_length"] / r["riemann_of_finsler_curve"] for r in rows)),
        })
    return out


def pointwise_gap(manifold, points: torch.Tensor, directions: int = 16) -> dict[str, float]:
    """1 - F(v) / |v|_G over unit directions v at the given latent points (mean and max)."""
    from papers.finsler_latent_metric.metrics import finsler_norm, riemann_norm

    points = torch.as_tensor(points, dtype=DTYPE)
    theta = torch.arange(directions, dtype=DTYPE) * (np.pi / directions)
    v = torch.stack([torch.cos(theta), torch.sin(theta)], -1)
    with torch.no_grad():
        mean_jac, cov = manifold.jacobian_moments(points)
        mean_jac = mean_jac[:, None].expand(-1, directions, -1, -1)
        cov = cov[:, None].expand(-1, directions, -1, -1)
        vv = v[None].expand(len(points), -1, -1)
        gap = 1 - finsler_norm(mean_jac, cov, vv) / riemann_norm(mean_jac, cov, vv)
    return {"mean": float(gap.mean()), "max": float(gap.max())}


def latent_grid(bounds, resolution: int) -> torch.Tensor:
    (low_x, high_x), (low_y, high_y) = bounds
    xs = torch.linspace(low_x, high_x, resolution, dtype=DTYPE)
    ys = torch.linspace(low_y, high_y, resolution, dtype=DTYPE)
    return torch.stack(torch.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
