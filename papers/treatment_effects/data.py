"""Treatment-effect data: IHDP (NPCI setting A), Twins (GANITE version), Jobs (cfrnet format), and
a generator with known effects.

A replication holds covariates, a binary treatment, the factual outcome and, where they are known,
both potential outcomes (mu0, mu1): IHDP's noiseless simulated ones, Twins' two twins' mortality,
the generator's. Jobs has no counterfactuals: it marks instead which units come from the randomised
experiment (`randomised`), on which policy risk and the ATT error are scored. The model sees one
replication as one full batch: training units with their factual outcomes, and every unit's
covariates (test units only for scoring out-of-sample).

A trained model scores a folder of IHDP-layout CSV files with `scripts/evaluate.py whole_folder=DIR`
(`TreatmentEffectDataModule.build_whole`): each file is a replication, split as training would split
it, the model's regressors conditioned on its training units' factual outcomes; the test metrics
are the mean over the files. A file that cannot be read is skipped and named.
"""
from __future__ import annotations

import gzip
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from common.data import cache_dir, download
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError
from common.skipped import warn_skipped

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


# Twins, GANITE's version: 11,400 same-sex twin pairs below 2 kg, 30 covariates, both twins' outcome.
TWINS_FILE = "GANITE_Twin_data.csv.gz"
TWINS_URL = ("https://bitbucket.org/mvdschaar/mlforhealthlabpub/raw/0b0190bcd38a76c405c805f1ca774971fcd85233/"
             "data/twins/Twin_Data.csv.gz")
TWINS_SHA256 = "0128e5dfdeb468e85fd2818330beff49d4d433b7f7d56d3eb678f87ab15b00a9"
TWINS_OUTCOMES = ("outcome(t=0)", "outcome(t=1)")
TWINS_SURVIVED = 9999  # the outcome columns hold the day of death within the first year, 9999 if none
# Jobs (LaLonde NSW + PSID), cfrnet's binary version with 10 replications of an 80/20 split.
JOBS_FILES = {"train": "jobs_DW_bin.new.10.train.npz", "test": "jobs_DW_bin.new.10.test.npz"}
JOBS_URL = "https://www.fredjo.com/files/{}"
JOBS_SHA256 = {"test": "11c198167ef322af50e48eb9d48857d6a76d8dea5eadfb2d60d4a82a6357e39f"}
SOURCES = ("ihdp", "twins", "jobs", "synthetic")


@dataclass
class Replication:
    name: str
    x: np.ndarray  # (n, d) covariates
    t: np.ndarray  # (n,) 0 = control, 1 = treated
    y: np.ndarray  # (n,) factual outcome
    mu0: np.ndarray | None  # (n,) outcome under control (noiseless where simulated); None if unknown (Jobs)
    mu1: np.ndarray | None  # (n,) outcome under treatment
    randomised: np.ndarray | None = None  # (n,) True for units of a randomised trial (Jobs)
    test_units: np.ndarray | None = None  # (n,) a split fixed by the data set itself (Jobs' train/test files)

    @property
    def has_potential_outcomes(self) -> bool:
        return self.mu0 is not None and self.mu1 is not None

    @property
    def effects(self) -> np.ndarray:
        if not self.has_potential_outcomes:
            raise DataError(f"{self.name}: the true effects are unknown (no potential outcomes)")
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
        root = _resolve_root(root, "ihdp", name)
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
    root = Path(root).expanduser()
    if not any(root.glob("ihdp_npci_*.csv")) and (root / "ihdp").is_dir():
        root = root / "ihdp"
    for path in root.glob("ihdp_npci_*.csv"):
        suffix = path.stem.removeprefix("ihdp_npci_")
        if suffix.isdigit():
            numbers.append(int(suffix))
    return sorted(numbers)


