"""Labels from votes, the real vote and metadata files, bad rows and files, splits, generator."""
import shutil
import warnings

import numpy as np
import pytest
import soundfile
from sklearn.model_selection import train_test_split

from common.errors import ConfigError, DataError, DataUnavailableError
from papers.humbug_cnn import data as humbug_data
from papers.humbug_cnn.audio import FeatureSpec
from papers.humbug_cnn.data import (
    AudioItem,
    HumbugDataModule,
    humbugdb_test_set,
    load_windows,
    mosquito_label,
    read_humbugdb_metadata,
    read_zooniverse_votes,
    split_indices,
)
from papers.humbug_cnn.synthetic import generate_recordings
from tests.humbug_cnn import excerpt


@pytest.mark.parametrize(("yes", "no", "not_sure", "label"), [
    (1, 1, 0, 1),  # 0.5: mosquito (>= 0.5)
    (0, 1, 1, 0),  # 0.25
    (1, 2, 1, 0),  # 1.5 / 4 = 0.375
    (0, 0, 2, 1),  # two "not sure" = 0.5
    (3, 0, 0, 1),
    (0, 5, 0, 0),
])
def test_vote_rule(yes, no, not_sure, label):
    assert mosquito_label(yes, no, not_sure) == label


def test_real_vote_file():
    if not excerpt.VOTES.is_file():
        pytest.skip("real vote file not found")
    rows = read_zooniverse_votes(excerpt.VOTES)
    labels = np.array([mosquito_label(*r[1:4]) for r in rows])
    assert len(rows) == 79_662
    assert labels.sum() == 8_317  # 10.4 %: the paper's "about 10% mosquito"
    assert {r[4] for r in rows} == {"17/11/2017", "Kenya", "CDC", "Culex Q"}
    assert len({int(r[0]) // 10_000 for r in rows}) == 666  # recordings, from the id pattern


def test_real_humbugdb_metadata_test_sets():
    if not excerpt.METADATA.is_file():
        pytest.skip("real HumBugDB metadata not found")
    rows = read_humbugdb_metadata(excerpt.METADATA)
    sets = [humbugdb_test_set(r) for r in rows]
    assert len(rows) == 9_295
    assert sets.count("A") == 1_163 and sets.count("B") == 198


def test_bad_vote_and_metadata_files(tmp_path):
    bad = tmp_path / "votes.csv"
    bad.write_text("1,0,1,0,CDC\n2,x,1,0,CDC\n")
    with pytest.raises(DataError, match="votes.csv:2"):
        read_zooniverse_votes(bad)
    bad.write_text("1,0,1,0,CDC\n2,0,0,0,CDC\n")
    with pytest.warns(UserWarning, match="without votes"):
        assert len(read_zooniverse_votes(bad)) == 1
    meta = tmp_path / "meta.csv"
    meta.write_text("id,length\n1,2.0\n")
    with pytest.raises(DataError, match="lacks the columns"):
        read_humbugdb_metadata(meta)


def test_bad_files_are_left_out_by_name_and_the_rest_used(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / "good.wav"
    soundfile.write(good, rng.normal(0, 0.1, 8000).astype(np.float32), 8000)
    stereo = tmp_path / "stereo44k.wav"
    soundfile.write(stereo, rng.normal(0, 0.1, (44100, 2)).astype(np.float32), 44100)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"garbage" * 20)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    items = [AudioItem(p, 0, i, p.stem) for i, p in enumerate([good, stereo, broken, empty, tmp_path / "missing.wav"])]
    with pytest.warns(UserWarning) as caught:
        clips, labels, recordings, names = load_windows(items, FeatureSpec(), progress=False)
    text = " ".join(str(w.message) for w in caught)
    for name in ("broken.wav", "empty.wav", "missing.wav", "stereo44k.wav: 2 channels", "44100 Hz to 8000 Hz"):
        assert name in text
    assert clips.shape == (2, 8000) and list(recordings) == [0, 1]


def test_zooniverse_folder_with_a_missing_clip(zooniverse_excerpt, tmp_path):
    first_id = open(zooniverse_excerpt / "audio_1sec.csv").readline().split(",")[0]
    missing = zooniverse_excerpt / "audio_1sec" / f"{first_id}.wav"
    kept = missing.read_bytes()
    missing.unlink()
    try:
        datamodule = HumbugDataModule(source="zooniverse", root=str(zooniverse_excerpt), cache_dir=None,
                                      split="recording", split_seed=0, feature_device="cpu")
        with pytest.warns(UserWarning, match=f"{first_id}.wav does not exist"):
            datamodule.setup("fit")
    finally:
        missing.write_bytes(kept)
    total = len(open(zooniverse_excerpt / "audio_1sec.csv").readlines())
    assert len(datamodule.labels) == total - 1
    assert set(datamodule.labels.tolist()) == {0, 1}
    assert datamodule.features.shape[1:] == (1, 128, 11)
    assert not set(datamodule.recordings[datamodule.train_index].tolist()) & set(datamodule.recordings[datamodule.test_index].tolist())


def test_humbugdb_windows_and_test_set_a(humbugdb_excerpt):
    datamodule = HumbugDataModule(source="humbugdb", root=str(humbugdb_excerpt), cache_dir=None, split="test_a",
                                  features={"clip_seconds": 1.92}, feature_device="cpu")
    datamodule.setup("fit")
    assert datamodule.features.shape[1:] == (1, 128, 20)
    rows = {r["id"]: humbugdb_test_set(r) for r in read_humbugdb_metadata(humbugdb_excerpt / "neurips_2021_zenodo_0_0_1.csv")}
    test_sets = {rows[str(r)] for r in datamodule.recordings[datamodule.test_index].tolist()}
    train_sets = {rows[str(r)] for r in datamodule.recordings[datamodule.train_index].tolist()}
    assert test_sets == {"A"} and train_sets == {None}  # Test B is held out of training too


def test_offline_download_says_what_to_fetch(tmp_path, monkeypatch):
    def offline(url, dest, sha256=None, timeout=60.0):
        raise DataUnavailableError(f"Could not download {url}; put it at {dest}")

    monkeypatch.setattr(humbug_data, "download", offline)
    with pytest.raises(DataUnavailableError, match="audio_1sec.csv"):
        HumbugDataModule(source="zooniverse", data_dir=str(tmp_path), cache_dir=None).setup()
    with pytest.raises(DataUnavailableError, match="Zenodo"):
        HumbugDataModule(source="humbugdb", split="test_a", cache_dir=None).setup()


def test_random_split_is_the_papers_sklearn_split():
    labels = np.arange(100) % 7 == 0
    train, val, test = split_indices(labels.astype(int), np.arange(100) // 4, "random", 0.33, 0.0, 10)
    expected_train, expected_test = train_test_split(np.arange(100), test_size=0.33, random_state=10)
    assert list(train) == sorted(expected_train) and list(test) == sorted(expected_test) and len(val) == 0
    train, val, test = split_indices(labels.astype(int), np.arange(100) // 4, "recording", 0.33, 0.1, 3)
    groups = np.arange(100) // 4
    assert not set(groups[train]) & set(groups[test]) and not set(groups[val]) & set(groups[test])
    with pytest.raises(ConfigError, match="data.split"):
        split_indices(labels, groups, "by_day", 0.33, 0.0, 0)


def test_generator_is_seeded_and_labelled():
    a = generate_recordings(12, seed=5)
    b = generate_recordings(12, seed=5)
    np.testing.assert_array_equal(a.clips, b.clips)
    assert a.clips.shape == (48, 8000) and set(a.labels.tolist()) == {0, 1}
    assert not np.array_equal(a.clips, generate_recordings(12, seed=6).clips)
    assert np.isnan(a.snr_db[a.labels == 0]).sum() > 0 and np.all(np.isfinite(a.snr_db[a.labels == 1]))
    with pytest.raises(ConfigError, match="recording_seconds"):
        generate_recordings(2, 0, recording_seconds=0.5)


def test_features_are_cached_and_reused(tmp_path, monkeypatch):
    options = dict(source="synthetic", cache_dir=str(tmp_path), synthetic={"count": 6}, feature_device="cpu")
    first = HumbugDataModule(**options)
    first.setup()

    def recompute(*args, **kwargs):
        raise AssertionError("features were recomputed instead of read from the cache")

    monkeypatch.setattr(humbug_data, "extract_features", recompute)
    second = HumbugDataModule(**options, split="recording")
    second.setup()
    assert np.array_equal(first.features.numpy(), second.features.numpy())


def test_the_feature_cache_reads_changed_files_again_and_repeats_its_warnings(zooniverse_excerpt, tmp_path):
    root = tmp_path / "zooniverse"
    shutil.copytree(zooniverse_excerpt, root)
    clip_id = open(root / "audio_1sec.csv").readline().split(",")[0]
    clip = root / "audio_1sec" / f"{clip_id}.wav"
    kept = clip.read_bytes()
    options = dict(source="zooniverse", root=str(root), cache_dir=str(tmp_path / "cache"), split="recording",
                   split_seed=0, feature_device="cpu")
    total = len(open(root / "audio_1sec.csv").readlines())

    def loaded(expect_warning: bool) -> int:
        datamodule = HumbugDataModule(**options)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            datamodule.setup("fit")
        named = [w for w in caught if "left out" in str(w.message) and f"{clip_id}.wav" in str(w.message)]
        assert bool(named) == expect_warning, [str(w.message) for w in caught]
        return len(datamodule.labels)

    clip.write_bytes(kept[:20])  # truncated
    assert loaded(expect_warning=True) == total - 1
    assert loaded(expect_warning=True) == total - 1  # served from the cache, with its warning again
    clip.write_bytes(kept)  # restored
    assert loaded(expect_warning=False) == total
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2
