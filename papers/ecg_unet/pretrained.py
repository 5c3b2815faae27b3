"""Ship a trained LUDB network with the repository, so `scripts/predict.py paper=ecg_unet` works
right after install:

    python -m papers.ecg_unet.pretrained RUN_DIR

RUN_DIR is one training run of `make reproduce-ecg_unet SCALE=full` (results/ecg_unet/full/runs/<id>).
Writes `pretrained/ludb_unet.pt` (the bare state dict, a fraction of the Lightning checkpoint's size)
and `pretrained/ludb_unet.json`: the resolved model config that rebuilds the network, and where the
weights came from (the command, seed, commit, the digest of the code's manifest and the run's
test metrics). A card written before records had manifests holds `source_hash` instead: only its
`model` is read back.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from common import manifest
from common.errors import ConfigError
from common.experiment import scale_record
from common.run import RunFolder, load_model

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
WEIGHTS, DESCRIPTION = "ludb_unet.pt", "ludb_unet.json"


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def provenance(record: dict) -> dict:
    """What a card says of the code that trained its weights, from the scale's record."""
    recorded = record.get("manifest")
    return {"commit": record.get("commit"), "dirty": record.get("dirty"),
            "manifest_digest": manifest.digest(recorded) if recorded else None}


def export(run_dir: str | Path, destination: Path = PRETRAINED) -> Path:
    folder = RunFolder(run_dir)
    for path in (folder.config, folder.last_checkpoint):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist: give a training run's folder "
                              f"(it holds {folder.config.name} and {folder.checkpoints.name}/)")
    config = OmegaConf.load(folder.config)
    model_config = OmegaConf.to_container(config.model, resolve=True)
    model = load_model(model_config, folder.last_checkpoint)  # proves the config rebuilds the network the weights fit
    run_metrics = _read_json(folder.metrics)
    record = scale_record(folder.root)
    reproduction = _read_json(record) if record is not None else {}
    destination.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), destination / WEIGHTS)
    description = {
        "model": model_config,
        "trained_by": "make reproduce-ecg_unet SCALE=full (scripts/reproduce.py paper=ecg_unet scale=full)",
        "experiment": config.get("task_name"),
        "seed": config.get("seed"),
        **provenance(reproduction),
        "test_metrics": {key: value for key, value in run_metrics.items() if key.startswith("test/")},
    }
    (destination / DESCRIPTION).write_text(json.dumps(description, indent=1, sort_keys=True) + "\n")
    return destination / WEIGHTS


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"wrote {export(sys.argv[1])}")