def _resolve_root(root: str | Path, source: str, wanted: str) -> Path:
    """`root` itself, or its subfolder named after the data set when that is where `wanted` lies."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root={root} is not a folder")
    if not (root / wanted).exists() and (root / source / wanted).exists():
        return root / source
    return root


# ---------------------------------------------------------------------------- Twins


@dataclass
class TwinsTable:
    path: Path
    x: np.ndarray  # (n, 30) covariates as in the file
    y0: np.ndarray  # (n,) 1 if the lighter twin died in its first year
    y1: np.ndarray  # (n,) 1 if the heavier twin did


def read_twins_csv(path: str | Path) -> TwinsTable:
    """GANITE's Twins file: 30 covariate columns, then outcome(t=0) and outcome(t=1) (day of death or 9999)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Missing Twins file {path}")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not a readable (gzipped) CSV file: {err}") from err
    if len(lines) < 2:
        raise DataError(f"{path} holds no rows")
    names = [cell.strip().strip("'\"‘’") for cell in lines[0].split(",")]
    missing = [column for column in TWINS_OUTCOMES if column not in names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(names)})")
    rows = []
    for number, line in enumerate(lines[1:], 2):
        cells = line.split(",")
        if len(cells) != len(names):
            raise DataError(f"{path}: line {number} has {len(cells)} columns, expected {len(names)}")
        try:
            rows.append([float(cell) for cell in cells])
        except ValueError:
            bad = next(i for i, cell in enumerate(cells) if not _is_number(cell))
            raise DataError(f"{path}: line {number}, column {names[bad]}: {cells[bad]!r} is not a number") from None
    values = np.array(rows)
    if not np.isfinite(values).all():
        bad = names[int(np.flatnonzero(~np.isfinite(values).all(0))[0])]
        raise DataError(f"{path}: column {bad} holds NaN or infinite values")
    outcomes = [names.index(column) for column in TWINS_OUTCOMES]
    for column, index in zip(TWINS_OUTCOMES, outcomes, strict=True):
        days = values[:, index]
        if ((days < 0) | ((days > 366) & (days != TWINS_SURVIVED))).any():
            odd = sorted({float(v) for v in days[(days < 0) | ((days > 366) & (days != TWINS_SURVIVED))]})[:5]
            raise DataError(f"{path}: column {column} must hold a day of death (0-366) or {TWINS_SURVIVED}, found {odd}")
    covariates = [i for i in range(len(names)) if i not in outcomes]
    died = (values[:, outcomes] != TWINS_SURVIVED).astype(float)
    return TwinsTable(path, values[:, covariates], died[:, 0], died[:, 1])


def twins_path(root: str | Path | None, data_dir: str | Path) -> Path:
    if root is not None:
        folder = _resolve_root(root, "twins", TWINS_FILE)
        path = folder / TWINS_FILE
        if not path.is_file():
            raise DataError(f"{path} does not exist; put GANITE's Twins file there under that name")
        return path
    return download(TWINS_URL, cache_dir(data_dir, "twins") / TWINS_FILE, sha256=TWINS_SHA256)


def twins_replication(table: TwinsTable, seed: int) -> Replication:
    """One Twins replication in GANITE's protocol: the lighter twin is 'control' (t=0), the heavier
    'treated' (t=1), mortality is the outcome, and which twin is observed is drawn per pair with
    P(t=1 | x) = min(1, p(x) / (2 mean p)), p(x) = sigmoid(x.w + N(0, 0.01^2)), w ~ U(-0.01, 0.01)^30
    on the raw covariates (a mild, seeded selection). Covariates are then standardised."""
    rng = np.random.default_rng(seed)
    n, dim = table.x.shape
    score = table.x @ rng.uniform(-0.01, 0.01, size=dim) + rng.normal(0, 0.01, size=n)
    propensity = 1 / (1 + np.exp(-score))
    propensity = np.minimum(propensity / (2 * propensity.mean()), 1.0)
    t = (rng.uniform(size=n) < propensity).astype(np.int64)
    if t.min() == t.max():
        raise DataError(f"{table.path}: the treatment draw left one arm empty")
    spread = table.x.std(0)
    x = (table.x - table.x.mean(0)) / np.where(spread > 0, spread, 1.0)
    y = np.where(t == 1, table.y1, table.y0)
    return Replication(f"twins-{seed}", x, t, y, table.y0.copy(), table.y1.copy())


