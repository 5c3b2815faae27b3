import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")

from common import PROJECT_ROOT  # noqa: E402
from tests.humbug_cnn import excerpt as humbug_excerpt  # noqa: E402

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

# A few seconds of training on a handful of generated records: enough to exercise every code path.
QUICK_ECG = [
    "experiment=ecg_unet/tiny",
    "data.synthetic.records=12",
    "data.synthetic.seconds=4.0",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "logger=none",
]


def _shared_excerpt(relative: str, must_hold: str) -> Path:
    folder = SHARED_DATA / relative
    if not (folder / must_hold).is_file():
        pytest.skip(f"real data excerpt not found: {folder / must_hold}")
    return folder


@pytest.fixture
def ludb_excerpt() -> Path:
    return _shared_excerpt("ludb", "RECORDS")


@pytest.fixture
def ihdp_excerpt() -> Path:
    return _shared_excerpt("ihdp", "ihdp_npci_1.csv")


@pytest.fixture
def cifar10_excerpt() -> Path:
    return _shared_excerpt("cifar10_small/image_data_format_1", "trainLabels.csv")


@pytest.fixture(scope="session")
def zooniverse_excerpt(tmp_path_factory) -> Path:
    if not humbug_excerpt.available():
        pytest.skip(f"real HumBug files not found in {humbug_excerpt.HUMBUG_SHARED}")
    return humbug_excerpt.make_zooniverse_excerpt(tmp_path_factory.mktemp("zooniverse"))


@pytest.fixture(scope="session")
def humbugdb_excerpt(tmp_path_factory) -> Path:
    if not humbug_excerpt.available():
        pytest.skip(f"real HumBug files not found in {humbug_excerpt.HUMBUG_SHARED}")
    return humbug_excerpt.make_humbugdb_excerpt(tmp_path_factory.mktemp("humbugdb"))
