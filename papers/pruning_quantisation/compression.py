"""The paper's two compressions: per-layer magnitude pruning and static post-training quantisation.

Pruning follows the paper's code: every weight tensor of a layer (biases and BatchNorm untouched)
loses the same fraction `sparsity`; conv layers lose whole filters, those of smallest L2 norm,
linear layers single weights, those of smallest magnitude. The masks stay attached
(`torch.nn.utils.prune`) while the network is fine-tuned, so pruned weights stay zero, and
`make_pruning_permanent` folds them into plain weights afterwards.

Slimming (ours, not the paper's) is the same per-layer rule with the pruned filters physically
removed, so the network has smaller tensors, a smaller file and fewer multiply-adds: see
`slim_network`.

Quantisation is static post-training int8 (`torch.ao.quantization`, eager mode): fuse
conv/BN/ReLU, observe activation ranges on a few calibration batches, convert. The paper used the
fbgemm backend on an x86 CPU.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch_pruning as tp
import torchvision.models.shufflenetv2 as torchvision_shufflenet
from torch import nn
from torch.ao.quantization import convert, get_default_qconfig, prepare
from torch.nn.utils import prune

from common.errors import ConfigError

BACKENDS = ("fbgemm", "x86", "qnnpack", "onednn")


def check_sparsity(sparsity: float) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, int | float) or not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"pruning sparsity must be in [0, 1), got {sparsity!r}")
    return float(sparsity)


def prunable_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, module) for name, module in net.named_modules() if isinstance(module, nn.Conv2d | nn.Linear)]


def conv_batchnorm_pairs(net: nn.Module) -> Iterator[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Each conv directly followed by a BatchNorm in the same `nn.Sequential` (how torchvision's
    MobileNetV2 and ShuffleNetV2 are built)."""
    for block in net.modules():
        if isinstance(block, nn.Sequential):
            for conv, norm in itertools.pairwise(block):
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.affine:
                    yield conv, norm


def prune_network(net: nn.Module, sparsity: float, batchnorm: bool = False) -> nn.Module:
    """Attach masks: `sparsity` of each conv's filters (L2) and of each linear's weights (|w|).

    With `batchnorm`, the BatchNorm after a conv loses the scale and shift of the conv's pruned
    filters too, so a pruned channel is exactly zero. Without it (the paper's code) the channel is the
    BatchNorm's constant shift; a depthwise conv fed that constant then sees almost no variance, its
    BatchNorm divides by almost zero, and folding that BatchNorm before int8 gives the filter weights
    of hundreds, which multiply the input's rounding error (README: int8 after pruning).
    """
    sparsity = check_sparsity(sparsity)
    for _, module in prunable_layers(net):
        if isinstance(module, nn.Conv2d):
            prune.ln_structured(module, "weight", amount=sparsity, n=2, dim=0)
        else:
            prune.l1_unstructured(module, "weight", amount=sparsity)
    if batchnorm:
        for conv, norm in conv_batchnorm_pairs(net):
            kept = conv.weight_mask.flatten(1).any(dim=1).to(norm.weight.dtype)
            prune.custom_from_mask(norm, "weight", kept)
            prune.custom_from_mask(norm, "bias", kept)
    return net


def make_pruning_permanent(net: nn.Module) -> nn.Module:
    for module in net.modules():
        for name in ("weight", "bias"):
            if hasattr(module, f"{name}_mask"):
                prune.remove(module, name)
    return net


@dataclass
class SlimmingPlan:
    """Which channels `slim_network` removes: per coupled group, its root layer and the indices.

    `graph` is torch-pruning's dependency graph of the network the plan was made on; `groups()`
    gives, for each entry, every (layer, dimension, indices) that removing those channels touches.
    """

    graph: tp.DependencyGraph
    entries: list[tuple[str, nn.Module, object, list[int], int]]  # name, root, pruning fn, drop, channels
    whole: list[str]  # root layers of groups kept whole (the output layer's, concatenated or split ones)

    def groups(self) -> Iterator:
        for _, root, handler, drop, _ in self.entries:
            if drop:
                yield self.graph.get_pruning_group(root, handler, drop)

    def is_output_side(self, item) -> bool:
        """Whether a group item cuts a layer's outputs (conv/linear filters, BatchNorm channels)."""
        return self.graph.is_out_channel_pruning_fn(item.dep.handler)


