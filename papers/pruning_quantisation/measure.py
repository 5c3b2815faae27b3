"""What the paper reports of each network: accuracy, size on disk, and CPU inference latency."""
from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm


@contextlib.contextmanager
def quantised_kernels_allowed() -> Iterator[None]:
    """Lift `use_deterministic_algorithms` (set by Trainer(deterministic=True)) for a while.

    The int8 linear kernel resizes its output with an op PyTorch lists as nondeterministic, which
    it is not for our purpose (same inputs give the same outputs on CPU); without this it refuses
    to run after a deterministic training run in the same process.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=warn_only)


def serialized_bytes(net: nn.Module) -> int:
    """Bytes of `torch.save(state_dict)`: the file a user ships (int8 weights are packed in it)."""
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def torchscript_bytes(net: nn.Module, example: torch.Tensor) -> int:
    """Bytes of the traced TorchScript file, the format the paper saved its quantised models in."""
    buffer = io.BytesIO()
    with torch.inference_mode():
        torch.jit.save(torch.jit.trace(net.eval(), example), buffer)
    return buffer.getbuffer().nbytes


@torch.inference_mode()
def accuracy(net: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    net.eval()
    correct = total = 0
    for images, labels in batches:
        correct += int((net(images).argmax(dim=1) == labels).sum())
        total += len(labels)
    return correct / max(total, 1)


@torch.inference_mode()
def interleaved_latency_ms(
    nets: dict[str, nn.Module], example: torch.Tensor, repeats: int = 30, warmup: int = 3,
    threads: int = 1, desc: str = "latency",
) -> dict[str, float]:
    """Median milliseconds of one forward pass of each network on `example`.

    The networks take turns (in a rotating order) within every repeat, so a burst of load from
    other processes on the machine slows them alike instead of falsifying one network's time.
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for net in nets.values():
            net.eval()
            for _ in range(warmup):
                net(example)
        names = list(nets)
        times = {name: [] for name in names}
        for repeat in tqdm(range(repeats), desc=desc, leave=False):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                nets[name](example)
                times[name].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous_threads)
    return {name: 1000 * float(np.median(values)) for name, values in times.items()}
