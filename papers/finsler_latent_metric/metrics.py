"""The two latent metrics of a stochastic decoder, with gradients (float64 throughout).

A stochastic decoder f: R^q -> R^D whose Jacobian J has independent Gaussian rows, each with mean
the row of E[J] and one covariance Sigma (q x q) shared over the D outputs, gives at a latent point

* the Finsler metric  F(v) = E||J v||: ||J v|| is non-central Nakagami (a scaled non-central chi),
  F(v) = sqrt(2 s) Gamma((D+1)/2) / Gamma(D/2) 1F1(-1/2, D/2, -m / (2 s)),
  with s = v^T Sigma v and m = ||E[J] v||^2 (Hauberg 2018, eq. 2.9; Pouplin et al. 2023);
* the expected pullback metric G = E[J^T J] = E[J]^T E[J] + D Sigma, |v|_G^2 = m + D s.

|v|_G^2 - F(v)^2 = Var||J v|| >= 0, and the relative gap shrinks as O(1/D).

The confluent hypergeometric function is summed in a numerically stable form: Kummer's transform
1F1(a, b, -z) = e^-z 1F1(b - a, b, z) turns the alternating series into a Poisson(z)-weighted sum
of positive terms (b - a)_n / (b)_n, summed in log space over a window around its mode. Where
D + m/s is large (or s = 0) the Nakagami mean is taken from the cumulant expansion of
E sqrt(Q), Q = ||J v||^2, which is exact to O((D + m/s)^-4) there and needs no division by s.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from common.errors import ConfigError

DTYPE = torch.float64
# Above this value of D + m/s the cumulant expansion is used (its error there is below 1e-10).
EXPANSION_THRESHOLD = 1000.0
# Below this z the plain power series of 1F1(a, b, -z) is summed (exact gradient at z = 0 too).
SMALL_Z = 0.5


# ---------------------------------------------------------------------------------------------
# Confluent hypergeometric function 1F1(a, b, x) for x <= 0
# ---------------------------------------------------------------------------------------------

def _poisson_window(z_max: float) -> int:
    """Half-width (in terms) of the window around the Poisson(z) mode that holds all the mass."""
    return int(math.ceil(10.0 * math.sqrt(z_max + 1.0) + 20.0))


def log_hyp1f1_negative(a: float, b: float, x: torch.Tensor) -> torch.Tensor:
    """log 1F1(a, b, x) for x <= 0, b > 0 and b - a > 0 (so that every Kummer term is positive).

    1F1(a, b, -z) = sum_n Poisson(n; z) (b - a)_n / (b)_n, summed over n in [mode - K, mode + K].
    Differentiable in x (autograd); the window itself carries no gradient.
    """
    if not b > 0 or not b - a > 0:
        raise ConfigError(f"log_hyp1f1_negative needs b > 0 and b - a > 0, got a={a}, b={b}")
    x = torch.as_tensor(x, dtype=DTYPE)
    if torch.isnan(x).any():
        raise ConfigError("1F1 argument contains NaN")
    if (x > 0).any():
        raise ConfigError(f"1F1 is summed here for x <= 0 only, got max x = {x.max().item():g}")
    z = -x
    flat = z.reshape(-1)
    if flat.numel() == 0:
        return x.clone()
    small = flat < SMALL_Z
    z_series = torch.where(small, flat, torch.zeros_like(flat))
    z_kummer = torch.where(small, torch.ones_like(flat), flat)
    # Power series for small z: sum_n (a)_n / (b)_n (-z)^n / n!, 30 terms (error < 0.5^30 / 30!).
    term, series = torch.ones_like(z_series), torch.ones_like(z_series)
    for k in range(30):
        term = term * (a + k) / (b + k) * (-z_series) / (k + 1)
        series = series + term
    # Kummer + Poisson window for the rest.
    z_max = float(z_kummer.detach().max())
    half = _poisson_window(z_max)
    start = torch.clamp(torch.floor(z_kummer.detach()) - half, min=0.0)
    n = start[:, None] + torch.arange(2 * half + 1, dtype=DTYPE)[None, :]
    log_terms = (
        -z_kummer[:, None] + n * torch.log(z_kummer)[:, None] - torch.lgamma(n + 1.0)
        + torch.lgamma(b - a + n) - math.lgamma(b - a) - torch.lgamma(b + n) + math.lgamma(b)
    )
    log_kummer = torch.logsumexp(log_terms, dim=1)
    return torch.where(small, torch.log(series), log_kummer).reshape(z.shape)


def hyp1f1(a: float, b: float, x: torch.Tensor) -> torch.Tensor:
    """1F1(a, b, x) for x <= 0 (b > 0, b - a > 0), stable for large |x|, with autograd gradients."""
    return torch.exp(log_hyp1f1_negative(a, b, x))


def hyp1f1_derivative(a: float, b: float, x: torch.Tensor) -> torch.Tensor:
    """d/dx 1F1(a, b, x) = (a / b) 1F1(a + 1, b + 1, x)."""
    return (a / b) * hyp1f1(a + 1.0, b + 1.0, x)


# ---------------------------------------------------------------------------------------------
# Non-central Nakagami mean E||J v||
# ---------------------------------------------------------------------------------------------

def _check_dimension(D: float) -> float:
    if not isinstance(D, int | float) or isinstance(D, bool) or not math.isfinite(D) or D < 1:
        raise ConfigError(f"the output dimension D must be a number >= 1, got {D!r}")
    return float(D)


def _expansion_mean(var: torch.Tensor, mean_sq: torch.Tensor, D: float) -> torch.Tensor:
    """E sqrt(Q) from the central moments of Q = s * noncentral-chi2(D, m / s), to order 6."""
    kappa = [None]
    for order in range(1, 7):  # kappa_n = 2^(n-1) (n-1)! s^(n-1) (D s + n m)
        kappa.append(2.0 ** (order - 1) * math.factorial(order - 1) * var ** (order - 1) * (D * var + order * mean_sq))
    mu = kappa[1]
    m2 = kappa[2]
    m3 = kappa[3]
    m4 = kappa[4] + 3 * kappa[2] ** 2
    m5 = kappa[5] + 10 * kappa[3] * kappa[2]
    m6 = kappa[6] + 15 * kappa[4] * kappa[2] + 10 * kappa[3] ** 2 + 15 * kappa[2] ** 3
    safe_mu = torch.clamp(mu, min=1e-300)
    series = (
        1.0 - m2 / (8 * safe_mu**2) + m3 / (16 * safe_mu**3) - 5 * m4 / (128 * safe_mu**4)
        + 7 * m5 / (256 * safe_mu**5) - 21 * m6 / (1024 * safe_mu**6)
    )
    return torch.sqrt(safe_mu) * series * (mu > 0)


def _hypergeometric_mean(var: torch.Tensor, mean_sq: torch.Tensor, D: float) -> torch.Tensor:
    """sqrt(2 s) Gamma((D+1)/2) / Gamma(D/2) 1F1(-1/2, D/2, -m / (2 s)) for s > 0."""
    gamma_ratio = math.exp(math.lgamma((D + 1) / 2) - math.lgamma(D / 2))
    return torch.sqrt(2 * var) * gamma_ratio * hyp1f1(-0.5, D / 2, -mean_sq / (2 * var))


def nakagami_mean(var: torch.Tensor, mean_sq: torch.Tensor, D: float) -> torch.Tensor:
    """E||x|| for x ~ N(mu, s I_D) with s = `var` >= 0 and ||mu||^2 = `mean_sq` >= 0 (elementwise)."""
    D = _check_dimension(D)
    var = torch.as_tensor(var, dtype=DTYPE)
    mean_sq = torch.as_tensor(mean_sq, dtype=DTYPE)
    var, mean_sq = torch.broadcast_tensors(var, mean_sq)
    if torch.isnan(var).any() or torch.isnan(mean_sq).any():
        raise ConfigError("nakagami_mean got NaN (a NaN latent point, velocity or Jacobian)")
    if (var < -1e-12 * (1 + mean_sq.abs())).any() or (mean_sq < -1e-12).any():
        raise ConfigError("nakagami_mean needs var >= 0 and mean_sq >= 0 (is the covariance PSD?)")
    var = torch.clamp(var, min=0.0)
    mean_sq = torch.clamp(mean_sq, min=0.0)
    # D + m/s >= threshold  <=>  m >= (threshold - D) s; also covers s = 0.
    shape = var.shape
    var, mean_sq = var.reshape(-1), mean_sq.reshape(-1)
    large = mean_sq >= (EXPANSION_THRESHOLD - D) * var
    # Each branch sees only its own elements, so no NaN gradient of the other leaks through.
    out = torch.zeros_like(var)
    if large.any():
        out = out.index_put((large,), _expansion_mean(var[large], mean_sq[large], D))
    if (~large).any():
        out = out.index_put((~large,), _hypergeometric_mean(var[~large], mean_sq[~large], D))
    return out.reshape(shape)


def nakagami_variance(var: torch.Tensor, mean_sq: torch.Tensor, D: float) -> torch.Tensor:
    """Var||x|| = E||x||^2 - (E||x||)^2 = (m + D s) - F^2."""
    return mean_sq + D * var - nakagami_mean(var, mean_sq, D) ** 2


# ---------------------------------------------------------------------------------------------
# Metrics from the Jacobian's moments
# ---------------------------------------------------------------------------------------------

def check_covariance(cov: torch.Tensor, atol: float = 1e-9) -> None:
    """Raise ConfigError unless every q x q covariance is finite, symmetric and positive semi-definite."""
    if cov.shape[-1] != cov.shape[-2]:
        raise ConfigError(f"the Jacobian covariance must be q x q, got shape {tuple(cov.shape)}")
    if not torch.isfinite(cov).all():
        raise ConfigError("the Jacobian covariance contains NaN or inf")
    scale = cov.detach().abs().amax(dim=(-1, -2), keepdim=True).clamp(min=1.0)
    if ((cov - cov.transpose(-1, -2)).abs() > atol * scale).any():
        raise ConfigError("the Jacobian covariance Sigma must be symmetric")
    eigenvalues = torch.linalg.eigvalsh(cov.detach())
    if (eigenvalues < -atol * scale[..., 0]).any():
        raise ConfigError(
            f"the Jacobian covariance Sigma must be positive semi-definite; smallest eigenvalue "
            f"{eigenvalues.min().item():.3g}"
        )


def _quadratic_terms(mean_jac: torch.Tensor, cov: torch.Tensor, v: torch.Tensor):
    """(s, m) = (v^T Sigma v, ||E[J] v||^2) for batches mean_jac (..., D, q), cov (..., q, q), v (..., q)."""
    if torch.isnan(v).any():
        raise ConfigError("the latent velocity / curve contains NaN")
    jv = torch.einsum("...dq,...q->...d", mean_jac, v)
    mean_sq = (jv**2).sum(-1)
    var = torch.einsum("...q,...qr,...r->...", v, cov, v)
    return var, mean_sq


def finsler_norm(mean_jac: torch.Tensor, cov: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """F(v) = E||J v|| at latent points whose Jacobian has mean `mean_jac` and row covariance `cov`."""
    var, mean_sq = _quadratic_terms(mean_jac, cov, v)
    return nakagami_mean(var, mean_sq, mean_jac.shape[-2])


def riemann_norm(mean_jac: torch.Tensor, cov: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """|v|_G with G = E[J]^T E[J] + D Sigma."""
    var, mean_sq = _quadratic_terms(mean_jac, cov, v)
    return torch.sqrt(torch.clamp(mean_sq + mean_jac.shape[-2] * var, min=0.0))


def expected_metric(mean_jac: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """G = E[J^T J] = E[J]^T E[J] + D Sigma, shape (..., q, q)."""
    check_covariance(cov)
    return mean_jac.transpose(-1, -2) @ mean_jac + mean_jac.shape[-2] * cov


def norm_gap(mean_jac: torch.Tensor, cov: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """|v|_G^2 - F(v)^2, which equals Var||J v|| >= 0."""
    return riemann_norm(mean_jac, cov, v) ** 2 - finsler_norm(mean_jac, cov, v) ** 2


NORMS: dict[str, Callable] = {"finsler": finsler_norm, "riemann": riemann_norm}


# ---------------------------------------------------------------------------------------------
# Manifolds: anything with `.D` and `.jacobian_moments(z) -> (E[J] (n, D, q), Sigma (n, q, q))`
# ---------------------------------------------------------------------------------------------

class LinearGaussianManifold:
    """f(z) = A z with Gaussian Jacobian rows of covariance Sigma everywhere: a constant metric."""

    def __init__(self, A: torch.Tensor, cov: torch.Tensor):
        self.A = torch.as_tensor(A, dtype=DTYPE)
        self.cov = torch.as_tensor(cov, dtype=DTYPE)
        check_covariance(self.cov)
        self.D = self.A.shape[0]

    def jacobian_moments(self, z: torch.Tensor):
        n = z.shape[0]
        return self.A.expand(n, *self.A.shape), self.cov.expand(n, *self.cov.shape)


class DeterministicManifold:
    """A deterministic map f: Sigma = 0, so both metrics are the pullback of the Euclidean metric."""

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor], D: int, q: int):
        self.f, self.D, self.q = f, D, q

    def jacobian_moments(self, z: torch.Tensor):
        jac = torch.func.vmap(torch.func.jacfwd(self.f))(z)
        return jac, torch.zeros(z.shape[0], self.q, self.q, dtype=z.dtype)


def sphere_embedding(z: torch.Tensor) -> torch.Tensor:
    """(polar angle, azimuth) -> the unit sphere in R^3."""
    theta, phi = z[..., 0], z[..., 1]
    return torch.stack([torch.sin(theta) * torch.cos(phi), torch.sin(theta) * torch.sin(phi), torch.cos(theta)], -1)


def great_circle_distance(z0: torch.Tensor, z1: torch.Tensor) -> float:
    x0, x1 = sphere_embedding(torch.as_tensor(z0, dtype=DTYPE)), sphere_embedding(torch.as_tensor(z1, dtype=DTYPE))
    return float(torch.arccos(torch.clamp((x0 * x1).sum(), -1.0, 1.0)))


# ---------------------------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------------------------

def check_curve(curve: torch.Tensor) -> None:
    if curve.ndim != 2 or curve.shape[0] < 2:
        raise ConfigError(f"a discretised curve must have shape (points >= 2, q), got {tuple(curve.shape)}")
    if not torch.isfinite(curve).all():
        raise ConfigError("the latent curve contains NaN or inf")


def segment_norms(manifold, curve: torch.Tensor, metric: str) -> torch.Tensor:
    """Norm of each segment z_{i+1} - z_i, with the metric taken at the segment's midpoint."""
    if metric not in NORMS:
        raise ConfigError(f"metric must be one of {sorted(NORMS)}, got {metric!r}")
    check_curve(curve)
    midpoints = 0.5 * (curve[1:] + curve[:-1])
    steps = curve[1:] - curve[:-1]
    mean_jac, cov = manifold.jacobian_moments(midpoints)
    return NORMS[metric](mean_jac, cov, steps)


