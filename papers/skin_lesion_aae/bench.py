"""What skin_lesion_aae spends its time on: DAAE training steps and encoding at the tiny, cpu and paper sizes."""
from __future__ import annotations

from functools import partial

import torch

from common.timing import median_seconds
from papers.skin_lesion_aae.model import LesionAutoencoder


def _rates(image_size: int, width: int, nz: int, batch: int = 64) -> tuple[float, float]:
    torch.manual_seed(0)
    model = LesionAutoencoder(optimizer=partial(torch.optim.Adam, lr=1e-3), image_size=image_size, width=width, nz=nz)
    optimizers = model.configure_optimizers()
    model.optimizers = lambda: optimizers
    model.manual_backward = lambda loss: loss.backward()
    model.log = model.log_dict = lambda *a, **k: None
    x = torch.rand(batch, 3, image_size, image_size)
    step = median_seconds(lambda: model.training_step({"image": x}, 0), repeats=3)
    encode = median_seconds(lambda: model.encode(x), repeats=3)
    return batch / step, batch / encode


def run() -> list[tuple[str, float, str]]:
    results = []
    for size, width, nz, label in ((32, 8, 16, "tiny 32x32, width 8"), (64, 8, 32, "cpu 64x64, width 8, nz 32"),
                                   (64, 64, 200, "paper 64x64, width 64, nz 200")):
        train, encode = _rates(size, width, nz)
        results.append((f"skin_lesion_aae DAAE training ({label})", train, "images/s"))
        results.append((f"skin_lesion_aae DAAE encoding ({label})", encode, "images/s"))
    return results
