"""Ship a trained LUDB network with the repository, so `scripts/predict.py paper=ecg_unet` works
right after install:

    python -m papers.ecg_unet.pretrained RUN_DIR

RUN_DIR is one training run of `make reproduce-ecg_unet SCALE=full` (results/ecg_unet/full/runs/<id>).
Writes `pretrained/ludb_unet.pt` (the bare state dict, a fraction of the Lightning checkpoint's size)
and `pretrained/ludb_unet.json`, its card (common/shipped.py): the resolved model config that
rebuilds the network, and where the weights came from (the command, seed, commit, the digest of the
code's manifest and the run's test metrics). A card written before records had manifests holds `source_hash` instead: only its
`model` is read back.
"""
from __future__ import annotations

import sys
from pathlib import Path

from common.shipped import export_run

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
STEM = "ludb_unet"
WEIGHTS, DESCRIPTION = f"{STEM}.pt", f"{STEM}.json"
TRAINED_BY = "make reproduce-ecg_unet SCALE=full (scripts/reproduce.py paper=ecg_unet scale=full)"


def export(run_dir: str | Path, destination: Path = PRETRAINED) -> Path:
    return export_run(run_dir, destination, STEM, TRAINED_BY)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"wrote {export(sys.argv[1])}")
