"""Mosquito probability along a recording of any length, sample rate and channel count.

    python scripts/predict.py paper=humbug_cnn input=FILE.wav ckpt_path=RUN/checkpoints/last.ckpt \
        [output=FILE.csv] [hop_seconds=0.5] [mc_samples=20] [batch_size=256]

The recording is mixed down to mono and resampled to the model's rate (both noted on stderr),
cut into windows of the model's clip length every `hop_seconds` (the last window is aligned with
the end, a recording shorter than one window is zero-padded), and each window gets p(mosquito):
one CSV row per window with start_s, end_s, p_mosquito and, with MC dropout, p_std.
"""
from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.errors import ConfigError
from common.run import load_model, saved_model_config
from papers.humbug_cnn.audio import extract_features, fit_length, read_audio
from papers.humbug_cnn.model import MosquitoDetector


@dataclass
class Prediction:
    starts: np.ndarray  # seconds
    ends: np.ndarray
    probability: np.ndarray
    spread: np.ndarray
    notes: list[str]
    audio_seconds: float
    cpu_seconds: float

    @property
    def throughput(self) -> float:
        """Seconds of audio scored per second of CPU time (all threads of this process)."""
        return self.audio_seconds / max(self.cpu_seconds, 1e-9)


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Window starts every `hop` samples; a last window ends exactly at the end of the signal."""
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


@torch.no_grad()
def predict_file(
    path: str | Path,
    model: MosquitoDetector,
    window_seconds: float | None = None,
    hop_seconds: float | None = None,
    output: str | Path | None = None,
    mc_samples: int | None = None,
    batch_size: int = 256,
) -> Prediction:
    """Score every window of the recording at `path`; write a CSV to `output` when given."""
    spec = model.spec
    if window_seconds is not None and abs(window_seconds - spec.clip_seconds) > 1e-9:
        raise ConfigError(
            f"window_seconds={window_seconds}: this model was trained on {spec.clip_seconds} s windows "
            "and its dense layer fixes that length; leave window_seconds unset or train another model"
        )
    hop_seconds = spec.clip_seconds if hop_seconds is None else hop_seconds
    if hop_seconds <= 0:
        raise ConfigError(f"hop_seconds must be > 0, got {hop_seconds}")
    if batch_size <= 0:
        raise ConfigError(f"batch_size must be > 0, got {batch_size}")
    started = time.process_time()
    samples, notes = read_audio(path, spec.sample_rate)
    window, hop = spec.clip_samples, max(1, int(round(hop_seconds * spec.sample_rate)))
    if len(samples) < window:
        notes.append(f"{Path(path).name}: {len(samples) / spec.sample_rate:.2f} s is shorter than one "
                     f"{spec.clip_seconds} s window; zero-padded")
    starts = window_starts(len(samples), window, hop)
    windows = np.stack([fit_length(samples[s : s + window], window) for s in starts])
    model = model.eval()
    probabilities, spreads = [], []
    for first in range(0, len(windows), batch_size):
        features = extract_features(windows[first : first + batch_size], spec, device=model.device)
        probability, spread = model.predict_proba(features.to(model.device), mc_samples)
        probabilities.append(probability.cpu().numpy())
        spreads.append(spread.cpu().numpy())
    starts_s = np.asarray(starts) / spec.sample_rate
    ends_s = np.minimum(starts_s + spec.clip_seconds, max(len(samples), window) / spec.sample_rate)
    prediction = Prediction(starts_s, ends_s, np.concatenate(probabilities), np.concatenate(spreads), notes,
                            len(samples) / spec.sample_rate, time.process_time() - started)
    if output is not None:
        write_csv(prediction, output, with_spread=(mc_samples if mc_samples is not None else model.mc_samples) > 0)
    return prediction


def write_csv(prediction: Prediction, path: str | Path, with_spread: bool) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["start_s", "end_s", "p_mosquito", *(["p_std"] if with_spread else [])])
        for row in zip(prediction.starts, prediction.ends, prediction.probability, prediction.spread, strict=True):
            writer.writerow([f"{row[0]:.3f}", f"{row[1]:.3f}", f"{row[2]:.4f}", *([f"{row[3]:.4f}"] if with_spread else [])])
    return path


def load_detector(ckpt_path: str | Path) -> MosquitoDetector:
    """The network of a training checkpoint, built from the hyperparameters it saved."""
    return load_model(saved_model_config(MosquitoDetector, ckpt_path), ckpt_path)


# Each argument with the type its value must have (scripts/predict.py checks them before anything runs).
ARGUMENTS = {"input": str, "ckpt_path": str, "output": str, "hop_seconds": float, "window_seconds": float,
             "mc_samples": int, "batch_size": int}
REQUIRED = ("input", "ckpt_path")


def predict(args) -> int:
    output = args.get("output") or str(Path(args.input).with_suffix(".mosquito.csv"))
    model = load_detector(args.ckpt_path)
    prediction = predict_file(
        args.input, model, args.get("window_seconds"), args.get("hop_seconds"), output,
        args.get("mc_samples"), int(args.get("batch_size", 256)),
    )
    for note in prediction.notes:
        print(f"note: {note}", file=sys.stderr)
    flagged = int((prediction.probability >= 0.5).sum())
    print(f"{args.input}: {len(prediction.probability)} windows, {flagged} with p(mosquito) >= 0.5, "
          f"max {prediction.probability.max():.3f}, mean {prediction.probability.mean():.3f}; "
          f"{prediction.audio_seconds:.1f} s of audio at {prediction.throughput:.0f} s of audio per CPU second; "
          f"wrote {output}")
    return 0
