"""ECG records: LUDB (real, WFDB) and a generator with boundaries known by construction.

A record holds a (leads, samples) signal in mV, and per lead its annotated waves and the span the
annotation covers. Training takes random windows of single leads (the network sees one lead at a
time); validation and testing take whole records, all leads at once.
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from torch.utils.data import Dataset

from common.data import cache_dir, download, read_sha256sums, sha256_of
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError
from papers.ecg_unet.delineation import IGNORE, QRS, P, T, Wave, labels_from_waves

LUDB_URL = "https://physionet.org/files/ludb/1.0.1/"
LUDB_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
LUDB_SYMBOLS = {"p": P, "N": QRS, "t": T}
MODEL_RATE = 500  # Hz: every signal is resampled to this rate before the network sees it


@dataclass
class EcgRecord:
    name: str
    signal: np.ndarray  # (leads, samples), float32, mV
    sampling_rate: float
    waves: list[list[Wave]]  # per lead
    spans: list[tuple[int, int] | None]  # per lead: first and last annotated sample

    def labels(self, lead: int) -> np.ndarray:
        if self.spans[lead] is None:  # an unannotated lead teaches nothing
            return np.full(self.signal.shape[1], IGNORE, dtype=np.int64)
        return labels_from_waves(self.waves[lead], self.signal.shape[1], self.spans[lead])


# ---------------------------------------------------------------------------- resampling


def resample(signal: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Cubic-spline resampling along the last axis; samples sit at the centres of their periods."""
    if rate_in == rate_out:
        return np.asarray(signal, dtype=np.float32)
    n_in = signal.shape[-1]
    duration = n_in / rate_in
    n_out = int(np.ceil(duration * rate_out))
    t_in = (np.arange(n_in) + 0.5) / rate_in
    t_out = (np.arange(n_out) + 0.5) / rate_out
    spline = CubicSpline(t_in, signal, axis=-1, extrapolate=True)
    return spline(t_out).astype(np.float32)



# ---------------------------------------------------------------------------- LUDB


def parse_ludb_annotation(sample: np.ndarray, symbol: list[str]) -> list[Wave] | None:
    """LUDB marks each wave as '(' onset, peak symbol (p / N / t), ')' offset.

    Returns None when a peak lacks its own '(' or ')' (a few leads, e.g. record 7, overlap waves
    that way): such a lead has no trustworthy per-sample labels, so it is left out.
    """
    waves = []
    for i, mark in enumerate(symbol):
        kind = LUDB_SYMBOLS.get(mark)
        if kind is None:
            continue
        if i == 0 or i == len(symbol) - 1 or symbol[i - 1] != "(" or symbol[i + 1] != ")":
            return None
        waves.append(Wave(kind, int(sample[i - 1]), int(sample[i + 1])))
    return waves


def read_ludb_record(path: Path) -> EcgRecord:
    """Read one LUDB record (path without extension) and its 12 per-lead annotation files."""
    import wfdb

    header = path.with_suffix(".hea")
    if not header.is_file():
        raise DataError(f"Missing LUDB header {header}")
    try:
        record = wfdb.rdrecord(str(path))
    except Exception as err:
        raise DataError(f"Could not read LUDB record {path}: {err}") from err
    names = [name.lower() for name in record.sig_name]
    if names != list(LUDB_LEADS):
        raise DataError(f"{header}: expected leads {LUDB_LEADS}, found {names}")
    signal = np.nan_to_num(record.p_signal.T.astype(np.float32))
    waves, spans, malformed = [], [], []
    for lead in LUDB_LEADS:
        annotation_file = path.with_suffix(f".{lead}")
        if not annotation_file.is_file():
            raise DataError(f"Missing LUDB annotation file {annotation_file}")
        try:
            annotation = wfdb.rdann(str(path), lead)
        except Exception as err:
            raise DataError(f"Could not read annotation {annotation_file}: {err}") from err
        lead_waves = parse_ludb_annotation(annotation.sample, annotation.symbol)
        if lead_waves is None:
            malformed.append(lead)
            lead_waves = []
        waves.append(lead_waves)
        spans.append(
            (min(w.onset for w in lead_waves), max(w.offset for w in lead_waves)) if lead_waves else None
        )
    if malformed:
        warnings.warn(f"LUDB {path.name}: leads {malformed} have a wave without its onset or offset "
                      "mark; they are left out of training and scoring", stacklevel=2)
    return EcgRecord(path.name, signal, float(record.fs), waves, spans)


