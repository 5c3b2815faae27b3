"""Slimming: the paper's per-layer filter pruning with the pruned filters physically removed."""
import copy

import pytest
import torch
from torch import nn

from common.errors import ConfigError
from papers.pruning_quantisation.compression import (
    channels_to_drop,
    parameter_counts,
    plan_slimming,
    prune_network,
    quantise_static,
    slim_network,
)
from papers.pruning_quantisation.measure import serialized_bytes
from papers.pruning_quantisation.model import ImageClassifier
from papers.pruning_quantisation.networks import NETWORKS, build_network


def _conv_stack() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 10, 3), nn.BatchNorm2d(10), nn.ReLU(),
        nn.Conv2d(10, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )


def test_slimmed_conv_stack_has_the_hand_computed_shapes_and_parameter_count():
    torch.manual_seed(0)
    net = slim_network(_conv_stack(), 0.3, torch.zeros(1, 3, 12, 12))
    # conv1 keeps 10 - round(3.0) = 7 filters, conv2 8 - round(2.4) = 6, the output layer all 4 classes.
    assert net[0].weight.shape == (7, 3, 3, 3) and net[1].weight.shape == (7,) and net[1].running_mean.shape == (7,)
    assert net[3].weight.shape == (6, 7, 3, 3) and net[4].weight.shape == (6,)
    assert net[8].weight.shape == (4, 6)
    total, _ = parameter_counts(net)
    # conv1 7*3*9 + 7, bn1 2*7, conv2 6*7*9 + 6, bn2 2*6, linear 4*6 + 4.
    assert total == 196 + 14 + 384 + 12 + 28
    assert net(torch.randn(2, 3, 12, 12)).shape == (2, 4)


def test_channel_multiple_rounds_what_is_kept():
    assert channels_to_drop(10, 0.3) == 3 and channels_to_drop(96, 0.3) == 29
    assert channels_to_drop(96, 0.3, channel_multiple=8) == 32  # keeps 64, the multiple of 8 nearest 67
    assert channels_to_drop(144, 0.3, channel_multiple=8) == 40  # keeps 104, nearest 101
    assert channels_to_drop(16, 0.3, channel_multiple=8) == 8  # keeps 8, nearest 11
    assert channels_to_drop(8, 0.9, channel_multiple=8) == 0  # never below one multiple
    assert channels_to_drop(10, 0.3, channel_multiple=8) == 3  # a width that is no multiple: plain rule
    with pytest.raises(ConfigError, match="channel_multiple"):
        channels_to_drop(10, 0.3, channel_multiple=0)


def test_slimmed_mobilenet_keeps_multiples_of_eight_channels():
    net = slim_network(build_network("mobilenet").eval(), 0.3, torch.zeros(1, 3, 32, 32), channel_multiple=8)
    widths = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(width % 8 == 0 for width in widths), widths
    assert sum(widths) < 0.8 * sum(m.out_channels for m in build_network("mobilenet").modules() if isinstance(m, nn.Conv2d))


def test_slimming_keeps_the_filters_the_masks_keep_in_a_plain_chain():
    torch.manual_seed(1)
    net = _conv_stack()
    with torch.no_grad():
        # L2 norms of conv1's filters 1, 0.2*9, 4*9, ... differ from their L1 order on filters 0 and 1:
        # filter 0 holds one weight of 1.0 (L1 1, L2 1), filter 1 27 weights of 0.1 (L1 2.7, L2 0.52).
        net[0].weight[0] = 0
        net[0].weight[0, 0, 0, 0] = 1.0
        net[0].weight[1] = 0.1
    masked = prune_network(copy.deepcopy(net), 0.3)
    slimmed = slim_network(net, 0.3, torch.zeros(1, 3, 12, 12))
    for index in (0, 3):
        kept = masked[index].weight_mask.flatten(1).any(dim=1)
        expected = masked[index].weight_orig[kept]
        if index == 3:  # its input channels are conv1's kept filters
            expected = expected[:, masked[0].weight_mask.flatten(1).any(dim=1)]
        assert torch.equal(slimmed[index].weight, expected)
    assert masked[0].weight_mask[1].sum() == 0 and masked[0].weight_mask[0].sum() > 0


def _neutralise_planned_channels(net: nn.Module, plan) -> None:
    """Zero the planned channels' filters, biases and BatchNorm scale and shift: their outputs become 0."""
    with torch.no_grad():
        for group in plan.groups():
            for item in group:
                module = item.dep.target.module
                if plan.is_output_side(item) and isinstance(module, nn.Conv2d | nn.Linear | nn.BatchNorm2d):
                    module.weight[item.idxs] = 0
                    if module.bias is not None:
                        module.bias[item.idxs] = 0


@pytest.mark.parametrize("network", NETWORKS)
def test_slimmed_network_equals_the_masked_one_when_the_removed_channels_output_zero(network):
    torch.manual_seed(0)
    net = build_network(network, in_channels=1, classifier_width=256).eval()
    with torch.no_grad():  # BatchNorm that is not the identity, as after training
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.2)
    plan = plan_slimming(net, 0.3, torch.zeros(1, 1, 64, 64))
    _neutralise_planned_channels(net, plan)
    masked = copy.deepcopy(net)
    for group in plan.groups():
        group.prune(record_history=False)
    images = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        expected, got = masked(images), net(images)
    assert got.shape == (4, 10)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-4)
    total, _ = parameter_counts(net)
    float_total, _ = parameter_counts(masked)
    if network == "shufflenet":
        # Its shuffled (concatenated / split) channels are kept whole; the rest is slimmed.
        assert plan.whole and 0.6 * float_total < total < 0.8 * float_total
    else:
        # Every layer but the output one loses 30 % of its channels: about half the weights.
        assert plan.whole == [] and 0.4 * float_total < total < 0.6 * float_total
    # The slimmed network still goes through the static int8 path.
    quantised = quantise_static(net, [torch.randn(8, 1, 32, 32)])
    assert nn.Conv2d not in {type(module) for module in quantised.modules()}
    with torch.inference_mode():
        assert quantised(images).shape == (4, 10)
    assert serialized_bytes(quantised) < 0.4 * serialized_bytes(net)


def test_slimmed_architecture_does_not_depend_on_the_weights():
    # load_classifier rebuilds a slimmed run from its hyper-parameters on random weights: the widths
    # slimming leaves must be those of the trained network it was slimmed from.
    torch.manual_seed(0)
    first = ImageClassifier("mobilenet", in_channels=1, slim_sparsity=0.3)
    torch.manual_seed(1)
    second = ImageClassifier("mobilenet", in_channels=1, slim_sparsity=0.3)
    shapes = [tuple(t.shape) for t in first.state_dict().values()]
    assert shapes == [tuple(t.shape) for t in second.state_dict().values()]
    assert first.net.features[0][0].out_channels == 24  # 32 - round(9.6) = 22, rounded to a multiple of 8


def test_bad_slimming_input_is_named():
    with pytest.raises(ConfigError, match="sparsity must be in \\[0, 1\\)"):
        slim_network(_conv_stack(), 1.0, torch.zeros(1, 3, 12, 12))
    with pytest.raises(ConfigError, match="cannot trace .*\\(1, 1, 4, 4\\)"):
        slim_network(build_network("alexnet", in_channels=1), 0.3, torch.zeros(1, 1, 4, 4))
