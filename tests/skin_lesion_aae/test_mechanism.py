"""The DAAE's two mechanisms switched off (configs/paper/skin_lesion_aae.yaml `mechanism_off`): without
the noise the "DAAE" runs are the AAE runs, without the adversary the DAE runs, so the claims that the
DAAE beats them (and, for the adversary, that its codes match the prior) must fail. The fast tests
judge the prior claims on codes of a collapsed and a constant encoder with the real metric code."""
import numpy as np
import pytest
from omegaconf import OmegaConf

from common import PROJECT_ROOT
from common.claims import NOT_REPRODUCED, check_claims, claims_path, load_claims, mechanism_variants
from papers.skin_lesion_aae.metrics import prior_energy
from tests.conftest import assert_mechanism_off_fails

PAPER = "skin_lesion_aae"


def test_each_variant_turns_the_daae_into_the_model_it_must_lose_to():
    variants = mechanism_variants(PAPER)
    # the same overrides as the AAE and the DAE in the tiny plan: the variant's runs are theirs
    variants = mechanism_variants(PAPER)
    plan = OmegaConf.load(PROJECT_ROOT / "configs" / "paper" / f"{PAPER}.yaml").scales.tiny.variants
    assert variants["no_noise"]["args"] == [f'scales.tiny.variants.daae=["{plan.aae[0]}"]']
    assert variants["no_adversary"]["args"] == [f'scales.tiny.variants.daae=["{plan.dae[0]}"]']
    assert len(plan.aae) == len(plan.dae) == 1 and len(plan.daae) == 0
    assert {"tiny_daae_beats_aae"} <= set(variants["no_noise"]["must_fail"])
    assert {"tiny_daae_beats_dae", "tiny_daae_codes_match_prior"} <= set(variants["no_adversary"]["must_fail"])


@pytest.mark.parametrize("codes", ["collapsed", "constant", "shrunken"])
def test_a_collapsed_or_constant_encoder_fails_the_prior_claims(codes):
    rng = np.random.default_rng(0)
    z = {"collapsed": 0.02 * rng.normal(size=(500, 16)), "constant": np.full((500, 16), 0.7),
         "shrunken": 0.05 * rng.normal(size=(500, 16)) + 0.2}[codes]
    measured = prior_energy(z)
    metrics = {f"daae/{k}": v for k, v in measured.items()}
    claims = [c for c in load_claims(claims_path(PAPER)) if c.scale == "tiny"
              and c.id in ("tiny_daae_codes_match_prior", "tiny_daae_codes_spread")]
    assert len(claims) == 2
    assert all(v.status == NOT_REPRODUCED for v in check_claims(claims, metrics, "tiny"))
    # and codes drawn from the prior pass both
    metrics = {f"daae/{k}": v for k, v in prior_energy(rng.normal(size=(500, 16))).items()}
    assert all(v.status != NOT_REPRODUCED for v in check_claims(claims, metrics, "tiny"))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(mechanism_variants(PAPER)))
def test_mechanism_off_fails_its_claims(skin_tiny_dir, name):
    assert_mechanism_off_fails(PAPER, name, skin_tiny_dir)
