"""Curvature of a network's loss through Hessian-vector products (torch.func), at any size.

`FlatLoss` turns (model, loss, inputs, targets) into a function of one flat parameter vector θ, so
that the full Hessian (small nets), Hessian-vector products (HVP, any net), Gauss-Newton-vector
products (GGN: Jᵀ H_out J) and their difference, the "H-part" H − G, are all torch.func calls.

`estimate_curvature` gives the scalar curvature R of the loss graph (see curvature.py) from
Hutchinson probes: with Rademacher z_i, q_i = z_iᵀHz_i is unbiased for tr H and s_i = |Hz_i|² for
tr H²; (tr H)² is estimated without bias by the U-statistic Σ_{i≠j} q_i q_j / (m(m−1)); gᵀHg and
|Hg|² are exact from one HVP with g. R̂ is therefore unbiased, and its standard error is the
jackknife over probes (leave one probe out).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from papers.curvature_generalization.curvature import (
    _check_scalar,
    scalar_curvature,
)

HESSIAN_PARTS = ("full", "gauss_newton", "functional")


class FlatLoss:
    """L(θ) = loss(model_θ(inputs), targets) as a function of the flat trainable parameters θ."""

    def __init__(self, model: nn.Module, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 inputs: torch.Tensor, targets: torch.Tensor):
        self.names, self.shapes, self.numels, flat = [], [], [], []
        for name, p in model.named_parameters():
            if p.requires_grad:
                self.names.append(name)
                self.shapes.append(p.shape)
                self.numels.append(p.numel())
                flat.append(p.detach().reshape(-1))
        if not self.names:
            raise ValueError(f"{type(model).__name__} has no trainable parameters: nothing to measure the curvature of")
        self.model, self.loss_fn, self.inputs, self.targets = model, loss, inputs, targets
        self.buffers = {name: b for name, b in model.named_buffers()}
        self.frozen = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
        self.theta = torch.cat(flat)
        _check_scalar(self(self.theta), "the loss")

    @property
    def n_params(self) -> int:
        return self.theta.numel()

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        chunks = torch.split(theta, self.numels)
        return {name: c.reshape(shape) for name, c, shape in zip(self.names, chunks, self.shapes, strict=True)}

    def outputs(self, theta: torch.Tensor) -> torch.Tensor:
        params = {**self.unflatten(theta), **self.frozen, **self.buffers}
        return functional_call(self.model, params, (self.inputs,))

    def output_loss(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(outputs, self.targets)

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        return self.output_loss(self.outputs(theta))

    # -------------------------------------------------------------------- derivatives at θ
    def gradient(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        return grad(self)(self.theta if theta is None else theta)

    def hvp(self, v: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        """H v by forward-over-reverse differentiation."""
        return jvp(grad(self), (self.theta if theta is None else theta,), (v,))[1]

    def ggn_vp(self, v: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        """G v = Jᵀ H_out J v, J the Jacobian of the outputs, H_out the loss' Hessian in the outputs."""
        theta = self.theta if theta is None else theta
        out, jv = jvp(self.outputs, (theta,), (v,))
        h_out_jv = jvp(grad(self.output_loss), (out.detach(),), (jv,))[1]
        _, pullback = vjp(self.outputs, theta)
        return pullback(h_out_jv)[0]

    def part_vp(self, v: torch.Tensor, part: str = "full") -> torch.Tensor:
        """Product with the full Hessian, its Gauss-Newton part G, or the functional part H − G."""
        if part == "full":
            return self.hvp(v)
        if part == "gauss_newton":
            return self.ggn_vp(v)
        if part == "functional":
            return self.hvp(v) - self.ggn_vp(v)
        raise ValueError(f"hessian part must be one of {HESSIAN_PARTS}, got {part!r}")

    def matrix(self, part: str = "full", chunk: int = 32) -> torch.Tensor:
        """The dense (n, n) matrix of a Hessian part (small nets only: n products, `chunk` at a time,
        so that a net with large activations, a CNN on hundreds of images, fits in memory)."""
        eye = torch.eye(self.n_params, dtype=self.theta.dtype, device=self.theta.device)
        return vmap(lambda v: self.part_vp(v, part), chunk_size=chunk)(eye)


def exact_curvature(flat: FlatLoss, part: str = "full") -> dict[str, float]:
    """R, tr H, tr H², gᵀHg, |Hg|², |g|², λ_max, λ_min from the dense Hessian (small nets)."""
    g = flat.gradient()
    H = flat.matrix(part)
    H = 0.5 * (H + H.T)
    Hg = H @ g
    eig = torch.linalg.eigvalsh(H)
    return {
        "R": float(scalar_curvature(g, H)),
        "trace": float(torch.trace(H)),
        "trace_sq": float((H * H).sum()),
        "gHg": float(g @ Hg),
        "Hg_sq": float(Hg @ Hg),
        "grad_sq": float(g @ g),
        "lambda_max": float(eig[-1]),
        "lambda_min": float(eig[0]),
    }


