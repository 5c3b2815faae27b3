"""`scripts/predict.py paper=ecg_unet input=RECORD`: delineate any ECG with a trained UNet.

RECORD is a WFDB record (its path with or without `.hea`), or a CSV with one column per lead (in
mV, a header row of lead names, or `header=false` for a CSV of numbers only) read at
`sampling_rate=HZ`. Writes the onsets and offsets of the
P, QRS and T waves of every lead as CSV (`output=`, default `<record>.waves.csv`) and a strip of
one lead as PNG (`plot=`, default beside the table: `<output>.png`, or `<record>.waves.png`; above it the record's own annotation of that
lead when LUDB-style annotation files lie beside a WFDB record). Without `ckpt_path=` it uses the network
trained on LUDB in `papers/ecg_unet/pretrained/`, once one ships there (ludb_unet.pt + .json).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from common.errors import ConfigError, DataError
from common.run import RunFolder, load_model
from papers.ecg_unet.data import parse_ludb_annotation
from papers.ecg_unet.delineation import QRS, P, T, Wave
from papers.ecg_unet.plots import plot_strip
from papers.ecg_unet.pretrained import DESCRIPTION, PRETRAINED, WEIGHTS

WAVE_NAMES = {P: "P", QRS: "QRS", T: "T"}
# Each argument with the type its value must have (scripts/predict.py checks them before anything runs).
ARGUMENTS = {"input": str, "ckpt_path": str, "model_config": str, "sampling_rate": float, "output": str,
             "plot": str, "lead": int, "header": bool}
REQUIRED = ("input",)


def check_arguments(args) -> None:
    if args.get("sampling_rate") is not None and not args.sampling_rate > 0:
        raise ConfigError(f"sampling_rate must be > 0, got {args.sampling_rate}")
    if args.get("lead") is not None and args.lead < 0:
        raise ConfigError(f"lead must be >= 0, got {args.lead}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_signal(path: str | Path, sampling_rate: float | None, header: bool = True
                ) -> tuple[np.ndarray, float, list[str]]:
    """(leads × samples in mV, sampling rate, lead names) of a WFDB record or a CSV of leads; a CSV
    without a header row (`header=False`) gets the lead names lead_1, lead_2, ..."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if sampling_rate is None:
            raise ConfigError(f"{path} is a CSV: give its sampling_rate=HZ")
        if not path.is_file():
            raise DataError(f"input={path} does not exist")
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        if header and rows and rows[0] and all(_is_number(cell) for cell in rows[0]):
            # a first row of numbers is a sample, not lead names: taking it as names would drop it silently
            raise DataError(f"{path}: the first row holds numbers, not lead names; add a header row or give "
                            "header=false")
        names, rows = (rows[0], rows[1:]) if header else (None, rows)
        if not rows:
            raise DataError(f"{path}: expected {'a header row of lead names and ' if header else ''}rows of "
                            "values in mV")
        try:
            values = np.asarray(rows, dtype=np.float32)
        except ValueError as err:
            raise DataError(f"{path}: a value is not a number ({err})") from err
        if values.ndim != 2:
            raise DataError(f"{path}: the rows have different numbers of values")
        names = names or [f"lead_{i + 1}" for i in range(values.shape[1])]
        if len(names) != values.shape[1]:
            raise DataError(f"{path}: {len(names)} lead names in the header, {values.shape[1]} values per row")
        return values.T, float(sampling_rate), names
    import wfdb

    record_path = path.with_suffix("") if path.suffix in (".hea", ".dat") else path
    if not record_path.with_suffix(".hea").is_file():
        raise DataError(f"input={path}: no WFDB header {record_path.with_suffix('.hea')} (or give a .csv)")
    try:
        record = wfdb.rdrecord(str(record_path))
    except Exception as err:
        raise DataError(f"Could not read WFDB record {record_path}: {err}") from err
    return np.nan_to_num(record.p_signal.T.astype(np.float32)), float(record.fs), list(record.sig_name)


