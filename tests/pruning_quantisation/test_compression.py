"""Pruning and quantisation against hand-computed cases and invariants."""
import pytest
import torch
from torch import nn

from common.errors import ConfigError
from papers.pruning_quantisation.compression import (
    check_backend,
    conv_batchnorm_pairs,
    make_pruning_permanent,
    parameter_counts,
    prune_network,
    quantise_static,
)
from papers.pruning_quantisation.measure import accuracy, interleaved_latency_ms, serialized_bytes
from papers.pruning_quantisation.networks import NETWORKS, build_network


def test_linear_pruning_zeroes_the_smallest_magnitudes():
    layer = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.1, -5.0, 0.3, 2.0], [-0.2, 0.05, 4.0, -1.0]]))
    prune_network(nn.Sequential(layer), 0.5)
    # The 4 smallest of the 8 magnitudes: 0.05, 0.1, 0.2, 0.3.
    expected = torch.tensor([[0.0, -5.0, 0.0, 2.0], [0.0, 0.0, 4.0, -1.0]])
    assert torch.equal(layer.weight, expected)


def test_conv_pruning_removes_whole_filters_of_smallest_l2_norm():
    conv = nn.Conv2d(1, 4, kernel_size=2, bias=False)
    with torch.no_grad():
        # L2 norms 1, 0.2, 4, 0.6 (L1 norms 1, 0.4, 8, 1.2 would drop filter 0 instead of 3).
        conv.weight.copy_(torch.stack([
            torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]), torch.full((1, 2, 2), 0.1),
            torch.full((1, 2, 2), 2.0), torch.full((1, 2, 2), 0.3),
        ]))
    prune_network(nn.Sequential(conv), 0.5)
    kept = conv.weight.flatten(1).abs().sum(dim=1) > 0
    assert kept.tolist() == [True, False, True, False]


def test_masks_hold_pruned_weights_at_zero_while_training():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    prune_network(net, 0.3)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    zeros_before = [(m.weight == 0) for m in (net[0], net[2])]
    for _ in range(5):
        optimizer.zero_grad()
        net(torch.randn(16, 8)).pow(2).mean().backward()
        optimizer.step()
    for module, zeros in zip((net[0], net[2]), zeros_before, strict=True):
        assert (module.weight[zeros] == 0).all()
    make_pruning_permanent(net)
    assert not hasattr(net[0], "weight_mask")
    total, nonzero = parameter_counts(net)
    assert total == 8 * 8 + 8 + 8 * 2 + 2
    assert nonzero == total - round(0.3 * 64) - round(0.3 * 16)


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, "half"])
def test_sparsity_outside_unit_interval_is_refused(sparsity):
    with pytest.raises(ConfigError, match="sparsity must be in \\[0, 1\\)"):
        prune_network(nn.Sequential(nn.Linear(2, 2)), sparsity)


def test_unknown_network_and_backend_are_named():
    with pytest.raises(ConfigError, match="'vgg'"):
        build_network("vgg")
    with pytest.raises(ConfigError, match="'tpu'"):
        check_backend("tpu")


@pytest.mark.parametrize("network", NETWORKS)
def test_quantised_network_is_int8_and_smaller(network):
    torch.manual_seed(0)
    net = build_network(network, num_classes=10, in_channels=1, classifier_width=256).eval()
    images = torch.randn(4, 1, 32, 32)
    quantised = quantise_static(net, [images])
    assert serialized_bytes(quantised) < 0.4 * serialized_bytes(net)
    kinds = {type(module) for module in quantised.modules()}
    assert torch.ao.nn.quantized.Linear in kinds and nn.Conv2d not in kinds and nn.Linear not in kinds
    with torch.inference_mode():
        assert quantised(images).shape == (4, 10)
    # Numerical agreement is checked where it means something, on trained networks: the tiny
    # claim that quantised MobileNet stays within 2 points of float accuracy.


def test_untrained_network_fails_the_tiny_accuracy_claim():
    from common.claims import NOT_REPRODUCED, claims_path, load_claims

    claim = next(c for c in load_claims(claims_path("pruning_quantisation")) if c.id == "tiny_mobilenet_trained")
    torch.manual_seed(0)
    net = build_network("mobilenet", in_channels=1)
    from papers.pruning_quantisation.data import ImageDataModule

    datamodule = ImageDataModule(source="digits", batch_size=200)
    datamodule.setup()
    assert claim.judge(accuracy(net, datamodule.test_dataloader())) == NOT_REPRODUCED


def test_interleaved_latency_ranks_a_slower_network_slower():
    fast, slow = nn.Linear(64, 64), nn.Sequential(*[nn.Linear(64, 64) for _ in range(40)])
    times = interleaved_latency_ms({"fast": fast, "slow": slow}, torch.randn(8, 64), repeats=15)
    assert times["slow"] > 3 * times["fast"] > 0


def _conv_bn_relu_with_shift(batchnorm: bool) -> nn.Sequential:
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU6())
    with torch.no_grad():
        block[1].bias.fill_(0.7)
        block[0].weight[1] *= 0.01  # filter 1 has the smallest norm: the one pruned at sparsity 0.25
    return prune_network(block, 0.25, batchnorm=batchnorm)


def test_paper_masks_leave_a_pruned_channel_at_its_batchnorm_shift():
    block = _conv_bn_relu_with_shift(batchnorm=False)
    block.train()
    out = block(torch.randn(8, 3, 5, 5))
    # The conv gives 0, BatchNorm of a constant gives its shift: the channel is the constant 0.7.
    assert torch.allclose(out[:, 1], torch.full_like(out[:, 1], 0.7))


def test_batchnorm_masks_make_a_pruned_channel_exactly_zero_while_training_and_after():
    block = _conv_bn_relu_with_shift(batchnorm=True)
    optimizer = torch.optim.SGD(block.parameters(), lr=0.1)
    block.train()
    for _ in range(3):
        optimizer.zero_grad()
        block(torch.randn(8, 3, 5, 5)).sum().backward()
        optimizer.step()
    assert block[1].weight[1] == 0 and block[1].bias[1] == 0
    make_pruning_permanent(block.eval())
    assert not any(name.endswith(("_mask", "_orig")) for name in block.state_dict())
    out = block(torch.randn(8, 3, 5, 5))
    assert torch.equal(out[:, 1], torch.zeros_like(out[:, 1]))
    assert (out[:, [0, 2, 3]] != 0).any()


def test_batchnorm_masks_follow_every_pruned_filter_of_a_real_network():
    net = prune_network(build_network("mobilenet").eval(), 0.3, batchnorm=True)
    pairs = list(conv_batchnorm_pairs(net))
    assert len(pairs) == 52  # every conv of MobileNetV2 is followed by its BatchNorm
    for conv, norm in pairs:
        pruned = ~conv.weight_mask.flatten(1).any(dim=1)
        assert pruned.any()
        assert torch.equal(norm.weight_mask == 0, pruned) and torch.equal(norm.bias_mask == 0, pruned)
