"""``unet``: a small U-Net for segmentation (Ronneberger et al., 2015)."""
from __future__ import annotations

from .. import nn
from ..tensor import cat
from ._layers import check_positive

__all__ = ["DoubleConv", "Down", "Up", "UNet", "unet"]


class DoubleConv(nn.Module):
    """(3x3 conv, padding 1 -> BatchNorm2d -> ReLU) twice: (N, in, H, W) -> (N, out, H, W)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU())

    def forward(self, x):
        return self.block(x)


class Down(nn.Module):
    """2x2 max pool, then DoubleConv: (N, in, H, W) -> (N, out, H/2, W/2)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x):
        return self.conv(self.pool(x))


class Up(nn.Module):
    """Upsample x by 2 to in/2 channels, concatenate the skip (in/2 channels), DoubleConv.

    x (N, in, H, W), skip (N, in/2, 2H, 2W) -> (N, out, 2H, 2W). mode 'transpose' learns the
    upsampling (2x2 stride-2 ConvTranspose2d); 'nearest' repeats pixels, then a 1x1 conv.
    """

    def __init__(self, in_channels, out_channels, mode="transpose"):
        super().__init__()
        half = in_channels // 2
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, half, 2, stride=2)
        elif mode == "nearest":
            self.up = nn.Sequential(nn.Upsample(2), nn.Conv2d(in_channels, half, 1))
        else:
            raise ValueError(f"mode must be 'transpose' or 'nearest', got {mode!r}")
        self.conv = DoubleConv(2 * half, out_channels)

    def forward(self, x, skip):
        return self.conv(cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """Encoder of ``depth`` Down stages (width, 2*width, ...), decoder of as many Up stages
    with skip connections, 1x1 conv to num_classes logits per pixel.
    x (N, in_channels, H, W), H and W divisible by 2**depth -> (N, num_classes, H, W).
    """

    def __init__(self, in_channels=1, num_classes=2, width=16, depth=3, mode="transpose"):
        super().__init__()
        self.depth = check_positive(depth, "depth")
        widths = [check_positive(width, "width") * 2 ** i for i in range(depth + 1)]
        self.inc = DoubleConv(check_positive(in_channels, "in_channels"), width)
        self.downs = nn.ModuleList(Down(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.ups = nn.ModuleList(Up(b, a, mode) for a, b in zip(widths[::-1][1:],
                                                                   widths[::-1][:-1]))
        self.outc = nn.Conv2d(width, check_positive(num_classes, "num_classes"), 1)

    def forward(self, x):
        factor = 2 ** self.depth
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"input height and width must be divisible by {factor} "
                             f"(2**depth), got {x.shape}")
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)


def unet(in_channels=1, num_classes=2, width=16, depth=3, mode="transpose") -> UNet:
    """A small U-Net (width 16, depth 3 by default)."""
    return UNet(in_channels, num_classes, width, depth, mode)
