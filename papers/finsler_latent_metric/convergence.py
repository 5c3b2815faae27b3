"""The 1/D convergence of the Finsler and Riemann indicatrices (Pouplin et al. 2023, high-dimension figure).

Set-up of the authors' `examples/high_dimensions.py` (facts read from their code): latent dimension
q = 2, D on 10 values geometrically spaced in [3, 100] (rounded down), seeds 4..15; per seed a
scale s ~ U(0, 10), Jacobian entries i.i.d. N(sqrt(s), s^2), 30 Jacobian samples shared by all D
(the first D rows). The Riemannian metric is the sample mean of J^T J and the Finsler function the
sample mean of ||J v||; the plotted quantity is (V_R - V_F) / V_R with V = pi / area(indicatrix)
(the Busemann-Hausdorff volume for q = 2), against D with 1/D overlaid.

We compute the indicatrix areas by the polar formula area = 1/2 int_0^{2 pi} F(e_theta)^-2 dtheta
(trapezoid rule, spectrally accurate for a periodic integrand) instead of tracing a 64 x 64 contour,
and report the same quantity also with the closed-form (non-central Nakagami) Finsler function.
The bound is the authors' `upper_bound`: 1 - (1 - 1/(D + w) + w/(D + w)^2)^q with
w = min_e (e^T E[J]^T E[J] e) / (e^T Sigma e).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from common.errors import ConfigError
from papers.finsler_latent_metric.metrics import DTYPE, nakagami_mean


def directions(count: int) -> torch.Tensor:
    theta = torch.arange(count, dtype=DTYPE) * (2 * math.pi / count)
    return torch.stack([torch.cos(theta), torch.sin(theta)], -1)


def indicatrix_area(norms_on_circle: torch.Tensor) -> float:
    """Area of {v : F(v) <= 1} in R^2 from F on equally spaced unit directions (F 1-homogeneous)."""
    return float(0.5 * (norms_on_circle**-2).mean() * 2 * math.pi)


def sample_jacobians(seed: int, D_max: int, samples: int, q: int = 2, stochastic: bool = True):
    """The authors' random Jacobians: (scale, loc, J of shape (samples, D_max, q)).

    `stochastic=False` switches the decoder's variance off: all samples equal the first draw."""
    rng = np.random.RandomState(seed)
    scale = float(rng.uniform(low=0.0, high=10, size=1)[0])
    loc = math.sqrt(scale)
    jac = rng.normal(loc, scale, size=(q, D_max, samples))
    jac = torch.as_tensor(np.transpose(jac, (2, 1, 0)).copy(), dtype=DTYPE)
    if not stochastic:  # mechanism off: no decoder variance, every sample is the first draw
        jac = jac[:1].expand_as(jac).clone()
    return scale, loc, jac


def bound(D: float, mean_metric: torch.Tensor, cov: torch.Tensor, q: int = 2, count: int = 360) -> float:
    """The authors' upper bound on (V_R - V_F) / V_R for a D x q Gaussian Jacobian."""
    e = directions(count)
    numerator = torch.einsum("nq,qr,nr->n", e, mean_metric, e)
    denominator = torch.einsum("nq,qr,nr->n", e, cov, e)
    if (denominator <= 0).any():
        return 0.0  # Sigma = 0: both metrics coincide, the volume difference is 0
    omega = float((numerator / denominator).min())
    return 1.0 - (1.0 - 1.0 / (D + omega) + omega / (D + omega) ** 2) ** q


