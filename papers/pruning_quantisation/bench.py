"""Size and CPU latency of the paper's full-size networks (CIFAR-10 input): float, pruned (masks),
slimmed (the same filters removed), each also quantised.

Size and latency do not depend on what the weights learned, so untrained networks (calibrated on
random images) stand in for trained ones here; accuracy comes from `reproduce.py`.
"""
from __future__ import annotations

import torch

from papers.pruning_quantisation.compression import (
    make_pruning_permanent,
    prune_network,
    quantise_static,
    slim_network,
)
from papers.pruning_quantisation.measure import (
    interleaved_latency_ms,
    quantised_kernels_allowed,
    serialized_bytes,
)
from papers.pruning_quantisation.networks import NETWORKS, build_network

SPARSITY = 0.3
MB = 2**20
SLIM_CHANNEL_MULTIPLE = 8  # as the model's default: int8 depthwise convs are fast only at multiples of 8


def run(batch_sizes: tuple[int, ...] = (1, 50), repeats: int = 20) -> list[tuple[str, float, str]]:
    rows = []
    torch.manual_seed(0)
    calibration = [torch.randn(50, 3, 32, 32)]
    with quantised_kernels_allowed():
        for network in NETWORKS:
            nets = {"float": build_network(network).eval()}
            nets["pruned"] = make_pruning_permanent(prune_network(build_network(network).eval(), SPARSITY))
            nets["slimmed"] = slim_network(build_network(network).eval(), SPARSITY, calibration[0][:1],
                                            channel_multiple=SLIM_CHANNEL_MULTIPLE)
            nets["quantised"] = quantise_static(nets["float"], calibration)
            nets["pruned_quantised"] = quantise_static(nets["pruned"], calibration)
            nets["slimmed_quantised"] = quantise_static(nets["slimmed"], calibration)
            for method, net in nets.items():
                rows.append((f"pruning_quantisation {network} {method} size", serialized_bytes(net) / MB, "MiB"))
            for batch_size in batch_sizes:
                example = torch.randn(batch_size, 3, 32, 32)
                latencies = interleaved_latency_ms(nets, example, repeats, desc=f"{network} batch {batch_size}")
                for method, milliseconds in latencies.items():
                    rows.append((f"pruning_quantisation {network} {method} latency, batch {batch_size}, 1 thread",
                                 milliseconds, "ms"))
    return rows
