"""Audio reading (mix-down, resampling, bad files) and log-Mel features against known answers."""
import numpy as np
import pytest
import soundfile
import torch

from common.errors import ConfigError, DataError
from papers.humbug_cnn.audio import (
    FeatureCache,
    FeatureSpec,
    LogMelExtractor,
    extract_features,
    read_audio,
)

SPEC = FeatureSpec()


def _tone(frequency, seconds=1.0, rate=8000, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_paper_feature_shape():
    assert SPEC.clip_samples == 8000 and SPEC.n_frames == 11  # 1 + 8000 // 800, centred frames
    assert FeatureSpec(clip_seconds=1.92).n_frames == 20
    with pytest.raises(ConfigError, match="n_fft"):
        FeatureSpec(clip_seconds=0.1)


def test_tone_lands_in_its_mel_band_and_db_is_relative_to_clip_max():
    extractor = LogMelExtractor(SPEC)
    filterbank = extractor.mel.mel_scale.fb  # (n_freqs, n_mels): a band peaks at its centre
    freqs = torch.linspace(0, 4000, filterbank.shape[0])
    centres = freqs[filterbank.argmax(dim=0)]
    for frequency in (400.0, 600.0, 1500.0):
        features = extract_features(_tone(frequency)[None], SPEC)[0, 0]
        assert features.shape == (128, 11)
        assert features.max().item() == pytest.approx(0.0)
        assert features.min().item() >= -80.0 - 1e-4
        peak_band = features[:, 5].argmax().item()
        assert abs(centres[peak_band].item() - frequency) <= 40.0


def test_db_matches_hand_formula_per_clip_with_top_db_floor_per_clip():
    rng = np.random.default_rng(0)
    loud = rng.normal(0, 0.5, 8000).astype(np.float32)
    quiet = _tone(500) * 1e-2 * (np.arange(8000) < 4000)  # silent second half: floored
    batch = torch.from_numpy(np.stack([loud, quiet]))
    extractor = LogMelExtractor(SPEC)
    power = extractor.mel(batch).double().numpy()  # (2, 128, 11)
    features = extractor(batch)[:, 0].double().numpy()
    for clip in range(2):
        db = 10 * np.log10(np.maximum(power[clip], 1e-10))
        expected = np.maximum(db, db.max() - 80.0) - db.max()
        np.testing.assert_allclose(features[clip], expected, atol=1e-3)
    # The quiet clip keeps its own 80 dB range: the floor is not set by the loud clip.
    assert features[1].min() == pytest.approx(-80.0, abs=1e-3)


def test_features_ignore_loudness():
    clip = _tone(700) + np.random.default_rng(1).normal(0, 0.05, 8000).astype(np.float32)
    a, b = extract_features(np.stack([clip, clip * 0.01]), SPEC)
    torch.testing.assert_close(a, b, atol=1e-3, rtol=0)


def test_read_audio_mixes_stereo_and_resamples(tmp_path):
    left, right = _tone(500, rate=16000), _tone(500, rate=16000, amplitude=0.1)
    path = tmp_path / "stereo16k.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16000)
    samples, notes = read_audio(path, 8000)
    assert len(samples) == 8000
    assert any("mixed down" in n for n in notes) and any("16000 Hz to 8000 Hz" in n for n in notes)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) == pytest.approx(500, abs=2)  # 1-Hz bins over 1 s
    assert np.abs(samples[1000:7000]).max() == pytest.approx(0.3, abs=0.01)  # mean of 0.5 and 0.1


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 10])
def test_unreadable_or_empty_audio_names_the_file(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(DataError, match="broken.wav"):
        read_audio(path, 8000)


def test_zero_length_wav_and_missing_file(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(DataError, match="empty.wav holds no samples"):
        read_audio(path, 8000)
    with pytest.raises(DataError, match="nothere.wav does not exist"):
        read_audio(tmp_path / "nothere.wav", 8000)


def test_feature_cache_round_trip(tmp_path):
    cache = FeatureCache(tmp_path)
    content = {"features": torch.ones(2, 1, 128, 11), "names": ["a", "b"]}
    cache.save("set", SPEC, content)
    assert cache.load("set", SPEC)["names"] == ["a", "b"]
    assert cache.load("set", FeatureSpec(n_mels=64)) is None  # another spec, another file
