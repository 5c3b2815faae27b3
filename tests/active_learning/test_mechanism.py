"""The mechanism off: every strategy's scores replaced by uniform random numbers (the batch is then a
random draw). configs/paper/active_learning.yaml lists the variant and the claims it must fail; the slow
test runs it at tiny scale."""
import pytest

from tests.conftest import (
    assert_mechanism_claims_marked,
    assert_mechanism_off_fails,
    mechanism_variants,
)

PAPER = "active_learning"


def test_listed_claims_exist_and_are_marked():
    assert_mechanism_claims_marked(PAPER)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(mechanism_variants(PAPER)))
def test_mechanism_off_fails_its_claims(tmp_path, name):
    assert_mechanism_off_fails(PAPER, name, tmp_path)
