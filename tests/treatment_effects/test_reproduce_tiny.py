"""End to end: `make reproduce-treatment_effects SCALE=tiny` trains, compares, draws, passes its claims."""
import json
import subprocess
import sys

from common import PROJECT_ROOT
from common.claims import claims_path, load_claims


def test_reproduce_treatment_effects_tiny(tmp_path):
    results = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "scripts/reproduce.py", "paper=treatment_effects", "scale=tiny", f"results_dir={results}",
         'overrides=["trainer.enable_progress_bar=false","logger=none"]'],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((results / "metrics.json").read_text())
    tiny_claims = [c for c in load_claims(claims_path("treatment_effects")) if c.scale == "tiny"]
    assert {c["id"] for c in summary["claims"]} == {c.id for c in tiny_claims}
    assert all(c["verdict"] == "PASS" for c in summary["claims"])
    assert (results / "treatment_effects.png").stat().st_size > 10_000
    report = (results / "report.md").read_text()
    assert "| S-learner (RF) |" in report and "DKLITE without variance term" in report
    assert "replication" in result.stderr  # the progress bar over replications
