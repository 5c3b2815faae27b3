"""Trained networks that ship with the repository, so a paper's predictor works right after install.

A shipped network is two files in the paper's `pretrained/` folder: `<stem>.pt`, the bare state dict
(a fraction of a Lightning checkpoint's size), and `<stem>.json`, its card: the resolved model config
that rebuilds the network, the data config of the run that trained it (its `root` written relative
to the repository, without this machine's cache folders), the command, experiment and seed, the
commit and manifest digest of the scale record it belongs to, and the run's test metrics. A test per paper rebuilds the test set from the card and
checks that the shipped weights give the card's test metrics.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from omegaconf import OmegaConf

from common import PROJECT_ROOT, manifest
from common.errors import ConfigError
from common.experiment import scale_record
from common.run import RunFolder, load_model


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def provenance(record: dict) -> dict:
    """What a card says of the code that trained its weights, from the scale's record."""
    recorded = record.get("manifest")
    return {"commit": record.get("commit"), "dirty": record.get("dirty"),
            "manifest_digest": manifest.digest(recorded) if recorded else None}


def _portable(path: str) -> str:
    """A data path as seen from the repository (`../shared/...` for the shared data beside it), `DIR`
    elsewhere: a card holds no machine's paths."""
    resolved = Path(path).expanduser().resolve()
    for base in (PROJECT_ROOT.resolve(), PROJECT_ROOT.resolve().parent / "shared"):
        if resolved.is_relative_to(base):
            return os.path.relpath(resolved, PROJECT_ROOT.resolve())
    return "DIR"


def card_paths(folder: Path, stem: str) -> tuple[Path, Path]:
    return folder / f"{stem}.pt", folder / f"{stem}.json"


def export_run(run_dir: str | Path, folder: Path, stem: str, trained_by: str) -> Path:
    """Write `<folder>/<stem>.pt` and its card from a finished training run's folder."""
    run = RunFolder(run_dir)
    for path in (run.config, run.last_checkpoint):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist: give a training run's folder "
                              f"(it holds {run.config.name} and {run.checkpoints.name}/)")
    config = OmegaConf.load(run.config)
    model_config = OmegaConf.to_container(config.model, resolve=True)
    model = load_model(model_config, run.last_checkpoint)  # proves the config rebuilds the network the weights fit
    data_config = OmegaConf.to_container(config.data, resolve=True)
    for key in ("data_dir", "cache_dir"):  # where this machine kept downloads and caches
        data_config.pop(key, None)
    for key in ("root", "labels_csv"):
        if isinstance(data_config.get(key), str):
            data_config[key] = _portable(data_config[key])
    record = scale_record(run.root)
    weights, card = card_paths(folder, stem)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    description = {
        "model": model_config,
        "data": data_config,
        "trained_by": trained_by,
        "experiment": config.get("task_name"),
        "seed": config.get("seed"),
        **provenance(_read_json(record) if record is not None else {}),
        "test_metrics": {key: value for key, value in _read_json(run.metrics).items() if key.startswith("test/")},
    }
    card.write_text(json.dumps(description, indent=1, sort_keys=True) + "\n")
    return weights


def read_card(folder: Path, stem: str, how_to_train: str) -> dict:
    weights, card = card_paths(folder, stem)
    if not weights.is_file() or not card.is_file():
        raise ConfigError(f"no trained network ships in {folder} yet ({weights.name} and {card.name}): "
                          f"give ckpt_path=<a training run's checkpoints/last.ckpt>; {how_to_train}")
    return json.loads(card.read_text())


def load_shipped(folder: Path, stem: str, how_to_train: str):
    """The shipped network in eval mode, built from its card's model config."""
    card = read_card(folder, stem, how_to_train)
    return load_model(card["model"], card_paths(folder, stem)[0])
