"""General Incompressible-flow Networks (GIN) built from FrEIA's coupling blocks.

A GIN coupling block is a GLOW/RealNVP affine coupling whose log-scales s are soft-clamped
(`clamp * 0.636 * atan(raw)`) and then made to sum to zero (FrEIA subtracts their mean; the paper
sets the last component to minus the sum of the others, "no difference in practice"), so every
block has Jacobian determinant exactly 1: the flow preserves volume. `volume_preserving=False`
swaps in FrEIA's `GLOWCouplingBlock` (the same coupling without the constraint, i.e. RealNVP
with GLOW's two-sided update): the ablation of the paper's key mechanism.

Architectures (Sorrenson, Rother, Köthe, ICLR 2020, and the authors' code vislearn/GIN):
- `fc_flow`: n blocks of (coupling + fixed random permutation) on vectors, subnets
  Linear(c, w) → ReLU → Linear(w, w) → ReLU → Linear(w, c_out), last layer zero-initialised
  (each block starts as the identity). Artificial data: 8 blocks, w = 10, clamp 2.
- `conv_flow`: i-RevNet downsampling → k1 conv blocks (3×3 subnets of width w1) → downsampling →
  k2 conv blocks (width w2) → flatten → k3 fully connected blocks (width w3). EMNIST: 4 / 4 / 2
  blocks, widths 16 / 32 / 392, Xavier-normal init, last layer zero, clamp 2.
"""
from __future__ import annotations

from collections.abc import Callable

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import torch
from torch import nn

from common.errors import ConfigError


class FixedPermutation(Fm.InvertibleModule):
    """Permutes the channel (first non-batch) axis by a permutation drawn from `seed`.

    FrEIA's PermuteRandom reseeds numpy's global generator; this draws from a local torch
    generator and keeps the permutation as a buffer, so a checkpoint carries it.
    """

    def __init__(self, dims_in, dims_c=None, seed: int = 0):
        super().__init__(dims_in, dims_c)
        channels = dims_in[0][0]
        generator = torch.Generator().manual_seed(int(seed))
        perm = torch.randperm(channels, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("perm_inv", torch.argsort(perm))

    def forward(self, x, c=None, rev=False, jac=True):
        index = self.perm_inv if rev else self.perm
        return (x[0][:, index],), torch.zeros(x[0].shape[0], device=x[0].device, dtype=x[0].dtype)

    def output_dims(self, input_dims):
        return input_dims


def mlp_subnet(width: int, zero_last: bool = True, xavier: bool = False) -> Callable[[int, int], nn.Module]:
    """Constructor c_in, c_out -> Linear(c_in, w) ReLU Linear(w, w) ReLU Linear(w, c_out)."""

    def build(c_in: int, c_out: int) -> nn.Module:
        net = nn.Sequential(
            nn.Linear(c_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, c_out)
        )
        if xavier:
            for layer in net:
                if isinstance(layer, nn.Linear):
                    nn.init.xavier_normal_(layer.weight)
        if zero_last:
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)
        return net

    return build


def conv_subnet(width: int) -> Callable[[int, int], nn.Module]:
    """Constructor c_in, c_out -> three 3×3 convs (width w, ReLU), Xavier init, last layer zero."""

    def build(c_in: int, c_out: int) -> nn.Module:
        net = nn.Sequential(
            nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, c_out, 3, padding=1),
        )
        for layer in net:
            if isinstance(layer, nn.Conv2d):
                nn.init.xavier_normal_(layer.weight)
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
        return net

    return build


def coupling_block(volume_preserving: bool) -> type:
    return Fm.GINCouplingBlock if volume_preserving else Fm.GLOWCouplingBlock


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if value is None or value <= 0:
            raise ConfigError(f"model.flow.{name} must be > 0, got {value}")


def _generator(seed: int | None) -> torch.Generator:
    """The permutations' generator: from `seed`, or (None) from torch's global generator, which the
    run loop seeds from the run's seed. A checkpoint holds the permutations either way."""
    if seed is None:
        seed = int(torch.randint(2**31 - 1, (1,)))
    return torch.Generator().manual_seed(int(seed))


def fc_flow(
    dims: int = 10,
    n_blocks: int = 8,
    width: int = 10,
    clamp: float = 2.0,
    volume_preserving: bool = True,
    seed: int | None = None,
    zero_init: bool = True,
) -> Ff.SequenceINN:
    """n_blocks × (coupling + fixed random permutation) on `dims`-vectors."""
    _check_positive(dims=dims, n_blocks=n_blocks, width=width, clamp=clamp)
    if dims < 2:
        raise ConfigError(f"model.flow.dims must be >= 2 (a coupling splits the vector), got {dims}")
    generator = _generator(seed)
    block = coupling_block(volume_preserving)
    flow = Ff.SequenceINN(dims)
    for _ in range(n_blocks):
        flow.append(block, subnet_constructor=mlp_subnet(width, zero_last=zero_init), clamp=clamp)
        flow.append(FixedPermutation, seed=int(torch.randint(2**31 - 1, (1,), generator=generator)))
    return flow


def conv_flow(
    image_size: int = 28,
    conv_blocks: tuple[int, int] = (4, 4),
    conv_widths: tuple[int, int] = (16, 32),
    fc_blocks: int = 2,
    fc_width: int = 392,
    clamp: float = 2.0,
    volume_preserving: bool = True,
    seed: int | None = None,
) -> Ff.SequenceINN:
    """The EMNIST GIN: downsample, conv blocks, downsample, conv blocks, flatten, FC blocks."""
    if image_size % 4 != 0:
        raise ConfigError(f"model.flow.image_size must be divisible by 4 (two downsamplings), got {image_size}")
    if len(conv_blocks) != 2 or len(conv_widths) != 2:
        raise ConfigError("model.flow.conv_blocks and conv_widths must list two stages each")
    _check_positive(fc_width=fc_width, clamp=clamp, **{f"conv_widths[{i}]": w for i, w in enumerate(conv_widths)})
    if min(conv_blocks) < 0 or fc_blocks < 0:
        raise ConfigError("model.flow.conv_blocks and fc_blocks must be >= 0")
    generator = _generator(seed)
    block = coupling_block(volume_preserving)

    def permutation():
        flow.append(FixedPermutation, seed=int(torch.randint(2**31 - 1, (1,), generator=generator)))

    flow = Ff.SequenceINN(1, image_size, image_size)
    for n_blocks, width in zip(conv_blocks, conv_widths, strict=True):
        flow.append(Fm.IRevNetDownsampling)
        for _ in range(n_blocks):
            flow.append(block, subnet_constructor=conv_subnet(width), clamp=clamp)
            permutation()
    flow.append(Fm.Flatten)
    for _ in range(fc_blocks):
        flow.append(block, subnet_constructor=mlp_subnet(fc_width, xavier=True), clamp=clamp)
        permutation()
    return flow


@torch.no_grad()
def random_glow_net(dims: int = 10, n_blocks: int = 8, seed: int = 0) -> Ff.SequenceINN:
    """The artificial data's mixing function: the 10-D GLOW net with random (not zero) last layers."""
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(seed))
        net = fc_flow(dims, n_blocks, width=10, clamp=2.0, volume_preserving=False, seed=seed, zero_init=False)
    finally:
        torch.random.set_rng_state(torch_state)
    return net.eval()
