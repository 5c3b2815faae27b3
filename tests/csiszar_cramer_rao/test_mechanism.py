"""The mechanism off: the classical Fisher information of p in place of the alpha-metric in the bound
(alpha = 1 in the bound, the data keep their alpha). configs/paper/csiszar_cramer_rao.yaml lists the
variant and the claims it must fail; the slow test runs it at tiny scale."""
import pytest

from tests.conftest import (
    assert_mechanism_claims_marked,
    assert_mechanism_off_fails,
    mechanism_variants,
)

PAPER = "csiszar_cramer_rao"


def test_listed_claims_exist_and_are_marked():
    assert_mechanism_claims_marked(PAPER)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(mechanism_variants(PAPER)))
def test_mechanism_off_fails_its_claims(tmp_path, name):
    assert_mechanism_off_fails(PAPER, name, tmp_path)