def curve_length(manifold, curve: torch.Tensor, metric: str) -> torch.Tensor:
    return segment_norms(manifold, curve, metric).sum()


def curve_energy(manifold, curve: torch.Tensor, metric: str) -> torch.Tensor:
    """Energy of the curve parametrised on [0, 1] with uniform steps: N * sum_i F(step_i)^2."""
    norms = segment_norms(manifold, curve, metric)
    return norms.shape[0] * (norms**2).sum()


def straight_line(z0: torch.Tensor, z1: torch.Tensor, points: int) -> torch.Tensor:
    t = torch.linspace(0, 1, points, dtype=DTYPE)[:, None]
    return (1 - t) * torch.as_tensor(z0, dtype=DTYPE) + t * torch.as_tensor(z1, dtype=DTYPE)


def resample_polyline(path: torch.Tensor, points: int) -> torch.Tensor:
    """`points` points equally spaced in Euclidean arc length along a polyline."""
    step_lengths = torch.linalg.norm(path[1:] - path[:-1], dim=-1)
    arc = torch.cat([torch.zeros(1, dtype=path.dtype), torch.cumsum(step_lengths, 0)])
    if arc[-1] <= 0:
        return path[:1].expand(points, -1).clone()
    targets = torch.linspace(0, float(arc[-1]), points, dtype=path.dtype)
    index = torch.clamp(torch.searchsorted(arc, targets, right=True) - 1, 0, len(path) - 2)
    fraction = ((targets - arc[index]) / torch.clamp(step_lengths[index], min=1e-300))[:, None]
    return path[index] + fraction.clamp(0, 1) * (path[index + 1] - path[index])


