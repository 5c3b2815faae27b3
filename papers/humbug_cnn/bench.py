"""What humbug_cnn spends its time on (CPU): log-Mel extraction, training steps, scoring a recording."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch

from common.timing import median_seconds
from papers.humbug_cnn.audio import FeatureSpec, extract_features
from papers.humbug_cnn.model import MosquitoDetector
from papers.humbug_cnn.predict import predict_file


def run(clips: int = 512, batch_size: int = 32) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    spec = FeatureSpec()
    waveforms = torch.randn(clips, spec.clip_samples) * 0.1
    extract = median_seconds(lambda: extract_features(waveforms, spec, batch_size=clips), repeats=3)

    model = MosquitoDetector()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    features = extract_features(waveforms[:batch_size], spec)
    labels = torch.randint(0, 2, (batch_size,))

    def train_step():
        optimizer.zero_grad()
        model.loss(model(features), labels).backward()
        optimizer.step()

    step = median_seconds(train_step, repeats=20)
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "one_minute.wav"
        soundfile.write(wav, np.random.default_rng(0).normal(0, 0.1, 60 * 44100).astype(np.float32), 44100)
        throughput = predict_file(wav, model).throughput
    return [
        ("humbug_cnn log-Mel features of 1-s clips at 8 kHz (batch 512)", clips / extract, "clips/s"),
        ("humbug_cnn train throughput (batch 32, Adadelta)", batch_size / step, "clips/s"),
        ("humbug_cnn predict_file on 60 s at 44.1 kHz (resample + features + CNN)", throughput, "audio s / CPU s"),
    ]
