"""AlexNet, MobileNetV2 and ShuffleNetV2 from torchvision, adapted to small images and few classes.

Paupamah et al. (2020) take the torchvision networks and change only the input channels and the
number of classes (their code: first conv for grey images, last linear layer for 10 classes).
MobileNetV2 and ShuffleNetV2 come from `torchvision.models.quantization`, whose classes carry the
quant/dequant stubs and `fuse_model()` that static quantisation needs; AlexNet has no such class in
torchvision, so `QuantizableAlexNet` adds them. AlexNet's 11x11 stride-4 stem shrinks a 32x32 image
to 1x1 before its last max-pool, which then fails; `small_input=True` swaps the stem for a 3x3
stride-2 conv (our choice; the paper's code does not say how it fed CIFAR-10 to AlexNet). Its
adaptive 6x6 pooling keeps the classifier, and so the parameter count, as in torchvision.
ShuffleNetV2 shrinks a 32x32 image to 1x1 too, where PyTorch's quantised global mean fails
("required rank 4 tensor to use channels_last format"); `small_input=True` drops its stem
max-pool, so its last map is 2x2. MobileNetV2 runs unchanged.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub, fuse_modules
from torchvision.models import alexnet
from torchvision.models.quantization import mobilenet_v2, shufflenet_v2_x1_0

from common.errors import ConfigError

NETWORKS = ("alexnet", "mobilenet", "shufflenet")


class QuantizableAlexNet(nn.Module):
    """torchvision's AlexNet between a QuantStub and a DeQuantStub, with conv/linear+ReLU fusion."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.5,
        classifier_width: int = 4096,
        small_input: bool = True,
    ):
        super().__init__()
        base = alexnet(num_classes=num_classes, dropout=dropout)
        self.features = base.features
        if small_input:
            self.features[0] = nn.Conv2d(in_channels, 64, kernel_size=3, stride=2, padding=1)
        else:
            self.features[0] = nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2)
        self.avgpool = base.avgpool
        self.classifier = base.classifier
        if classifier_width != 4096:
            self.classifier[1] = nn.Linear(256 * 6 * 6, classifier_width)
            self.classifier[4] = nn.Linear(classifier_width, classifier_width)
            self.classifier[6] = nn.Linear(classifier_width, num_classes)
        self.quant = QuantStub()
        self.dequant = DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(self.quant(x)))
        return self.dequant(self.classifier(torch.flatten(x, 1)))

    def fuse_model(self, is_qat: bool | None = None) -> None:
        fuse_modules(self.features, [["0", "1"], ["3", "4"], ["6", "7"], ["8", "9"], ["10", "11"]], inplace=True)
        fuse_modules(self.classifier, [["1", "2"], ["4", "5"]], inplace=True)


def build_network(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.2,
    classifier_width: int = 4096,
    small_input: bool = True,
) -> nn.Module:
    """One of NETWORKS, float, ready for training and for `fuse_model()` + static quantisation.

    `dropout` goes to AlexNet's and MobileNetV2's classifiers (ShuffleNetV2 has none);
    `classifier_width` only concerns AlexNet, `small_input` AlexNet and ShuffleNetV2.
    """
    if name not in NETWORKS:
        raise ConfigError(f"model.network must be one of {NETWORKS}, got {name!r}")
    if num_classes < 2 or in_channels < 1:
        raise ConfigError(f"need num_classes >= 2 and in_channels >= 1, got {num_classes}, {in_channels}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1), got {dropout}")
    if name == "alexnet":
        return QuantizableAlexNet(num_classes, in_channels, dropout, classifier_width, small_input)
    if name == "mobilenet":
        net = mobilenet_v2(weights=None, quantize=False, num_classes=num_classes, dropout=dropout)
        net.features[0][0] = nn.Conv2d(in_channels, 32, kernel_size=3, stride=2, padding=1, bias=False)
        return net
    net = shufflenet_v2_x1_0(weights=None, quantize=False, num_classes=num_classes)
    net.conv1[0] = nn.Conv2d(in_channels, 24, kernel_size=3, stride=2, padding=1, bias=False)
    if small_input:
        net.maxpool = nn.Identity()
    return net
