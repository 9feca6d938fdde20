"""``lenet5``: LeCun et al.'s LeNet-5 (two 5x5 convolutions, three fully connected layers)."""
from __future__ import annotations

from .. import nn
from ._layers import activation as make_activation
from ._layers import check_positive

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """features: conv(6, 5x5) -> act -> pool -> conv(16, 5x5) -> act -> pool;
    classifier: 400 -> 120 -> 84 -> num_classes. Input (N, C, 32, 32), or 28x28 (the first
    convolution then pads by 2, the usual MNIST setting). 61,706 parameters for C=1, 10 classes.
    """

    def __init__(self, num_classes=10, in_channels=1, input_size=32, activation="tanh",
                 pooling="avg"):
        super().__init__()
        if input_size not in (28, 32):
            raise ValueError(f"input_size must be 28 or 32, got {input_size!r}")
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
        pool = nn.AvgPool2d if pooling == "avg" else nn.MaxPool2d
        self.features = nn.Sequential(
            nn.Conv2d(check_positive(in_channels, "in_channels"), 6, 5,
                      padding=2 if input_size == 28 else 0),
            make_activation(activation), pool(2),
            nn.Conv2d(6, 16, 5), make_activation(activation), pool(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), make_activation(activation),
            nn.Linear(120, 84), make_activation(activation),
            nn.Linear(84, check_positive(num_classes, "num_classes")))

    def forward(self, x):
        return self.classifier(self.features(x))


def lenet5(num_classes=10, in_channels=1, input_size=32, activation="tanh",
           pooling="avg") -> LeNet5:
    """LeNet-5; ``activation='relu', pooling='max'`` gives the common modern variant."""
    return LeNet5(num_classes, in_channels, input_size, activation, pooling)
