"""Ship a trained Zooniverse network with the repository, so `scripts/predict.py paper=humbug_cnn`
works right after install:

    python -m papers.humbug_cnn.pretrained RUN_DIR

RUN_DIR is one training run of `make reproduce-humbug_cnn SCALE=real` (results/humbug_cnn/real/runs/<id>;
the one shipped is split by recording, split_seed 10, so its test metrics are on recordings it never
heard). Writes `pretrained/zooniverse_cnn.pt` and its card `zooniverse_cnn.json` (common/shipped.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

from common.shipped import export_run
from papers.humbug_cnn.predict import PRETRAINED, SHIPPED

TRAINED_BY = "make reproduce-humbug_cnn SCALE=real (scripts/reproduce.py paper=humbug_cnn scale=real)"


def export(run_dir: str | Path, destination: Path = PRETRAINED) -> Path:
    return export_run(run_dir, destination, SHIPPED, TRAINED_BY)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"wrote {export(sys.argv[1])}")
