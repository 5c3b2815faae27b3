"""The mechanism-off variants (papers/curvature_generalization/claims.yaml, `mechanism_off`):
narrow_last_layer (the width study's networks keep a last hidden layer of 2 units, H untouched)
and gauss_newton_only (the Hessian replaced by its Gauss-Newton part). The fast tests check the
switches themselves on digits; the slow test runs the tiny reproduction with the mechanism on
(tests/test_mechanism_off.py runs it with each variant)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from papers.curvature_generalization.data import ClassificationDataModule
from papers.curvature_generalization.model import MLP, CurvatureClassifier
from papers.curvature_generalization.reproduce import init_ratios
from tests.conftest import mechanism_variants, reproduce_tiny

PAPER = "curvature_generalization"


@pytest.fixture(scope="module")
def digits():
    dm = ClassificationDataModule(source="digits", n_train=256, measure_size=256)
    dm.setup()
    return dm


    assert set(mechanism_variants(PAPER)) == {"narrow_last_layer", "gauss_newton_only"}


def test_narrow_last_layer_keeps_the_gradient_aligned_with_H(digits):
    """Without the bottleneck |cos(g, Hg)| at initialisation is small at width 256 and smaller than at
    width 16; with a last hidden layer of 2 units it is not (H is measured, not set to zero)."""
    widths = [16, 256]
    wide = init_ratios(digits, widths, seeds=4, depth=2, activation="tanh")
    narrow = init_ratios(digits, widths, seeds=4, depth=2, activation="tanh", bottleneck=2)
    assert np.median(wide[256]["abs_cos"]) < 0.1 < np.median(narrow[256]["abs_cos"])
    assert np.median(wide[256]["abs_cos"]) < np.median(wide[16]["abs_cos"])
    assert min(narrow[256]["abs_cos"]) > 0  # H − G is not zero under this variant


def test_gauss_newton_only_zeroes_the_H_part_along_training(digits):
    x, y = digits.measure_set.tensors
    values = {}
    for part in ("full", "gauss_newton"):
        torch.manual_seed(0)
        module = CurvatureClassifier(MLP(64, 128, 2, 10, "tanh"), hessian_part=part)
        mins = []
        for step in range(21):
            if step % 5 == 0:
                mins.append(module.alignment(x, y)["functional"])
            module.net.zero_grad()
            F.cross_entropy(module(x), y).backward()
            with torch.no_grad():
                for p in module.net.parameters():
                    p -= 0.1 * p.grad
        values[part] = min(mins)
    assert values["full"] < -0.01 and values["gauss_newton"] == 0.0, values


@pytest.mark.slow
def test_tiny_reproduction_passes(tiny_dirs):
    results_dir = tiny_dirs("curvature_generalization")
    reproduce_tiny(PAPER, results_dir, overrides=["logger=none"])
