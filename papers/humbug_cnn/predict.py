"""Mosquito probability along recordings of any length, sample rate and channel count.

    python scripts/predict.py paper=humbug_cnn input=FILE_OR_FOLDER [threshold=0.5] \
        [ckpt_path=RUN/checkpoints/last.ckpt] [output=PATH] [hop_seconds=0.5] [mc_samples=20] [batch_size=256]

Without `ckpt_path=` the network that ships in `papers/humbug_cnn/pretrained/` scores the audio (its
card, zooniverse_cnn.json, says what it was trained on). `input=` is one recording or a folder of them
(wav, flac or ogg, searched recursively); each is mixed down to mono and resampled to the model's
rate (both noted on stderr), cut into windows of the model's clip length every `hop_seconds` (the last
window is aligned with the end; a recording shorter than one window but at least half of one is
zero-padded), and each window gets p(mosquito): one CSV row per window with start_s, end_s,
p_mosquito and, with MC dropout, p_std, and a PNG of p(mosquito) along the recording. `threshold=`
turns the windows into detected mosquito intervals: windows at or above it, overlapping or touching
ones merged, each with its mean probability. A silent, unreadable or too short recording is named and
left out; a folder goes on with the others.
"""
from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.errors import ConfigError, DataError
from common.run import load_model, saved_model_config
from common.shipped import load_shipped
from papers.humbug_cnn.audio import extract_features, fit_length, read_audio
from papers.humbug_cnn.model import MosquitoDetector
from papers.humbug_cnn.plots import plot_trace


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
    if not np.any(samples):
        raise DataError(f"audio file {path} is silent (every sample is 0)")
    if len(samples) < window * MIN_WINDOW_FRACTION:
        raise DataError(f"audio file {path}: {len(samples) / spec.sample_rate:.2f} s is too short; the model scores "
                        f"{spec.clip_seconds} s windows and pads at most half of one")
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


def load_detector(ckpt_path: str | Path | None = None) -> MosquitoDetector:
    """The network of a training checkpoint, built from the hyperparameters it saved; without one, the
    network that ships with the repository."""
    if ckpt_path is None:
        return load_shipped(PRETRAINED, SHIPPED, HOW_TO_SHIP)
    return load_model(saved_model_config(MosquitoDetector, ckpt_path), ckpt_path)


@dataclass
class Interval:
    start: float
    end: float
    mean_probability: float


def detected_intervals(prediction: Prediction, threshold: float) -> list[Interval]:
    """Windows with p(mosquito) >= threshold; windows that overlap or touch merge into one interval whose
    probability is the mean of its windows'."""
    intervals, members = [], []
    for start, end, probability in zip(prediction.starts, prediction.ends, prediction.probability, strict=True):
        if probability < threshold:
            continue
        if intervals and start <= intervals[-1].end + 1e-9:
            intervals[-1].end = max(intervals[-1].end, float(end))
            members[-1].append(float(probability))
        else:
            intervals.append(Interval(float(start), float(end), 0.0))
            members.append([float(probability)])
    for interval, probabilities in zip(intervals, members, strict=True):
        interval.mean_probability = float(np.mean(probabilities))
    return intervals


def recordings_in(path: str | Path) -> list[Path]:
    """The recording `path`, or every audio file under the folder `path` (sorted)."""
    path = Path(path).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        if not found:
            raise DataError(f"input={path} holds no recordings ({', '.join(AUDIO_SUFFIXES)})")
        return found
    if not path.is_file():
        raise DataError(f"input={path} does not exist")
    return [path]


def write_intervals(rows: list[tuple[str, Interval]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recording", "start_s", "end_s", "mean_p_mosquito"])
        for name, interval in rows:
            writer.writerow([name, f"{interval.start:.3f}", f"{interval.end:.3f}", f"{interval.mean_probability:.4f}"])
    return path


PRETRAINED = Path(__file__).resolve().parent / "pretrained"
SHIPPED = "zooniverse_cnn"
HOW_TO_SHIP = "make reproduce-humbug_cnn SCALE=real trains one and python -m papers.humbug_cnn.pretrained RUN_DIR ships it"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
# A recording shorter than this fraction of one window is refused: the window would be mostly padding.
MIN_WINDOW_FRACTION = 0.5

# Each argument with the type its value must have (scripts/predict.py checks them before anything runs).
ARGUMENTS = {"input": str, "ckpt_path": str, "output": str, "threshold": float, "hop_seconds": float,
             "window_seconds": float, "mc_samples": int, "batch_size": int}
REQUIRED = ("input",)


def check_arguments(args) -> None:
    threshold = args.get("threshold")
    if threshold is not None and not 0 < threshold <= 1:
        raise ConfigError(f"threshold must lie in (0, 1], got {threshold}")


def _output_folder(source: Path, output: str | None) -> Path:
    return Path(output) if output else source / "mosquito_predictions"


def _outputs(source: Path, recording: Path, output: str | None) -> tuple[Path, Path]:
    """(window CSV, PNG) of one recording: `<recording>.mosquito.csv` (or output=FILE.csv) beside a single
    input file; for a folder, under output=DIR (default <folder>/mosquito_predictions), mirroring it."""
    if source.is_dir():
        stem = _output_folder(source, output) / recording.relative_to(source).with_suffix("")
        table = stem.with_name(f"{stem.name}.mosquito.csv")
    else:
        table = Path(output) if output else recording.with_suffix(".mosquito.csv")
    return table, table.with_suffix(".png")


def _intervals_path(source: Path, table: Path, output: str | None) -> Path:
    if source.is_dir():
        return _output_folder(source, output) / "intervals.csv"
    return table.with_name(f"{table.stem}_intervals.csv")


def predict(args) -> int:
    source = Path(args.input).expanduser()
    recordings = recordings_in(source)
    model = load_detector(args.get("ckpt_path"))
    threshold = args.get("threshold")
    detected, skipped, written = [], [], 0
    for recording in recordings:
        table, figure = _outputs(source, recording, args.get("output"))
        try:
            prediction = predict_file(recording, model, args.get("window_seconds"), args.get("hop_seconds"), table,
                                      args.get("mc_samples"), int(args.get("batch_size") or 256))
        except DataError as err:
            if len(recordings) == 1:
                raise
            skipped.append(str(err))
            continue
        intervals = detected_intervals(prediction, threshold) if threshold is not None else []
        detected += [(str(recording.relative_to(source)) if source.is_dir() else recording.name, i) for i in intervals]
        plot_trace(prediction.starts, prediction.probability, None,
                   f"{recording.name}: p(mosquito) per {model.spec.clip_seconds:g} s window", figure,
                   threshold=threshold if threshold is not None else 0.5,
                   intervals=[(i.start, i.end) for i in intervals])
        written += 1
        for note in prediction.notes:
            print(f"note: {note}", file=sys.stderr)
        flagged = "" if threshold is None else f", {len(intervals)} mosquito intervals at p >= {threshold:g}"
        print(f"{recording}: {len(prediction.probability)} windows, max p {prediction.probability.max():.3f}, "
              f"mean {prediction.probability.mean():.3f}{flagged}; {prediction.audio_seconds:.1f} s of audio at "
              f"{prediction.throughput:.0f} s per CPU second; wrote {table} and {figure}")
    for problem in skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    if not written:
        raise DataError(f"input={source}: none of its {len(recordings)} recordings could be scored")
    if threshold is not None:
        intervals_csv = write_intervals(detected, _intervals_path(source, table, args.get("output")))
        print(f"{len(detected)} mosquito intervals in {written} recordings; wrote {intervals_csv}")
    return 0
