"""``vgg``: VGG-11/13/16 (configurations A, B, D of Simonyan & Zisserman) for small images."""
from __future__ import annotations

from .. import nn
from ._layers import check_positive, scaled

__all__ = ["VGG", "vgg", "vgg11", "vgg13", "vgg16", "CONFIGS"]

# Output channels of each 3x3 convolution; "M" is a 2x2 max pool.
CONFIGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}


class VGG(nn.Module):
    """features: the configuration's 3x3 convs (+ BatchNorm2d) and five 2x2 max pools
    (32 -> 1); classifier: three fully connected layers as in the paper (so VGG-11 has 8
    convolutions + 3 linear layers), 512 wide instead of 4096 for small images:
    Flatten -> Linear(512, 512) -> ReLU -> Dropout -> Linear(512, 512) -> ReLU -> Dropout ->
    Linear(512, num_classes). Channel counts scale with width/64.
    """

    def __init__(self, depth=16, num_classes=10, in_channels=3, batch_norm=True, width=64,
                 input_size=32, dropout=0.5):
        super().__init__()
        if depth not in CONFIGS:
            raise ValueError(f"depth must be one of {sorted(CONFIGS)}, got {depth!r}")
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (five 2x2 pools), got "
                             f"{input_size!r}")
        check_positive(width, "width")
        layers, channels = [], check_positive(in_channels, "in_channels")
        for item in CONFIGS[depth]:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            out = scaled(item, width)
            layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm))
            layers += [nn.BatchNorm2d(out)] if batch_norm else []
            layers.append(nn.ReLU())
            channels = out
        self.features = nn.Sequential(*layers)
        side = input_size // 32
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * side * side, channels), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(channels, channels), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(channels, check_positive(num_classes, "num_classes")))

    def forward(self, x):
        return self.classifier(self.features(x))


def vgg(depth=16, num_classes=10, in_channels=3, batch_norm=True, width=64, input_size=32,
        dropout=0.5) -> VGG:
    """VGG of the given depth (11, 13 or 16) for input_size x input_size images."""
    return VGG(depth, num_classes, in_channels, batch_norm, width, input_size, dropout)


def vgg11(**kwargs) -> VGG:
    return vgg(11, **kwargs)


def vgg13(**kwargs) -> VGG:
    return vgg(13, **kwargs)


def vgg16(**kwargs) -> VGG:
    return vgg(16, **kwargs)