def graph_geodesic(manifold, z0, z1, metric: str, bounds, resolution: int = 24) -> torch.Tensor:
    """Shortest path on a grid graph of the latent box (8 neighbours, edge weight = metric length).

    The authors initialise their geodesics on a discretised latent grid; this is that graph search.
    Returns the polyline from z0 through the grid to z1.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    (low_x, high_x), (low_y, high_y) = bounds
    xs = torch.linspace(low_x, high_x, resolution, dtype=DTYPE)
    ys = torch.linspace(low_y, high_y, resolution, dtype=DTYPE)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
    index = torch.arange(resolution * resolution).reshape(resolution, resolution)
    sources, targets = [], []
    for dx, dy in ((1, 0), (0, 1), (1, 1), (1, -1)):
        a = index[max(0, -dx):resolution - max(0, dx), max(0, -dy):resolution - max(0, dy)]
        b = index[max(0, dx):resolution - max(0, -dx) or None, max(0, dy):resolution - max(0, -dy) or None]
        sources.append(a.reshape(-1))
        targets.append(b.reshape(-1))
    sources, targets = torch.cat(sources), torch.cat(targets)
    with torch.no_grad():
        midpoints = 0.5 * (grid[sources] + grid[targets])
        mean_jac, cov = manifold.jacobian_moments(midpoints)
        weights = NORMS[metric](mean_jac, cov, grid[targets] - grid[sources])
    count = resolution * resolution
    graph = coo_matrix((weights.numpy(), (sources.numpy(), targets.numpy())), shape=(count, count)).tocsr()
    z0, z1 = torch.as_tensor(z0, dtype=DTYPE), torch.as_tensor(z1, dtype=DTYPE)
    start = int(torch.argmin(torch.linalg.norm(grid - z0, dim=1)))
    end = int(torch.argmin(torch.linalg.norm(grid - z1, dim=1)))
    _, predecessors = dijkstra(graph, directed=False, indices=start, return_predecessors=True)
    nodes = [end]
    while nodes[-1] != start and predecessors[nodes[-1]] >= 0:
        nodes.append(int(predecessors[nodes[-1]]))
    nodes.reverse()
    return torch.cat([z0[None], grid[nodes[1:-1]] if len(nodes) > 2 else grid[:0], z1[None]])


def optimise_geodesic(
    manifold, z0, z1, metric: str, points: int = 20, initial: torch.Tensor | None = None,
    iterations: int = 200, tolerance: float = 1e-10,
) -> torch.Tensor:
    """Minimise the discretised curve energy over the interior points (L-BFGS), endpoints fixed.

    Energy minimisers are constant-speed length minimisers, for Finsler and Riemann metrics alike.
    """
    if points < 3:
        raise ConfigError(f"a geodesic needs at least 3 points, got {points}")
    z0, z1 = torch.as_tensor(z0, dtype=DTYPE), torch.as_tensor(z1, dtype=DTYPE)
    check_curve(torch.stack([z0, z1]))
    if initial is None:
        initial = straight_line(z0, z1, points)
    elif initial.shape[0] != points:
        initial = resample_polyline(torch.as_tensor(initial, dtype=DTYPE), points)
    check_curve(initial)
    interior = initial[1:-1].clone().detach().requires_grad_(True)
    optimiser = torch.optim.LBFGS([interior], lr=1.0, max_iter=iterations, tolerance_grad=tolerance,
                                  tolerance_change=1e-14, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        energy = curve_energy(manifold, torch.cat([z0[None], interior, z1[None]]), metric)
        energy.backward()
        return energy

    optimiser.step(closure)
    return torch.cat([z0[None], interior.detach(), z1[None]])
