"""Treatment-effect data: IHDP (NPCI setting A, CSV replications) and a generator with known effects.

A replication holds covariates, a binary treatment, the factual outcome and both noiseless
potential outcomes (mu0, mu1), so the true individual effect mu1 - mu0 is known and sqrt(PEHE)
is exact. The model sees one replication as one full batch: training units with their factual
outcomes, and every unit's covariates (test units only for scoring out-of-sample).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from common.data import cache_dir, download
from common.errors import ConfigError, DataError

IHDP_COVARIATES = tuple(f"x{i}" for i in range(1, 26))
IHDP_COLUMNS = ("treatment", "y_factual", "y_cfactual", "mu0", "mu1", *IHDP_COVARIATES)
# The CEVAE repository's copy of the NPCI simulation; replications 1-5 are pinned by checksum.
IHDP_URL = "https://raw.githubusercontent.com/AMLab-Amsterdam/CEVAE/master/datasets/IHDP/csv/ihdp_npci_{}.csv"
IHDP_SHA256 = {
    1: "2bdc8b94fdf2f669b1d3d49325fd9359d88418566545003867841312a1653411",
    2: "36db2f3d002250bc95e5214477718c939fbe7dfe8df573c4050d8b246d314042",
    3: "bd792ce0642468195b2c3f0cd4c521378d7d52d044f153e844d151a87e067518",
    4: "ac04602a2f052af1211347bcaff87f7bab356a4a7f42f8c6a81edede51549006",
    5: "8f9b3ef4b66e8f9dd240c9851233f4fb483c73c25b6d23c6459c666edb9cd691",
}


@dataclass
class Replication:
    name: str
    x: np.ndarray  # (n, d) covariates
    t: np.ndarray  # (n,) 0 = control, 1 = treated
    y: np.ndarray  # (n,) factual outcome
    mu0: np.ndarray  # (n,) noiseless outcome under control
    mu1: np.ndarray  # (n,) noiseless outcome under treatment

    @property
    def effects(self) -> np.ndarray:
        return self.mu1 - self.mu0


# ---------------------------------------------------------------------------- IHDP


def _read_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Columns by name: from a header row when the file has one, else IHDP's fixed order."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path} is empty")
    first = [cell.strip() for cell in lines[0].split(",")]
    has_header = any(cell and not _is_number(cell) for cell in first)
    names = first if has_header else None
    rows = [line.split(",") for line in lines[1:] if has_header] or [line.split(",") for line in lines]
    width = len(names) if names else len(IHDP_COLUMNS)
    for number, row in enumerate(rows, 2 if has_header else 1):
        if len(row) != width:
            if names is None and len(row) < width:
                missing = IHDP_COLUMNS[len(row):]
                raise DataError(
                    f"{path}: line {number} has {len(row)} columns, expected {width} "
                    f"({', '.join(IHDP_COLUMNS[:3])}, ..., x25); missing column(s) {', '.join(missing)} "
                    "(the file has no header, so columns are read in that order)"
                )
            raise DataError(f"{path}: line {number} has {len(row)} columns, expected {width}")
    if names is None:
        names = list(IHDP_COLUMNS)
    else:
        missing = [column for column in IHDP_COLUMNS if column not in names]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(names)})")
    try:
        values = np.array([[float(cell) for cell in row] for row in rows])
    except ValueError:
        for number, row in enumerate(rows, 2 if has_header else 1):
            for column, cell in zip(names, row, strict=True):
                if not _is_number(cell):
                    raise DataError(f"{path}: line {number}, column {column}: {cell!r} is not a number") from None
        raise
    return names, values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_ihdp_csv(path: str | Path) -> Replication:
    """One IHDP replication: treatment, y_factual, y_cfactual, mu0, mu1, x1..x25 (header optional)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Missing IHDP file {path}")
    names, values = _read_table(path)
    column = {name: values[:, names.index(name)] for name in IHDP_COLUMNS}
    if not np.isfinite(values).all():
        bad = next(name for name in IHDP_COLUMNS if not np.isfinite(column[name]).all())
        raise DataError(f"{path}: column {bad} holds NaN or infinite values")
    treatment = column["treatment"]
    if not np.isin(treatment, (0.0, 1.0)).all():
        odd = sorted({float(v) for v in np.unique(treatment)} - {0.0, 1.0})[:5]
        raise DataError(f"{path}: column treatment must be binary (0/1), found {odd}")
    if treatment.min() == treatment.max():
        raise DataError(f"{path}: column treatment holds only {int(treatment[0])}s; both arms are needed")
    x = np.stack([column[name] for name in IHDP_COVARIATES], axis=1)
    return Replication(path.stem, x, treatment.astype(np.int64), column["y_factual"], column["mu0"], column["mu1"])


def ihdp_path(root: str | Path | None, data_dir: str | Path, replication: int) -> Path:
    """Where replication `replication` lies: in `root`, or downloaded into the cache."""
    name = f"ihdp_npci_{replication}.csv"
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"data.root={root} is not a folder of ihdp_npci_<i>.csv files")
        path = root / name
        if not path.is_file():
            found = sorted(p.name for p in root.glob("ihdp_npci_*.csv"))
            raise DataError(f"{path} does not exist; {root} holds {found or 'no ihdp_npci_<i>.csv files'}")
        return path
    expected = IHDP_SHA256.get(replication)
    if expected is None:
        warnings.warn(f"IHDP replication {replication} has no pinned checksum; it is downloaded unverified",
                      stacklevel=2)
    return download(IHDP_URL.format(replication), cache_dir(data_dir, "ihdp") / name, sha256=expected)


