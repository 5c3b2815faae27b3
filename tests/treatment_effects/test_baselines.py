"""Baselines: each learns the heterogeneous effect of generated data; TARNet is seeded and unit-consistent."""
import dataclasses

import numpy as np
import pytest
import torch

from papers.treatment_effects.baselines import BASELINES, econml_available, score, tarnet
from papers.treatment_effects.data import generate_replication, split_units


@pytest.fixture(scope="module")
def replication():
    data = generate_replication(seed=3, units=400, selection=1.0)
    return data, split_units(len(data.t), 0.2, seed=3)


FAST = sorted(b for b in BASELINES if not b.startswith("catenets_"))  # catenets' nets take ~20 s each: full scale only


@pytest.mark.parametrize("name", FAST)
def test_baseline_beats_the_naive_constant_effect(name, replication):
    if name == "causal_forest" and not econml_available():
        pytest.skip("econml not installed")
    data, train = replication
    torch.set_num_threads(1)
    scores = score(BASELINES[name](data, train, seed=0), data, train)
    # The naive estimate: one effect for everyone, the difference of the arms' mean outcomes, which
    # confounding biases (sqrt(PEHE) 1.12 here; the true effects' std is 0.56).
    treated, control = train & (data.t == 1), train & (data.t == 0)
    naive_effect = data.y[treated].mean() - data.y[control].mean()
    naive_sqrt_pehe = float(np.sqrt(((data.effects[~train] - naive_effect) ** 2).mean()))
    assert scores["out_sqrt_pehe"] < 0.6 * naive_sqrt_pehe, (name, scores, naive_sqrt_pehe)


def test_tarnet_is_seeded_and_leaves_the_global_generator_alone(replication):
    data, train = replication
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = tarnet(data, train, seed=5, max_steps=50)
    assert torch.rand(1) == expected_next
    np.testing.assert_array_equal(first, tarnet(data, train, seed=5, max_steps=50))
    assert not np.array_equal(first, tarnet(data, train, seed=6, max_steps=50))


def test_tarnet_effects_are_in_the_outcome_units(replication):
    # Outcomes are standardised on the training units, so an affine change of units trains the same
    # network: the effects must scale with the outcome and ignore its offset.
    data, train = replication
    rescaled = dataclasses.replace(data, y=10.0 * data.y + 5.0)
    np.testing.assert_allclose(tarnet(rescaled, train, seed=0, max_steps=50),
                               10.0 * tarnet(data, train, seed=0, max_steps=50), rtol=1e-4, atol=1e-4)
