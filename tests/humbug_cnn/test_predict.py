"""Sliding-window inference on recordings of any length, rate and channel count; the CLI."""
import importlib.util

import numpy as np
import pytest
import soundfile
import torch

from common import PROJECT_ROOT
from common.errors import ConfigError, DataError
from papers.humbug_cnn.model import MosquitoDetector
from papers.humbug_cnn.predict import (
    Interval,
    Prediction,
    detected_intervals,
    load_detector,
    predict_file,
    window_starts,
)


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.05, n).astype(np.float32)


def test_window_starts():
    assert window_starts(8000, 8000, 8000) == [0]
    assert window_starts(3000, 8000, 4000) == [0]  # shorter than a window: one padded window
    assert window_starts(20000, 8000, 8000) == [0, 8000, 12000]  # the last one ends at the end
    assert window_starts(16000, 8000, 4000) == [0, 4000, 8000]
    assert window_starts(44000, 8000, 4000)[-2:] == [32000, 36000]  # 4.5 s + 1 s = 5.5 s


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = MosquitoDetector(mc_samples=0)
    model.set_normalisation(-30.0, 15.0)
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, path)
    return path


def test_checkpoint_round_trip_and_any_input(checkpoint, tmp_path):
    model = load_detector(checkpoint)
    assert model.feature_std.item() == 15.0
    wav = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    soundfile.write(wav, rng.normal(0, 0.1, (int(5.5 * 22050), 2)).astype(np.float32), 22050)
    csv_path = tmp_path / "out.csv"
    prediction = predict_file(wav, model, hop_seconds=0.5, output=csv_path)
    assert len(prediction.probability) == 10  # starts 0, 0.5, ..., 4.5; the last ends at 5.5 s
    assert prediction.ends[-1] == pytest.approx(5.5)
    assert any("mixed down" in n for n in prediction.notes) and any("22050 Hz" in n for n in prediction.notes)
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "start_s,end_s,p_mosquito" and len(lines) == 11
    with pytest.raises(ConfigError, match="window_seconds=2"):
        predict_file(wav, model, window_seconds=2.0)
    short = tmp_path / "short.wav"
    soundfile.write(short, np.zeros(6000, dtype=np.float32) + 0.01, 8000)
    assert "zero-padded" in predict_file(short, model, mc_samples=4, output=tmp_path / "s.csv").notes[-1]
    assert (tmp_path / "s.csv").read_text().splitlines()[0].endswith("p_std")
    soundfile.write(short, np.zeros(3000, dtype=np.float32) + 0.01, 8000)
    with pytest.raises(DataError, match=r"short.wav: 0.38 s is too short"):
        predict_file(short, model)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16000, dtype=np.float32), 8000)
    with pytest.raises(DataError, match="silent.wav is silent"):
        predict_file(silent, model)


def test_cli_names_bad_input(checkpoint, tmp_path, capsys, monkeypatch):
    script = _scripts_predict(monkeypatch)

    def run(*arguments):
        return _exit_code(lambda: script.main(["paper=humbug_cnn", *arguments]))

    assert run(f"input={tmp_path / 'nothere.wav'}", f"ckpt_path={checkpoint}") == 2
    assert "nothere.wav does not exist" in capsys.readouterr().err
    soundfile.write(tmp_path / "x.wav", _noise(8000), 8000)
    assert run(f"input={tmp_path / 'x.wav'}", f"ckpt_path={tmp_path / 'no.ckpt'}") == 2
    assert "no.ckpt does not exist" in capsys.readouterr().err
    assert run("input=a.wav", "ckpt=b") == 2
    assert "unknown arguments ['ckpt']" in capsys.readouterr().err
    assert run("input=a.wav", "threshold=2") == 2
    assert "threshold must lie in (0, 1]" in capsys.readouterr().err
    wav = tmp_path / "ok.wav"
    soundfile.write(wav, _noise(8000), 8000)
    assert script.main(["paper=humbug_cnn", f"input={wav}", f"ckpt_path={checkpoint}"]) == 0
    assert (tmp_path / "ok.mosquito.csv").is_file()


