"""End to end: `scripts/reproduce.py paper=gin scale=tiny` as a user runs it (slow: minutes); the plan's
mechanism switches and the paired comparison (fast)."""
import pytest
from omegaconf import OmegaConf

from common.errors import ConfigError
from papers.gin.reproduce import mechanism_overrides, paired
from tests.conftest import reproduce_tiny


def test_mechanism_switches_become_training_overrides():
    assert mechanism_overrides(OmegaConf.create({})) == [
        "model.volume_preserving=true", "model.class_conditional=true", "model.variance=empirical"]
    plan = OmegaConf.create({"volume_preserving": False, "class_conditional": True, "variance": "learned"})
    assert mechanism_overrides(plan) == [
        "model.volume_preserving=false", "model.class_conditional=true", "model.variance=learned"]
    with pytest.raises(ConfigError, match="volume_preserving must be true or false"):
        mechanism_overrides(OmegaConf.create({"volume_preserving": "no"}))
    with pytest.raises(ConfigError, match="variance must be one of"):
        mechanism_overrides(OmegaConf.create({"variance": "bayes"}))


def test_paired_comparison_by_hand():
    # differences 0.1, 0.2, 0.3, 0.4, 0.5: mean 0.3, sd 0.158; every sign +: p = 1/32 (sign flips)
    a = [0.6, 0.7, 0.8, 0.9, 1.0]
    metrics = paired("x", a, [0.5] * 5)
    assert metrics["x/difference"] == pytest.approx(0.3)
    assert metrics["x/difference_sd"] == pytest.approx(0.158113883, rel=1e-6)
    assert metrics["x/excess"] == pytest.approx(0.3 - 0.158113883, rel=1e-6)
    assert metrics["x/p_value"] == pytest.approx(1 / 32)
    assert metrics["x/n"] == 5
    # one seed the other way (differences 0.1, 0.2, 0.3, 0.4, -0.1): 3 of the 32 sign patterns reach the mean
    worse = paired("y", [0.6, 0.7, 0.8, 0.9, 0.4], [0.5] * 5)
    assert worse["y/p_value"] == pytest.approx(3 / 32)


@pytest.mark.slow
def test_tiny_reproduction_passes_every_claim(tiny_dirs):
    results_dir = tiny_dirs("gin")
    summary, _ = reproduce_tiny("gin", results_dir, overrides=["logger=none"])
    for figure in ("mixed_spectrum.png", "mixed_recovery.png", "world0_spectrum.png", "world0_recovery.png",
                   "digits_spectrum.png", "digits_traversals.png"):
        assert (results_dir / figure).is_file()
    assert summary is not None
