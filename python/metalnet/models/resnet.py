"""``resnet18`` / ``resnet34``: residual networks of basic blocks (He et al., 2016).

Names follow the usual layout (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0, fc), so
state dicts line up with the standard implementations of the same architecture.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn
from ._layers import check_positive

__all__ = ["BasicBlock", "ResNet", "resnet18", "resnet34"]


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), two 3x3 convolutions.

    The shortcut is the identity, or a strided 1x1 convolution + batch norm (``downsample``)
    when the block changes the resolution or the channel count.
    x (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    """Stem -> four stages of basic blocks (widths w, 2w, 4w, 8w; strides 1, 2, 2, 2) ->
    global average pool -> fc.

    stem 'imagenet': 7x7 stride-2 conv + 3x3 stride-2 max pool (224x224 inputs);
    stem 'cifar': one 3x3 stride-1 conv and no pool (32x32 inputs).
    """

    def __init__(self, blocks, num_classes=1000, stem="imagenet", width=64, in_channels=3):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        if len(blocks) != 4:
            raise ValueError(f"blocks must give the block count of 4 stages, got {blocks!r}")
        check_positive(width, "width")
        in_channels = check_positive(in_channels, "in_channels")
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(width)
        channels = width
        for stage, count in enumerate(blocks):
            out = width * 2 ** stage
            stride = 1 if stage == 0 else 2
            layer = nn.Sequential(*[BasicBlock(channels if i == 0 else out, out,
                                               stride if i == 0 else 1) for i in range(count)])
            setattr(self, f"layer{stage + 1}", layer)
            channels = out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, check_positive(num_classes, "num_classes"))

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(num_classes=1000, stem="imagenet", width=64, in_channels=3) -> ResNet:
    """ResNet-18: [2, 2, 2, 2] basic blocks (11,689,512 parameters for ImageNet)."""
    return ResNet((2, 2, 2, 2), num_classes, stem, width, in_channels)


def resnet34(num_classes=1000, stem="imagenet", width=64, in_channels=3) -> ResNet:
    """ResNet-34: [3, 4, 6, 3] basic blocks (21,797,672 parameters for ImageNet)."""
    return ResNet((3, 4, 6, 3), num_classes, stem, width, in_channels)
