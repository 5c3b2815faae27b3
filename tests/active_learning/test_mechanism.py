"""The mechanism off: every strategy's scores replaced by uniform random numbers (the batch is then a
random draw). configs/paper/active_learning.yaml lists the variant and the claims it must fail; the slow
test runs it at tiny scale."""
import json
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from common import PROJECT_ROOT
from common.claims import NOT_REPRODUCED, claims_path, load_claims

PAPER = "active_learning"
VARIANTS = OmegaConf.load(PROJECT_ROOT / "configs" / "paper" / f"{PAPER}.yaml").mechanism_off


def test_listed_claims_exist_and_are_marked():
    claims = {c.id: c for c in load_claims(claims_path(PAPER))}
    for variant in VARIANTS.values():
        for claim_id in variant.must_fail:
            assert claim_id in claims and "[mechanism]" in claims[claim_id].source, claim_id


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VARIANTS))
def test_mechanism_off_fails_its_claims(tmp_path, name):
    variant = VARIANTS[name]
    done = subprocess.run([sys.executable, "scripts/reproduce.py", f"paper={PAPER}", "scale=tiny", f"results_dir={tmp_path}",
                           *variant.args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1, done.stderr[-3000:]
    status = {c["id"]: c["verdict"] for c in json.loads((tmp_path / "metrics.json").read_text())["claims"]}
    for claim_id in variant.must_fail:
        assert status[claim_id] == NOT_REPRODUCED, (claim_id, status)
