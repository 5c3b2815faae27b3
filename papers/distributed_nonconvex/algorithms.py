"""The algorithms as optimiser-level pieces on each worker's flat parameter vector x_i.

`grad(x)` is the worker's (stochastic or full local) gradient oracle; `comm` moves vectors (comm.py).
One call of `step` is one communication round:

- `sgd` (centralised, all-reduce):  x <- x - lr * mean_i g_i(x)              (every worker holds the same x)
- `dpsgd` (D-PSGD / DGD):            x_i <- sum_j W_ij x_j - lr * g_i(x_i)     (Lian et al. 2017; DGD with full gradients)
- `gt` (gradient tracking, DIGing):  x_i <- sum_j W_ij x_j - lr * y_i,
                                     y_i <- sum_j W_ij y_j + g_i(x_i new) - g_i(x_i old), y_i(0) = g_i(x(0))
                                     (Nedic, Olshevsky, Shi 2017; Lu et al. GNSD 2019); with `tracking=False`
                                     y_i <- g_i(x_i new), which is D-PSGD: the mechanism switched off;
- `local` (local SGD / FedAvg, K local steps): K times x_i <- x_i - lr * g_i(x_i), then x_i <- mean_j x_j.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from common.errors import ConfigError

ALGORITHMS = ("sgd", "dpsgd", "gt", "local")


class Algorithm:
    def __init__(self, name: str, comm, grad: Callable[[torch.Tensor], torch.Tensor], lr: float, *,
                 local_steps: int = 1, tracking: bool = True):
        if name not in ALGORITHMS:
            raise ConfigError(f"algorithm must be one of {list(ALGORITHMS)}, got {name!r}")
        if not lr > 0:
            raise ConfigError(f"lr must be > 0, got {lr!r}")
        if isinstance(local_steps, bool) or not isinstance(local_steps, int) or local_steps < 1:
            raise ConfigError(f"local_steps must be an integer >= 1, got {local_steps!r}")
        self.name, self.comm, self.grad, self.lr = name, comm, grad, float(lr)
        self.local_steps, self.tracking = local_steps, bool(tracking)
        self.gradient_steps = 0
        self.y = self.g_prev = None

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One communication round from x (not modified); returns the new x."""
        name, lr = self.name, self.lr
        if name == "sgd":
            g = self.comm.allreduce_mean(self._grad(x))
            return x.add(g, alpha=-lr)
        if name == "dpsgd":
            g = self._grad(x)
            (mixed,) = self.comm.gossip([x])
            return mixed.add_(g, alpha=-lr)
        if name == "gt":
            if self.y is None:
                self.y = self._grad(x)
                self.g_prev = self.y
            mixed_x, mixed_y = self.comm.gossip([x, self.y])
            x_new = mixed_x.add_(self.y, alpha=-lr)
            g_new = self._grad(x_new)
            self.y = mixed_y.add_(g_new).sub_(self.g_prev) if self.tracking else g_new
            self.g_prev = g_new
            return x_new
        # local SGD
        x = x.clone()
        for _ in range(self.local_steps):
            x.add_(self._grad(x), alpha=-lr)
        return self.comm.allreduce_mean(x)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        self.gradient_steps += 1
        return self.grad(x)
