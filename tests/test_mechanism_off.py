"""Each paper's mechanism-off variants (common.claims.mechanism_variants): switched off, what the paper
says matters must fail the claims the variant lists. The fast tests check the lists; the slow test runs
every variant at tiny scale, as `scripts/reproduce.py paper=<paper> scale=tiny switch_off=<variant>` does
for the records the report shows."""
import pytest

from common import PROJECT_ROOT
from common.claims import claims_path, load_claims, mechanism_variants
from tests.conftest import assert_mechanism_off_fails

PAPERS = sorted(p.parent.name for p in (PROJECT_ROOT / "papers").glob("*/claims.yaml"))
# A variant with its own `test` (a shorter run of the paper's that shows it) is left to that test.
VARIANTS = [(paper, name) for paper in PAPERS for name, variant in mechanism_variants(paper).items()
            if "test" not in variant]
# Shorter runs where the variant's effect does not depend on the budget (without its tracking, gradient
# tracking is D-PSGD: their difference is exactly 0 at any number of rounds).
QUICKER = {
    "distributed_nonconvex": ["scales.tiny.training.rounds=60", "scales.tiny.training.local_steps=2",
                              "scales.tiny.quadratic.rounds=200"],
}


@pytest.mark.parametrize("paper", PAPERS)
def test_every_paper_switches_its_mechanism_off(paper):
    variants = mechanism_variants(paper)
    assert variants, f"{paper} lists no mechanism_off variant"
    claims = {claim.id: claim for claim in load_claims(claims_path(paper))}
    for variant in variants.values():
        if "test" in variant:
            path, _, name = variant["test"].partition("::")
            assert f"def {name}(" in (PROJECT_ROOT / path).read_text(), variant["test"]
        for claim_id in variant["must_fail"]:
            assert "[mechanism]" in claims[claim_id].source, (paper, claim_id)
            assert claims[claim_id].scale == "tiny", (paper, claim_id)


# The training overrides of the paper's own tiny test, so that a variant run in the same folder
# (conftest's tiny_dirs) reuses the runs the variant leaves unchanged.
TINY_TEST_OVERRIDES = {paper: ["logger=none"] for paper in
                       ("curvature_generalization", "gin", "grouped_disentanglement")}


@pytest.mark.slow
@pytest.mark.parametrize(("paper", "variant"), VARIANTS)
def test_mechanism_off_fails_its_claims(tiny_dirs, paper, variant):
    assert_mechanism_off_fails(paper, variant, tiny_dirs(paper), QUICKER.get(paper, []), TINY_TEST_OVERRIDES.get(paper, []))
