"""`scripts/predict.py paper=ecg_unet input=RECORD`: delineate any ECG with a trained UNet.

RECORD is a WFDB record (its path with or without `.hea`), or a CSV with one column per lead (in
mV, a header row of lead names) read at `sampling_rate=HZ`. Writes the onsets and offsets of the
P, QRS and T waves of every lead as CSV (`output=`, default `<record>.waves.csv`) and a strip of
one lead as PNG (`plot=`, default `<record>.waves.png`). Without `ckpt_path=` it uses the network
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
from papers.ecg_unet.delineation import QRS, P, T, Wave
from papers.ecg_unet.plots import plot_strip
from papers.ecg_unet.pretrained import DESCRIPTION, PRETRAINED, WEIGHTS

WAVE_NAMES = {P: "P", QRS: "QRS", T: "T"}
ARGUMENTS = ("input", "ckpt_path", "model_config", "sampling_rate", "output", "plot", "lead")


REQUIRED = ("input",)


def check_arguments(args) -> None:
    if args.get("sampling_rate") is not None and not float(args.sampling_rate) > 0:
        raise ConfigError(f"sampling_rate must be > 0, got {args.sampling_rate}")


def read_signal(path: str | Path, sampling_rate: float | None) -> tuple[np.ndarray, float, list[str]]:
    """(leads × samples in mV, sampling rate, lead names) of a WFDB record or a CSV of leads."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if sampling_rate is None:
            raise ConfigError(f"{path} is a CSV: give its sampling_rate=HZ")
        if not path.is_file():
            raise DataError(f"input={path} does not exist")
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        if len(rows) < 2:
            raise DataError(f"{path}: expected a header row of lead names and rows of values in mV")
        try:
            values = np.asarray(rows[1:], dtype=np.float32)
        except ValueError as err:
            raise DataError(f"{path}: a value is not a number ({err})") from err
        return values.T, float(sampling_rate), rows[0]
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


def predict(args) -> int:
    signal, sampling_rate, lead_names = read_signal(args.input, args.get("sampling_rate"))
    model = load_delineator(args.get("ckpt_path"), args.get("model_config"))
    waves = model.delineate(signal, sampling_rate)
    stem = Path(args.input).with_suffix("")
    table = write_waves(waves, lead_names, sampling_rate, Path(args.get("output") or f"{stem}.waves.csv"))
    lead = int(args.get("lead", 1 if len(lead_names) > 1 else 0))
    if not 0 <= lead < len(lead_names):
        raise ConfigError(f"lead={lead} is not a lead of {args.input} (0..{len(lead_names) - 1})")
    figure = plot_strip(signal[lead], sampling_rate, [], waves[lead],
                        f"{Path(args.input).name}, lead {lead_names[lead]}: UNet delineation (bottom)",
                        Path(args.get("plot") or f"{stem}.waves.png"))
    counts = {name: sum(w.kind == kind for lead_waves in waves for w in lead_waves) for kind, name in WAVE_NAMES.items()}
    print(f"{len(lead_names)} leads, {signal.shape[1] / sampling_rate:.1f} s: " +
          ", ".join(f"{n} {name} waves" for name, n in counts.items()) + f"; wrote {table} and {figure}")
    return 0
