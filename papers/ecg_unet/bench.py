"""What ecg_unet spends its time on: training throughput and segmenting one LUDB-sized record."""
from __future__ import annotations

import numpy as np
import torch

from common.timing import median_seconds
from papers.ecg_unet.data import generate_record
from papers.ecg_unet.model import EcgSegmenter, UNet1d


def run(batch_size: int = 32, window: int = 2000) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    model = EcgSegmenter(UNet1d(), optimizer=torch.optim.Adam)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch_size, 1, window)
    y = torch.randint(0, 4, (batch_size, window))

    def train_step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    step = median_seconds(train_step, repeats=10)
    record = generate_record(np.random.default_rng(0), "bench", seconds=10.0, n_leads=12)
    segment = median_seconds(lambda: model.delineate(record.signal, 500), repeats=10)
    record_250 = generate_record(np.random.default_rng(0), "bench", seconds=10.0, sampling_rate=250, n_leads=12)
    segment_250 = median_seconds(lambda: model.delineate(record_250.signal, 250), repeats=10)
    return [
        ("ecg_unet train throughput (4-s windows at 500 Hz)", batch_size / step, "windows/s"),
        ("ecg_unet train throughput", batch_size * window / step, "samples/s"),
        ("ecg_unet segment one 10-s 12-lead record at 500 Hz", segment * 1000, "ms"),
        ("ecg_unet segment one 10-s 12-lead record at 250 Hz (resampled)", segment_250 * 1000, "ms"),
    ]
