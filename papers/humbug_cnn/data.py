"""Clips with labels: HumBug Zooniverse (1-s clips + votes, or whole recordings + votes per
second), HumBugDB (recordings cut into windows, Test A / Test B), or generated recordings; log-Mel
features cached on disk; splits.

Every source ends as the same arrays: features (n, 1, n_mels, n_frames) in dB, labels (n,),
recording ids (n,) and a name per clip. The split (random by clip as in the paper, or by
recording, or HumBugDB's fixed test sets) is drawn on those arrays, so the features of a data set
are computed once and reused by every split, epoch and run.
"""
from __future__ import annotations

import csv
import hashlib
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from torch.utils.data import Dataset

from common.data import cache_dir, download
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError, DataUnavailableError
from common.fingerprint import files_fingerprint, folder_fingerprint
from papers.humbug_cnn.audio import (
    FeatureCache,
    FeatureSpec,
    FileProblemWarning,
    extract_features,
    fit_length,
    read_audio,
    report_problems,
    resolve_device,
)
from papers.humbug_cnn.synthetic import generate_recordings

ZOONIVERSE_LABELS_URL = "https://raw.githubusercontent.com/HumBug-Mosquito/ZooniverseData/master/labels/audio_1sec.csv"
# sha256 of the vote file as found in ../shared/data/humbug/zooniverse_audio_1sec.csv
ZOONIVERSE_LABELS_SHA256 = "362b48633c40c9bd6ad49253c10e2e7afb62bd2eabe37ce9aa973e4c1268c353"
ZOONIVERSE_AUDIO_URL = "http://humbug.ac.uk/public/Zooniverse_audio_1sec.zip"
HUMBUGDB_METADATA_URL = "https://raw.githubusercontent.com/HumBug-Mosquito/HumBugDB/master/data/metadata/neurips_2021_zenodo_0_0_1.csv"
HUMBUGDB_METADATA_SHA256 = "fd5a6e7df3ddd125d0ef4b941ab27090eec5414bf11ffcdadb74f0b9518b1aa9"
HUMBUGDB_AUDIO_SOURCE = "Zenodo record 4904800 (doi:10.5281/zenodo.4904800), four zip parts"
HUMBUGDB_COLUMNS = ("id", "length", "sound_type", "country", "location_type")
SOURCES = ("zooniverse", "humbugdb", "synthetic")
SPLITS = ("random", "recording", "test_a", "test_b")
# Zooniverse clip ids are <recording><4-digit clip index> (ids run 0..3591 inside a recording,
# then jump to the next multiple of 10000): inferred from the vote file, not documented upstream.
ZOONIVERSE_CLIPS_PER_ID_BLOCK = 10_000


@dataclass(frozen=True)
class AudioItem:
    path: Path
    label: int
    recording: int
    name: str


def mosquito_label(yes: int, no: int, not_sure: int) -> int:
    """The paper's rule: mosquito when (yes + 0.5 * not_sure) / votes >= 0.5."""
    votes = yes + no + not_sure
    if votes <= 0:
        raise ValueError("a clip with no votes has no label")
    return int((yes + 0.5 * not_sure) / votes >= 0.5)


# ---------------------------------------------------------------------------- Zooniverse


