"""The real Zooniverse recordings layout (../shared/data/humbug/zooniverse_culex: whole recordings,
one vote row per second), and the real-scale claims that no constant predictor can pass."""
import csv

import numpy as np
import pytest
import soundfile

from common.claims import NOT_REPRODUCED, REPRODUCED, check_claims, claims_path, load_claims
from common.errors import DataError
from papers.humbug_cnn.audio import FeatureSpec
from papers.humbug_cnn.data import (
    HumbugDataModule,
    is_recordings_layout,
    load_voted_seconds,
    read_recording_votes,
)
from papers.humbug_cnn.metrics import SCORES, binary_scores, pooled_rates, summarise_splits

HEADER = ["segment_id", "parent_audio_id", "second", "yes", "no", "not_sure", "group"]


def test_real_culex_votes(zooniverse_culex_excerpt):
    votes = read_recording_votes(zooniverse_culex_excerpt / "votes.csv")
    assert len(votes) == 2_072
    assert sum(v.label for v in votes) == 241  # the paper's vote rule
    assert len({v.recording for v in votes}) == 45
    assert all(v.segment_id == str(v.recording * 10_000 + v.second) for v in votes)
    assert is_recordings_layout(zooniverse_culex_excerpt)


def test_real_clip_is_that_second_of_its_recording(zooniverse_culex_excerpt):
    votes = [v for v in read_recording_votes(zooniverse_culex_excerpt / "votes.csv") if v.recording in (4766, 4789)]
    clips, labels, recordings, names = load_voted_seconds(votes, zooniverse_culex_excerpt, FeatureSpec(), progress=False)
    assert len(clips) == len(votes) and set(recordings.tolist()) == {4766, 4789}
    samples, rate = soundfile.read(zooniverse_culex_excerpt / "4789.flac", dtype="float32")
    assert rate == 8000
    index = names.index("47890003")
    np.testing.assert_array_equal(clips[index], samples[3 * 8000 : 4 * 8000])


