"""IHDP loading on the real excerpt, bad-input errors, the generator and the data module."""
import numpy as np
import pytest

from common.errors import ConfigError, DataError
from papers.treatment_effects.data import (
    IHDP_COLUMNS,
    TreatmentEffectDataModule,
    generate_replication,
    ihdp_replications,
    read_ihdp_csv,
    split_units,
)


def test_reads_real_ihdp(ihdp_excerpt):
    data = read_ihdp_csv(ihdp_excerpt / "ihdp_npci_1.csv")
    assert data.x.shape == (747, 25) and set(np.unique(data.t)) == {0, 1}
    assert data.t.sum() == 139  # 18.6 % treated, as in NPCI setting A
    assert 3.5 < data.effects.mean() < 4.5
    assert ihdp_replications(ihdp_excerpt) == [1, 2, 3, 4, 5]


def _write(path, rows, header=None):
    lines = ([",".join(header)] if header else []) + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(n=6):
    rng = np.random.default_rng(0)
    return [[i % 2, *rng.normal(size=4).round(3), *rng.normal(size=25).round(3)] for i in range(n)]


def test_missing_column_is_named(tmp_path):
    short = _write(tmp_path / "ihdp_npci_1.csv", [row[:-1] for row in _rows()])
    with pytest.raises(DataError, match=r"ihdp_npci_1\.csv.*missing column\(s\) x25"):
        read_ihdp_csv(short)
    header = [c for c in IHDP_COLUMNS if c != "mu1"]
    named = _write(tmp_path / "with_header.csv", [row[:4] + row[5:] for row in _rows()], header=header)
    with pytest.raises(DataError, match=r"with_header\.csv: missing column\(s\) mu1"):
        read_ihdp_csv(named)


def test_non_binary_treatment_is_named(tmp_path):
    rows = _rows()
    rows[2][0] = 2
    with pytest.raises(DataError, match=r"ihdp_npci_7\.csv: column treatment must be binary"):
        read_ihdp_csv(_write(tmp_path / "ihdp_npci_7.csv", rows))


def test_non_numeric_cell_is_named(tmp_path):
    rows = _rows()
    rows[1][3] = "abc"
    with pytest.raises(DataError, match="line 2, column mu0"):
        read_ihdp_csv(_write(tmp_path / "bad.csv", rows))


def test_header_in_any_order_is_read(tmp_path):
    rows = _rows()
    header = list(IHDP_COLUMNS)
    order = list(reversed(range(len(header))))
    path = _write(tmp_path / "reordered.csv", [[row[i] for i in order] for row in rows], [header[i] for i in order])
    assert np.allclose(read_ihdp_csv(path).mu0, [row[3] for row in rows])


def test_missing_replication_lists_what_is_there(tmp_path, ihdp_excerpt):
    datamodule = TreatmentEffectDataModule(root=str(ihdp_excerpt), replication=9)
    with pytest.raises(DataError, match=r"ihdp_npci_9\.csv does not exist.*ihdp_npci_1\.csv"):
        datamodule.setup()


def test_generator_is_seeded_and_overlap_is_tunable():
    a, b = generate_replication(3), generate_replication(3)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    randomised = generate_replication(0, units=4000, selection=0.0)
    selected = generate_replication(0, units=4000, selection=3.0)
    gap = lambda d: abs(d.x[d.t == 1, 0].mean() - d.x[d.t == 0, 0].mean())  # noqa: E731
    assert gap(randomised) < 0.1 < 0.8 < gap(selected)
    factual = np.where(a.t == 1, a.mu1, a.mu0)
    assert 0.3 < np.std(a.y - factual) < 0.7  # noise 0.5 around the known outcome
    with pytest.raises(ConfigError):
        generate_replication(0, selection=-1)


def test_split_and_datamodule_batch():
    mask = split_units(100, 0.2, seed=1)
    assert mask.sum() == 80 and np.array_equal(mask, split_units(100, 0.2, seed=1))
    with pytest.raises(ConfigError, match="test_fraction"):
        split_units(100, 1.5, seed=0)
    datamodule = TreatmentEffectDataModule(source="synthetic", test_fraction=0.25, steps_per_epoch=3,
                                           synthetic={"units": 80})
    datamodule.setup()
    batch = datamodule.batch
    assert batch["x"].shape == (80, 5) and int(batch["train_mask"].sum()) == 60
    y_train = batch["y"][batch["train_mask"]]
    assert abs(float(y_train.mean())) < 1e-5 and abs(float(y_train.std(unbiased=False)) - 1) < 1e-4
    assert len(datamodule.train_dataloader()) == 3 and len(datamodule.test_dataloader()) == 1
    with pytest.raises(ConfigError, match="data.source"):
        TreatmentEffectDataModule(source="twinz")


