"""What grouped_disentanglement spends its time on: one training iteration (batch of 100 images in groups
of 2) with the MI penalty (3 critic steps) and without, at the tiny 16x16 and MNIST's 32x32 size."""
from __future__ import annotations

from functools import partial

import torch

from common.timing import median_seconds
from papers.grouped_disentanglement.model import GroupedVAE


def _iterations_per_second(image_size: int, mi: bool) -> float:
    torch.manual_seed(0)
    model = GroupedVAE(optimizer=partial(torch.optim.Adam, lr=1e-3), image_size=image_size, mi=mi,
                       content_dim=8, style_dim=8)
    optimizers = model.configure_optimizers()
    model.optimizers = lambda: optimizers
    model.manual_backward = lambda loss: loss.backward()
    model.log = model.log_dict = lambda *a, **k: None
    groups = (torch.rand(50, 2, 1, image_size, image_size) > 0.7).float()
    return 1.0 / median_seconds(lambda: model.training_step({"images": groups}, 0), repeats=5)


def run() -> list[tuple[str, float, str]]:
    results = []
    for size in (16, 32):
        for mi in (True, False):
            label = f"{size}x{size}, MI {'on, 3 critic steps' if mi else 'off'}"
            results.append((f"grouped_disentanglement training ({label})", _iterations_per_second(size, mi), "iterations/s"))
    return results