def ludb_record_names(root: Path) -> list[str]:
    records_file = root / "RECORDS"
    if records_file.is_file():
        return [line.strip() for line in records_file.read_text().splitlines() if line.strip()]
    headers = sorted(root.glob("data/*.hea")) or sorted(root.glob("*.hea"))
    return [str(h.relative_to(root).with_suffix("")) for h in headers]


def download_ludb(data_dir: str | Path) -> Path:
    """Fetch LUDB 1.0.1 from PhysioNet into the cache, each file checked against SHA256SUMS.txt."""
    root = cache_dir(data_dir, "ludb-1.0.1")
    sums_file = download(LUDB_URL + "SHA256SUMS.txt", root / "SHA256SUMS.txt")
    sums = read_sha256sums(sums_file)
    from tqdm import tqdm

    for name, digest in tqdm(sorted(sums.items()), desc="LUDB download", unit="file"):
        download(LUDB_URL + name, root / name, sha256=digest)
    return root


def load_ludb(root: str | Path | None, data_dir: str | Path, verify: bool = True) -> list[EcgRecord]:
    """Records of a LUDB-format folder (`root`), or of LUDB downloaded into the cache."""
    if root is None:
        root = download_ludb(data_dir)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data.root={root} is not a folder. Point it at a LUDB copy (with RECORDS and data/), "
            f"or leave data.root=null to download LUDB 1.0.1 from {LUDB_URL}"
        )
    names = ludb_record_names(root)
    if not names:
        raise DataError(f"{root} holds no LUDB records (no RECORDS file, no data/*.hea)")
    sums_file = root / "SHA256SUMS.txt"
    sums = read_sha256sums(sums_file) if verify and sums_file.is_file() else {}
    from tqdm import tqdm

    records, left_out = [], []
    for name in tqdm(names, desc="Reading LUDB", unit="record", leave=False):
        try:
            for suffix in (".hea", ".dat"):
                relative = name + suffix
                if relative not in sums:
                    continue
                if not (root / relative).is_file():
                    raise DataError(f"Missing {root / relative} (listed in {sums_file})")
                if sha256_of(root / relative) != sums[relative].lower():
                    raise DataError(f"{root / relative} does not match its checksum in {sums_file} (the copy is "
                                    "corrupt or was changed)")
            records.append(read_ludb_record(root / name))
        except DataError as err:
            # one bad record costs that record, not the run; each is named
            left_out.append(str(err))
    if not records:
        raise DataError(f"{root}: none of its {len(names)} LUDB records could be read: " + "; ".join(left_out))
    if left_out:
        warnings.warn(f"{len(left_out)} of {len(names)} LUDB records left out: " + "; ".join(left_out), stacklevel=2)
    return records


def split_records(records: list, test_fraction: float, val_fraction: float, seed: int):
    """Random split by record (never by lead or window), reproducible from the seed."""
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 1:
        raise ConfigError(
            f"data.test_fraction={test_fraction} and data.val_fraction={val_fraction} must lie in "
            "(0, 1) and [0, 1) and sum to less than 1"
        )
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(test_fraction * len(records)))
    n_val = round(val_fraction * len(records))
    test = [records[i] for i in sorted(order[:n_test])]
    val = [records[i] for i in sorted(order[n_test : n_test + n_val])]
    train = [records[i] for i in sorted(order[n_test + n_val :])]
    if not train:
        raise DataError(f"only {len(records)} records: nothing left to train on after the split")
    return train, val or test, test


# ---------------------------------------------------------------------------- generator


def _bump(length: int) -> np.ndarray:
    """A smooth bump that is exactly zero at both ends and positive inside."""
    return np.sin(np.pi * (np.arange(length) + 0.5) / length) ** 2


