"""End to end: `make reproduce-ecg_unet SCALE=tiny` trains, scores, draws and passes its claims."""
import json
import subprocess
import sys

from common import PROJECT_ROOT
from common.claims import claims_path, load_claims


def test_reproduce_ecg_unet_tiny(tmp_path):
    results = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "scripts/reproduce.py", "paper=ecg_unet", "scale=tiny", f"results_dir={results}",
         'overrides=["trainer.enable_progress_bar=false"]'],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((results / "metrics.json").read_text())
    tiny_claims = [c for c in load_claims(claims_path("ecg_unet")) if c.scale == "tiny"]
    assert {c["id"] for c in summary["claims"]} == {c.id for c in tiny_claims}
    assert all(c["verdict"] == "PASS" for c in summary["claims"])
    assert (results / "ecg_strip.png").stat().st_size > 10_000
    report = (results / "report.md").read_text()
    assert "NeuroKit2 dwt" in report and "| QRS onset | UNet |" in report
