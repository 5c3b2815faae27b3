"""Claims that fail when the paper's mechanism is switched off (the slow test runs the whole tiny
pipeline with sparsity 0; the fast ones apply the same claims to the functions that make the metric)."""
import torch

from common.claims import NOT_REPRODUCED, REPRODUCED, claims_path, load_claims
from papers.pruning_quantisation.compression import (
    make_pruning_permanent,
    prune_network,
    slim_network,
)
from papers.pruning_quantisation.measure import serialized_bytes
from papers.pruning_quantisation.networks import build_network


def _claim(claim_id):
    return next(c for c in load_claims(claims_path("pruning_quantisation")) if c.id == claim_id)


def _size_ratio(compress) -> float:
    torch.manual_seed(0)
    net = build_network("mobilenet", in_channels=1).eval()
    return serialized_bytes(compress(build_network("mobilenet", in_channels=1).eval())) / serialized_bytes(net)


def test_size_claim_for_pruning_alone_needs_filters_removed():
    claim = _claim("tiny_mobilenet_slimmed_smaller")
    example = torch.zeros(1, 1, 32, 32)
    assert claim.judge(_size_ratio(lambda n: slim_network(n, 0.3, example, channel_multiple=8))) == REPRODUCED
    # Mechanism off: sparsity 0 removes nothing.
    assert claim.judge(_size_ratio(lambda n: slim_network(n, 0.0, example, channel_multiple=8))) == NOT_REPRODUCED
    # The paper's masks zero 30 % of the weights but store them: the file does not shrink.
    masked = _size_ratio(lambda n: make_pruning_permanent(prune_network(n, 0.3)))
    assert abs(masked - 1.0) < 1e-3 and claim.judge(masked) == NOT_REPRODUCED


def test_overfitting_claims_need_a_margin_over_the_control():
    for network in ("mobilenet", "shufflenet", "alexnet"):
        claim = _claim(f"{network}_pruning_beats_control")
        assert claim.metric == f"{network}/overfit/gain_over_control"
        assert claim.judge(0.0) == NOT_REPRODUCED  # a tie with the unpruned control
        assert claim.judge(0.002) == NOT_REPRODUCED
        assert claim.judge(0.007) == REPRODUCED


def test_every_relative_claim_has_an_absolute_floor_at_its_scale():
    claims = load_claims(claims_path("pruning_quantisation"))
    for scale in ("tiny", "cifar10_cpu", "fashion_cpu", "cifar10_reduced", "full"):
        metrics = {c.metric for c in claims if c.scale == scale}
        for network in {m.split("/")[0] for m in metrics if m.endswith("accuracy_delta") or "speedup" in m}:
            assert any(m.startswith(network) and m.endswith("/accuracy") for m in metrics), (scale, network)
