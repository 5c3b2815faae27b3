import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")

from common import PROJECT_ROOT  # noqa: E402
from common.claims import NOT_REPRODUCED, PASSING, claims_path, load_claims, mechanism_variants  # noqa: E402
from tests.humbug_cnn import excerpt as humbug_excerpt  # noqa: E402
from tests.shared_data import EXCERPTS, SHARED_DATA, excerpt_fixture  # noqa: E402, F401 (SHARED_DATA: some tests import it from here)

# A few seconds of training on a handful of generated records: enough to exercise every code path.
QUICK_ECG = [
    "experiment=ecg_unet/tiny",
    "data.synthetic.records=12",
    "data.synthetic.seconds=4.0",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "logger=none",
]


@pytest.fixture(autouse=True)
def _restore_deterministic_algorithms():
    """A Trainer(deterministic=True) switches torch's deterministic mode on for the whole process
    (in a test or in a session fixture set up before it); each test starts in torch's default mode,
    so that its outcome does not depend on the ones before it."""
    import torch

    torch.use_deterministic_algorithms(False)
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="session")
def trained_quick_ecg(tmp_path_factory) -> tuple[Path, dict]:
    """(run dir, metrics) of one quick ecg_unet training run, shared by the tests that need a
    trained model (evaluation, prediction) instead of each training its own."""
    from common import run

    run_dir = tmp_path_factory.mktemp("quick_ecg")
    metrics = run.train(run.compose("train", [*QUICK_ECG, "logger=csv", f"paths.output_dir={run_dir}"]))
    return run_dir, metrics


# One fixture per real data excerpt of tests/shared_data.py (ludb_excerpt, mnist_excerpt...).
globals().update({f"_{name}": excerpt_fixture(name) for name in EXCERPTS})


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


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """`tiny_dirs(paper)`: one results folder per paper for the session's slow tiny runs, so that a
    mechanism-off variant (tests/test_mechanism_off.py) reuses the trained runs it shares with the
    paper's tiny reproduction (same config, same code) instead of training them again."""
    folders = {}

    def folder(paper: str) -> Path:
        if paper not in folders:
            folders[paper] = tmp_path_factory.mktemp(f"{paper}_tiny")
        return folders[paper]

    return folder


def reproduce_tiny(paper: str, results_dir: Path, overrides: list[str] = (), arguments: list[str] = (),
                   expect_pass: bool = True) -> tuple[dict, str]:
    """Run `scripts/reproduce.py paper=<paper> scale=tiny` as a user would; `overrides` go to every
    training run, `arguments` to the reproduce config (e.g. `scales.tiny.x=...`). With
    `expect_pass`, assert that every tiny claim was measured and reproduced (or close).
    Returns (metrics.json summary, stderr)."""
    # a record left by an earlier run in the same folder must not stand in for this run's
    (Path(results_dir) / "metrics.json").unlink(missing_ok=True)
    quoted = ",".join(f'"{o}"' for o in ["trainer.enable_progress_bar=false", *overrides])
    result = subprocess.run(
        [sys.executable, "scripts/reproduce.py", f"paper={paper}", "scale=tiny", f"results_dir={results_dir}",
         f"overrides=[{quoted}]", *arguments],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800,
    )
    summary = json.loads((results_dir / "metrics.json").read_text()) if (results_dir / "metrics.json").is_file() else None
    if expect_pass:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        tiny_claims = [c for c in load_claims(claims_path(paper)) if c.scale == "tiny"]
        assert {c["id"] for c in summary["claims"]} == {c.id for c in tiny_claims}
        assert all(c["verdict"] in PASSING for c in summary["claims"]), summary["claims"]
    return summary, result.stderr


def assert_mechanism_off_fails(paper: str, name: str, results_dir: Path, arguments: list[str] = (),
                               overrides: list[str] = ()) -> None:
    """The tiny reproduction with variant `name` switched off exits 1 and fails each claim it lists."""
    variant = mechanism_variants(paper)[name]
    summary, stderr = reproduce_tiny(paper, results_dir, overrides, [*variant["args"], *arguments], expect_pass=False)
    assert summary is not None, stderr[-3000:]
    status = {c["id"]: c["verdict"] for c in summary["claims"]}
    for claim_id in variant["must_fail"]:
        assert status[claim_id] == NOT_REPRODUCED, (claim_id, status)
