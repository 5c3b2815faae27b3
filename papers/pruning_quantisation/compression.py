"""The paper's two compressions: per-layer magnitude pruning and static post-training quantisation.

Pruning follows the paper's code: every weight tensor of a layer (biases and BatchNorm untouched)
loses the same fraction `sparsity`; conv layers lose whole filters, those of smallest L2 norm,
linear layers single weights, those of smallest magnitude. The masks stay attached
(`torch.nn.utils.prune`) while the network is fine-tuned, so pruned weights stay zero, and
`make_pruning_permanent` folds them into plain weights afterwards.

Quantisation is static post-training int8 (`torch.ao.quantization`, eager mode): fuse
conv/BN/ReLU, observe activation ranges on a few calibration batches, convert. The paper used the
fbgemm backend on an x86 CPU.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
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


def prune_network(net: nn.Module, sparsity: float) -> nn.Module:
    """Attach masks: `sparsity` of each conv's filters (L2) and of each linear's weights (|w|)."""
    sparsity = check_sparsity(sparsity)
    for _, module in prunable_layers(net):
        if isinstance(module, nn.Conv2d):
            prune.ln_structured(module, "weight", amount=sparsity, n=2, dim=0)
        else:
            prune.l1_unstructured(module, "weight", amount=sparsity)
    return net


def make_pruning_permanent(net: nn.Module) -> nn.Module:
    for _, module in prunable_layers(net):
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
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
