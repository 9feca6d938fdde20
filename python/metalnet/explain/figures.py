"""The pictures: sliding windows on the padded input, the im2col product, pooling windows,
Winograd's matrices.

Drawing needs matplotlib (the ``viz`` extra), imported only here and only when a figure is
asked for. Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through
pyplot, so nothing needs a display and no global backend setting is touched: they work on a
headless server, in a test and in a notebook alike.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import text, winograd
from .geometry import ConvGeometry
from .im2col import PADDING, im2col_sources

PAD_COLOR = "#d9d9d9"
REAL_COLOR = "#ffffff"
MAX_LABELLED = 16        # write values into cells while a grid side is at most this
MAX_PANELS = (2, 3)      # window panels: this many output rows x columns


def _figure(width: float, height: float):
    """A Figure on the off-screen Agg canvas (no pyplot, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colors(count: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(count)]


def _grid(ax, values, real, labels: bool, origin=(0, 0)):
    """Cells as squares: padding grey, real cells white, values written when ``labels``.

    ``origin`` is the (row, col) coordinate of the top-left cell, printed on the ticks so the
    axes read in input coordinates (negative numbers are padding).
    """
    from matplotlib.colors import ListedColormap

    h, w = real.shape
    ax.imshow(real.astype(int), cmap=ListedColormap([PAD_COLOR, REAL_COLOR]), vmin=0, vmax=1)
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="#888888", linewidth=0.5 if max(h, w) <= 32 else 0)
    ax.tick_params(which="minor", length=0)
    step = max(1, max(h, w) // 8)
    ax.set_xticks(range(0, w, step), [str(origin[1] + c) for c in range(0, w, step)], fontsize=7)
    ax.set_yticks(range(0, h, step), [str(origin[0] + r) for r in range(0, h, step)], fontsize=7)
    if labels:
        for (r, c), v in np.ndenumerate(values):
            if real[r, c]:
                ax.text(c, r, text.number(v), ha="center", va="center", fontsize=7)


def _padded(plane, g: ConvGeometry):
    top, bottom, left, right = g.padding
    pads = ((top, bottom), (left, right))
    return np.pad(plane, pads), np.pad(np.ones(plane.shape, bool), pads)


def _mark(ax, cells, color, fill=True):
    from matplotlib.patches import Rectangle

    for r, c in cells:
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=color if fill else "none",
                               alpha=0.45 if fill else 1, edgecolor=color, linewidth=1.5))


def windows_figure(e):
    """Padded input with the windows of the first outputs, one panel each, and the output."""
    from matplotlib.patches import Rectangle

    g = e.geometry
    values, real = _padded(e.x[0, 0], g)
    labels = max(real.shape) <= MAX_LABELLED
    outputs = [(p, q) for p in range(min(g.rows.out, MAX_PANELS[0]))
               for q in range(min(g.cols.out, MAX_PANELS[1]))]
    fig = _figure(2.6 * (len(outputs) + 1), 3.0)
    axes = fig.subplots(1, len(outputs) + 1)
    colors = _colors(len(outputs))
    top, left = g.rows.pad_before, g.cols.pad_before
    for ax, (p, q), color in zip(axes, outputs, colors):
        _grid(ax, values, real, labels, origin=(-top, -left))
        # Padded-array coordinates of this window's taps (dilation leaves gaps).
        taps = [(r + top, c + left) for r, c in g.reads(p, q)]
        _mark(ax, taps, color)
        r0, c0 = g.rows.start(p) + top, g.cols.start(q) + left
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), g.cols.span, g.rows.span, fill=False,
                               edgecolor=color, linewidth=2.5))
        ax.set_title(f"y[{p},{q}]: start row {p}*{g.rows.stride}-{top},\n"
                     f"col {q}*{g.cols.stride}-{left}", fontsize=8)
    out_ax = axes[-1]
    y = e.y[0, 0]
    _grid(out_ax, y, np.ones(y.shape, bool), max(y.shape) <= MAX_LABELLED)
    for (p, q), color in zip(outputs, colors):
        _mark(out_ax, [(p, q)], color)
    out_ax.set_title(f"output y[0,0]: {g.rows.out} x {g.cols.out}", fontsize=8)
    fig.suptitle(f"input {g.rows.size}x{g.cols.size}, kernel {g.rows.kernel}x{g.cols.kernel}, "
                 f"stride {g.stride}, padding {g.padding}, dilation {g.dilation} "
                 "(grey = zero padding)", fontsize=9)
    return fig


def _matrix(ax, values, mask, title, labels: bool, ylabels=None, xlabels=None):
    """A matrix as a heat map; masked entries (padding) grey."""
    from matplotlib import colormaps

    cmap = colormaps["Blues"].with_extremes(bad=PAD_COLOR)
    shown = np.ma.masked_array(values, mask=mask)
    ax.imshow(shown, cmap=cmap, aspect="equal")
    ax.set_title(title, fontsize=8)
    rows, cols = values.shape
    if labels:
        low, high = shown.min(), shown.max()
        for (r, c), v in np.ndenumerate(values):
            if not mask[r, c]:
                # White text on the dark end of the colour map, black elsewhere.
                dark = high > low and (v - low) / (high - low) > 0.6
                ax.text(c, r, text.number(v), ha="center", va="center", fontsize=6,
                        color="white" if dark else "black")
    small = rows <= 27 and cols <= 27
    ax.set_yticks(range(rows) if small and ylabels else [],
                  ylabels if small and ylabels else [], fontsize=6)
    ax.set_xticks(range(cols) if small and xlabels else [],
                  xlabels if small and xlabels else [], fontsize=6, rotation=90)


