"""One network family for the ensemble, the distilled network (KD) and Hydra.

`MultiHeadMLP(in_features, out_features, hidden, shared_layers, num_heads)`:
- a shared body: the first `shared_layers` hidden layers, ordinary `nn.Linear`s;
- `num_heads` heads, each the remaining hidden layers and the output layer, stored as grouped
  ("batched") linear layers whose weights have a leading head axis, so all heads run in one
  `torch.baddbmm` per layer.

With shared_layers = 0 and num_heads = M it is an ensemble of M independent MLPs trained at once
(vectorised; every member has its own initialisation). With num_heads = 1 it is one plain MLP (the
KD student). With 0 < shared_layers < len(hidden) and num_heads = M it is Hydra: shared body, M light
heads. The forward pass returns a (heads, batch, out_features) tensor in every case.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from common.errors import ConfigError


class GroupedLinear(nn.Module):
    """`groups` independent linear layers applied at once: (G, B, in) -> (G, B, out)."""

    def __init__(self, groups: int, in_features: int, out_features: int):
        super().__init__()
        self.groups, self.in_features, self.out_features = groups, in_features, out_features
        self.weight = nn.Parameter(torch.empty(groups, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(groups, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's default initialisation, drawn independently for each group.
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.expand(self.groups, *x.shape)
        return torch.baddbmm(self.bias, x, self.weight)


class MultiHeadMLP(nn.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (50, 50, 50),
        shared_layers: int = 0,
        num_heads: int = 1,
        activation: str = "relu",
    ):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if num_heads < 1:
            raise ConfigError(f"model.net.num_heads must be >= 1, got {num_heads}")
        if not 0 <= shared_layers <= len(hidden):
            raise ConfigError(f"model.net.shared_layers must be in [0, {len(hidden)}], got {shared_layers}")
        if any(h < 1 for h in hidden) or in_features < 1 or out_features < 1:
            raise ConfigError(f"model.net sizes must be >= 1, got in={in_features}, hidden={hidden}, out={out_features}")
        activations = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
        if activation not in activations:
            raise ConfigError(f"model.net.activation must be one of {sorted(activations)}, got {activation!r}")
        self.num_heads = num_heads
        self.shared_layers = shared_layers
        self.out_features = out_features
        sizes = [in_features, *hidden]
        body: list[nn.Module] = []
        for i in range(shared_layers):
            body += [nn.Linear(sizes[i], sizes[i + 1]), activations[activation]()]
        self.body = nn.Sequential(*body)
        head: list[nn.Module] = []
        head_sizes = [*sizes[shared_layers:], out_features]
        for i in range(len(head_sizes) - 1):
            head.append(GroupedLinear(num_heads, head_sizes[i], head_sizes[i + 1]))
            if i < len(head_sizes) - 2:
                head.append(activations[activation]())
        self.heads = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in) -> (heads, batch, out)."""
        x = x.flatten(1)
        return self.heads(self.body(x))

    @torch.no_grad()
    def copy_head(self, source: int = 0) -> None:
        """Set every head's weights to those of head `source` (Hydra's phase 1 -> phase 2)."""
        for layer in self.heads:
            if isinstance(layer, GroupedLinear):
                layer.weight.copy_(layer.weight[source : source + 1].expand_as(layer.weight))
                layer.bias.copy_(layer.bias[source : source + 1].expand_as(layer.bias))

    def head_parameter_count(self) -> int:
        return sum(p.numel() for p in self.heads.parameters()) // self.num_heads

    def body_parameter_count(self) -> int:
        return sum(p.numel() for p in self.body.parameters())
