"""``alexnet``: AlexNet's five-conv, three-FC design, resized for small (32x32) images."""
from __future__ import annotations

from .. import nn
from ._layers import check_positive, scaled

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """Small-image AlexNet (as taught for CIFAR-10): 3x3 convolutions instead of the 11x11/5x5
    ImageNet stem, three 2x2 max pools (32 -> 4), channels 64-192-384-256-256 and a
    1024-1024 classifier with dropout, all scaled by width/64.
    """

    def __init__(self, num_classes=10, in_channels=3, width=64, input_size=32, dropout=0.5):
        super().__init__()
        check_positive(width, "width")
        if input_size % 8:
            raise ValueError(f"input_size must be a multiple of 8 (three 2x2 pools), got "
                             f"{input_size!r}")
        c1, c2, c3, c4 = (scaled(c, width) for c in (64, 192, 384, 256))
        self.features = nn.Sequential(
            nn.Conv2d(check_positive(in_channels, "in_channels"), c1, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c4, c4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        hidden = scaled(1024, width)
        side = input_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(c4 * side * side, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, check_positive(num_classes, "num_classes")))

    def forward(self, x):
        return self.classifier(self.features(x))


def alexnet(num_classes=10, in_channels=3, width=64, input_size=32, dropout=0.5) -> AlexNet:
    """Small-image AlexNet; ``width`` scales every channel count (64 = the standard size)."""
    return AlexNet(num_classes, in_channels, width, input_size, dropout)