# ---------------------------------------------------------------------------- Jobs


def read_jobs_npz(path: str | Path) -> dict[str, np.ndarray]:
    """cfrnet's Jobs file: x (n, d, R), t, yf, e (n, R); t, yf and e binary."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Missing Jobs file {path}")
    try:
        with np.load(path) as handle:
            arrays = {key: handle[key] for key in handle.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not a readable .npz file: {err}") from err
    missing = [key for key in ("x", "t", "yf", "e") if key not in arrays]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)} (found {', '.join(sorted(arrays))})")
    x = arrays["x"]
    if x.ndim != 3:
        raise DataError(f"{path}: x must have shape (units, covariates, replications), got {x.shape}")
    for key in ("t", "yf", "e"):
        if arrays[key].shape != (x.shape[0], x.shape[2]):
            raise DataError(f"{path}: {key} must have shape {(x.shape[0], x.shape[2])}, got {arrays[key].shape}")
        if not np.isin(arrays[key], (0.0, 1.0)).all():
            raise DataError(f"{path}: {key} must be binary (0/1)")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x holds NaN or infinite values")
    return arrays


def jobs_paths(root: str | Path | None, data_dir: str | Path) -> dict[str, Path]:
    """The test file (needed) and the train file (used when present) of cfrnet's Jobs."""
    if root is not None:
        folder = _resolve_root(root, "jobs", JOBS_FILES["test"])
        paths = {split: folder / name for split, name in JOBS_FILES.items() if (folder / name).is_file()}
        if "test" not in paths:
            raise DataError(f"{folder / JOBS_FILES['test']} does not exist; put cfrnet's Jobs files there")
        return paths
    paths = {}
    for split, name in JOBS_FILES.items():
        if split not in JOBS_SHA256:
            warnings.warn(f"{name} has no pinned checksum; it is downloaded unverified", stacklevel=2)
        paths[split] = download(JOBS_URL.format(name), cache_dir(data_dir, "jobs") / name, sha256=JOBS_SHA256.get(split))
    return paths


def jobs_replication(paths: dict[str, Path], replication: int) -> Replication:
    """Replication `replication` (1-based) of Jobs: the train and test files' units with cfrnet's
    split (`test_units`); with the test file alone, its units only (split by the data module)."""
    parts = [(split, read_jobs_npz(paths[split])) for split in ("train", "test") if split in paths]
    for split, arrays in parts:
        if not 1 <= replication <= arrays["x"].shape[2]:
            raise ConfigError(
                f"data.replication={replication}, but {paths[split]} holds replications 1-{arrays['x'].shape[2]}")
    column = replication - 1
    x = np.concatenate([a["x"][:, :, column] for _, a in parts])
    t = np.concatenate([a["t"][:, column] for _, a in parts]).astype(np.int64)
    y = np.concatenate([a["yf"][:, column] for _, a in parts])
    e = np.concatenate([a["e"][:, column] for _, a in parts]).astype(bool)
    test = np.concatenate([np.full(len(a["t"]), split == "test") for split, a in parts])
    if t.min() == t.max():
        raise DataError(f"{paths['test']}: replication {replication} holds only one arm")
    return Replication(f"jobs-{replication}", x, t, y, None, None, randomised=e,
                       test_units=test if len(parts) == 2 else None)


# ---------------------------------------------------------------------------- generator


