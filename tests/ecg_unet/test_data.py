import shutil

import numpy as np
import pytest
import wfdb

from common.errors import ConfigError, DataError
from papers.ecg_unet.data import (
    LUDB_LEADS,
    EcgDataModule,
    generate_record,
    load_ludb,
    read_ludb_record,
    resample,
    split_records,
    to_model_rate,
)
from papers.ecg_unet.delineation import IGNORE, QRS, T


def test_ludb_record_matches_wfdb(ludb_excerpt):
    record = read_ludb_record(ludb_excerpt / "data" / "1")
    assert record.signal.shape == (12, 5000) and record.sampling_rate == 500
    raw = wfdb.rdrecord(str(ludb_excerpt / "data" / "1"))
    np.testing.assert_allclose(record.signal, raw.p_signal.T, atol=1e-6)
    annotation = wfdb.rdann(str(ludb_excerpt / "data" / "1"), "i")
    first = record.waves[0][0]
    # LUDB record 1, lead i starts with '(' 641, 'N' 664, ')' 690.
    assert (first.kind, first.onset, first.offset) == (QRS, 641, 690)
    assert len(record.waves[0]) == annotation.symbol.count("N") + annotation.symbol.count("p") + annotation.symbol.count("t")
    assert record.spans[0] == (641, record.waves[0][-1].offset)
    labels = record.labels(0)
    assert (labels[:641] == IGNORE).all() and labels[641] == QRS


def test_ludb_lead_with_malformed_annotation_is_left_out(ludb_excerpt):
    with pytest.warns(UserWarning, match="left out"):
        record = read_ludb_record(ludb_excerpt / "data" / "7")
    v1 = LUDB_LEADS.index("v1")
    assert record.spans[v1] is None and record.waves[v1] == []
    assert (record.labels(v1) == IGNORE).all()


def _copy_records(source, target, names):
    (target / "data").mkdir(parents=True)
    for name in names:
        for path in (source / "data").glob(f"{name}.*"):
            shutil.copy(path, target / "data" / path.name)
    (target / "RECORDS").write_text("".join(f"data/{n}\n" for n in names))
    sums = [line for line in (source / "SHA256SUMS.txt").read_text().splitlines()
            if any(line.endswith(f"data/{n}.{ext}") for n in names for ext in ("hea", "dat"))]
    (target / "SHA256SUMS.txt").write_text("\n".join(sums) + "\n")


def test_ludb_folder_is_checked_against_its_sha256sums(ludb_excerpt, tmp_path):
    _copy_records(ludb_excerpt, tmp_path, ["1", "2"])
    assert [r.name for r in load_ludb(tmp_path, data_dir=tmp_path / "cache")] == ["1", "2"]
    dat = tmp_path / "data" / "2.dat"
    dat.write_bytes(dat.read_bytes()[:-10] + b"\0" * 10)
    # the changed record is left out and named, in words that fit a user's own folder (no "download it again")
    with pytest.warns(UserWarning, match=r"1 of 2 LUDB records left out: .*2\.dat does not match its checksum in "
                                         r".*SHA256SUMS.txt \(the copy is corrupt or was changed\)") as caught:
        assert [r.name for r in load_ludb(tmp_path, data_dir=tmp_path / "cache")] == ["1"]
    assert not any("download" in str(w.message) for w in caught)


def test_unreadable_records_are_left_out_until_none_is_left(ludb_excerpt, tmp_path):
    _copy_records(ludb_excerpt, tmp_path, ["1", "2"])
    (tmp_path / "SHA256SUMS.txt").unlink()
    dat = tmp_path / "data" / "1.dat"
    dat.write_bytes(dat.read_bytes()[:100])  # truncated: wfdb cannot load its samples
    with pytest.warns(UserWarning, match=r"1 of 2 LUDB records left out: Could not read LUDB record .*1"):
        assert [r.name for r in load_ludb(tmp_path, data_dir=tmp_path / "cache")] == ["2"]
    (tmp_path / "data" / "2.hea").unlink()
    with pytest.raises(DataError, match=r"none of its 2 LUDB records could be read: .*1.*Missing LUDB header .*2\.hea"):
        load_ludb(tmp_path, data_dir=tmp_path / "cache")