def read_zooniverse_votes(path: str | Path) -> list[tuple[str, int, int, int, str]]:
    """Rows (clip id, yes, no, not_sure, subject set) of the header-less vote file.

    Rows without votes are skipped with a warning; a row that is not 5 fields with integer
    votes stops with its line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Zooniverse vote file {path} does not exist")
    rows, no_votes = [], []
    with open(path, newline="") as handle:
        for line, fields in enumerate(csv.reader(handle), 1):
            if not fields:
                continue
            if len(fields) != 5:
                raise DataError(f"{path}:{line}: expected 5 fields (id, yes, no, not_sure, subject set), got {fields}")
            try:
                yes, no, not_sure = (int(v) for v in fields[1:4])
            except ValueError as err:
                raise DataError(f"{path}:{line}: votes must be integers, got {fields[1:4]}") from err
            if yes < 0 or no < 0 or not_sure < 0:
                raise DataError(f"{path}:{line}: negative vote count {fields[1:4]}")
            if yes + no + not_sure == 0:
                no_votes.append(f"{path.name}:{line} (clip {fields[0]})")
                continue
            rows.append((fields[0].strip(), yes, no, not_sure, fields[4]))
    report_problems(no_votes, "Zooniverse clips without votes, left out")
    if not rows:
        raise DataError(f"{path} holds no labelled clips")
    return rows


def zooniverse_items(votes_csv: str | Path, audio_dir: str | Path) -> list[AudioItem]:
    audio_dir = Path(audio_dir)
    items = []
    for clip_id, yes, no, not_sure, _ in read_zooniverse_votes(votes_csv):
        recording = int(clip_id) // ZOONIVERSE_CLIPS_PER_ID_BLOCK if clip_id.isdigit() else hash(clip_id)
        items.append(AudioItem(audio_dir / f"{clip_id}.wav", mosquito_label(yes, no, not_sure), recording, clip_id))
    return items


# The layout of ../shared/data/humbug/zooniverse_culex: whole recordings <parent_audio_id>.flac
# (or .wav) and one vote row per second of a recording.
RECORDING_VOTES_FILE = "votes.csv"
RECORDING_VOTES_COLUMNS = ("segment_id", "parent_audio_id", "second", "yes", "no", "not_sure")
RECORDING_EXTENSIONS = (".flac", ".wav")


@dataclass(frozen=True)
class VotedSecond:
    segment_id: str
    recording: int
    second: int
    label: int


def read_recording_votes(path: str | Path) -> list[VotedSecond]:
    """Rows of a votes.csv with a header (segment_id, parent_audio_id, second, yes, no, not_sure,
    ...): clip `segment_id` is the 1-s clip starting `second` seconds into recording
    `parent_audio_id`. Rows without votes are left out with a warning; a malformed row stops
    with its line number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"vote file {path} does not exist")
    rows, no_votes = [], []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in RECORDING_VOTES_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path} lacks the columns {missing} (has {reader.fieldnames})")
        for line, row in enumerate(reader, 2):
            try:
                recording, second, yes, no, not_sure = (
                    int(row[c]) for c in ("parent_audio_id", "second", "yes", "no", "not_sure"))
            except (TypeError, ValueError) as err:
                raise DataError(f"{path}:{line}: parent_audio_id, second and votes must be integers, got {row}") from err
            if min(yes, no, not_sure) < 0 or second < 0:
                raise DataError(f"{path}:{line}: negative second or vote count in {row}")
            if yes + no + not_sure == 0:
                no_votes.append(f"{path.name}:{line} (clip {row['segment_id']})")
                continue
            rows.append(VotedSecond(row["segment_id"].strip(), recording, second, mosquito_label(yes, no, not_sure)))
    report_problems(no_votes, "clips without votes, left out")
    if not rows:
        raise DataError(f"{path} holds no labelled clips")
    return rows


def is_recordings_layout(root: str | Path) -> bool:
    """True for a folder of whole recordings with a votes.csv per second (zooniverse_culex)."""
    return (Path(root) / RECORDING_VOTES_FILE).is_file()