@dataclass
class CurvatureEstimate:
    R: float
    R_se: float
    trace: float
    trace_se: float
    trace_sq: float
    trace_sq_se: float
    gHg: float
    Hg_sq: float
    grad_sq: float
    probes: int
    n_params: int

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def rademacher(n_probes: int, n: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    return (torch.randint(0, 2, (n_probes, n), generator=generator) * 2 - 1).to(dtype)


def estimate_curvature(flat: FlatLoss, probes: int = 64, seed: int = 0, part: str = "full",
                       chunk: int = 16) -> CurvatureEstimate:
    """Unbiased Hutchinson estimate of R with its jackknife standard error (`probes` HVPs + 1)."""
    if not isinstance(probes, int) or probes < 2:
        raise ValueError(f"probes must be an integer >= 2 (the unbiased (tr H)² needs two), got {probes!r}")
    generator = torch.Generator().manual_seed(int(seed))
    g = flat.gradient()
    Hg = flat.part_vp(g, part)
    a, b, grad_sq = float(g @ Hg), float(Hg @ Hg), float(g @ g)
    z = rademacher(probes, flat.n_params, generator, flat.theta.dtype).to(flat.theta.device)
    q, s = [], []
    for start in range(0, probes, chunk):
        block = z[start:start + chunk]
        hz = vmap(lambda v: flat.part_vp(v, part))(block)
        q.append((block * hz).sum(1))
        s.append((hz * hz).sum(1))
    q = torch.cat(q).double()
    s = torch.cat(s).double()
    w = 1.0 + grad_sq

    def r_of(sum_q, sum_q2, sum_s, m):
        trace_sq_of_trace = (sum_q * sum_q - sum_q2) / (m * (m - 1))
        return (trace_sq_of_trace - sum_s / m) / w - 2.0 * ((sum_q / m) * a - b) / (w * w)

    m = probes
    R = r_of(q.sum(), (q * q).sum(), s.sum(), m)
    loo = r_of(q.sum() - q, (q * q).sum() - q * q, s.sum() - s, m - 1)
    R_se = math.sqrt((m - 1) / m * float(((loo - loo.mean()) ** 2).sum()))
    return CurvatureEstimate(
        R=float(R), R_se=R_se,
        trace=float(q.mean()), trace_se=float(q.std() / math.sqrt(m)),
        trace_sq=float(s.mean()), trace_sq_se=float(s.std() / math.sqrt(m)),
        gHg=a, Hg_sq=b, grad_sq=grad_sq, probes=m, n_params=flat.n_params,
    )


def top_eigenvalue(flat: FlatLoss, iterations: int = 30, seed: int = 0, part: str = "full") -> float:
    """Largest (algebraic) Hessian eigenvalue by Lanczos with full reorthogonalisation."""
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    n = flat.n_params
    k = min(iterations, n)
    generator = torch.Generator().manual_seed(int(seed))
    v = torch.randn(n, generator=generator, dtype=torch.float64)
    basis = [v / v.norm()]
    alphas, betas = [], []
    for j in range(k):
        w = flat.part_vp(basis[j].to(flat.theta.dtype), part).double()
        alpha = float(w @ basis[j])
        alphas.append(alpha)
        w = w - alpha * basis[j] - (betas[-1] * basis[j - 1] if j > 0 else 0.0)
        Q = torch.stack(basis)
        w = w - Q.T @ (Q @ w)
        beta = float(w.norm())
        if j == k - 1 or beta < 1e-10:
            break
        betas.append(beta)
        basis.append(w / beta)
    T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas[: len(alphas) - 1], dtype=torch.float64)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    return float(torch.linalg.eigvalsh(T)[-1])


def sharpness(flat: FlatLoss, epsilon: float = 1e-3, steps: int = 10) -> float:
    """Keskar et al.'s ε-sharpness: 100 · max_{|δ_i| ≤ ε(|θ_i|+1)} [L(θ+δ) − L(θ)] / (1 + L(θ)),
    the maximum approximated by `steps` of projected sign-gradient ascent inside the box."""
    if epsilon <= 0 or steps < 1:
        raise ValueError(f"sharpness needs epsilon > 0 and steps >= 1, got {epsilon}, {steps}")
    theta = flat.theta
    box = epsilon * (theta.abs() + 1.0)
    base = float(flat(theta))
    delta = torch.zeros_like(theta)
    best = base
    step = 2.0 * box / steps
    for _ in range(steps):
        g = flat.gradient(theta + delta)
        delta = torch.clamp(delta + step * torch.sign(g), -box, box)
        best = max(best, float(flat(theta + delta)))
    return 100.0 * (best - base) / (1.0 + base)


def gradient_alignment(flat: FlatLoss) -> dict[str, float]:
    """The width paper's quantities at θ: curvature along the gradient for the full Hessian, its
    Gauss-Newton part G and its functional part H − G (each gᵀXg/|g|²), and the cosine between g
    and (H − G)g."""
    g = flat.gradient()
    hg = flat.hvp(g)
    gg = flat.ggn_vp(g)
    fg = hg - gg
    norm_sq = float(g @ g)
    fg_norm = float(fg.norm())
    return {
        "grad_sq": norm_sq,
        "full": float(g @ hg) / norm_sq,
        "gauss_newton": float(g @ gg) / norm_sq,
        "functional": float(g @ fg) / norm_sq,
        "cos_functional": float(g @ fg) / (math.sqrt(norm_sq) * fg_norm) if fg_norm > 0 else 0.0,
    }
