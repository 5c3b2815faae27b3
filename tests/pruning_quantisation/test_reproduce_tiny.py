"""End to end: reproduce.py paper=pruning_quantisation scale=tiny trains, compresses, measures, plots.

Only MobileNetV2 (the network every tiny claim is about) goes through the pipeline here, to keep
the test short; AlexNet and ShuffleNetV2 are covered by the unit tests (build, prune, quantise)
and by `make reproduce-pruning_quantisation SCALE=tiny`.
"""
import subprocess
import sys

import pytest

from common import PROJECT_ROOT
from tests.conftest import reproduce_tiny


@pytest.mark.slow
def test_reproduce_pruning_quantisation_tiny(tmp_path):
    reproduce_tiny("pruning_quantisation", tmp_path, arguments=["scales.tiny.compression.networks=[mobilenet]"])
    assert (tmp_path / "tradeoffs.png").stat().st_size > 10_000
    report = (tmp_path / "report.md").read_text()
    assert "| mobilenet | pruned_quantised |" in report and "| overfit_pruned |" in report
    assert "| mobilenet | slimmed_quantised |" in report


def test_unknown_network_in_the_reproduce_settings_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/reproduce.py", "paper=pruning_quantisation", "scale=tiny",
         f"results_dir={tmp_path}", "scales.tiny.compression.networks=[vgg16]"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "vgg16" in result.stdout + result.stderr and "Traceback" not in result.stderr