def load_voted_seconds(votes: list[VotedSecond], audio_dir: str | Path, spec: FeatureSpec, progress: bool = True):
    """(clips, labels, recordings, names) of the voted seconds: each recording is read once (any
    rate or channel count, converted with a note) and clip [second, second + clip_seconds) cut
    out. Clips of a missing or unreadable recording, or running past its end, are left out with
    one warning naming them."""
    audio_dir = Path(audio_dir)
    window = spec.clip_samples
    by_recording: dict[int, list[VotedSecond]] = {}
    for vote in votes:
        by_recording.setdefault(vote.recording, []).append(vote)
    clips, labels, recordings, names, skipped, converted = [], [], [], [], [], []
    iterator = by_recording.items()
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="Reading recordings", unit="file", leave=False)
    for recording, seconds in iterator:
        path = next((audio_dir / f"{recording}{ext}" for ext in RECORDING_EXTENSIONS
                     if (audio_dir / f"{recording}{ext}").is_file()), audio_dir / f"{recording}{RECORDING_EXTENSIONS[0]}")
        try:
            samples, notes = read_audio(path, spec.sample_rate)
        except DataError as err:
            skipped.append(f"{err} ({len(seconds)} clips)")
            continue
        converted.extend(notes)
        for vote in seconds:
            start = int(round(vote.second * spec.sample_rate))
            if start + window > len(samples):
                skipped.append(f"clip {vote.segment_id}: second {vote.second} runs past the end of {path.name} "
                               f"({len(samples) / spec.sample_rate:.2f} s)")
                continue
            clips.append(samples[start : start + window])
            labels.append(vote.label)
            recordings.append(recording)
            names.append(vote.segment_id)
    report_problems(skipped, "clips left out")
    report_problems(converted, "audio converted on reading")
    if not clips:
        raise DataError(f"none of the {len(votes)} voted clips under {audio_dir} could be used (first problem: {skipped[:1]})")
    return np.stack(clips), np.asarray(labels, dtype=np.int64), np.asarray(recordings, dtype=np.int64), names


def _find_audio_dir(root: Path, names: list[str], candidates: tuple[str, ...]) -> Path | None:
    """The first candidate sub-folder holding any of the named files (a few may be missing)."""
    for sub in candidates:
        if any((root / sub / name).is_file() for name in names):
            return root / sub
    return None


def locate_zooniverse(root: str | None, data_dir: str, labels_csv: str | None, audio_sha256: str | None) -> tuple[Path, Path]:
    """(vote file, folder of <id>.wav clips): from data.root, or downloaded into the cache."""
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"data.root={root} is not a folder; give the folder holding the Zooniverse 1-s clips (<id>.wav)")
        votes = Path(labels_csv).expanduser() if labels_csv else next(
            (p for p in (root / "audio_1sec.csv", root / "labels" / "audio_1sec.csv", root / "zooniverse_audio_1sec.csv") if p.is_file()), None)
        if votes is None:
            raise DataError(f"no vote file in {root} (audio_1sec.csv or labels/audio_1sec.csv); pass data.labels_csv=PATH")
        names = [row[0] + ".wav" for row in read_zooniverse_votes(votes)[:100]]
        audio = _find_audio_dir(root, names, (".", "audio_1sec", "data/audio_1sec"))
        if audio is None:
            raise DataError(f"no Zooniverse clips under {root}: looked for {names[0]}... in ., audio_1sec/, data/audio_1sec/")
        return votes, audio
    cache = cache_dir(data_dir, "humbug-zooniverse")
    votes = Path(labels_csv).expanduser() if labels_csv else download(
        ZOONIVERSE_LABELS_URL, cache / "audio_1sec.csv", sha256=ZOONIVERSE_LABELS_SHA256)
    audio = cache / "audio_1sec"
    if not audio.is_dir():
        archive = download(ZOONIVERSE_AUDIO_URL, cache / "Zooniverse_audio_1sec.zip", sha256=audio_sha256)
        _extract_wavs(archive, audio)
    return votes, audio


def _extract_wavs(archive: Path, dest: Path) -> None:
    """Unpack every .wav of the archive flat into dest (the archive's own folder layout aside)."""
    partial = dest.with_name(dest.name + ".part")
    partial.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                if member.filename.lower().endswith(".wav"):
                    (partial / Path(member.filename).name).write_bytes(bundle.read(member))
    except zipfile.BadZipFile as err:
        raise DataError(f"{archive} is not a valid zip archive ({err}); delete it and download again") from err
    partial.rename(dest)


# ---------------------------------------------------------------------------- HumBugDB


