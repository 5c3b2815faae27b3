"""Audio in, log-Mel features out: reading any WAV/FLAC with soundfile, mixing down, resampling.

Features follow the paper's baseline: a power Mel spectrogram (128 Slaney bands, 3200-sample FFT,
800-sample hop at 8 kHz, centred frames), in dB relative to the clip's own maximum and floored
80 dB below it. Clips are cut to a fixed length first, so every clip gives the same
(n_mels, n_frames) image.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

from common.errors import ConfigError, DataError


@dataclass(frozen=True)
class FeatureSpec:
    sample_rate: int = 8000
    clip_seconds: float = 1.0
    n_fft: int = 3200
    hop_length: int = 800
    n_mels: int = 128
    top_db: float = 80.0

    def __post_init__(self):
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"features.{name} must be > 0, got {getattr(self, name)}")
        if self.clip_samples < 1:
            raise ConfigError(f"clip_seconds={self.clip_seconds} gives no samples at {self.sample_rate} Hz")
        if self.n_fft // 2 >= self.clip_samples:
            raise ConfigError(
                f"features.n_fft={self.n_fft} needs clips longer than {self.n_fft // 2} samples "
                f"(reflect padding); clip_seconds={self.clip_seconds} gives {self.clip_samples}"
            )

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        return 1 + self.clip_samples // self.hop_length  # centred frames

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def read_audio(path: str | Path, sample_rate: int) -> tuple[np.ndarray, list[str]]:
    """Mono float32 samples of `path` at `sample_rate`, and notes on what was converted.

    Stereo (or more channels) is mixed down by averaging; another sample rate is resampled
    (torchaudio's windowed-sinc). An unreadable or empty file raises DataError naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio file {path} does not exist")
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise DataError(f"audio file {path} cannot be read ({err})") from err
    if samples.shape[0] == 0:
        raise DataError(f"audio file {path} holds no samples")
    notes = []
    if samples.shape[1] > 1:
        notes.append(f"{path.name}: {samples.shape[1]} channels mixed down to mono")
    mono = samples.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise DataError(f"audio file {path} holds NaN or infinite samples")
    if rate != sample_rate:
        notes.append(f"{path.name}: resampled from {rate} Hz to {sample_rate} Hz")
        mono = torchaudio.functional.resample(torch.from_numpy(mono), int(rate), int(sample_rate)).numpy()
    return mono.astype(np.float32), notes


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad a 1-d signal to exactly `length` samples."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


class LogMelExtractor(torch.nn.Module):
    """(batch, samples) waveforms -> (batch, 1, n_mels, n_frames) dB relative to each clip's max."""

    def __init__(self, spec: FeatureSpec):
        super().__init__()
        self.spec = spec
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=spec.sample_rate, n_fft=spec.n_fft, hop_length=spec.hop_length,
            n_mels=spec.n_mels, power=2.0, center=True, pad_mode="reflect",
            norm="slaney", mel_scale="slaney",
        )
        # amin as in the usual power-to-dB conversions; silence then sits at the top_db floor.
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=spec.top_db)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if waveforms.ndim != 2:
            raise ValueError(f"expected (batch, samples), got shape {tuple(waveforms.shape)}")
        power = self.mel(waveforms[:, None, :])  # (B, 1, F, T): AmplitudeToDB floors per clip
        db = self.to_db(power)
        return db - db.amax(dim=(-2, -1), keepdim=True)


@torch.no_grad()
def extract_features(
    waveforms: np.ndarray | torch.Tensor, spec: FeatureSpec, batch_size: int = 512,
    device: str | torch.device = "cpu", progress: bool = False,
) -> torch.Tensor:
    """Log-Mel features of (n, clip_samples) waveforms as float32 (n, 1, n_mels, n_frames) on CPU."""
    waveforms = torch.as_tensor(waveforms, dtype=torch.float32)
    extractor = LogMelExtractor(spec).to(device)
    starts = range(0, len(waveforms), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="log-Mel features", unit="batch", leave=False)
    out = [extractor(waveforms[s : s + batch_size].to(device)).cpu() for s in starts]
    if not out:
        return torch.empty(0, 1, spec.n_mels, spec.n_frames)
    return torch.cat(out)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class FileProblemWarning(UserWarning):
    """Files left out or converted while reading a data set (the feature cache repeats these)."""


def report_problems(problems: Sequence[str], what: str, limit: int = 5) -> None:
    """One warning for many skipped or converted files, naming the first few."""
    if not problems:
        return
    shown = "; ".join(problems[:limit])
    more = f"; and {len(problems) - limit} more" if len(problems) > limit else ""
    warnings.warn(f"{what} ({len(problems)}): {shown}{more}", FileProblemWarning, stacklevel=2)


class FeatureCache:
    """Features saved once per (data set, feature spec) so later epochs and splits reuse them. The data
    set's key includes the size and modification time of every file read (a changed file is read again);
    a cached entry keeps the warnings its reading gave, and serving it gives them again."""

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder).expanduser() if folder else None

    def path(self, dataset_key: str, spec: FeatureSpec) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / f"{dataset_key}-{spec.key()}.pt"

    def load(self, dataset_key: str, spec: FeatureSpec) -> dict | None:
        path = self.path(dataset_key, spec)
        if path is None or not path.is_file():
            return None
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            warnings.warn(f"ignoring unreadable feature cache {path} ({err}); recomputing", stacklevel=2)
            return None
        for note in content.get("notes", []):
            warnings.warn(note, FileProblemWarning, stacklevel=2)
        return content

    def save(self, dataset_key: str, spec: FeatureSpec, content: dict) -> None:
        path = self.path(dataset_key, spec)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        torch.save(content, partial)
        partial.replace(path)
