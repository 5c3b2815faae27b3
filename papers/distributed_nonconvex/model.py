"""The small non-convex network and the per-worker problem: a gradient oracle on a flat parameter
vector, and the metrics of the network average x_bar (on the whole training set and the test set)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from common.errors import ConfigError
from papers.distributed_nonconvex.data import MODES


def mlp(inputs: int, hidden: int, classes: int) -> nn.Module:
    """inputs -> hidden (tanh) -> classes: one hidden layer, non-convex in its weights."""
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ConfigError(f"hidden must be an integer >= 1, got {hidden!r}")
    return nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, classes))


class Problem:
    """Worker-local cross-entropy on its shard (x_local, y_local); `grad(x)` draws a fresh mini-batch
    (streaming) or takes the whole shard (batch)."""

    def __init__(self, model: nn.Module, x_local: np.ndarray, y_local: np.ndarray, *, mode: str, batch_size: int,
                 generator: torch.Generator):
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if mode == "streaming" and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.model, self.mode, self.batch_size, self.generator = model, mode, batch_size, generator
        self.x = torch.as_tensor(x_local)
        self.y = torch.as_tensor(y_local)
        self.params = list(model.parameters())

    def vector(self) -> torch.Tensor:
        return parameters_to_vector(self.params).detach().clone()

    def _loss_grad(self, x: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"):
        vector_to_parameters(x, self.params)
        for p in self.params:
            p.grad = None
        loss = nn.functional.cross_entropy(self.model(inputs), labels, reduction=reduction)
        loss.backward()
        return loss.detach(), torch.cat([p.grad.reshape(-1) for p in self.params])

    def sample(self) -> torch.Tensor:
        return torch.randint(len(self.y), (self.batch_size,), generator=self.generator)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "batch":
            return self._loss_grad(x, self.x, self.y)[1]
        idx = self.sample()
        return self._loss_grad(x, self.x[idx], self.y[idx])[1]

    def local_sums(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of losses, gradient of the sum) over the whole shard at x."""
        return self._loss_grad(x, self.x, self.y, reduction="sum")

    @torch.no_grad()
    def correct(self, x: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor) -> int:
        vector_to_parameters(x, self.params)
        return int((self.model(inputs).argmax(dim=1) == labels).sum())
