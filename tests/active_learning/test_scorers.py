"""Each scorer against its formula on hand-computed cases, and the samplers' choices."""
import math

import numpy as np
import pytest

from common.errors import ConfigError
from papers.active_learning import scorers
from papers.active_learning.samplers import probabilistic, top_k

P = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


def test_least_confidence_is_one_minus_max_rescaled():
    # (1 - max p) * K / (K - 1): 0.3 * 1.5, the uniform point 1, a sure point 0, 0.5 * 1.5
    np.testing.assert_allclose(scorers.least_confidence(P), [0.45, 1.0, 0.0, 0.75])


def test_margin_and_ratio_use_the_two_largest():
    np.testing.assert_allclose(scorers.margin(P), [1 - 0.5, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(scorers.ratio(P), [0.2 / 0.7, 1.0, 0.0, 1.0])


def test_entropy_is_normalised_by_log2_k():
    expected = -(0.7 * math.log2(0.7) + 0.2 * math.log2(0.2) + 0.1 * math.log2(0.1)) / math.log2(3)
    np.testing.assert_allclose(scorers.entropy(P), [expected, 1.0, 0.0, 1 / math.log2(3)])


def test_bald_is_entropy_of_mean_minus_mean_entropy():
    # two draws that disagree with certainty: H(mean) = log 2, E H = 0; two equal draws: 0
    draws = np.array([[[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]], [[0.0, 1.0], [0.5, 0.5], [0.9, 0.1]]])
    np.testing.assert_allclose(scorers.bald_classification(draws), [math.log(2), 0.0, 0.0], atol=1e-12)
    mixed = np.array([[[0.8, 0.2]], [[0.4, 0.6]]])
    h = lambda p: -sum(q * math.log(q) for q in p)  # noqa: E731
    np.testing.assert_allclose(scorers.bald_classification(mixed), [h([0.6, 0.4]) - (h([0.8, 0.2]) + h([0.4, 0.6])) / 2])


def test_regression_scorers():
    draws = np.array([[1.0, 0.0, 5.0], [3.0, 0.0, 5.0]])  # mean 2, 0, 5; population sd 1, 0, 0
    np.testing.assert_allclose(scorers.bald_regression(draws), [0.5 * math.log(2), 0.0, 0.0])
    np.testing.assert_allclose(scorers.upper_confidence_bound(draws), [3.0, 0.0, 5.0])
    np.testing.assert_allclose(scorers.upper_confidence_bound(draws, kappa=2.0), [4.0, 0.0, 5.0])
    np.testing.assert_allclose(scorers.greedy(draws), [2.0, 0.0, 5.0])
    assert scorers.thompson(draws, np.random.default_rng(0)).tolist() in (draws[0].tolist(), draws[1].tolist())


def test_expected_improvement_closed_form():
    # mean 2, sd 1, best 1.5, xi 0.01: gain 0.49, z = 0.49; EI = gain Phi(z) + sd phi(z)
    draws = np.array([[1.0, 0.0], [3.0, 0.0]])
    z = 0.49
    phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    np.testing.assert_allclose(scorers.expected_improvement(draws, best=1.5), [0.49 * Phi + phi, 0.0], rtol=1e-12)


def test_variance_reduction_of_independent_points_is_their_variance():
    # uncorrelated columns: sum_j Cov(j, x)^2 / Var(x) = Var(x)
    draws = np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    np.testing.assert_allclose(scorers.variance_reduction(draws, noise=0.0), [4 / 3, 4 / 3])
    # two identical columns: each reduces both, 2 Var
    same = np.array([[1.0, 1.0], [-1.0, -1.0]])
    np.testing.assert_allclose(scorers.variance_reduction(same, noise=0.0), [4.0, 4.0])


def test_relative_distance_is_distance_to_nearest_labelled():
    pool = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
    labelled = np.array([[0.0, 0.0], [10.0, 1.0]])
    np.testing.assert_allclose(scorers.relative_distance(pool, labelled), [0.0, 5.0, 1.0])


def test_top_k_and_probabilistic():
    scores = np.array([0.1, 0.9, 0.5, 0.9])
    assert top_k(scores, 2).tolist() == [1, 3]  # ties by position
    chosen = probabilistic(np.array([0.0, 0.0, 1.0, 2.0]), 2, np.random.default_rng(0))
    assert sorted(chosen.tolist()) == [2, 3]  # zero-weight points are not drawn while others remain
    counts = np.bincount([probabilistic(np.array([1.0, 3.0, 0.0]), 1, np.random.default_rng(s))[0]
                          for s in range(2000)], minlength=3)
    assert counts[2] == 0 and 0.3 < counts[0] / counts[1] < 0.45  # min-shifted weights 1 : 3


def test_bad_batches_and_shapes_are_named():
    with pytest.raises(ConfigError, match="batch_size=5 is larger than the unlabelled pool"):
        top_k(np.zeros(3), 5)
    with pytest.raises(ConfigError, match="positive integer"):
        top_k(np.zeros(3), 0)
    with pytest.raises(ConfigError, match="shape"):
        scorers.margin(np.zeros(3))
    with pytest.raises(ConfigError, match=">= 2 predictive draws"):
        scorers.bald_regression(np.zeros((1, 3)))
