"""``autoencoder``: an MLP or convolutional autoencoder with a sigmoid output."""
from __future__ import annotations

from .. import nn
from ._layers import check_positive

__all__ = ["Autoencoder", "autoencoder"]


class Autoencoder(nn.Module):
    """decoder(encoder(x)); ``encode`` and ``decode`` expose the halves."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def encode(self, x):
        return self.encoder(x)

    def decode(self, code):
        return self.decoder(code)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def _mlp_halves(in_features, hidden, code_size):
    sizes = [check_positive(in_features, "in_features")] + list(hidden) + [
        check_positive(code_size, "code_size")]
    encoder, decoder = [nn.Flatten()], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        encoder += [nn.Linear(a, b), nn.ReLU()]
    for a, b in zip(sizes[::-1][:-1], sizes[::-1][1:]):
        decoder += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*encoder[:-1]), nn.Sequential(*decoder[:-1], nn.Sigmoid())


def _conv_halves(in_channels, channels):
    # Each stage halves H and W (3x3, stride 2, pad 1); each decoder stage doubles them back.
    sizes = [check_positive(in_channels, "in_channels")] + list(channels)
    encoder, decoder = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        encoder += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU()]
    for a, b in zip(sizes[::-1][:-1], sizes[::-1][1:]):
        decoder += [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1),
                    nn.ReLU()]
    return nn.Sequential(*encoder), nn.Sequential(*decoder[:-1], nn.Sigmoid())


def autoencoder(kind="mlp", in_features=784, hidden=(256,), code_size=32, in_channels=1,
                channels=(16, 32)) -> Autoencoder:
    """kind 'mlp': (N, ...) -> flat (N, in_features) reconstruction through a code_size code.
    kind 'conv': (N, in_channels, H, W) -> same shape, H and W divisible by 2**len(channels).
    Outputs lie in (0, 1) (sigmoid), for MSE or BCE against images scaled to [0, 1].
    """
    if kind == "mlp":
        return Autoencoder(*_mlp_halves(in_features, hidden, code_size))
    if kind == "conv":
        return Autoencoder(*_conv_halves(in_channels, channels))
    raise ValueError(f"kind must be 'mlp' or 'conv', got {kind!r}")
