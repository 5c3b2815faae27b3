"""The mechanism off: papers/gin/claims.yaml's `mechanism_off` lists each variant (one Gaussian for all
classes, a unit-variance prior, GLOW couplings) with the claims it must fail; the slow test runs each at
tiny scale (its args also drop the comparison arms and the single-seed ablations, which the claims it
must fail do not use)."""
import pytest

from tests.conftest import (
    assert_mechanism_claims_marked,
    assert_mechanism_off_fails,
    mechanism_variants,
)

PAPER = "gin"


def test_listed_claims_exist_and_are_marked():
    assert_mechanism_claims_marked(PAPER)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(mechanism_variants(PAPER)))
def test_mechanism_off_fails_its_claims(tmp_path, name):
    assert_mechanism_off_fails(PAPER, name, tmp_path)
