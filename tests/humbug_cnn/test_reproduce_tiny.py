"""End to end: `make reproduce-humbug_cnn SCALE=tiny` trains, scores, draws and passes its claims."""
import json
import subprocess
import sys

from common import PROJECT_ROOT
from common.claims import claims_path, load_claims


def test_reproduce_humbug_cnn_tiny(tmp_path):
    results = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "scripts/reproduce.py", "paper=humbug_cnn", "scale=tiny", f"results_dir={results}",
         f'overrides=["trainer.enable_progress_bar=false","paths.data_dir={tmp_path / "data"}"]'],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((results / "metrics.json").read_text())
    tiny_claims = [c for c in load_claims(claims_path("humbug_cnn")) if c.scale == "tiny"]
    assert {c["id"] for c in summary["claims"]} == {c.id for c in tiny_claims}
    assert all(c["verdict"] == "PASS" for c in summary["claims"])
    for figure in ("spectrograms.png", "roc.png", "long_recording.png"):
        assert (results / figure).stat().st_size > 10_000
    assert "split by recording" in (results / "report.md").read_text()