def load_delineator(ckpt_path: str | None = None, model_config: str | None = None):
    """A trained EcgSegmenter: the shipped LUDB network, or a checkpoint with its run's config."""
    if ckpt_path is None:
        ckpt_path, model_config = PRETRAINED / WEIGHTS, PRETRAINED / DESCRIPTION
        if not Path(ckpt_path).is_file():
            raise ConfigError(f"no trained network ships in {PRETRAINED} yet: give ckpt_path=<a training run's "
                              "checkpoints/last.ckpt> (make reproduce-ecg_unet SCALE=full trains one; python -m papers.ecg_unet.pretrained RUN_DIR ships it)")
    if model_config is None:
        model_config = RunFolder.of_checkpoint(ckpt_path).config
    model_config = Path(model_config)
    if not model_config.is_file():
        raise ConfigError(f"model_config={model_config} does not exist: give the training run's config.yaml")
    config = json.loads(model_config.read_text())["model"] if model_config.suffix == ".json" else \
        OmegaConf.load(model_config).model
    return load_model(config, ckpt_path)


def write_waves(waves_by_lead: list[list[Wave]], lead_names: list[str], sampling_rate: float, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lead", "wave", "onset_sample", "offset_sample", "onset_s", "offset_s"])
        for name, waves in zip(lead_names, waves_by_lead, strict=True):
            for wave in waves:
                writer.writerow([name, WAVE_NAMES[wave.kind], wave.onset, wave.offset,
                                 f"{wave.onset / sampling_rate:.4f}", f"{wave.offset / sampling_rate:.4f}"])
    return path


def record_annotation(path: str | Path, lead_name: str) -> list[Wave] | None:
    """The waves of one lead from LUDB-style annotation files beside a WFDB record (`<record>.<lead>`, on
    the record's own sample grid); None for a CSV, a record without them, or an unreadable file."""
    import wfdb

    path = Path(path)
    record_path = path.with_suffix("") if path.suffix in (".hea", ".dat") else path
    if path.suffix.lower() == ".csv" or not record_path.with_suffix(f".{lead_name.lower()}").is_file():
        return None
    try:
        annotation = wfdb.rdann(str(record_path), lead_name.lower())
    except Exception:  # a broken annotation only loses the upper panel
        return None
    return parse_ludb_annotation(annotation.sample, annotation.symbol)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def predict(args) -> int:
    signal, sampling_rate, lead_names = read_signal(args.input, args.get("sampling_rate"), args.get("header", True))
    lead = int(args.get("lead", 1 if len(lead_names) > 1 else 0))
    if not 0 <= lead < len(lead_names):
        raise ConfigError(f"lead={lead} is not a lead of {args.input} (0..{len(lead_names) - 1})")
    model = load_delineator(args.get("ckpt_path"), args.get("model_config"))
    waves = model.delineate(signal, sampling_rate)
    stem = Path(args.input).with_suffix("")
    table = write_waves(waves, lead_names, sampling_rate, Path(args.get("output") or f"{stem}.waves.csv"))
    # the strip goes beside the table: given output=, nothing is written into the record's folder
    default_plot = table.with_suffix(".png") if args.get("output") else Path(f"{stem}.waves.png")
    annotated = record_annotation(args.input, lead_names[lead])
    figure = plot_strip(signal[lead], sampling_rate, annotated, waves[lead],
                        f"{Path(args.input).name}, lead {lead_names[lead]}: "
                        f"{'annotation (top), ' if annotated is not None else ''}UNet delineation",
                        Path(args.get("plot") or default_plot))
    counts = {name: sum(w.kind == kind for lead_waves in waves for w in lead_waves) for kind, name in WAVE_NAMES.items()}
    print(f"{_plural(len(lead_names), 'lead')}, {signal.shape[1] / sampling_rate:.1f} s: " +
          ", ".join(_plural(n, f"{name} wave") for name, n in counts.items()) + f"; wrote {table} and {figure}")
    return 0
