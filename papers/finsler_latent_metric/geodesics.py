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
    resample_polyline,
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
    resolution: int = 20, metrics=("riemann", "finsler"), extra_starts: dict[str, list[torch.Tensor]] | None = None,
    pair_indices: list[tuple[int, int]] | None = None, bounds=None,
) -> tuple[dict[str, float], dict]:
    """Geodesics for `pairs` random pairs of codes; per pair L_F(gamma_F) / L_R(gamma_R) and more.

    `pair_indices` (optional) names the pairs of rows of `codes` instead (then `pairs` must equal its
    length), e.g. the starfish's centre to each arm tip; `bounds` (optional) the latent box of the
    grid initialisation, by default that of `codes`.

    `extra_starts[metric][k]` (optional) is a further curve for pair k, e.g. another metric's geodesic
    found elsewhere: the solve under `metric` is then also run from it, and the shortest (under
    `metric`) of the solves and of that curve itself is kept, so the result is never longer than it.
    With two metrics, each kept geodesic is also no longer, under its metric, than the other's kept one.
    """
    codes = torch.as_tensor(codes, dtype=DTYPE)
    extra_starts = extra_starts or {}
    for metric, curves_given in extra_starts.items():
        if metric not in metrics:
            raise ConfigError(f"extra_starts names metric {metric!r}, not one of the solved metrics {tuple(metrics)}")
        if len(curves_given) != pairs:
            raise ConfigError(f"extra_starts[{metric!r}] has {len(curves_given)} curves for {pairs} pairs")
    bounds = bounds or latent_bounds(codes)
    if pair_indices is not None:
        chosen = [(int(i), int(j)) for i, j in pair_indices]
        if len(chosen) != pairs or any(not (0 <= i < len(codes) and 0 <= j < len(codes)) or i == j for i, j in chosen):
            raise ConfigError(f"pair_indices must be {pairs} pairs of distinct rows of the {len(codes)} codes, got {chosen}")
    else:
        chosen = choose_pairs(pairs, len(codes), seed)
    curves = {metric: [] for metric in metrics}
    rows = []
    for k, (i, j) in enumerate(chosen):
        z0, z1 = codes[i], codes[j]
        row = {}
        line = straight_line(z0, z1, points)
        solve = lambda metric, initial, z0=z0, z1=z1: optimise_geodesic(  # noqa: E731
            manifold, z0, z1, metric, points=points, initial=initial, iterations=iterations)
        length = lambda metric, curve: float(curve_length(manifold, curve, metric))  # noqa: E731
        # round 1, per metric: solve from the shorter of the grid path (the authors' initialisation)
        # and the straight line
        first = {}
        for metric in metrics:
            starts = [graph_geodesic(manifold, z0, z1, metric, bounds, resolution), line]
            with torch.no_grad():
                initial = min(starts, key=lambda c, m=metric: length(m, c))
            first[metric] = solve(metric, initial)
        # round 2: L-BFGS on the energy can stop in a local minimum. Where another curve between the
        # same ends is shorter under this metric (the other metric's geodesic; any `extra_starts`),
        # also solve from it, and keep the shortest of the solves and of those curves
        best, solved = {}, {}
        for metric in metrics:
            candidates = [("default", first[metric])]
            with torch.no_grad():
                lengths = [length(metric, first[metric])]
            row[f"{metric}_default_solve_length"] = lengths[0]
            others = [(f"{other}_geodesic", first[other]) for other in metrics if other != metric]
            if metric in extra_starts:
                given = torch.as_tensor(extra_starts[metric][k], dtype=DTYPE)
                others.append(("extra_start", given if given.shape[0] == points else resample_polyline(given, points)))
            for name, other_curve in others:
                with torch.no_grad():
                    other_length = length(metric, other_curve)
                if other_length < lengths[0] or name == "extra_start":
                    resolved = solve(metric, other_curve)
                    candidates += [(name, other_curve), (f"from_{name}", resolved)]
                    with torch.no_grad():
                        lengths += [other_length, length(metric, resolved)]
            at = int(np.argmin(lengths))
            best[metric] = (candidates[at][0], candidates[at][1], lengths[at])
            # the best energy minimiser alone (no curve kept as it came): the optimality claims use it
            solved[metric] = min(value for (name, _), value in zip(candidates, lengths, strict=True)
                                 if name == "default" or name.startswith("from_"))
        # round 3: round 2 compared each metric with the other's *first* solve; the other's final curve
        # can still be shorter under this metric. Re-solve from it and keep the shortest of the solve
        # and of that curve as it is, until a pass changes nothing: then, per metric, the kept geodesic
        # is no longer (to 1e-9) than the other metric's. Each change shortens a kept curve; 4 passes
        # bound the cost
        for _ in range(4):
            improved = False
            for metric in metrics:
                for other in metrics:
                    if other == metric:
                        continue
                    other_curve = best[other][1]
                    with torch.no_grad():
                        other_length = length(metric, other_curve)
                    if other_length >= best[metric][2] * (1 - 1e-9):  # rounding-level gains: no new solve
                        continue
                    resolved = solve(metric, other_curve)
                    with torch.no_grad():
                        resolved_length = length(metric, resolved)
                    solved[metric] = min(solved[metric], resolved_length)
                    name = f"from_final_{other}_geodesic"
                    best[metric] = min([best[metric], (f"final_{other}_geodesic", other_curve, other_length),
                                        (name, resolved, resolved_length)], key=lambda item: item[2])
                    improved = True
            if not improved:
                break
        for metric in metrics:
            row[f"{metric}_solved_length"] = solved[metric]
            row[f"{metric}_kept"], kept_curve, row[f"{metric}_length"] = best[metric]
            curves[metric].append(kept_curve)
            with torch.no_grad():
                row[f"{metric}_straight"] = length(metric, line)
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
            # each metric's best energy minimiser is no longer than the other metric's geodesic under its
            # own metric (from the solves only: the kept geodesic is the shorter of the two by construction)
            "geodesics/finsler_optimality_gap_max": float(max(
                r["finsler_solved_length"] / r["finsler_of_riemann_curve"] for r in rows)),
            "geodesics/riemann_optimality_gap_max": float(max(
                r["riemann_solved_length"] / r["riemann_of_finsler_curve"] for r in rows)),
            "geodesics/kept_other_curve_share": float(np.mean(
                [r[f"{m}_kept"] != "default" for r in rows for m in ("finsler", "riemann")])),
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
