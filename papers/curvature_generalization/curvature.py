"""Scalar curvature of the graph of a loss, {(θ, L(θ))} ⊂ R^{n+1}, from its gradient and Hessian.

Derivation (ours; the paper states the result). Parametrise the graph by θ ↦ (θ, L(θ)). The
induced metric is G = I + g gᵀ with g = ∇L, and with the upward unit normal
ν = (−g, 1)/√w, w = 1 + |g|², the second fundamental form is h = H/√w (H = ∇²L). Gauss' equation
for a hypersurface of flat space gives the Riemann tensor R_ijkl = h_ik h_jl − h_il h_jk, hence
the scalar curvature R = (tr S)² − tr(S²) with the shape operator S = G⁻¹h. With
G⁻¹ = I − g gᵀ/w, a = gᵀHg and b = |Hg|²:

    tr S    = (tr H − a/w)/√w
    tr S²   = (tr H² − 2b/w + a²/w²)/w
    R       = [(tr H)² − tr H²]/w − 2[tr H · a − b]/w².

At a critical point (g = 0) this is (tr H)² − tr H² = 2 Σ_{i<j} λ_i λ_j. When H is positive
semidefinite R ≥ 0 everywhere (write the last bracket in H's eigenbasis: Σ_j u_j² λ_j Σ_{i≠j} λ_i
≤ |g|² Σ_{i<j} λ_i λ_j), so a negative scalar curvature needs a Hessian with negative eigenvalues.

The brute-force check below does not use Gauss' equation: it builds the metric I + ∇f∇fᵀ as a
function of the point, differentiates it twice with torch.func (Christoffel symbols, then the
Riemann tensor R^ρ_σμν = ∂_μΓ^ρ_νσ − ∂_νΓ^ρ_μσ + Γ^ρ_μλΓ^λ_νσ − Γ^ρ_νλΓ^λ_μσ), and contracts.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import grad, hessian, jacfwd


def _check_scalar(value: torch.Tensor, what: str = "the loss") -> None:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{what} must be a scalar (one number), got shape {shape}")


def scalar_curvature_from_terms(trace: torch.Tensor | float, trace_sq: torch.Tensor | float,
                                gHg: torch.Tensor | float, Hg_sq: torch.Tensor | float,
                                grad_sq: torch.Tensor | float):
    """R from tr H, tr H², gᵀHg, |Hg|² and |g|² (what the estimator measures)."""
    w = 1.0 + grad_sq
    return (trace * trace - trace_sq) / w - 2.0 * (trace * gHg - Hg_sq) / (w * w)


def scalar_curvature(g: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Exact scalar curvature of the graph at a point with gradient g (n,) and Hessian H (n, n)."""
    if g.ndim != 1 or H.shape != (g.numel(), g.numel()):
        raise ValueError(f"need g of shape (n,) and H of shape (n, n); got {tuple(g.shape)} and {tuple(H.shape)}")
    Hg = H @ g
    return scalar_curvature_from_terms(torch.trace(H), (H * H).sum(), g @ Hg, Hg @ Hg, g @ g)


def scalar_curvature_of(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Exact R of the graph of f: R^n -> R at x, with the full Hessian from torch.func."""
    if x.ndim != 1 or x.numel() == 0:
        raise ValueError(f"the point must be a non-empty vector, got shape {tuple(x.shape)}")
    _check_scalar(f(x), "f(x)")
    return scalar_curvature(grad(f)(x), hessian(f)(x))


def critical_point_curvature(eigenvalues: torch.Tensor) -> torch.Tensor:
    """2 Σ_{i<j} λ_i λ_j: the scalar curvature at a critical point with these Hessian eigenvalues."""
    total = eigenvalues.sum()
    return total * total - (eigenvalues * eigenvalues).sum()


def gauss_riemann(g: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """All-lower Riemann tensor R_ijkl = h_ik h_jl − h_il h_jk with h = H/√(1+|g|²) (Gauss' equation)."""
    h = H / torch.sqrt(1.0 + g @ g)
    return torch.einsum("ik,jl->ijkl", h, h) - torch.einsum("il,jk->ijkl", h, h)


def induced_metric(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """x ↦ I + ∇f(x)∇f(x)ᵀ, the metric the graph of f inherits from R^{n+1}."""
    df = grad(f)

    def metric(x: torch.Tensor) -> torch.Tensor:
        d = df(x)
        return torch.eye(x.numel(), dtype=x.dtype, device=x.device) + torch.outer(d, d)

    return metric


def brute_force_riemann(metric: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
    """(metric G, Riemann R_ρσμν all lower, Ricci, scalar) at x from the metric alone, by autodiff."""

    def christoffel(y: torch.Tensor) -> torch.Tensor:
        G = metric(y)
        dG = jacfwd(metric)(y)  # dG[i, j, k] = ∂_k G_ij
        # Γ^k_ij = ½ G^{kl} (∂_i G_jl + ∂_j G_il − ∂_l G_ij)
        lower = 0.5 * (dG.permute(2, 0, 1) + dG.permute(0, 2, 1) - dG)  # [i, j, l]: Γ_lij with l last
        return torch.einsum("kl,ijl->kij", torch.linalg.inv(G), lower)

    gamma = christoffel(x)
    d_gamma = jacfwd(christoffel)(x)  # [k, i, j, m] = ∂_m Γ^k_ij
    # R^ρ_σμν = ∂_μ Γ^ρ_νσ − ∂_ν Γ^ρ_μσ + Γ^ρ_μλ Γ^λ_νσ − Γ^ρ_νλ Γ^λ_μσ ; index order [ρ, σ, μ, ν]
    riemann_up = (
        torch.einsum("rnsm->rsmn", d_gamma)
        - torch.einsum("rmsn->rsmn", d_gamma)
        + torch.einsum("rml,lns->rsmn", gamma, gamma)
        - torch.einsum("rnl,lms->rsmn", gamma, gamma)
    )
    G = metric(x)
    riemann = torch.einsum("ar,rsmn->asmn", G, riemann_up)
    ricci = torch.einsum("rsrn->sn", riemann_up)
    scalar = torch.einsum("sn,sn->", torch.linalg.inv(G), ricci)
    return G, riemann, ricci, scalar


def brute_force_scalar_curvature(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """R of the graph of f at x from the induced metric's Riemann tensor (no Gauss equation)."""
    return brute_force_riemann(induced_metric(f), x)[3]