def generate_replication(
    seed: int, units: int = 500, dim: int = 5, selection: float = 1.0, noise: float = 0.5, heavy_tail: float = 0.0
) -> Replication:
    """Smooth nonlinear potential outcomes with a heterogeneous effect and selection on x.

    Treatment is drawn with propensity sigmoid(selection * (x1 + x2) / sqrt 2): `selection` = 0 is
    a randomised trial; large values leave treated and control units on opposite sides of the
    covariate space (poor overlap). Outcomes depend on the same covariates, so they confound.
    `heavy_tail` = h > 0 adds h * exp(1.5 x3) to the control outcome only, as IHDP's exponential
    response surface does: the effects get a log-normal tail (their sd is about 9 h, a few units
    carry most of it) while the noise stays `noise`.
    """
    if units < 20 or dim < 3 or selection < 0 or noise < 0 or heavy_tail < 0:
        raise ConfigError(
            f"data.synthetic needs units >= 20, dim >= 3, selection >= 0, noise >= 0, heavy_tail >= 0; "
            f"got {units}, {dim}, {selection}, {noise}, {heavy_tail}"
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
    if heavy_tail > 0:
        mu0 = mu0 + heavy_tail * np.exp(1.5 * x[:, 2])
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


def validation_units(train_mask: np.ndarray, t: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a seeded `fraction` of the training units of each arm, held out from fitting
    (their factual outcomes pick the training length); all False for fraction 0."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"data.validation_fraction must lie in [0, 1), got {fraction}")
    mask = np.zeros_like(train_mask)
    if fraction == 0:
        return mask
    rng = np.random.default_rng(seed)
    for arm in (0, 1):
        units = np.flatnonzero(train_mask & (t == arm))
        n_held = int(round(fraction * len(units)))
        if n_held >= len(units):
            raise DataError(f"data.validation_fraction={fraction} leaves no {'treated' if arm else 'control'} unit to fit")
        mask[rng.permutation(units)[:n_held]] = True
    return mask


def replication_batch(
    replication: Replication, train_mask: np.ndarray, validation_mask: np.ndarray | None = None
) -> dict[str, torch.Tensor]:
    """Everything a model needs about one replication, as tensors; factual outcomes standardised
    with the training units' mean and std (`y_mean`, `y_std` undo it). `fit_mask`: the training
    units a model fits on (all of them unless `validation_mask` holds some out)."""
    y_train = replication.y[train_mask]
    for arm in (0, 1):
        if not (replication.t[train_mask] == arm).any():
            raise DataError(f"{replication.name}: no {'treated' if arm else 'control'} units among the training units")
    if validation_mask is None:
        validation_mask = np.zeros_like(train_mask)
    if (validation_mask & ~train_mask).any():
        raise ValueError("validation units must be training units")
    y_mean, y_std = float(y_train.mean()), float(y_train.std() or 1.0)
    return {
        "x": torch.as_tensor(replication.x, dtype=torch.float32),
        "t": torch.as_tensor(replication.t),
        "y": torch.as_tensor((replication.y - y_mean) / y_std, dtype=torch.float32),
        "train_mask": torch.as_tensor(train_mask),
        "fit_mask": torch.as_tensor(train_mask & ~validation_mask),
        **({"mu0": torch.as_tensor(replication.mu0, dtype=torch.float64),
            "mu1": torch.as_tensor(replication.mu1, dtype=torch.float64)} if replication.has_potential_outcomes else {}),
        **({"randomised": torch.as_tensor(replication.randomised)} if replication.randomised is not None else {}),
        "y_mean": torch.tensor(y_mean, dtype=torch.float64),
        "y_std": torch.tensor(y_std, dtype=torch.float64),
    }


class _Batches(Dataset):
    """Whole-replication batches, one per item: the same batch `steps_per_epoch` times makes a training
    epoch of full-batch steps; a folder of replications is scored one per test step."""

    def __init__(self, batches: list[dict]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        return self.batches[index]


def _replication_number(path: Path, position: int) -> int:
    """i of a file named ihdp_npci_<i>.csv (so it is split as `data.replication=i` splits it), else its position."""
    suffix = path.stem.removeprefix("ihdp_npci_")
    return int(suffix) if path.stem != suffix and suffix.isdigit() else position


def _unwrap(items: list[dict]) -> dict:
    """Collate for loaders of `_Batches`: each item is already a whole batch."""
    return items[0]


class TreatmentEffectDataModule(ReproDataModule):
    """One replication (`source`: ihdp, twins, jobs or the generator `synthetic`) as one full batch.

    On `common.datamodule.ReproDataModule`: `root`, `data_dir`, `split_seed` and `test_fraction`
    are checked by the base. A step sees the whole replication, so there is no batch size to set
    (it is 1: one full batch per step) and no order to seed; `steps_per_epoch` full-batch steps make
    an epoch (a checkpoint), and the training loader hands over the same batch each time.
    `validation_fraction` is the share of each arm's training units held out of the fit for early
    stopping (not the base's `val_fraction`, which would split off a separate validation set).
    """

    item_seeds = False
    eval_collate_fn = staticmethod(_unwrap)

    def __init__(
        self,
        source: str = "ihdp",
        root: str | None = None,
        data_dir: str = "~/.cache/paper-repro",
        replication: int = 1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        validation_fraction: float = 0.0,
        steps_per_epoch: int = 50,
        synthetic: dict | None = None,
    ):
        if source not in SOURCES:
            raise ConfigError(f"data.source must be one of {SOURCES}, got {source!r}")
        if replication < 1:
            raise ConfigError(f"data.replication must be >= 1, got {replication}")
        if steps_per_epoch < 1:
            raise ConfigError(f"data.steps_per_epoch must be >= 1, got {steps_per_epoch}")
        if not 0 <= validation_fraction < 1:
            raise ConfigError(f"data.validation_fraction must lie in [0, 1), got {validation_fraction}")
        super().__init__(batch_size=1, test_fraction=test_fraction, split_seed=split_seed, root=root, data_dir=data_dir)
        self.source = source
        self.replication = replication
        self.validation_fraction = validation_fraction
        self.steps_per_epoch = steps_per_epoch
        self.synthetic = dict(synthetic or {})
        self.data: Replication | None = None
        self.batch: dict | None = None

    def load(self) -> Replication:
        if self.source == "synthetic":
            return generate_replication(seed=self.replication, **self.synthetic)
        if self.source == "twins":
            return twins_replication(read_twins_csv(twins_path(self.root, self.data_dir)), seed=self.replication)
        if self.source == "jobs":
            return jobs_replication(jobs_paths(self.root, self.data_dir), self.replication)
        return read_ihdp_csv(ihdp_path(self.root, self.data_dir, self.replication))

    def _training_units(self, replication: Replication, number: int) -> np.ndarray:
        """The training units of replication `number`: the data set's own split, else a seeded one."""
        if replication.test_units is not None:  # the data set's own split (Jobs' train/test files)
            return ~replication.test_units
        return split_units(len(replication.t), self.test_fraction, seed=self.split_seed * 100_003 + number)

    def build_whole(self) -> _Batches:
        """Every IHDP-layout CSV file of `root` (see the module docstring) as one test set of replications."""
        if self.source != "ihdp":
            raise ConfigError(f"whole_folder scores a folder of IHDP-layout CSV files (data.source=ihdp); "
                              f"data.source={self.source} is read from its own files, not a folder of them")
        files = sorted(p for p in self.root.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        batches, skipped = [], []
        for position, path in enumerate(files, 1):
            try:
                replication = read_ihdp_csv(path)
                batches.append(replication_batch(replication, self._training_units(replication, _replication_number(path, position))))
            except DataError as err:
                skipped.append(str(err))
        warn_skipped(skipped)
        if not batches:
            raise DataError(f"{self.root} holds no readable IHDP-layout .csv file ({len(files)} .csv file(s) found)")
        return _Batches(batches)

    def build(self) -> tuple[Dataset, None, Dataset]:
        self.data = self.load()
        self.train_mask = self._training_units(self.data, self.replication)
        held_out = validation_units(self.train_mask, self.data.t, self.validation_fraction,
                                    seed=self.split_seed * 100_003 + self.replication + 1)
        self.batch = replication_batch(self.data, self.train_mask, held_out)
        return _Batches([self.batch] * self.steps_per_epoch), None, _Batches([self.batch])

    def train_dataloader(self) -> DataLoader:
        # Every item is the same full batch, so the base's (seed, epoch)-ordered sampler has nothing to order.
        return self._loader(self.train_set, batch_size=1, shuffle=False, collate_fn=_unwrap)