@contextlib.contextmanager
def _channel_shuffle_untraced() -> Iterator[None]:
    """Trace ShuffleNetV2 with its channel shuffle as the identity (only while tracing).

    torch-pruning cannot follow the shuffle's permutation (it fails in its reshape index mapping).
    Every channel that passes through the shuffle also passes through a concatenation or a split,
    and `plan_slimming` keeps such groups whole, so the identity stands in only for channels that
    are never removed.
    """
    original = torchvision_shufflenet.channel_shuffle
    torchvision_shufflenet.channel_shuffle = lambda x, groups: x
    try:
        yield
    finally:
        torchvision_shufflenet.channel_shuffle = original


def output_layer(net: nn.Module) -> nn.Module:
    """The last conv/linear layer registered: the one that gives the class scores here."""
    layers = prunable_layers(net)
    if not layers:
        raise ConfigError(f"{type(net).__name__} has no Conv2d or Linear layer to slim")
    return layers[-1][1]


def channels_to_drop(channels: int, sparsity: float, channel_multiple: int = 1) -> int:
    """`round(sparsity * channels)`; with `channel_multiple` m > 1, a layer whose width is a multiple
    of m keeps the multiple of m nearest to what that rule keeps (at least m).

    fbgemm's int8 depthwise convolution leaves its fast path when the channel count is not a multiple
    of 8: on this CPU a 67-channel int8 depthwise 3x3 conv took 95 ms where a 64- or 72-channel one
    took 1.0-1.2 ms (batch 50, 16x16).
    """
    if channel_multiple < 1:
        raise ConfigError(f"channel_multiple must be >= 1, got {channel_multiple}")
    drop = round(sparsity * channels)
    if channel_multiple == 1 or channels % channel_multiple:
        return drop
    kept = max(channel_multiple, math.floor((channels - drop) / channel_multiple + 0.5) * channel_multiple)
    return channels - kept


