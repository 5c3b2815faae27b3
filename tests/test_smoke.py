"""End to end: `make reproduce-ecg_unet SCALE=tiny` trains, scores, draws and passes its claims."""
import shutil
import subprocess

import pytest

from common import PROJECT_ROOT
from tests.conftest import reproduce_tiny

PAPERS = sorted(path.parent.name for path in (PROJECT_ROOT / "papers").glob("*/claims.yaml"))


@pytest.mark.slow
def test_reproduce_ecg_unet_tiny(tmp_path):
    reproduce_tiny("ecg_unet", tmp_path)
    assert (tmp_path / "ecg_strip.png").stat().st_size > 10_000
    report = (tmp_path / "report.md").read_text()
    assert "NeuroKit2 dwt" in report and "| QRS onset | UNet |" in report


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("paper", PAPERS)
def test_make_reproduce_target_runs_the_paper(paper):
    # -n prints the recipe without running it; -o keeps make from reinstalling the environment.
    result = subprocess.run(["make", "-n", "-o", ".venv/.installed", f"reproduce-{paper}", "SCALE=tiny", "ARGS=seed=3"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"scripts/reproduce.py paper={paper} scale=tiny 'seed=3'" in result.stdout
