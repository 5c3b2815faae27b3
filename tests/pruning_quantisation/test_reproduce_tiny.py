"""End to end: reproduce.py paper=pruning_quantisation scale=tiny trains, compresses, measures, plots.

Only MobileNetV2 (the network every tiny claim is about) goes through the pipeline here, to keep
the test short; AlexNet and ShuffleNetV2 are covered by the unit tests (build, prune, quantise)
and by `make reproduce-pruning_quantisation SCALE=tiny`.
"""
import json
import subprocess
import sys

from common import PROJECT_ROOT
from common.claims import claims_path, load_claims


def test_reproduce_pruning_quantisation_tiny(tmp_path):
    results = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "scripts/reproduce.py", "paper=pruning_quantisation", "scale=tiny", f"results_dir={results}",
         'overrides=["trainer.enable_progress_bar=false","compression.networks=[mobilenet]"]'],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((results / "metrics.json").read_text())
    tiny_claims = [c for c in load_claims(claims_path("pruning_quantisation")) if c.scale == "tiny"]
    assert {c["id"] for c in summary["claims"]} == {c.id for c in tiny_claims}
    assert all(c["verdict"] == "PASS" for c in summary["claims"])
    assert (results / "tradeoffs.png").stat().st_size > 10_000
    report = (results / "report.md").read_text()
    assert "| mobilenet | pruned_quantised |" in report and "| overfit_pruned |" in report


def test_unknown_network_in_the_reproduce_settings_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/reproduce.py", "paper=pruning_quantisation", "scale=tiny",
         f"results_dir={tmp_path}", 'overrides=["compression.networks=[vgg16]"]'],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "vgg16" in result.stdout + result.stderr and "Traceback" not in result.stderr