def read_humbugdb_metadata(path: str | Path) -> list[dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"HumBugDB metadata file {path} does not exist")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in HUMBUGDB_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path} lacks the columns {missing} (has {reader.fieldnames})")
        rows = list(reader)
    if not rows:
        raise DataError(f"{path} holds no recordings")
    return rows


def humbugdb_test_set(row: dict[str, str]) -> str | None:
    """'A' (Tanzania field recordings), 'B' (UK culture recordings) or None (training pool),
    the fixed test sets of the HumBugDB paper."""
    if row["country"] == "Tanzania" and row["location_type"] == "field":
        return "A"
    if row["country"] == "UK" and row["location_type"] == "culture":
        return "B"
    return None


def humbugdb_items(rows: list[dict[str, str]], audio_dir: str | Path) -> list[AudioItem]:
    """One item per recording; label 1 for sound_type 'mosquito', 0 for background and audio."""
    audio_dir = Path(audio_dir)
    return [
        AudioItem(audio_dir / f"{row['id']}.wav", int(row["sound_type"] == "mosquito"), int(row["id"]), row["id"])
        for row in rows
    ]


def locate_humbugdb(root: str | None, data_dir: str, labels_csv: str | None) -> tuple[Path, Path]:
    metadata = Path(labels_csv).expanduser() if labels_csv else None
    if root is None:
        raise DataUnavailableError(
            f"HumBugDB audio is not downloaded automatically: fetch it from {HUMBUGDB_AUDIO_SOURCE}, "
            "unpack the <id>.wav files into one folder and pass data.root=FOLDER "
            f"(the metadata CSV comes from {HUMBUGDB_METADATA_URL})"
        )
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root={root} is not a folder of HumBugDB <id>.wav files")
    if metadata is None:
        metadata = next((p for p in (root / "neurips_2021_zenodo_0_0_1.csv", root / "metadata" / "neurips_2021_zenodo_0_0_1.csv") if p.is_file()), None)
    if metadata is None:
        metadata = download(HUMBUGDB_METADATA_URL, cache_dir(data_dir, "humbugdb") / "neurips_2021_zenodo_0_0_1.csv",
                            sha256=HUMBUGDB_METADATA_SHA256)
    names = [row["id"] + ".wav" for row in read_humbugdb_metadata(metadata)]
    audio = _find_audio_dir(root, names, (".", "audio", "data/audio")) or root
    return metadata, audio


# ---------------------------------------------------------------------------- clips from files


def load_windows(items: list[AudioItem], spec: FeatureSpec, window_hop_seconds: float | None = None,
                 pad_short: bool = True, progress: bool = True):
    """Cut each file into windows of spec.clip_seconds (every `window_hop_seconds`, default one
    window); a file shorter than a window is zero-padded (pad_short) or left out.

    A missing, unreadable or empty file is left out, with one warning naming them; files in
    another sample rate are resampled and multi-channel files mixed down, with a note.
    """
    window = spec.clip_samples
    hop = window if window_hop_seconds is None else int(round(window_hop_seconds * spec.sample_rate))
    if hop <= 0:
        raise ConfigError(f"data.window_hop_seconds must be > 0, got {window_hop_seconds}")
    clips, labels, recordings, names = [], [], [], []
    skipped, converted = [], []
    iterator = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc="Reading audio", unit="file", leave=False)
    for item in iterator:
        try:
            samples, notes = read_audio(item.path, spec.sample_rate)
        except DataError as err:
            skipped.append(str(err))
            continue
        converted.extend(notes)
        if len(samples) < window:
            if not pad_short:
                skipped.append(f"{item.path} is shorter than one {spec.clip_seconds} s window")
                continue
            samples = fit_length(samples, window)
        for start in range(0, len(samples) - window + 1, hop):
            clips.append(samples[start : start + window])
            labels.append(item.label)
            recordings.append(item.recording)
            names.append(f"{item.name}@{start / spec.sample_rate:g}s")
    report_problems(skipped, "audio files left out")
    report_problems(converted, "audio converted on reading")
    if not clips:
        raise DataError(f"none of the {len(items)} audio files could be used (first problem: {skipped[:1]})")
    return np.stack(clips), np.asarray(labels, dtype=np.int64), np.asarray(recordings, dtype=np.int64), names