def relative_volume_difference(
    seeds, dims, samples: int = 30, count: int = 720, stochastic: bool = True
) -> dict[str, np.ndarray]:
    """(V_R - V_F) / V_R per (seed, D): Monte Carlo (the authors' estimator) and closed form, and the bound."""
    dims = [int(d) for d in dims]
    if any(d < 1 for d in dims):
        raise ConfigError(f"every D must be >= 1, got {dims}")
    if samples < 2:
        raise ConfigError(f"samples must be >= 2, got {samples}")
    e = directions(count)
    shape = (len(seeds), len(dims))
    out = {name: np.empty(shape) for name in ("monte_carlo", "closed_form", "bound")}
    for i, seed in enumerate(seeds):
        scale, loc, jac = sample_jacobians(int(seed), max(dims), samples, stochastic=stochastic)
        for j, D in enumerate(dims):
            sub = jac[:, :D, :]  # (samples, D, q)
            # Monte Carlo, as the authors: sample mean of J^T J and of ||J v||
            jv = torch.einsum("sdq,nq->snd", sub, e)
            finsler_mc = torch.linalg.norm(jv, dim=-1).mean(0)
            riemann_mc = torch.sqrt((jv**2).sum(-1).mean(0))
            out["monte_carlo"][i, j] = 1 - indicatrix_area(riemann_mc) / indicatrix_area(finsler_mc)
            # Closed form: E[J] = loc (all entries), Sigma = scale^2 I (variance off: E[J] = the draw, Sigma = 0)
            if stochastic:
                mean_jac, cov = torch.full((D, 2), loc, dtype=DTYPE), scale**2 * torch.eye(2, dtype=DTYPE)
            else:
                mean_jac, cov = sub[0], torch.zeros(2, 2, dtype=DTYPE)
            mean_sq = ((e @ mean_jac.T) ** 2).sum(-1)
            var = torch.einsum("nq,qr,nr->n", e, cov, e)
            finsler = nakagami_mean(var, mean_sq, D)
            riemann = torch.sqrt(mean_sq + D * var)
            out["closed_form"][i, j] = 1 - indicatrix_area(riemann) / indicatrix_area(finsler)
            out["bound"][i, j] = bound(D, mean_jac.T @ mean_jac, cov)
    return out


def loglog_slope(dims, values) -> float:
    """Least-squares slope of log(value) against log(D) (values averaged over seeds first)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values.mean(0)
    if (values <= 0).any():
        return float("nan")
    slope, _ = np.polyfit(np.log(np.asarray(dims, dtype=float)), np.log(values), 1)
    return float(slope)


def run_convergence(seeds, dims, samples: int = 30, count: int = 720, stochastic: bool = True) -> tuple[dict, dict]:
    """Metrics (flat) and raw arrays of the convergence experiment."""
    dims = [int(d) for d in dims]
    raw = relative_volume_difference(seeds, dims, samples, count, stochastic)
    metrics = {}
    for name in ("monte_carlo", "closed_form"):
        values = raw[name]
        metrics[f"convergence/{name}/slope"] = loglog_slope(dims, values)
        metrics[f"convergence/{name}/rel_diff_at_D{dims[0]}"] = float(values[:, 0].mean())
        metrics[f"convergence/{name}/rel_diff_at_D{dims[-1]}"] = float(values[:, -1].mean())
        metrics[f"convergence/{name}/min_rel_diff"] = float(values.min())
        # max over (seed, D) of value - bound: <= 0 means every point lies under the bound
        metrics[f"convergence/{name}/max_excess_over_bound"] = float((values - raw["bound"]).max())
        metrics[f"convergence/{name}/max_D_times_rel_diff"] = float((values.mean(0) * np.asarray(dims)).max())
    return metrics, {"dims": np.asarray(dims), **raw}


def plot_convergence(raw: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = raw["dims"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, colour in (("monte_carlo", "black"), ("closed_form", "tab:blue")):
        values = raw[name]
        ax.plot(dims, values.T, color=colour, alpha=0.15, linewidth=0.8)
        ax.plot(dims, values.mean(0), color=colour, linewidth=2,
                label=f"{name.replace('_', ' ')}: mean over {values.shape[0]} seeds")
    ax.plot(dims, 1 / dims, color="red", label="1/D")
    ax.plot(dims, raw["bound"].mean(0), color="tab:green", linestyle="--", label="bound (mean over seeds)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("D (observation dimension)")
    ax.set_ylabel(r"$(V_R - V_F)/V_R$")
    ax.set_title("Relative indicatrix volume difference, q = 2")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
