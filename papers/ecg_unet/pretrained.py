"""Ship a trained LUDB network with the repository, so `scripts/predict.py paper=ecg_unet` works
right after install:

    python -m papers.ecg_unet.pretrained RUN_DIR

RUN_DIR is one training run of `make reproduce-ecg_unet SCALE=full` (results/ecg_unet/full/runs/<id>).
Writes `pretrained/ludb_unet.pt` (the bare state dict, a fraction of the Lightning checkpoint's size)
and `pretrained/ludb_unet.json`: the resolved model config that rebuilds the network, and where the
weights came from (the command, seed, commit, source hash and the run's test metrics).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from common.errors import ConfigError
from common.run import load_model

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
WEIGHTS, DESCRIPTION = "ludb_unet.pt", "ludb_unet.json"


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def export(run_dir: str | Path, destination: Path = PRETRAINED) -> Path:
    run_dir = Path(run_dir)
    config_path, checkpoint = run_dir / "config.yaml", run_dir / "checkpoints" / "last.ckpt"
    for path in (config_path, checkpoint):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist: give a training run's folder (it holds config.yaml and checkpoints/)")
    config = OmegaConf.load(config_path)
    model_config = OmegaConf.to_container(config.model, resolve=True)
    model = load_model(model_config, checkpoint)  # proves the config rebuilds the network the weights fit
    run_metrics = _read_json(run_dir / "metrics.json")
    reproduction = _read_json(run_dir.parents[1] / "metrics.json")  # the scale's report: commit and source hash
    destination.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), destination / WEIGHTS)
    description = {
        "model": model_config,
        "trained_by": "make reproduce-ecg_unet SCALE=full (scripts/reproduce.py paper=ecg_unet scale=full)",
        "experiment": config.get("task_name"),
        "seed": config.get("seed"),
        **{key: reproduction.get(key) for key in ("commit", "dirty", "source_hash")},
        "test_metrics": {key: value for key, value in run_metrics.items() if key.startswith("test/")},
    }
    (destination / DESCRIPTION).write_text(json.dumps(description, indent=1, sort_keys=True) + "\n")
    return destination / WEIGHTS


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"wrote {export(sys.argv[1])}")