# ---------------------------------------------------------------------------- splits


def split_indices(labels: np.ndarray, recordings: np.ndarray, split: str, test_fraction: float,
                  val_fraction: float, seed: int, test_mask: np.ndarray | None = None):
    """(train, val, test) index arrays.

    random: clips drawn at random (the paper; sklearn's train_test_split with random_state=seed
    on the clips in file order, as the paper's code did); recording: whole recordings on each
    side, so neighbouring clips of one recording never straddle train and test; test_a/test_b:
    the given fixed test mask. The validation set, when asked for, comes out of the training
    part the same way.
    """
    n = len(labels)
    if split not in SPLITS:
        raise ConfigError(f"data.split must be one of {SPLITS}, got {split!r}")
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1:
        raise ConfigError(f"data.test_fraction={test_fraction} must lie in (0, 1) and data.val_fraction={val_fraction} in [0, 1)")
    everything = np.arange(n)
    if split in ("test_a", "test_b"):
        if test_mask is None:
            raise ConfigError(f"data.split={split} is for source=humbugdb only")
        train, test = everything[~test_mask], everything[test_mask]
    elif split == "random":
        train, test = train_test_split(everything, test_size=test_fraction, random_state=seed)
    else:
        train, test = _group_split(everything, recordings, test_fraction, seed)
    val = np.array([], dtype=np.int64)
    if val_fraction > 0:
        if split == "random":
            train, val = train_test_split(train, test_size=val_fraction, random_state=seed + 1)
        else:
            train, val = _group_split(train, recordings, val_fraction, seed + 1)
    if len(train) == 0 or len(test) == 0:
        raise DataError(f"split {split!r} of {n} clips left an empty train ({len(train)}) or test ({len(test)}) set")
    return np.sort(train), np.sort(val), np.sort(test)


def _group_split(indices: np.ndarray, recordings: np.ndarray, fraction: float, seed: int):
    groups = recordings[indices]
    if len(np.unique(groups)) < 2:
        raise DataError("a split by recording needs clips from at least 2 recordings")
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    keep, held_out = next(splitter.split(indices, groups=groups))
    return indices[keep], indices[held_out]


# ---------------------------------------------------------------------------- data module