def generate_record(
    rng: np.random.Generator,
    name: str,
    seconds: float = 10.0,
    sampling_rate: float = MODEL_RATE,
    n_leads: int = 1,
    noise_mv: float = 0.03,
    wander_mv: float = 0.15,
) -> EcgRecord:
    """A synthetic ECG whose P, QRS and T boundaries are the supports of the bumps drawn.

    Heart rate, wave widths and amplitudes (and polarity, per lead) are random; noise and
    baseline wander are added on top. Beats cut by the record's ends are left unannotated,
    as in LUDB. Waves never overlap, so the labels of every sample are unambiguous.
    """
    fs = sampling_rate
    n = int(round(seconds * fs))
    ms = fs / 1000.0
    clean = np.zeros((n_leads, n))
    waves: list[Wave] = []
    rr = 60.0 / rng.uniform(50, 110) * fs
    start = -rng.uniform(0, rr)
    gains = rng.uniform(0.5, 1.5, size=(n_leads, 3)) * rng.choice([1, -1], p=[0.8, 0.2], size=(n_leads, 3))
    while start < n:
        p_len = int(rng.uniform(80, 120) * ms)
        pr_gap = int(rng.uniform(40, 90) * ms)
        qrs_len = int(rng.uniform(70, 110) * ms)
        st_gap = int(rng.uniform(60, 120) * ms)
        t_len = int(rng.uniform(140, 220) * ms)
        p_on = int(start)
        qrs_on = p_on + p_len + pr_gap
        t_on = qrs_on + qrs_len + st_gap
        q, r, s = int(qrs_len * 0.2), int(qrs_len * 0.45), qrs_len - int(qrs_len * 0.2) - int(qrs_len * 0.45)
        qrs = np.concatenate([-0.15 * _bump(q), 1.2 * _bump(r), -0.3 * _bump(s)])
        shapes = [
            (P, p_on, 0.15 * rng.uniform(0.7, 1.3) * _bump(p_len)),
            (QRS, qrs_on, rng.uniform(0.7, 1.3) * qrs),
            (T, t_on, 0.3 * rng.uniform(0.7, 1.3) * _bump(t_len)),
        ]
        for kind, onset, shape in shapes:
            offset = onset + len(shape) - 1
            lo, hi = max(onset, 0), min(offset, n - 1)
            if lo <= hi:
                clean[:, lo : hi + 1] += gains[:, kind - 1, None] * shape[lo - onset : hi - onset + 1]
            if onset >= 0 and offset < n:
                waves.append(Wave(kind, onset, offset))
        # The next P starts after this T ends (by >= 40 ms), so no two waves overlap.
        start = max(start + rr * rng.uniform(0.92, 1.08), t_on + t_len + 40 * ms)
    t = np.arange(n) / fs
    wander = wander_mv * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 2 * np.pi))
    signal = clean + wander + rng.normal(0, noise_mv, size=clean.shape)
    span = (min(w.onset for w in waves), max(w.offset for w in waves)) if waves else None
    return EcgRecord(name, signal.astype(np.float32), fs, [waves] * n_leads, [span] * n_leads)


def generate_records(count: int, seed: int, **kwargs) -> list[EcgRecord]:
    rng = np.random.default_rng(seed)
    return [generate_record(rng, f"synthetic-{seed}-{i}", **kwargs) for i in range(count)]


# ---------------------------------------------------------------------------- augmentation


def augment(window: np.ndarray, rng: np.random.Generator, cfg: dict, fs: float) -> np.ndarray:
    """Noise the network should learn to ignore: scale, baseline wander, mains hum, white noise."""
    t = np.arange(window.shape[-1]) / fs
    out = window * rng.uniform(*cfg.get("amplitude_scale", (1.0, 1.0)))
    if cfg.get("wander_mv", 0):
        out = out + rng.uniform(0, cfg["wander_mv"]) * np.sin(
            2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi)
        )
    if cfg.get("powerline_mv", 0):
        mains = rng.choice([50.0, 60.0])
        out = out + rng.uniform(0, cfg["powerline_mv"]) * np.sin(2 * np.pi * mains * t + rng.uniform(0, 2 * np.pi))
    if cfg.get("noise_mv", 0):
        out = out + rng.normal(0, rng.uniform(0, cfg["noise_mv"]), size=out.shape)
    return out.astype(np.float32)


