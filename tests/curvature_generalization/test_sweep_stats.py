"""The reproduction's statistics: rank correlations with their permutation p-values (known answers),
the width study's per-run summary (a hand-made trajectory), the bottleneck MLP and bad plans."""
import math

import pytest
from omegaconf import OmegaConf

from common.errors import ConfigError
from papers.curvature_generalization.model import MLP
from papers.curvature_generalization.reproduce import rank_test, reproduce, trajectory_summary


def test_rank_test_known_answers():
    # 4 distinct values in order: rho = 1; exactly 1 of the 4! = 24 orders is as large (p = 1/24)
    up = rank_test([1, 2, 3, 4], [10, 20, 30, 40], "k")
    assert up["k"] == pytest.approx(1.0)
    assert up["k_p_greater"] == pytest.approx(1 / 24)
    assert up["k_p_less"] == pytest.approx(1.0)
    assert up["k_n"] == 4
    down = rank_test([1, 2, 3, 4], [4, 3, 2, 1], "k")
    assert down["k"] == pytest.approx(-1.0) and down["k_p_less"] == pytest.approx(1 / 24)


def test_rank_test_with_tied_levels_and_no_evidence():
    # 3 levels x 2 seeds, perfectly ordered between levels: rho < 1 (ties in x), p small but not 1/720
    result = rank_test([1, 1, 2, 2, 3, 3], [1, 2, 3, 4, 5, 6], "k")
    assert 0.9 < result["k"] < 1.0
    assert result["k_p_greater"] == pytest.approx(8 / 720)  # 2!^3 orders keep every level's pair together
    constant = rank_test([1, 2, 3], [5, 5, 5], "k")
    assert constant["k"] == 0.0 and constant["k_p_less"] == 1.0 and constant["k_p_greater"] == 1.0


def test_trajectory_summary_hand_made():
    trajectory = [
        {"step": 0, "full": 0.2, "gauss_newton": 0.19, "functional": 0.01, "cos_functional": 0.05},
        {"step": 10, "full": -0.1, "gauss_newton": 0.1, "functional": -0.2, "cos_functional": -0.8},
        {"step": 20, "full": 0.01, "gauss_newton": 0.1, "functional": -0.09, "cos_functional": -0.9},
        {"step": 30, "full": 0.05, "gauss_newton": 0.08, "functional": -0.03, "cos_functional": -0.7},
    ]
    s = trajectory_summary(trajectory)
    assert s["start_full"] == 0.2 and s["end_full"] == 0.05 and s["min_full"] == -0.1
    assert s["interior_min_abs_full_over_start"] == pytest.approx(0.01 / 0.2)  # the end point is not inside
    assert s["min_functional"] == -0.2 and s["start_gauss_newton"] == 0.19
    assert s["start_abs_cos"] == 0.05 and s["median_abs_cos"] == pytest.approx(0.75)
    assert math.isinf(trajectory_summary([{**trajectory[0], "full": -0.1}, trajectory[1]])["interior_min_abs_full_over_start"])


def test_bottleneck_mlp_shapes_and_errors():
    net = MLP(64, 256, 2, 10, "tanh", bottleneck=2)
    sizes = [tuple(m.weight.shape) for m in net.layers if hasattr(m, "weight")]
    assert sizes == [(256, 64), (2, 256), (10, 2)]
    assert [tuple(m.weight.shape) for m in MLP(64, 8, 2, 10).layers if hasattr(m, "weight")] == [(8, 64), (8, 8), (10, 8)]
    with pytest.raises(ConfigError, match="bottleneck"):
        MLP(64, 32, 1, 10, bottleneck=2)
    with pytest.raises(ConfigError, match="bottleneck"):
        MLP(64, 32, 2, 10, bottleneck=0)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("parts", ["sweep", "widths"], "parts has \\['widths'\\]"),
    ("hessian_part", "ggn", "hessian_part must be"),
    ("seeds", [], "seeds must list"),
])
def test_bad_plans_are_refused(tmp_path, key, value, message):
    plan = OmegaConf.create({"experiments": {"sweep": "curvature_generalization/tiny"}, "seeds": [0],
                             "sweep": {}, key: value})
    cfg = OmegaConf.create({"scale": "tiny", "overrides": []})
    with pytest.raises(ConfigError, match=message):
        reproduce(cfg, plan, tmp_path)
