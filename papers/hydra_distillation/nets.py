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

from common.errors import ConfigError, DataError


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


# --- CIFAR-10: small ResNets -------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(*[BasicBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1)
                           for i in range(blocks)])


def _resnet_layers(in_channels: int, planes: Sequence[int], blocks: int, out_features: int) -> list[nn.Module]:
    """One member's layers in order: the stem (3 modules), every basic block of every stage, then
    global pooling, flattening and the output layer (3 modules)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, planes[0], 3, padding=1, bias=False), nn.BatchNorm2d(planes[0]),
                               nn.ReLU()]
    for i, width in enumerate(planes):
        for j in range(blocks):
            layers.append(BasicBlock(planes[max(i - 1, 0)] if j == 0 else width, width, 2 if (i > 0 and j == 0) else 1))
    return [*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(planes[-1], out_features)]


class MultiHeadResNet(nn.Module):
    """CIFAR ResNets (stem 3x3 conv, stages of `planes` with `blocks` basic blocks each, the first
    stage at stride 1, the others at stride 2) with a shared body and `num_heads` heads.

    Where the body ends:
    - `head_blocks` = k (an int >= 0): each head is the last k basic blocks, global average pooling
      and the output layer; k = 0 makes each head the output layer alone (Tran et al.'s light heads:
      Hydra-M then has M - 1 extra output layers over one network);
    - `head_blocks` = null: the body is the stem and the first `shared_layers` stages, each head the
      remaining stages (Ferianc & Rodrigues' re-implementation shares the first three of four).
    Each head has its own batch norms. As for `MultiHeadMLP`: nothing shared (shared_layers = 0,
    head_blocks = null) and num_heads = M is an ensemble of M independent ResNets, num_heads = 1
    one ResNet (KD), otherwise Hydra. The forward pass returns (heads, batch, out_features).
    """

    def __init__(self, in_channels: int = 3, out_features: int = 10, planes: Sequence[int] = (32, 64, 128, 256),
                 blocks: int = 2, shared_layers: int = 0, num_heads: int = 1, image_size: int = 32,
                 head_blocks: int | None = None):
        super().__init__()
        planes = [int(p) for p in planes]
        if num_heads < 1:
            raise ConfigError(f"model.net.num_heads must be >= 1, got {num_heads}")
        if not planes or any(p < 1 for p in planes) or blocks < 1 or in_channels < 1 or out_features < 1:
            raise ConfigError(f"model.net sizes must be >= 1, got planes={planes}, blocks={blocks}, "
                              f"in_channels={in_channels}, out_features={out_features}")
        if not 0 <= shared_layers < len(planes):
            raise ConfigError(f"model.net.shared_layers (shared stages) must be in [0, {len(planes) - 1}] "
                              f"(each head keeps at least one stage), got {shared_layers}")
        total_blocks = len(planes) * blocks
        if head_blocks is not None:
            if isinstance(head_blocks, bool) or not 0 <= head_blocks <= total_blocks:
                raise ConfigError(f"model.net.head_blocks (basic blocks in each head) must be null or in "
                                  f"[0, {total_blocks}], got {head_blocks}")
            shared_blocks = total_blocks - head_blocks
        else:
            shared_blocks = shared_layers * blocks
        self.num_heads, self.shared_layers, self.out_features = num_heads, shared_layers, out_features
        self.head_blocks = head_blocks
        self.input_shape = (in_channels, image_size, image_size)
        # A body of nothing (an ensemble) is the identity; otherwise the stem and the shared blocks.
        split = 3 + shared_blocks if (head_blocks is not None or shared_layers > 0) else 0
        self.body = nn.Sequential(*_resnet_layers(in_channels, planes, blocks, out_features)[:split]) if split \
            else nn.Identity()
        self.heads = nn.ModuleList(nn.Sequential(*_resnet_layers(in_channels, planes, blocks, out_features)[split:])
                                   for _ in range(num_heads))

    @property
    def shares_nothing(self) -> bool:
        return isinstance(self.body, nn.Identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, C, H, W) -> (heads, batch, out)."""
        if x.ndim != 4 or tuple(x.shape[1:2]) != self.input_shape[:1]:
            raise DataError(f"MultiHeadResNet expects (batch, {self.input_shape[0]}, H, W) images, got {tuple(x.shape)}")
        z = self.body(x)
        return torch.stack([head(z) for head in self.heads])

    @torch.no_grad()
    def copy_head(self, source: int = 0) -> None:
        """Set every head's weights and batch-norm statistics to those of head `source`."""
        state = self.heads[source].state_dict()
        for i, head in enumerate(self.heads):
            if i != source:
                head.load_state_dict(state)

    def head_parameter_groups(self) -> list[list[nn.Parameter]]:
        """Each head's parameters, in the same order for every head."""
        return [list(head.parameters()) for head in self.heads]

    def head_parameter_count(self) -> int:
        return sum(p.numel() for p in self.heads[0].parameters())

    def body_parameter_count(self) -> int:
        return sum(p.numel() for p in self.body.parameters())
