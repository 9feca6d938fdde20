"""Draw the figures of docs/convolution.md into docs/figures/ (needs matplotlib).

    python docs/make_figures.py

Every figure comes from ``metalnet.explain``, so the pictures always show what the code does.
"""
from __future__ import annotations

from pathlib import Path

from metalnet import explain
from metalnet.explain import figures

OUT = Path(__file__).resolve().parent / "figures"

# name -> the layer the tutorial discusses under that name
LAYERS = {
    "lecture": lambda: explain.conv2d((3, 3), (2, 2)),
    "padding": lambda: explain.conv2d((5, 5), (3, 3), padding=1),
    "stride": lambda: explain.conv2d((7, 7), (3, 3), stride=(3, 2), padding=(1, 0, 1, 1)),
    "dilation": lambda: explain.conv2d((7, 7), (3, 3), dilation=2),
    "maxpool": lambda: explain.pool2d((4, 6), 2),
    "avgpool": lambda: explain.pool2d((5, 5), 3, stride=2, padding=1, mode="avg"),
}


def main() -> list[Path]:
    written = []
    for name, make in LAYERS.items():
        written += figures.save(make().figures(), OUT, prefix=name)
    written += figures.save({"matrices": figures.winograd_figure()}, OUT, prefix="winograd")
    return written


if __name__ == "__main__":
    for path in main():
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
