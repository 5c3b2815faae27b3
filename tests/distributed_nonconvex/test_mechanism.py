"""The mechanism off: gradient tracking without its tracking (y_i <- g_i(x_i), which is D-PSGD).
configs/paper/distributed_nonconvex.yaml lists the variant and the claims it must fail; the slow test runs
it at tiny scale (with fewer training rounds and local steps to stay short: without tracking GT and D-PSGD
are the same algorithm, so their difference is exactly 0 whatever the budget)."""
import pytest

from tests.conftest import (
    assert_mechanism_claims_marked,
    assert_mechanism_off_fails,
    mechanism_variants,
)

PAPER = "distributed_nonconvex"
SHORTER = ["scales.tiny.training.rounds=60", "scales.tiny.training.local_steps=2", "scales.tiny.quadratic.rounds=200"]


def test_listed_claims_exist_and_are_marked():
    assert_mechanism_claims_marked(PAPER)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(mechanism_variants(PAPER)))
def test_mechanism_off_fails_its_claims(tmp_path, name):
    assert_mechanism_off_fails(PAPER, name, tmp_path, SHORTER)