class LeadWindows(Dataset):
    """Random single-lead windows of the training records, augmented, seeded per item."""

    def __init__(self, records: list[EcgRecord], window: int, augmentation: dict, fs: float):
        self.items = [(r, lead) for r in records for lead in range(r.signal.shape[0]) if r.spans[lead]]
        if not self.items:
            raise DataError("no annotated leads in the training records")
        too_short = [r.name for r, _ in self.items if r.signal.shape[1] < window]
        if too_short:
            raise ConfigError(f"data.window_seconds is longer than records {too_short[:3]}")
        self.window = window
        self.augmentation = augmentation
        self.fs = fs

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: tuple[int, int]):
        index, item_seed = item
        record, lead = self.items[index]
        rng = np.random.default_rng(item_seed)
        span = record.spans[lead]
        n = record.signal.shape[1]
        # Windows start where they still overlap the annotated span by at least half a window.
        low = max(0, min(span[0] - self.window // 2, n - self.window))
        high = max(low, min(span[1] - self.window // 2, n - self.window))
        start = int(rng.integers(low, high + 1))
        signal = record.signal[lead, start : start + self.window]
        labels = record.labels(lead)[start : start + self.window]
        signal = augment(signal, rng, self.augmentation, self.fs)
        return torch.from_numpy(signal[None]), torch.from_numpy(labels)


class Annotation:
    """A record's annotated waves and spans per lead, carried through a batch untouched (a plain
    object: Lightning moves tensors inside dataclasses to the device and refuses frozen ones)."""

    __slots__ = ("waves", "spans")

    def __init__(self, record: EcgRecord):
        self.waves, self.spans = record.waves, record.spans


class WholeRecords(Dataset):
    """Whole records, all leads: (signal (leads, n), labels (leads, n), Annotation)."""

    def __init__(self, records: list[EcgRecord]):
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        record = self.records[index]
        labels = np.stack([record.labels(lead) for lead in range(record.signal.shape[0])])
        return torch.from_numpy(record.signal), torch.from_numpy(labels), Annotation(record)


def _single(batch):
    return batch[0]


class EcgDataModule(ReproDataModule):
    """LUDB (`source=ludb`) or generated ECG (`source=synthetic`), resampled to 500 Hz.

    Training takes random single-lead windows; validation and testing take whole records (all
    leads, one record a batch) whose batches carry the record itself for the boundary scores.
    """

    eval_collate_fn = staticmethod(_single)

    def __init__(
        self,
        source: str = "ludb",
        test_fraction: float = 0.2,
        window_seconds: float = 4.0,
        augmentation: dict | None = None,
        synthetic: dict | None = None,
        batch_size: int = 32,
        **common,
    ):
        super().__init__(test_fraction=test_fraction, batch_size=batch_size, eval_batch_size=1, **common)
        if source not in ("ludb", "synthetic"):
            raise ConfigError(f"data.source must be 'ludb' or 'synthetic', got {source!r}")
        if not window_seconds > 0:
            raise ConfigError(f"data.window_seconds must be > 0, got {window_seconds}")
        self.source = source
        self.window = int(round(window_seconds * MODEL_RATE))
        self.augmentation = dict(augmentation or {})
        for key, value in self.augmentation.items():
            if key != "amplitude_scale" and value < 0:
                raise ConfigError(f"data.augmentation.{key} must be >= 0, got {value}")
        self.synthetic = dict(synthetic or {})
        self.train_records: list[EcgRecord] = []

    def load_records(self) -> list[EcgRecord]:
        if self.source == "synthetic":
            count = int(self.synthetic.get("records", 100))
            options = {k: v for k, v in self.synthetic.items() if k != "records"}
            return generate_records(count, seed=self.split_seed, **options)
        return load_ludb(self.root, self.data_dir)

    def build_whole(self):
        self.test_records = [to_model_rate(r) for r in self.load_records()]
        return WholeRecords(self.test_records)

    def build(self):
        records = [to_model_rate(r) for r in self.load_records()]
        self.train_records, self.val_records, self.test_records = split_records(
            records, self.test_fraction, self.val_fraction, self.split_seed
        )
        return (LeadWindows(self.train_records, self.window, self.augmentation, MODEL_RATE),
                WholeRecords(self.val_records), WholeRecords(self.test_records))


def to_model_rate(record: EcgRecord) -> EcgRecord:
    """The record resampled to MODEL_RATE, with its annotation moved to the new sample grid."""
    if record.sampling_rate == MODEL_RATE:
        return record
    ratio = MODEL_RATE / record.sampling_rate

    def move(sample: int) -> int:
        return int(round((sample + 0.5) * ratio - 0.5))

    return EcgRecord(
        record.name,
        resample(record.signal, record.sampling_rate, MODEL_RATE),
        MODEL_RATE,
        [[Wave(w.kind, move(w.onset), move(w.offset)) for w in lead] for lead in record.waves],
        [(move(s[0]), move(s[1])) if s else None for s in record.spans],
    )
