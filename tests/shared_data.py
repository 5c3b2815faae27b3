"""Where tests find the real data excerpts (../shared/data, read-only): the one place that says so.

`tests/conftest.py` makes each entry of `EXCERPTS` a fixture of that name (`ludb_excerpt`,
`mnist_excerpt`...); a test that needs a folder no fixture names calls `shared_excerpt` itself."""
from __future__ import annotations

from pathlib import Path

import pytest

from common import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

# fixture name: (folder under SHARED_DATA, a file or folder it must hold, else the test is skipped)
EXCERPTS = {
    "ludb_excerpt": ("ludb", "RECORDS"),
    "ihdp_excerpt": ("ihdp", "ihdp_npci_1.csv"),
    "twins_excerpt": ("twins", "GANITE_Twin_data.csv.gz"),
    "jobs_excerpt": ("jobs", "jobs_DW_bin.new.10.test.npz"),
    # CIFAR-10 in Kaggle's layout (trainLabels.csv, train/<id>.png): 200 training images
    "cifar10_excerpt": ("cifar10_small/image_data_format_1", "trainLabels.csv"),
    # CIFAR-10 as image folders: train/<class>/ and test/<class>/
    "cifar10_images_excerpt": ("cifar10", "train"),
    # MNIST's IDX files, the test set only
    "mnist_excerpt": ("mnist", "t10k-images-idx3-ubyte.gz"),
    "emnist_tiles_excerpt": ("emnist_mnist_test", "test.json"),
    "ham10000_excerpt": ("ham10000", "HAM10000_metadata.csv"),
    # whole Zooniverse recordings of Culex, one vote row per second
    "zooniverse_culex_excerpt": ("humbug/zooniverse_culex", "votes.csv"),
}


def shared_excerpt(relative: str, must_hold: str) -> Path:
    """SHARED_DATA/relative; the test is skipped when it does not hold `must_hold` (a file or folder)."""
    folder = SHARED_DATA / relative
    if not (folder / must_hold).exists():
        pytest.skip(f"real data excerpt not found: {folder / must_hold}")
    return folder


def excerpt_fixture(name: str):
    """The fixture `name` of `EXCERPTS`: the folder, or the test skipped."""
    relative, must_hold = EXCERPTS[name]

    def excerpt() -> Path:
        return shared_excerpt(relative, must_hold)

    excerpt.__doc__ = f"{SHARED_DATA / relative} (the test is skipped without its {must_hold})"
    return pytest.fixture(name=name)(excerpt)