def im2col_figure(e):
    """w (K x C*R*S) @ cols (C*R*S x H_out*W_out) = y (K x H_out*W_out), first image."""
    g = e.geometry
    cols = e.im2col
    pad = im2col_sources(g) == PADDING
    weights = e.w.reshape(g.k, g.taps)
    y = e.y[0].reshape(g.k, -1)
    r, s = g.rows.kernel, g.cols.kernel
    tap_names = [f"w[{t // (r * s)},{t // s % r},{t % s}]" for t in range(g.taps)]
    out_names = [f"y[{t // g.cols.out},{t % g.cols.out}]" for t in range(cols.shape[1])]
    labels = max(cols.shape) <= 27
    width = 2 + 0.35 * (g.taps + 2 * cols.shape[1])
    fig = _figure(min(max(width, 7), 18), min(max(3.4, 0.3 * g.taps + 1.8), 12))
    axes = fig.subplots(1, 3, width_ratios=[g.taps, cols.shape[1], cols.shape[1]])
    no_mask = np.zeros_like(weights, bool)
    _matrix(axes[0], weights, no_mask, f"w  ({g.k} x {g.taps})", labels, None, tap_names)
    _matrix(axes[1], cols, pad, f"@ cols  ({g.taps} x {cols.shape[1]})", labels, tap_names,
            out_names)
    _matrix(axes[2], y, np.zeros_like(y, bool), f"= y  ({g.k} x {cols.shape[1]})", labels,
            None, out_names)
    fig.suptitle("im2col: one column per output position, one row per weight "
                 "(grey = zero padding)", fontsize=9)
    return fig


def pool_figure(e):
    """The pooling windows on the padded input (winner ringed for max) and the output."""
    g = e.geometry
    values, real = _padded(e.x[0, 0], g)
    labels = max(real.shape) <= MAX_LABELLED
    fig = _figure(7.5, 3.6)
    in_ax, out_ax = fig.subplots(1, 2)
    top, left = g.rows.pad_before, g.cols.pad_before
    _grid(in_ax, values, real, labels, origin=(-top, -left))
    outputs = [(p, q) for p in range(g.rows.out) for q in range(g.cols.out)]
    colors = _colors(len(outputs))
    from matplotlib.patches import Rectangle

    for (p, q), color in zip(outputs, colors):
        r0, c0 = g.rows.start(p) + top, g.cols.start(q) + left
        # Inset each window a little so that overlapping windows stay distinguishable.
        inset = 0.08 * ((p + q) % 3)
        in_ax.add_patch(Rectangle((c0 - 0.5 + inset, r0 - 0.5 + inset), g.cols.kernel - 2 * inset,
                                  g.rows.kernel - 2 * inset, fill=False, edgecolor=color,
                                  linewidth=2))
        if e.argmax is not None:
            h, v = divmod(int(e.argmax[0, 0, p, q]), g.cols.size)
            in_ax.plot(v + left, h + top, "o", markersize=16, markerfacecolor="none",
                       markeredgecolor=color, markeredgewidth=2)
    y = e.y[0, 0]
    _grid(out_ax, y, np.ones(y.shape, bool), max(y.shape) <= MAX_LABELLED)
    for (p, q), color in zip(outputs, colors):
        _mark(out_ax, [(p, q)], color)
    kind = "max (winner circled)" if e.mode == "max" else "average"
    in_ax.set_title(f"input, {g.rows.kernel}x{g.cols.kernel} windows, stride {g.stride}",
                    fontsize=8)
    out_ax.set_title(f"output: {kind}", fontsize=8)
    fig.suptitle(f"{e.mode} pooling, padding {g.padding} (grey = padding, never the maximum)"
                 if e.mode == "max" else f"average pooling, padding {g.padding}", fontsize=9)
    return fig


def winograd_figure():
    """B^T, G and A^T as annotated heat maps."""
    fig = _figure(9, 3)
    axes = fig.subplots(1, 3, width_ratios=[4, 3, 4])
    for ax, (name, m) in zip(axes, (("B^T: input tile", winograd.B_T),
                                    ("G: filter", winograd.G),
                                    ("A^T: back to outputs", winograd.A_T))):
        ax.imshow(m, cmap="RdBu", vmin=-1, vmax=1)
        for (r, c), v in np.ndenumerate(m):
            ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=9)
        ax.set_title(f"{name} ({m.shape[0]}x{m.shape[1]})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Winograd F(2x2, 3x3):  Y = A^T [ (G g G^T) * (B^T d B) ] A", fontsize=10)
    return fig


def conv_figures(e) -> dict:
    return {"windows": windows_figure(e), "im2col": im2col_figure(e)}


def pool_figures(e) -> dict:
    return {"windows": pool_figure(e)}


def save(figures: dict, directory, prefix: str) -> list[Path]:
    """Write each figure as DIRECTORY/PREFIX_NAME.png; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = directory / f"{prefix}_{name}.png"
        fig.savefig(path, dpi=120)
        paths.append(path)
    return paths