def ihdp_replications(root: str | Path) -> list[int]:
    """Replication numbers of the ihdp_npci_<i>.csv files in a folder, sorted."""
    numbers = []
    for path in Path(root).expanduser().glob("ihdp_npci_*.csv"):
        suffix = path.stem.removeprefix("ihdp_npci_")
        if suffix.isdigit():
            numbers.append(int(suffix))
    return sorted(numbers)


# ---------------------------------------------------------------------------- generator


def generate_replication(
    seed: int, units: int = 500, dim: int = 5, selection: float = 1.0, noise: float = 0.5
) -> Replication:
    """Smooth nonlinear potential outcomes with a heterogeneous effect and selection on x.

    Treatment is drawn with propensity sigmoid(selection * (x1 + x2) / sqrt 2): `selection` = 0 is
    a randomised trial; large values leave treated and control units on opposite sides of the
    covariate space (poor overlap). Outcomes depend on the same covariates, so they confound.
    """
    if units < 20 or dim < 2 or selection < 0 or noise < 0:
        raise ConfigError(
            f"data.synthetic needs units >= 20, dim >= 2, selection >= 0, noise >= 0; "
            f"got {units}, {dim}, {selection}, {noise}"
        )
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(units, dim))
    propensity = 1 / (1 + np.exp(-selection * (x[:, 0] + x[:, 1]) / np.sqrt(2)))
    t = (rng.uniform(size=units) < propensity).astype(np.int64)
    if t.min() == t.max():
        raise ConfigError(f"data.synthetic.selection={selection} left one arm empty; lower it or add units")
    mu0 = np.sin(x[:, 0]) + 0.5 * x[:, 1] + 0.25 * x[:, 2] ** 2
    effect = 1.0 + np.tanh(x[:, 0]) + 0.5 * np.cos(x[:, 1])
    mu1 = mu0 + effect
    y = np.where(t == 1, mu1, mu0) + noise * rng.normal(size=units)
    return Replication(f"synthetic-{seed}", x, t, y, mu0, mu1)


# ---------------------------------------------------------------------------- data module


def split_units(units: int, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of training units, a seeded random (1 - test_fraction) share."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"data.test_fraction must lie in (0, 1), got {test_fraction}")
    n_test = max(1, int(round(test_fraction * units)))
    order = np.random.default_rng(seed).permutation(units)
    mask = np.ones(units, dtype=bool)
    mask[order[:n_test]] = False
    return mask


def replication_batch(replication: Replication, train_mask: np.ndarray) -> dict[str, torch.Tensor]:
    """Everything a model needs about one replication, as tensors; factual outcomes standardised
    with the training units' mean and std (`y_mean`, `y_std` undo it)."""
    y_train = replication.y[train_mask]
    for arm in (0, 1):
        if not (replication.t[train_mask] == arm).any():
            raise DataError(f"{replication.name}: no {'treated' if arm else 'control'} units among the training units")
    y_mean, y_std = float(y_train.mean()), float(y_train.std() or 1.0)
    return {
        "x": torch.as_tensor(replication.x, dtype=torch.float32),
        "t": torch.as_tensor(replication.t),
        "y": torch.as_tensor((replication.y - y_mean) / y_std, dtype=torch.float32),
        "train_mask": torch.as_tensor(train_mask),
        "mu0": torch.as_tensor(replication.mu0, dtype=torch.float64),
        "mu1": torch.as_tensor(replication.mu1, dtype=torch.float64),
        "y_mean": torch.tensor(y_mean, dtype=torch.float64),
        "y_std": torch.tensor(y_std, dtype=torch.float64),
    }


class _RepeatedBatch(Dataset):
    """The same full-replication batch `repeats` times: one epoch = `repeats` full-batch steps."""

    def __init__(self, batch: dict, repeats: int):
        self.batch = batch
        self.repeats = repeats

    def __len__(self) -> int:
        return self.repeats

    def __getitem__(self, index: int) -> dict:
        return self.batch


class TreatmentEffectDataModule(pl.LightningDataModule):
    """One replication (IHDP `source=ihdp`, or generated `source=synthetic`) as one full batch."""

    def __init__(
        self,
        source: str = "ihdp",
        root: str | None = None,
        data_dir: str = "~/.cache/paper-repro",
        replication: int = 1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        steps_per_epoch: int = 50,
        synthetic: dict | None = None,
    ):
        super().__init__()
        if source not in ("ihdp", "synthetic"):
            raise ConfigError(f"data.source must be 'ihdp' or 'synthetic', got {source!r}")
        if replication < 1:
            raise ConfigError(f"data.replication must be >= 1, got {replication}")
        if steps_per_epoch < 1:
            raise ConfigError(f"data.steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.source = source
        self.root = root
        self.data_dir = data_dir
        self.replication = replication
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.steps_per_epoch = steps_per_epoch
        self.synthetic = dict(synthetic or {})
        self.data: Replication | None = None
        self.batch: dict | None = None

    def load(self) -> Replication:
        if self.source == "synthetic":
            return generate_replication(seed=self.replication, **self.synthetic)
        return read_ihdp_csv(ihdp_path(self.root, self.data_dir, self.replication))

    def setup(self, stage: str | None = None) -> None:
        if self.batch is not None:
            return
        self.data = self.load()
        self.train_mask = split_units(len(self.data.t), self.test_fraction, seed=self.split_seed * 100_003 + self.replication)
        self.batch = replication_batch(self.data, self.train_mask)

    def _loader(self, repeats: int) -> DataLoader:
        return DataLoader(_RepeatedBatch(self.batch, repeats), batch_size=None, num_workers=0)

    def train_dataloader(self):
        return self._loader(self.steps_per_epoch)

    def test_dataloader(self):
        return self._loader(1)