# ---------------------------------------------------------------------------- Twins and Jobs

@pytest.fixture
def twins_file(twins_excerpt):
    return twins_excerpt / "GANITE_Twin_data.csv.gz"


@pytest.fixture
def jobs_file(jobs_excerpt):
    return jobs_excerpt / "jobs_DW_bin.new.10.test.npz"


def test_reads_real_twins_and_draws_a_seeded_replication(twins_file):
    from papers.treatment_effects.data import read_twins_csv, twins_replication

    table = read_twins_csv(twins_file)
    assert table.x.shape == (11400, 30)
    assert 0.15 < table.y0.mean() < 0.2 and table.y1.mean() < table.y0.mean()  # the lighter twin dies more often
    a, b = twins_replication(table, seed=1), twins_replication(table, seed=1)
    assert np.array_equal(a.t, b.t) and not np.array_equal(a.t, twins_replication(table, seed=2).t)
    assert 0.4 < a.t.mean() < 0.6 and np.allclose(a.x.mean(0), 0, atol=1e-9)
    assert np.array_equal(a.y, np.where(a.t == 1, a.mu1, a.mu0))
    datamodule = TreatmentEffectDataModule(source="twins", root=str(twins_file.parent.parent), replication=1, test_fraction=0.2)
    datamodule.setup()  # the parent folder works too: it holds twins/
    assert int(datamodule.batch["train_mask"].sum()) == 9120


def test_twins_bad_file_is_named(tmp_path):
    from papers.treatment_effects.data import read_twins_csv

    header = ",".join([f"'c{i}'" for i in range(30)] + ["'outcome(t=0)'"])
    path = tmp_path / "GANITE_Twin_data.csv"
    path.write_text(header + "\n" + ",".join(["1"] * 31) + "\n")
    with pytest.raises(DataError, match=r"GANITE_Twin_data\.csv: missing column\(s\) outcome\(t=1\)"):
        read_twins_csv(path)
    path.write_text(header + ",'outcome(t=1)'\n" + ",".join(["1"] * 30) + ",500,9999\n")
    with pytest.raises(DataError, match=r"column outcome\(t=0\) must hold a day of death"):
        read_twins_csv(path)


def test_reads_real_jobs_test_split(jobs_file, tmp_path):
    from papers.treatment_effects.data import jobs_replication, read_jobs_npz

    arrays = read_jobs_npz(jobs_file)
    assert arrays["x"].shape == (642, 17, 10)
    data = jobs_replication({"test": jobs_file}, replication=3)
    assert data.x.shape == (642, 17) and not data.has_potential_outcomes and data.test_units is None
    assert data.t[data.randomised].mean() > data.t.mean()  # every treated unit comes from the trial
    assert (data.t[~data.randomised] == 0).all()
    with pytest.raises(ConfigError, match="replications 1-10"):
        jobs_replication({"test": jobs_file}, replication=11)
    datamodule = TreatmentEffectDataModule(source="jobs", root=str(jobs_file.parent), replication=1)
    datamodule.setup()
    assert "randomised" in datamodule.batch and "mu0" not in datamodule.batch


def test_jobs_bad_file_is_named(tmp_path):
    from papers.treatment_effects.data import read_jobs_npz

    path = tmp_path / "jobs.npz"
    np.savez(path, x=np.zeros((4, 2, 1)), t=np.zeros((4, 1)), yf=np.zeros((4, 1)))
    with pytest.raises(DataError, match=r"jobs\.npz: missing array\(s\) e"):
        read_jobs_npz(path)
    np.savez(path, x=np.zeros((4, 2, 1)), t=np.full((4, 1), 2.0), yf=np.zeros((4, 1)), e=np.ones((4, 1)))
    with pytest.raises(DataError, match=r"jobs\.npz: t must be binary"):
        read_jobs_npz(path)
    with pytest.raises(DataError, match="Missing Jobs file"):
        read_jobs_npz(tmp_path / "absent.npz")


def test_validation_units_are_held_out_per_arm():
    from papers.treatment_effects.data import validation_units

    train = np.ones(100, dtype=bool)
    train[:10] = False
    t = np.r_[np.zeros(50, dtype=int), np.ones(50, dtype=int)]
    held = validation_units(train, t, 0.2, seed=0)
    assert not (held & ~train).any() and held[t == 0].sum() == 8 and held[t == 1].sum() == 10
    assert np.array_equal(held, validation_units(train, t, 0.2, seed=0))
    assert not validation_units(train, t, 0.0, seed=0).any()
    with pytest.raises(ConfigError, match="validation_fraction"):
        validation_units(train, t, 1.0, seed=0)
