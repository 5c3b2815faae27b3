"""The mechanism off: the MI penalty switched off in the arm that should have it (both arms plain
ML-VAEs). configs/paper/grouped_disentanglement.yaml lists the variant and the claims it must fail; the
slow test runs it at tiny scale (the group-size sweep left out to save time)."""
import pytest

from tests.conftest import (
    assert_mechanism_claims_marked,
    assert_mechanism_off_fails,
    mechanism_variants,
)

PAPER = "grouped_disentanglement"


def test_listed_claims_exist_and_are_marked():
    assert_mechanism_claims_marked(PAPER)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(mechanism_variants(PAPER)))
def test_mechanism_off_fails_its_claims(tmp_path, name):
    assert_mechanism_off_fails(PAPER, name, tmp_path)