def test_missing_annotation_file_is_named(ludb_excerpt, tmp_path):
    _copy_records(ludb_excerpt, tmp_path, ["1"])
    (tmp_path / "data" / "1.v6").unlink()
    with pytest.raises(DataError, match=r"1\.v6"):
        load_ludb(tmp_path, data_dir=tmp_path / "cache")


def test_missing_root_names_the_path(tmp_path):
    with pytest.raises(DataError, match="data.root=.*nowhere"):
        EcgDataModule(source="ludb", root=str(tmp_path / "nowhere"))


@pytest.mark.parametrize("seed", range(5))
def test_generated_waves_are_the_supports_of_the_drawn_bumps(seed):
    rng = np.random.default_rng(seed)
    record = generate_record(rng, "clean", seconds=6.0, n_leads=1, noise_mv=0.0, wander_mv=0.0)
    signal, waves = record.signal[0], record.waves[0]
    assert len(waves) >= 9  # at least three whole beats at <= 110 bpm in 6 s
    inside = np.zeros(signal.size, dtype=bool)
    for wave in waves:
        assert np.all(np.abs(signal[wave.onset : wave.offset + 1]) > 0) or wave.kind == QRS
        inside[wave.onset : wave.offset + 1] = True
    span = record.spans[0]
    # Between the annotated waves (inside the span) the clean signal is exactly flat.
    between = ~inside
    between[: span[0]] = False
    between[span[1] + 1 :] = False
    assert np.abs(signal[between]).max() < 1e-6
    ordered = sorted(waves, key=lambda w: w.onset)
    assert all(a.offset < b.onset and a.kind != b.kind for a, b in zip(ordered[:-1], ordered[1:], strict=True))


def test_generator_is_seeded():
    a = generate_record(np.random.default_rng(1), "a")
    b = generate_record(np.random.default_rng(1), "b")
    np.testing.assert_array_equal(a.signal, b.signal)
    assert a.waves == b.waves


def test_resample_sine_is_accurate():
    t250 = (np.arange(2500) + 0.5) / 250
    t500 = (np.arange(5000) + 0.5) / 500
    upsampled = resample(np.sin(2 * np.pi * 5 * t250)[None], 250, 500)
    assert upsampled.shape == (1, 5000)
    assert np.abs(upsampled[0, 10:-10] - np.sin(2 * np.pi * 5 * t500)[10:-10]).max() < 1e-3


def test_to_model_rate_moves_annotations():
    record = generate_record(np.random.default_rng(0), "x", seconds=4.0, sampling_rate=250, noise_mv=0, wander_mv=0)
    moved = to_model_rate(record)
    assert moved.signal.shape[1] == 2 * record.signal.shape[1]
    for before, after in zip(record.waves[0], moved.waves[0], strict=True):
        assert abs(after.onset - 2 * before.onset) <= 1 and abs(after.offset - 2 * before.offset) <= 1
        assert after.kind == before.kind


def test_split_is_by_record_and_reproducible():
    records = list(range(50))
    train, val, test = split_records(records, 0.2, 0.1, seed=4)
    assert sorted(train + val + test) == records and len(test) == 10 and len(val) == 5
    assert split_records(records, 0.2, 0.1, seed=4) == (train, val, test)
    assert split_records(records, 0.2, 0.1, seed=5)[2] != test
    with pytest.raises(ConfigError, match="test_fraction"):
        split_records(records, 1.2, 0.1, seed=0)


def test_training_windows_are_seeded_per_item():
    datamodule = EcgDataModule(source="synthetic", synthetic={"records": 6, "seconds": 4.0}, window_seconds=2.0,
                               augmentation={"noise_mv": 0.05, "wander_mv": 0.2})
    datamodule.setup("fit")
    dataset = datamodule.train_dataloader().dataset
    first, second, other = dataset[(0, 123)], dataset[(0, 123)], dataset[(0, 124)]
    assert first[0].shape == (1, 1000) and first[1].shape == (1000,)
    assert (first[0] == second[0]).all() and not (first[0] == other[0]).all()
    assert set(np.unique(first[1].numpy())) <= {IGNORE, 0, 1, 2, T}
