"""common.stats: permutation p-values against hand-counted cases and scipy's rank correlation."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from common.stats import compare, correlation


def test_three_seeds_perfectly_separated_give_one_in_twenty():
    # 20 ways to choose which 3 of 6 values are "a"; only the observed split has a mean difference this large
    result = compare([3.0, 4.0, 5.0], [0.0, 1.0, 2.0])
    assert result.exact and result.p_value == pytest.approx(1 / 20)
    assert result.mean_difference == pytest.approx(3.0)
    assert result.sd_difference == pytest.approx(math.sqrt(2.0))


def test_overlapping_samples_are_not_significant():
    result = compare([1.0, 3.0, 5.0], [2.0, 4.0, 6.0])
    assert result.p_value > 0.5


def test_paired_sign_flip_floor_is_one_over_two_to_the_n():
    assert compare([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], paired=True).p_value == pytest.approx(1 / 8)
    assert compare([1, 2, 3, 4, 5], [0, 0, 0, 0, 0], paired=True).p_value == pytest.approx(1 / 32)
    assert compare([1, 2, 3, 4, 5], [0, 0, 0, 0, 0], paired=True, alternative="less").p_value == pytest.approx(1.0)


def test_monte_carlo_branch_is_seeded_and_never_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 30), rng.normal(0.0, 1.0, 30)
    first, second = compare(a, b, seed=3), compare(a, b, seed=3)
    assert not first.exact and first.p_value == second.p_value and 0 < first.p_value < 0.01


def test_spearman_matches_scipy_and_exact_permutation_count():
    x = [1, 2, 3, 4, 5]
    y = [2.0, 1.0, 4.0, 3.0, 5.0]
    result = correlation(x, y)
    assert result.rho == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    # a perfect order of 5 happens in 1 of 120 orders
    assert correlation(x, x).p_value == pytest.approx(1 / 120)
    assert correlation(x, x[::-1], alternative="less").p_value == pytest.approx(1 / 120)


def test_three_runs_cannot_give_a_significant_ordering():
    # the case: rho = -1 over 3 runs happens by chance with probability 1/6
    assert correlation([1, 2, 3], [3, 2, 1], alternative="less").p_value == pytest.approx(1 / 6)


@pytest.mark.parametrize("bad", [dict(alternative="bigger"), dict(method="kendall")])
def test_bad_arguments_are_named(bad):
    with pytest.raises(ValueError, match="alternative|method"):
        correlation([1, 2, 3], [1, 2, 3], **bad)


def test_bad_samples_are_named():
    with pytest.raises(ValueError, match="at least 2"):
        compare([1.0], [2.0, 3.0])
    with pytest.raises(ValueError, match="non-finite"):
        compare([1.0, float("nan")], [2.0, 3.0])
    with pytest.raises(ValueError, match="paired"):
        compare([1.0, 2.0], [2.0, 3.0, 4.0], paired=True)
