"""What the paper is about: inference cost of Hydra vs the M-member ensemble vs KD (CPU, one thread).

Networks of the MNIST experiments (MLP [400, 100]; Hydra shares the 784 -> 400 layer, each head is
400 -> 100 -> 10), untrained weights (timing does not depend on them), batch 1 and batch 256.
"""
from __future__ import annotations

import torch

from common.timing import median_seconds
from papers.hydra_distillation.nets import MultiHeadMLP


def networks(members: int) -> dict[str, MultiHeadMLP]:
    return {
        "ensemble": MultiHeadMLP(784, 10, hidden=[400, 100], shared_layers=0, num_heads=members),
        "kd": MultiHeadMLP(784, 10, hidden=[400, 100], shared_layers=1, num_heads=1),
        "hydra": MultiHeadMLP(784, 10, hidden=[400, 100], shared_layers=1, num_heads=members),
    }


def peak_activation_bytes(net: MultiHeadMLP, batch: int) -> int:
    """Largest intermediate tensor of a forward pass (float32), a proxy for inference memory."""
    largest = 0
    x = torch.zeros(batch, 784)
    with torch.inference_mode():
        for layer in [*net.body, *net.heads]:
            x = layer(x)
            largest = max(largest, x.numel() * 4)
    return largest


def run(members: int = 20) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        nets = networks(members)
        for batch in (1, 256):
            x = torch.randn(batch, 784)
            times = {}
            for name, net in nets.items():
                with torch.inference_mode():
                    times[name] = median_seconds(lambda net=net, x=x: net(x), repeats=30 if batch == 1 else 10)
                rows.append((f"hydra_distillation {name} (M={members}) inference, batch {batch}", times[name] * 1000, "ms"))
            rows.append((f"hydra_distillation Hydra / ensemble time, batch {batch}", times["hydra"] / times["ensemble"], "ratio"))
        for name, net in nets.items():
            params = sum(p.numel() for p in net.parameters())
            rows.append((f"hydra_distillation {name} (M={members}) parameters", params * 4 / 2**20, "MiB"))
            rows.append((f"hydra_distillation {name} (M={members}) largest activation, batch 256",
                         peak_activation_bytes(net, 256) / 2**20, "MiB"))
    finally:
        torch.set_num_threads(threads)
    return rows


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name}: {value:.4g} {unit}")
