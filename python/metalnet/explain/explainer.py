"""``conv2d(...)`` and ``pool2d(...)``: a layer explained in plain text, numbers worked out.

The explanation is an object: ``print(explanation)`` shows the text, its attributes hold the
numbers (``geometry``, ``cost``, ``y``, ...) and ``explanation.figures()`` draws the pictures.
Unless you pass your own arrays, x and w are filled with 0, 1, 2, ... in reading order so
every printed value names its cell; for a 3x3 input and a 2x2 kernel that is the lecture's
example, x = [[0,1,2],[3,4,5],[6,7,8]], w = [[0,1],[2,3]] -> y = [[19,25],[37,43]].
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .. import _args, reference
from . import sections, text
from .costs import ConvCost, PoolCost
from .geometry import ConvGeometry, parse_input_shape, parse_kernel_shape
from .im2col import im2col_matrix, im2col_sources


def _counting(shape) -> np.ndarray:
    """0, 1, 2, ... in reading order, as float64 (exact for any size a student prints)."""
    return np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)


def _values(given, shape, name):
    if given is None:
        return _counting(shape)
    given = np.asarray(given, dtype=np.float64)
    if given.shape != tuple(shape):
        raise ValueError(f"{name} has shape {given.shape} but the layer needs {tuple(shape)}")
    return given


@dataclasses.dataclass
class ConvExplanation:
    """A convolution layer explained; ``str()`` is the full text."""

    geometry: ConvGeometry
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    y: np.ndarray
    cost: ConvCost
    dtype: np.dtype

    @property
    def im2col(self) -> np.ndarray:
        """The (C*R*S, H_out*W_out) im2col matrix of the first image."""
        g = self.geometry
        return im2col_matrix(self.x[0], (g.rows.kernel, g.cols.kernel), stride=g.stride,
                             padding=g.padding, dilation=g.dilation)

    def text(self) -> str:
        g = self.geometry
        lines = text.heading("Convolution explained", "=")
        lines += sections.layer_lines(g, self.b is not None)
        lines += [""] + sections.output_size(g, ("H", "R"), ("W", "S"))
        lines += [""] + sections.reads(g)
        lines += [""] + sections.conv_values(self)
        lines += [""] + sections.im2col(self, im2col_sources(g))
        lines += [""] + sections.conv_cost(self.cost, self.dtype)
        lines += [""] + sections.plan(g, self.dtype)
        return "\n".join(lines)

    __str__ = text

    def figures(self) -> dict:
        """name -> matplotlib Figure (drawn off-screen; needs matplotlib)."""
        from . import figures
        return figures.conv_figures(self)

    def save_figures(self, directory) -> list[Path]:
        from . import figures
        return figures.save(self.figures(), directory, prefix="conv")


@dataclasses.dataclass
class PoolExplanation:
    """A pooling layer explained; ``str()`` is the full text."""

    geometry: ConvGeometry
    mode: str
    count_include_pad: bool
    x: np.ndarray
    y: np.ndarray
    argmax: np.ndarray | None
    cost: PoolCost
    dtype: np.dtype

    def text(self) -> str:
        g = self.geometry
        lines = text.heading(f"{'Max' if self.mode == 'max' else 'Average'} pooling explained",
                             "=")
        lines += sections.pool_layer_lines(g)
        lines += [""] + sections.output_size(g, ("H", "kh"), ("W", "kw"))
        lines += [""] + sections.reads(g, pooling=self.mode)
        lines += [""] + sections.pool_values(self)
        lines += [""] + sections.pool_cost(self.cost, self.dtype)
        return "\n".join(lines)

    __str__ = text

    def figures(self) -> dict:
        from . import figures
        return figures.pool_figures(self)

    def save_figures(self, directory) -> list[Path]:
        from . import figures
        return figures.save(self.figures(), directory, prefix=f"{self.mode}pool")


def conv2d(input_shape=None, kernel_shape=None, stride=1, padding=0, dilation=1, *,
           out_channels=1, bias=True, x=None, w=None, b=None, dtype="float32"):
    """Explain a 2-D convolution layer.

    input_shape: (H, W), (C, H, W) or (N, C, H, W). kernel_shape: (R, S), (C, R, S) or
    (K, C, R, S); without K the layer has ``out_channels`` filters. stride and dilation: int or
    (row, col); padding: int, (row, col) or (top, bottom, left, right). Either shape may be left
    out when the array (x or w) is given. ``bias`` says whether the layer has one (b defaults to
    zeros); ``dtype`` is the storage type the byte counts assume.

        >>> print(conv2d((3, 3), (2, 2)).y[0, 0])     # the lecture's example
        [[19. 25.]
         [37. 43.]]
    """
    x_shape = parse_input_shape(np.shape(x) if input_shape is None else input_shape)
    w_shape = parse_kernel_shape(np.shape(w) if kernel_shape is None else kernel_shape,
                                 x_shape[1], out_channels)
    g = ConvGeometry.from_shapes(x_shape, w_shape, stride, padding, dilation)
    x = _values(x, x_shape, "x")
    w = _values(w, w_shape, "w")
    if b is not None:
        b = _values(b, (g.k,), "b")
    elif bias:
        b = np.zeros(g.k)
    y = reference.conv2d_forward(x, w, b, stride=g.stride, padding=g.padding,
                                 dilation=g.dilation)
    dtype = np.dtype(dtype)
    return ConvExplanation(g, x, w, b, y, ConvCost(g, b is not None, dtype.itemsize), dtype)


def pool2d(input_shape=None, kernel_size=2, stride=None, padding=0, *, mode="max",
           count_include_pad=True, x=None, dtype="float32"):
    """Explain a max (``mode="max"``) or average (``mode="avg"``) pooling layer.

    input_shape: (H, W), (C, H, W) or (N, C, H, W) (or give x). kernel_size and stride: int or
    (row, col); ``stride=None`` means stride = kernel_size. padding as for conv2d, at most half
    the window on each side so every window holds a real cell. Unless x is given it is a fixed
    shuffle of 0, 1, 2, ... so that the maxima land in different places.
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    x_shape = parse_input_shape(np.shape(x) if input_shape is None else input_shape)
    kernel = _args.pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else stride
    c = x_shape[1]
    g = ConvGeometry.from_shapes(x_shape, (c, c) + kernel, stride, padding, 1)
    if x is None:
        x = np.random.default_rng(0).permutation(_counting(x_shape).ravel()).reshape(x_shape)
    x = _values(x, x_shape, "x")
    argmax = None
    if mode == "max":
        y, argmax = reference.max_pool2d_forward(x, kernel, stride=g.stride, padding=g.padding)
    else:
        y = reference.avg_pool2d_forward(x, kernel, stride=g.stride, padding=g.padding,
                                         count_include_pad=count_include_pad)
    dtype = np.dtype(dtype)
    return PoolExplanation(g, mode, count_include_pad, x, y, argmax,
                           PoolCost(g, mode, dtype.itemsize), dtype)
