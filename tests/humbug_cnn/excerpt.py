"""Small folders in the layout of the real data sets, made from the real files in
../shared/data/humbug: the real vote file / metadata rows, with audio cut from the real
recordings there (the clips do not hold the audio those rows were voted on: the Zooniverse and
HumBugDB archives themselves are not in the excerpt). Used to run the real loading code."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile

from tests.shared_data import SHARED_DATA

HUMBUG_SHARED = SHARED_DATA / "humbug"
VOTES = HUMBUG_SHARED / "zooniverse_audio_1sec.csv"
METADATA = HUMBUG_SHARED / "neurips_2021_zenodo_0_0_1.csv"
RECORDING = HUMBUG_SHARED / "classification-platform_test_audio_on_off.wav"


def available() -> bool:
    return VOTES.is_file() and METADATA.is_file() and RECORDING.is_file()


def _source_audio() -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(RECORDING, dtype="float32", always_2d=True)
    return samples, rate


def make_zooniverse_excerpt(folder: Path, clips: int = 24) -> Path:
    """folder/audio_1sec.csv (the first `clips` rows of the real vote file, plus the first
    mosquito-labelled rows so both classes are there) and folder/audio_1sec/<id>.wav."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = list(csv.reader(open(VOTES, newline="")))
    mosquito = [r for r in rows if (int(r[1]) + 0.5 * int(r[3])) / (int(r[1]) + int(r[2]) + int(r[3])) >= 0.5]
    chosen = rows[: clips - clips // 3] + mosquito[: clips // 3]
    with open(folder / "audio_1sec.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(chosen)
    samples, rate = _source_audio()
    (folder / "audio_1sec").mkdir(exist_ok=True)
    for index, row in enumerate(chosen):
        start = (index * rate) % max(1, len(samples) - rate)
        soundfile.write(folder / "audio_1sec" / f"{row[0]}.wav", samples[start : start + rate], rate)
    return folder


def make_humbugdb_excerpt(folder: Path, per_group: int = 3) -> Path:
    """folder/neurips_2021_zenodo_0_0_1.csv (real rows: a few of the training pool, of Test A and
    of Test B, both sound types) and folder/<id>.wav of 2.5 s each."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(METADATA, newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    groups = {}
    for row in rows:
        test = ("A" if (row["country"], row["location_type"]) == ("Tanzania", "field")
                else "B" if (row["country"], row["location_type"]) == ("UK", "culture") else "-")
        key = (test, row["sound_type"] == "mosquito")
        groups.setdefault(key, []).append(row)
    chosen = [row for key in sorted(groups) for row in groups[key][:per_group]]
    with open(folder / "neurips_2021_zenodo_0_0_1.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(chosen)
    samples, rate = _source_audio()
    length = int(2.5 * rate)
    for index, row in enumerate(chosen):
        start = (index * length) % max(1, len(samples) - length)
        soundfile.write(folder / f"{row['id']}.wav", samples[start : start + length], rate)
    return folder
