"""End to end: reproduce.py paper=pruning_quantisation scale=tiny trains, compresses, measures, plots,
and every tiny claim holds; with the mechanism off (sparsity 0) the size claim for pruning alone fails."""
import subprocess
import sys

import pytest

from common import PROJECT_ROOT
from common.claims import NOT_REPRODUCED, claims_path, load_claims
from tests.conftest import reproduce_tiny


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    # One folder for both slow tests: the mechanism-off run reuses the trained float networks.
    return tmp_path_factory.mktemp("pruning_quantisation_tiny")


@pytest.mark.slow
def test_reproduce_pruning_quantisation_tiny(results_dir):
    summary, _ = reproduce_tiny("pruning_quantisation", results_dir)
    assert (results_dir / "tradeoffs.png").stat().st_size > 10_000
    report = (results_dir / "report.md").read_text()
    assert "| mobilenet | pruned_quantised |" in report and "| mobilenet | overfit_control |" in report
    assert "| mobilenet | overfit_pruned_bn |" in report
    assert "| shufflenet | slimmed_quantised |" in report and "| shufflenet | pruned_bn_quantised |" in report
    # The scales that only run on a GPU or for hours name metrics the same pipeline writes: a typo in
    # claims.yaml would otherwise surface as "not measured" after the long run.
    produced = set(summary["metrics"])
    for claim in load_claims(claims_path("pruning_quantisation")):
        _, rest = claim.metric.split("/", 1)
        assert {f"mobilenet/{rest}", f"shufflenet/{rest}"} & produced, (claim.id, claim.metric)


@pytest.mark.slow
def test_size_claim_fails_with_sparsity_zero(results_dir):
    summary, _ = reproduce_tiny(
        "pruning_quantisation", results_dir, expect_pass=False,
        arguments=["scales.tiny.compression.sparsity=0.0", "scales.tiny.compression.networks=[mobilenet]",
                   "scales.tiny.overfit=null"],
    )
    verdicts = {c["id"]: c["verdict"] for c in summary["claims"]}
    assert verdicts["tiny_mobilenet_slimmed_smaller"] == NOT_REPRODUCED
    assert verdicts["tiny_mobilenet_pruned_sparse"] == NOT_REPRODUCED
    assert summary["metrics"]["mobilenet/slimmed/size_ratio"] > 0.99


def test_unknown_network_in_the_reproduce_settings_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/reproduce.py", "paper=pruning_quantisation", "scale=tiny",
         f"results_dir={tmp_path}", "scales.tiny.compression.networks=[vgg16]"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "vgg16" in result.stdout + result.stderr and "Traceback" not in result.stderr
