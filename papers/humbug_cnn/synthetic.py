"""Generated recordings: mosquito-like flight tones over real-world-like background noise.

A mosquito is a harmonic tone whose fundamental (the wingbeat, 300-800 Hz) wanders: a slow
vibrato plus a random walk of a few per cent, with its amplitude swelling and fading as it flies
past the microphone. The background mixes coloured noise (white to brown), mains hum at 50 or
60 Hz with harmonics, clicks, and, in some recordings, sounds a detector must not take for a
mosquito: a steady motor hum (fixed fundamental 80-250 Hz) or bird-like chirps (2-3.5 kHz).
The SNR (mosquito power over background power while the mosquito flies) and the recording's
loudness are drawn per recording; the features are relative to each clip's maximum, so loudness
alone tells nothing.

A recording is cut into clips; a clip is `mosquito` when the flight covers at least half of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import ConfigError


@dataclass
class SyntheticRecordings:
    clips: np.ndarray  # (n_clips, clip_samples) float32
    labels: np.ndarray  # (n_clips,) int64, 1 = mosquito
    recordings: np.ndarray  # (n_clips,) int64, index of the recording a clip was cut from
    snr_db: np.ndarray  # (n_clips,) the recording's SNR (nan without a mosquito)


def _coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit variance."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return noise / (noise.std() + 1e-12)


def _smooth_walk(rng: np.random.Generator, n: int, fs: float, seconds_per_step: float = 0.05) -> np.ndarray:
    """A random walk interpolated to n samples, zero mean and unit peak."""
    steps = max(2, int(n / fs / seconds_per_step) + 2)
    walk = np.cumsum(rng.standard_normal(steps))
    walk = np.interp(np.linspace(0, steps - 1, n), np.arange(steps), walk)
    walk -= walk.mean()
    return walk / (np.abs(walk).max() + 1e-12)


def mosquito_tone(rng: np.random.Generator, n: int, fs: float, fundamental: tuple[float, float] = (300.0, 800.0)) -> np.ndarray:
    """A wingbeat tone with harmonics, vibrato, frequency drift and a fly-by envelope (peak 1)."""
    t = np.arange(n) / fs
    f0 = rng.uniform(*fundamental)
    vibrato = rng.uniform(0.005, 0.03) * np.sin(2 * np.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 2 * np.pi))
    drift = rng.uniform(0.01, 0.04) * _smooth_walk(rng, n, fs)
    frequency = f0 * (1 + vibrato + drift)
    phase = 2 * np.pi * np.cumsum(frequency) / fs
    decay = rng.uniform(0.5, 1.5)
    tone = np.zeros(n)
    for k in range(1, int((fs / 2 - 100) // (f0 * 1.1)) + 1):
        tone += k ** -decay * rng.uniform(0.5, 1.5) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    swell = 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 2 * np.pi))
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)
    tone *= swell * fade
    return tone / (np.abs(tone).max() + 1e-12)


def _background(rng: np.random.Generator, n: int, fs: float, distractor_probability: float) -> np.ndarray:
    t = np.arange(n) / fs
    noise = _coloured_noise(rng, n, rng.uniform(0.0, 2.0))
    mains = rng.choice([50.0, 60.0])
    hum_level = rng.uniform(0.0, 0.5)
    for k in range(1, 6):
        noise += hum_level / k * np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi))
    for _ in range(rng.poisson(2.0 * n / fs)):  # clicks and knocks
        length = int(rng.uniform(0.002, 0.02) * fs)
        start = rng.integers(0, max(1, n - length))
        noise[start : start + length] += rng.uniform(1, 5) * rng.standard_normal(length) * np.hanning(length)
    if rng.random() < distractor_probability:
        if rng.random() < 0.5:  # a motor or fan: harmonic but steady
            f_motor = rng.uniform(80.0, 250.0)
            for k in range(1, 8):
                noise += rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * k * f_motor * t + rng.uniform(0, 2 * np.pi))
        else:  # bird-like chirps: fast sweeps high up
            for _ in range(rng.integers(1, 4 * int(np.ceil(n / fs)) + 1)):
                length = int(rng.uniform(0.05, 0.2) * fs)
                start = rng.integers(0, max(1, n - length))
                sweep = np.linspace(rng.uniform(2000, 3500), rng.uniform(2000, 3500), length)
                chirp = np.sin(2 * np.pi * np.cumsum(sweep) / fs) * np.hanning(length)
                noise[start : start + length] += rng.uniform(1.0, 3.0) * chirp
    return noise


def generate_recordings(
    count: int,
    seed: int,
    sample_rate: int = 8000,
    recording_seconds: float = 4.0,
    clip_seconds: float = 1.0,
    mosquito_probability: float = 0.5,
    snr_db: tuple[float, float] = (-5.0, 5.0),
    loudness_dbfs: tuple[float, float] = (-40.0, -6.0),
    distractor_probability: float = 0.3,
    fundamental_hz: tuple[float, float] = (300.0, 800.0),
) -> SyntheticRecordings:
    """`count` recordings cut into clips, seeded: the same arguments give the same samples."""
    if count <= 0:
        raise ConfigError(f"data.synthetic.count must be > 0, got {count}")
    if recording_seconds < clip_seconds:
        raise ConfigError(f"data.synthetic.recording_seconds={recording_seconds} is shorter than a clip ({clip_seconds} s)")
    if not 0 <= mosquito_probability <= 1 or not 0 <= distractor_probability <= 1:
        raise ConfigError("data.synthetic probabilities must lie in [0, 1]")
    if snr_db[0] > snr_db[1] or loudness_dbfs[0] > loudness_dbfs[1] or fundamental_hz[0] > fundamental_hz[1]:
        raise ConfigError("data.synthetic ranges must be given as [low, high]")
    rng = np.random.default_rng(seed)
    fs = sample_rate
    n = int(round(recording_seconds * fs))
    clip = int(round(clip_seconds * fs))
    n_clips = n // clip
    clips, labels, recordings, snrs = [], [], [], []
    for index in range(count):
        background = _background(rng, n, fs, distractor_probability)
        signal = background
        present = np.zeros(n, dtype=bool)
        snr = np.nan
        if rng.random() < mosquito_probability:
            start = int(rng.uniform(-0.5, recording_seconds - 0.5) * fs)
            stop = min(n, start + int(rng.uniform(1.0, recording_seconds + 1.0) * fs))
            start = max(0, start)
            if stop - start > int(0.1 * fs):
                snr = rng.uniform(*snr_db)
                tone = mosquito_tone(rng, stop - start, fs, tuple(fundamental_hz))
                gain = np.sqrt(np.mean(background**2) * 10 ** (snr / 10) / np.mean(tone**2))
                signal = background.copy()
                signal[start:stop] += gain * tone
                present[start:stop] = True
        level = 10 ** (rng.uniform(*loudness_dbfs) / 20)
        signal = signal * level / (np.abs(signal).max() + 1e-12)
        for c in range(n_clips):
            part = slice(c * clip, (c + 1) * clip)
            clips.append(signal[part].astype(np.float32))
            labels.append(int(present[part].mean() >= 0.5))
            recordings.append(index)
            snrs.append(snr)
    return SyntheticRecordings(
        np.stack(clips), np.asarray(labels, dtype=np.int64), np.asarray(recordings, dtype=np.int64),
        np.asarray(snrs, dtype=np.float64),
    )
