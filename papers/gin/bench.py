"""What GIN spends its time on: training steps and the inverse (latent → data), per sample."""
from __future__ import annotations

import torch

from common.timing import median_seconds
from papers.gin.flows import conv_flow, fc_flow
from papers.gin.metrics import gin_nll


def _rates(name: str, flow: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> list[tuple[str, float, str]]:
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-4)

    def train_step():
        optimizer.zero_grad()
        z, log_det = flow(x + 0.01 * torch.randn_like(x))
        loss, _ = gin_nll(z.reshape(len(z), -1), labels, log_det)
        loss.backward()
        optimizer.step()

    with torch.no_grad():
        z, _ = flow(x)

    def inverse():
        with torch.no_grad():
            flow(z, rev=True)

    step = median_seconds(train_step, repeats=5)
    back = median_seconds(inverse, repeats=5)
    return [(f"gin {name} training", len(x) / step, "samples/s"), (f"gin {name} inverse", len(x) / back, "samples/s")]


def run() -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    rows = _rates("artificial 10-D (8 blocks, batch 1000)", fc_flow(seed=0), torch.randn(1000, 10),
                  torch.randint(0, 5, (1000,)))
    rows += _rates("EMNIST conv (paper's net, batch 240)", conv_flow(seed=0), torch.rand(240, 1, 28, 28),
                   torch.randint(0, 10, (240,)))
    return rows