def _write_votes(folder, rows):
    with open(folder / "votes.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return folder / "votes.csv"


def test_recordings_layout_bad_rows_and_files(tmp_path):
    soundfile.write(tmp_path / "7.flac", np.random.default_rng(0).normal(0, 0.1, (int(2.5 * 16000), 2)).astype(np.float32), 16000)
    votes_csv = _write_votes(tmp_path, [
        [70000, 7, 0, 0, 3, 0, "g"], [70001, 7, 1, 0, 0, 2, "g"],  # seconds 0 and 1: noise, mosquito (not sure x2)
        [70002, 7, 2, 2, 0, 0, "g"],  # [2, 3) runs past the end of a 2.5-s recording
        [70003, 7, 3, 0, 0, 0, "g"],  # no votes
        [80001, 8, 1, 1, 0, 0, "g"],  # no recording 8
    ])
    with pytest.warns(UserWarning, match="without votes"):
        votes = read_recording_votes(votes_csv)
    assert [v.label for v in votes] == [0, 1, 1, 1]
    with pytest.warns(UserWarning) as caught:
        clips, labels, recordings, names = load_voted_seconds(votes, tmp_path, FeatureSpec(), progress=False)
    text = " ".join(str(w.message) for w in caught)
    assert "runs past the end of 7.flac" in text and "8.flac does not exist" in text
    assert "2 channels mixed down" in text and "16000 Hz to 8000 Hz" in text
    assert clips.shape == (2, 8000) and names == ["70000", "70001"] and labels.tolist() == [0, 1]
    (tmp_path / "votes.csv").write_text("segment_id,second,yes\n1,0,1\n")
    with pytest.raises(DataError, match="lacks the columns"):
        read_recording_votes(tmp_path / "votes.csv")
    _write_votes(tmp_path, [[70000, 7, "x", 1, 0, 0, "g"]])
    with pytest.raises(DataError, match="votes.csv:2"):
        read_recording_votes(tmp_path / "votes.csv")


def test_datamodule_reads_the_recordings_layout(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for recording in (1, 2, 3):
        soundfile.write(tmp_path / f"{recording}.flac", rng.normal(0, 0.1, 6 * 8000).astype(np.float32), 8000)
        rows += [[recording * 10_000 + s, recording, s, int(s % 2), 1, 0, "g"] for s in range(1, 5)]
    _write_votes(tmp_path, rows)
    datamodule = HumbugDataModule(root=str(tmp_path), cache_dir=None, split="recording", split_seed=0, feature_device="cpu")
    datamodule.setup("fit")
    assert len(datamodule.labels) == 12 and datamodule.labels.sum() == 6
    assert not set(datamodule.recordings[datamodule.train_index].tolist()) & set(datamodule.recordings[datamodule.test_index].tolist())


def _split_metrics(labels_per_split, probability_per_split, prefix="splits/"):
    per_split = [binary_scores(y, p) for y, p in zip(labels_per_split, probability_per_split, strict=True)]
    return {**summarise_splits([{k: s[k] for k in SCORES} for s in per_split], prefix),
            **{prefix + k: v for k, v in pooled_rates(per_split).items()}}


def _real_verdicts(probability_of):
    """Verdicts of the real-scale claims for a predictor scoring test sets shaped as the real
    ones (684 test clips, 11.6 % mosquito), 10 random and 10 by-recording splits."""
    rng = np.random.default_rng(0)
    labels = [(rng.random(684) < 241 / 2072).astype(int) for _ in range(10)]
    probability = [probability_of(y, rng) for y in labels]
    metrics = {**_split_metrics(labels, probability), **_split_metrics(labels, probability, "by_recording_splits/")}
    claims = [c for c in load_claims(claims_path("humbug_cnn")) if c.scale == "real"]
    return {v.claim.id: v.status for v in check_claims(claims, metrics, "real")}


@pytest.mark.parametrize("constant", [0.0, 0.3, 0.5, 1.0])
def test_constant_predictors_fail_the_real_claims(constant):
    verdicts = _real_verdicts(lambda y, rng: np.full(len(y), constant))
    assert len(verdicts) == 6
    for claim in ("real_balanced_accuracy", "real_roc_auc", "real_by_recording_roc_auc", "real_by_recording_balanced_accuracy"):
        assert verdicts[claim] == NOT_REPRODUCED
    called_mosquito = constant >= 0.5
    assert verdicts["real_mosquito_found" if not called_mosquito else "real_noise_found"] == NOT_REPRODUCED


def test_real_claims_pass_a_detector_that_separates_the_classes():
    # The claims are floors a working detector can meet: scores 0.2 apart with noise of sd 0.1.
    verdicts = _real_verdicts(lambda y, rng: np.clip(0.4 + 0.2 * y + rng.normal(0, 0.1, len(y)), 0, 1))
    assert set(verdicts.values()) == {REPRODUCED}


def test_whole_folder_is_one_test_set(tmp_path):
    rng = np.random.default_rng(2)
    soundfile.write(tmp_path / "5.flac", rng.normal(0, 0.1, 4 * 8000).astype(np.float32), 8000)
    _write_votes(tmp_path, [[50000 + s, 5, s, 1, 1, 0, "g"] for s in range(3)])
    datamodule = HumbugDataModule(root=str(tmp_path), cache_dir=None, feature_device="cpu")
    datamodule.test_on_whole_folder()
    batch = next(iter(datamodule.test_dataloader()))
    assert len(datamodule.test_set) == 3 and batch["label"].tolist() == [1, 1, 1]


def test_real_scale_asks_for_its_folder():
    from omegaconf import OmegaConf

    from common import run
    from common.errors import ConfigError
    from papers.humbug_cnn.reproduce import _data_overrides

    plan = run.compose("reproduce", ["paper=humbug_cnn", "scale=real"]).scales.real
    with pytest.raises(ConfigError, match=r"scales.<scale>.data_root=DIR"):
        _data_overrides(plan)
    given = OmegaConf.merge(plan, {"data_root": "/somewhere/culex"})
    assert _data_overrides(given) == ["data.root=/somewhere/culex"]
    assert _data_overrides(run.compose("reproduce", ["paper=humbug_cnn", "scale=tiny"]).scales.tiny) == []