class ClipFeatures(Dataset):
    """Items {features, label, feature_mean, feature_std}: the clip's dB features and, with every
    item, the training set's normalisation, which the model adopts while it trains (so the
    model needs nothing from the data module). Indexed by plain integers or by the
    (index, item seed) pairs of EpochSeededSampler."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, mean: float, std: float):
        self.features = features
        self.labels = labels
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item):
        index = item[0] if isinstance(item, tuple) else item
        return {"features": self.features[index], "label": self.labels[index],
                "feature_mean": self.mean, "feature_std": self.std}


class HumbugDataModule(ReproDataModule):
    """Log-Mel features of Zooniverse clips, HumBugDB windows or generated clips, split and batched.

    `source=zooniverse` reads either layout under `data.root`: a folder of 1-s `<id>.wav` clips
    with the header-less vote file, or a folder of whole recordings `<parent_audio_id>.flac`
    with a `votes.csv` (one row per voted second, as ../shared/data/humbug/zooniverse_culex).
    """

    def __init__(
        self,
        source: str = "zooniverse",
        root: str | None = None,
        labels_csv: str | None = None,
        data_dir: str = "~/.cache/paper-repro",
        cache_dir: str | None = None,
        features: dict | None = None,
        split: str = "random",
        test_fraction: float = 0.33,
        val_fraction: float = 0.0,
        split_seed: int = 10,
        batch_size: int = 32,
        num_workers: int = 0,
        feature_device: str = "auto",
        window_hop_seconds: float | None = None,
        audio_sha256: str | None = None,
        max_clips: int | None = None,
        synthetic: dict | None = None,
        seed: int = 0,
    ):
        super().__init__(batch_size=batch_size, seed=seed, split_seed=split_seed, val_fraction=val_fraction,
                         test_fraction=test_fraction, root=root, data_dir=data_dir, num_workers=num_workers)
        if source not in SOURCES:
            raise ConfigError(f"data.source must be one of {SOURCES}, got {source!r}")
        if split not in SPLITS:
            raise ConfigError(f"data.split must be one of {SPLITS}, got {split!r}")
        if split in ("test_a", "test_b") and source != "humbugdb":
            raise ConfigError(f"data.split={split} needs data.source=humbugdb")
        if max_clips is not None and max_clips <= 0:
            raise ConfigError(f"data.max_clips must be > 0 or null, got {max_clips}")
        self.source = source
        self.labels_csv = labels_csv
        self.cache = FeatureCache(cache_dir)
        self.spec = FeatureSpec(**dict(features or {}))
        self.split = split
        self.feature_device = resolve_device(feature_device)
        self.window_hop_seconds = window_hop_seconds
        self.audio_sha256 = audio_sha256
        self.max_clips = max_clips
        self.synthetic = dict(synthetic or {})
        self.features: torch.Tensor | None = None
        self.feature_mean: float | None = None
        self.feature_std: float | None = None

    # -- loading

    def _items(self) -> tuple[list[AudioItem], np.ndarray | None, bool]:
        """Items, the per-item HumBugDB test-set mask (or None), and whether short files are padded."""
        root = None if self.root is None else str(self.root)
        if self.source == "zooniverse":
            votes, audio = locate_zooniverse(root, str(self.data_dir), self.labels_csv, self.audio_sha256)
            return zooniverse_items(votes, audio), None, True
        metadata, audio = locate_humbugdb(root, str(self.data_dir), self.labels_csv)
        rows = read_humbugdb_metadata(metadata)
        wanted = {"test_a": "A", "test_b": "B"}.get(self.split)
        sets = [humbugdb_test_set(row) for row in rows]
        # The other fixed test set is held out of training as the HumBugDB paper does.
        keep = [s is None or s == wanted or wanted is None for s in sets]
        rows = [row for row, k in zip(rows, keep, strict=True) if k]
        mask = np.array([s == wanted for s, k in zip(sets, keep, strict=True) if k]) if wanted else None
        return humbugdb_items(rows, audio), mask, True

    def _dataset_key(self) -> str:
        if self.source == "synthetic":
            description = repr(sorted(self.synthetic.items())) + f"seed={self.split_seed_for_data}"
        else:
            root = None if self.root is None else str(self.root)
            description = f"{self.source}|{root}|{self.labels_csv}|{self.split}|{self.window_hop_seconds}|{self.max_clips}"
            # what was read: a truncated, replaced or restored file gives another key
            files = folder_fingerprint(self.root) if self.root is not None else ""
            labels = files_fingerprint([self.labels_csv]) if self.labels_csv else ""
            description += f"|{files}|{labels}"
        return f"{self.source}-{hashlib.sha1(description.encode()).hexdigest()[:10]}"

    @property
    def split_seed_for_data(self) -> int:
        return int(self.synthetic.get("seed", 0))

    def _recordings_layout(self) -> bool:
        return self.source == "zooniverse" and self.root is not None and is_recordings_layout(self.root)

    def load(self) -> dict:
        """Features, labels, recordings, names (and the test mask) of the whole data set, cached."""
        cached = self.cache.load(self._dataset_key(), self.spec)
        if cached is not None:
            return cached
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FileProblemWarning)
            test_mask = None
            extra = {}
            if self.source == "synthetic":
                options = {k: v if isinstance(v, str | int | float) else tuple(v)
                           for k, v in self.synthetic.items() if k not in ("seed", "count")}
                generated = generate_recordings(int(self.synthetic.get("count", 200)), self.split_seed_for_data,
                                                sample_rate=self.spec.sample_rate, clip_seconds=self.spec.clip_seconds, **options)
                clips, labels, recordings = generated.clips, generated.labels, generated.recordings
                names = [f"synthetic-{r}@{i}" for i, r in enumerate(recordings)]
                extra = {"snr_db": torch.from_numpy(generated.snr_db)}
            elif self._recordings_layout():
                votes_csv = Path(self.labels_csv).expanduser() if self.labels_csv else self.root / RECORDING_VOTES_FILE
                votes = read_recording_votes(votes_csv)
                if self.max_clips is not None and len(votes) > self.max_clips:
                    chosen = np.sort(np.random.default_rng(0).choice(len(votes), self.max_clips, replace=False))
                    votes = [votes[i] for i in chosen]
                clips, labels, recordings, names = load_voted_seconds(votes, self.root, self.spec)
            else:
                items, item_mask, pad_short = self._items()
                if self.max_clips is not None and len(items) > self.max_clips:
                    chosen = np.sort(np.random.default_rng(0).choice(len(items), self.max_clips, replace=False))
                    items = [items[i] for i in chosen]
                    item_mask = item_mask[chosen] if item_mask is not None else None
                clips, labels, recordings, names = load_windows(items, self.spec, self.window_hop_seconds, pad_short)
                if item_mask is not None:
                    in_test = {item.recording for item, m in zip(items, item_mask, strict=True) if m}
                    test_mask = np.isin(recordings, list(in_test))
        notes = [str(w.message) for w in caught if issubclass(w.category, FileProblemWarning)]
        for warning in caught:  # shown now as they would have been, and kept for the cache to repeat
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        features = extract_features(clips, self.spec, device=self.feature_device, progress=len(clips) > 2000)
        content = {
            "features": features, "labels": torch.from_numpy(labels), "recordings": torch.from_numpy(recordings),
            "names": names, "test_mask": None if test_mask is None else torch.from_numpy(test_mask), **extra,
            "notes": notes,
        }
        self.cache.save(self._dataset_key(), self.spec, content)
        return content

    def build(self):
        data = self.load()
        self.features, self.labels, self.recordings, self.names = data["features"], data["labels"], data["recordings"], data["names"]
        self.snr_db = data.get("snr_db")
        test_mask = data.get("test_mask")
        self.train_index, self.val_index, self.test_index = split_indices(
            self.labels.numpy(), self.recordings.numpy(), self.split, self.test_fraction, self.val_fraction,
            self.split_seed, None if test_mask is None else test_mask.numpy(),
        )
        train_features = self.features[self.train_index]
        # One scalar mean and std over all training values, as the paper's code normalised.
        self.feature_mean = float(train_features.mean())
        self.feature_std = float(train_features.std())
        if not self.feature_std > 0:
            raise DataError("the training features are constant; nothing to learn from")

        def subset(index: np.ndarray) -> ClipFeatures | None:
            if len(index) == 0:
                return None
            return ClipFeatures(self.features[index], self.labels[index], self.feature_mean, self.feature_std)

        return subset(self.train_index), subset(self.val_index), subset(self.test_index)

    def build_whole(self) -> ClipFeatures:
        """Every clip of `data.root` as one test set (`scripts/evaluate.py whole_folder=DIR`): a
        trained model scored on a folder it never saw, with its own normalisation."""
        data = self.load()
        self.features, self.labels, self.recordings, self.names = data["features"], data["labels"], data["recordings"], data["names"]
        self.train_index = self.val_index = np.array([], dtype=np.int64)
        self.test_index = np.arange(len(self.labels))
        return ClipFeatures(self.features, self.labels, float(self.features.mean()), float(self.features.std()))

    def val_dataloader(self):
        return [] if self.val_set is None else super().val_dataloader()