def plan_slimming(
    net: nn.Module, sparsity: float, example_inputs: torch.Tensor, keep: Iterable[nn.Module] | None = None,
    channel_multiple: int = 1,
) -> SlimmingPlan:
    """Choose, per layer, the `round(sparsity * channels)` output channels of smallest L2 norm.

    Channels that must go together (a conv, its BatchNorm and the next layer's inputs; the
    expansion conv and depthwise conv of an inverted residual; the outputs added by residual
    connections) form one group, found by torch-pruning's dependency graph. A group's channel
    norm is the L2 norm of all the filters (conv) or weight rows (linear) that produce that
    channel; for a plain conv -> BN -> conv chain that is the paper's rule exactly. The output
    layer (`keep`, by default `output_layer(net)`) keeps its channels, and so do groups that pass
    through a concatenation or split (ShuffleNetV2's shuffled channels): only its branch-internal
    channels, its stem and its last conv are slimmed.
    """
    sparsity = check_sparsity(sparsity)
    keep = [output_layer(net)] if keep is None else list(keep)
    was_training = net.training
    net.eval()
    try:
        with torch.enable_grad(), _channel_shuffle_untraced():
            graph = tp.DependencyGraph().build_dependency(net, example_inputs=example_inputs, verbose=False)
    except Exception as error:  # torch-pruning's tracer fails deep inside on unsupported graphs
        raise ConfigError(
            f"cannot trace {type(net).__name__} on an input of shape {tuple(example_inputs.shape)} "
            f"to slim it: {type(error).__name__}: {error}"
        ) from error
    finally:
        net.train(was_training)
    entries, whole, seen = [], [], set(keep)
    for name, layer in prunable_layers(net):
        if layer in seen:
            continue
        pruner = graph.get_pruner_of_module(layer)
        try:
            group = graph.get_pruning_group(layer, pruner.prune_out_channels, list(range(graph.get_out_channels(layer))))
        except IndexError:  # torch-pruning's concat/split index mapping through the untraced shuffle
            whole.append(name)
            continue
        members = [item.dep.target.module for item in group if graph.is_out_channel_pruning_fn(item.dep.handler)]
        seen.update(members)
        if any(item.dep.target.type in (tp.ops.OPTYPE.CONCAT, tp.ops.OPTYPE.SPLIT) for item in group) or any(
            member in keep for member in members
        ):
            whole.append(name)
            continue
        channels = len(group[0].idxs)
        squared = torch.zeros(channels, dtype=torch.float64)
        for item in group:
            module = item.dep.target.module
            if graph.is_out_channel_pruning_fn(item.dep.handler) and isinstance(module, nn.Conv2d | nn.Linear):
                rows = module.weight.detach()[item.idxs].flatten(1).double()
                squared.index_add_(0, torch.as_tensor(item.root_idxs), rows.pow(2).sum(dim=1))
        drop = sorted(torch.argsort(squared, stable=True)[: channels_to_drop(channels, sparsity, channel_multiple)].tolist())
        entries.append((name, layer, group[0].dep.handler, drop, channels))
    return SlimmingPlan(graph, entries, whole)


def slim_network(
    net: nn.Module, sparsity: float, example_inputs: torch.Tensor, keep: Iterable[nn.Module] | None = None,
    channel_multiple: int = 1,
) -> nn.Module:
    """Remove, in place, the channels `plan_slimming` picks: the network gets smaller tensors.

    Unlike the masks, this also removes each pruned channel's BatchNorm shift, so a slimmed network
    is not the masked one minus its zeros: it is fine-tuned afterwards, as the masked one is.
    """
    plan = plan_slimming(net, sparsity, example_inputs, keep, channel_multiple)
    for group in plan.groups():  # one at a time: each group is resolved on the network as it is now
        group.prune(record_history=False)
    return net


def parameter_counts(net: nn.Module) -> tuple[int, int]:
    """(all parameters, non-zero parameters) of a float network, masks applied."""
    total = nonzero = 0
    for name, tensor in net.state_dict().items():
        if name.endswith("_mask") or not torch.is_floating_point(tensor) or "running_" in name:
            continue
        if name.endswith("_orig"):
            tensor = tensor * net.state_dict()[name[: -len("_orig")] + "_mask"]
        total += tensor.numel()
        nonzero += int(torch.count_nonzero(tensor))
    return total, nonzero


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ConfigError(f"quantisation backend must be one of {BACKENDS}, got {backend!r}")
    if backend not in torch.backends.quantized.supported_engines:
        raise ConfigError(
            f"quantisation backend {backend!r} is not built into this PyTorch; "
            f"it supports {torch.backends.quantized.supported_engines}"
        )
    return backend


def quantise_static(net: nn.Module, calibration_batches: Iterable[torch.Tensor], backend: str = "fbgemm") -> nn.Module:
    """An int8 copy of `net` (which must have `fuse_model()`), calibrated on the given inputs."""
    check_backend(backend)
    torch.backends.quantized.engine = backend
    model = copy.deepcopy(net).cpu().eval()
    make_pruning_permanent(model)
    model.fuse_model(is_qat=False)
    model.qconfig = get_default_qconfig(backend)
    prepare(model, inplace=True)
    seen = 0
    with torch.inference_mode():
        for images in calibration_batches:
            model(images)
            seen += 1
    if seen == 0:
        raise ConfigError("quantisation needs at least one calibration batch, got none")
    return convert(model, inplace=True)