def _scripts_predict(monkeypatch):
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("scripts_predict", PROJECT_ROOT / "scripts" / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exit_code(call) -> int:
    with pytest.raises(SystemExit) as stopped:
        call()
    return stopped.value.code


def test_scripts_predict_dispatches_by_paper(checkpoint, tmp_path, capsys, monkeypatch):
    # In this process (a subprocess pays torch's import again); the README test runs the script itself.
    script = _scripts_predict(monkeypatch)
    wav = tmp_path / "clip.wav"
    soundfile.write(wav, _noise(16000), 8000)
    arguments = ["paper=humbug_cnn", f"input={wav}", f"ckpt_path={checkpoint}", f"output={tmp_path / 'clip.csv'}"]
    assert script.main(arguments) == 0
    assert len((tmp_path / "clip.csv").read_text().splitlines()) == 3  # header + windows at 0 s and 1 s
    assert script.main([*arguments[:3], "--check"]) == 0
    assert _exit_code(lambda: script.main(["paper=humbug_cnn", "input=a.wav", "ckpt_path=b", "hop=1", "--check"])) == 2
    assert "unknown arguments ['hop']" in capsys.readouterr().err
    assert _exit_code(lambda: script.main(["paper=gin", f"input={wav}"])) == 2
    error = capsys.readouterr().err
    assert "paper=gin" in error and "humbug_cnn" in error


def _prediction(probability, hop=0.5, window=1.0):
    starts = np.arange(len(probability)) * hop
    return Prediction(starts, starts + window, np.asarray(probability), np.zeros(len(probability)), [], 0.0, 1.0)


def test_detected_intervals_merge_overlapping_windows_with_their_mean():
    # windows every 0.5 s, 1 s long: 1-2 overlap, 4 stands alone, 6 touches nothing above the threshold
    prediction = _prediction([0.1, 0.9, 0.7, 0.2, 0.2, 0.8, 0.4, 0.3])
    assert detected_intervals(prediction, 0.5) == [Interval(0.5, 2.0, 0.8), Interval(2.5, 3.5, 0.8)]
    assert detected_intervals(prediction, 0.85) == [Interval(0.5, 1.5, 0.9)]
    assert detected_intervals(prediction, 0.95) == []
    # windows that only touch (end == next start) merge too
    assert detected_intervals(_prediction([0.6, 0.6], hop=1.0), 0.5) == [Interval(0.0, 2.0, 0.6)]


def test_a_folder_of_recordings_gives_tables_pictures_intervals_and_names_what_it_skipped(checkpoint, tmp_path,
                                                                                          capsys, monkeypatch):
    script = _scripts_predict(monkeypatch)
    folder = tmp_path / "field"
    (folder / "day2").mkdir(parents=True)
    soundfile.write(folder / "a.wav", _noise(3 * 8000), 8000)
    soundfile.write(folder / "day2" / "b.flac", np.stack([_noise(2 * 16000, 1)] * 2, axis=1), 16000)
    soundfile.write(folder / "silent.wav", np.zeros(8000, dtype=np.float32), 8000)
    (folder / "broken.wav").write_bytes(b"RIFF....")
    (folder / "notes.txt").write_text("not audio")
    assert script.main(["paper=humbug_cnn", f"input={folder}", f"ckpt_path={checkpoint}", "threshold=0.01"]) == 0
    out = folder / "mosquito_predictions"
    for name in ("a", "day2/b"):
        assert (out / f"{name}.mosquito.csv").is_file() and (out / f"{name}.mosquito.png").stat().st_size > 5_000
    rows = (out / "intervals.csv").read_text().splitlines()
    assert rows[0] == "recording,start_s,end_s,mean_p_mosquito" and {r.split(",")[0] for r in rows[1:]} <= {"a.wav", "day2/b.flac"}
    error = capsys.readouterr().err
    assert "skipped: audio file" in error and "silent.wav is silent" in error and "broken.wav cannot be read" in error
    assert "notes.txt" not in error
    (folder / "a.wav").unlink()
    (folder / "day2" / "b.flac").unlink()
    assert _exit_code(lambda: script.main(["paper=humbug_cnn", f"input={folder}", f"ckpt_path={checkpoint}"])) == 2
    assert "none of its 2 recordings could be scored" in capsys.readouterr().err
