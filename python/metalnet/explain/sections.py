"""The sections of an explanation's text, one function each, every one a list of lines."""
from __future__ import annotations

import textwrap

import numpy as np

from . import text
from .costs import ConvCost, PoolCost
from .geometry import Axis, ConvGeometry
from .im2col import PADDING

FULL_LIST = 36          # list every output cell up to this many, then summarise
FULL_GRID = 16          # print arrays whose sides are at most this
FULL_IM2COL = (27, 25)  # print the whole im2col matrix up to this many rows x columns
WORKED_TAPS = 12        # write out the dot product when it has at most this many terms


def _shape_line(label: str, names: str, values) -> str:
    return f"  {label:<13}" + "  ".join(f"{n}={v}" for n, v in zip(names.split(), values))


def _geometry_lines(g: ConvGeometry, window: str) -> list[str]:
    return [
        f"  stride       (rows, cols) = {g.stride}: the {window} moves {g.rows.stride} down, "
        f"{g.cols.stride} across",
        f"  padding      (top, bottom, left, right) = {g.padding}: zero rows/columns added",
        f"  dilation     (rows, cols) = {g.dilation}: "
        + ("taps are adjacent" if g.dilation == (1, 1) else
           f"taps are {text.plural(g.rows.dilation, 'row')} / "
           f"{text.plural(g.cols.dilation, 'column')} apart"),
    ]


def layer_lines(g: ConvGeometry, bias: bool) -> list[str]:
    w = _shape_line("w (weights)", "K C R S", g.w_shape)
    return [
        _shape_line("x (input)", "N C H W", g.x_shape),
        w + (f"   + bias b with K={g.k} values" if bias else "   (no bias)"),
        *_geometry_lines(g, "kernel"),
        _shape_line("y (output)", "N K H_out W_out", g.y_shape),
    ]


def pool_layer_lines(g: ConvGeometry) -> list[str]:
    return [
        _shape_line("x (input)", "N C H W", g.x_shape),
        f"  window       kh x kw = {g.rows.kernel} x {g.cols.kernel}, applied to each channel "
        "separately (no weights)",
        *_geometry_lines(g, "window")[:2],
        _shape_line("y (output)", "N C H_out W_out", g.y_shape),
    ]


def _axis_story(axis: Axis, unit: str) -> list[str]:
    """Where windows start along one axis, in padded coordinates, and what is left over."""
    starts = [str(p * axis.stride) for p in range(axis.out)]
    unit1 = unit[:-1]
    story = (f"The padded input has {text.plural(axis.padded, unit1)}; one window covers "
             f"{axis.span} of them; windows start every {text.plural(axis.stride, unit1)}, at "
             f"padded {unit} " + ", ".join(text.elided(starts, 8)) + ".")
    if axis.unused:
        story += (f" The floor drops {text.plural(axis.unused, 'padded ' + unit1)} at the "
                  "end: no further window fits.")
    return textwrap.wrap(story, 96, initial_indent="    ", subsequent_indent="    ")


def output_size(g: ConvGeometry, rows_names, cols_names) -> list[str]:
    lines = text.heading("1. Output size, one axis at a time")
    for axis, (size, kernel), unit in ((g.rows, rows_names, "rows"),
                                       (g.cols, cols_names, "columns")):
        lines.append(f"  {axis.name}:")
        lines += ["    " + line for line in axis.formula(size, kernel)]
        lines += _axis_story(axis, unit)
    return lines


def _coord_range(values: list[int], size: int) -> str:
    """'-1..1' for adjacent coordinates, else the list; padding ones starred."""
    if len(values) > 2 and all(b - a == 1 for a, b in zip(values, values[1:])):
        return f"{values[0]}..{values[-1]}"
    return "(" + text.coords(values, size).replace(" ", ", ") + ")"


def _axis_reads(axis: Axis, index: str, stride_name: str, pad_name: str, tap: str) -> list[str]:
    rule = (f"  output {axis.name[:-1]} {index} reads input {axis.name} "
            f"{index}*{stride_name} - {pad_name} + {tap}*d = {index}*{axis.stride} - "
            f"{axis.pad_before} + {tap}*{axis.dilation}, {tap} = 0..{axis.kernel - 1}:")
    items = [f"    {index}={p}: {text.coords(axis.reads(p), axis.size)}" for p in range(axis.out)]
    return [rule] + text.elided(items, 12, marker="    ...")


def reads(g: ConvGeometry, pooling: str | None = None) -> list[str]:
    """Per axis, then per output cell; ``pooling`` is None, "max" or "avg"."""
    lines = text.heading("2. Which input cells each output reads")
    lines.append("  Input coordinates; * marks a padding cell (outside the input, reads as 0"
                 + (", never the maximum" if pooling == "max" else "") + ").")
    lines += _axis_reads(g.rows, "p", "sh", "top", "i")
    lines += _axis_reads(g.cols, "q", "sw", "left", "j")
    channels = ("in the same channel" if pooling else
                "in the one input channel" if g.c == 1 else f"in all {g.c} input channels")
    lines.append(f"  Output (p, q) reads every (row, column) pair of the two lists, {channels}:")
    items = []
    for p in range(g.rows.out):
        for q in range(g.cols.out):
            real = g.rows.real_reads(p) * g.cols.real_reads(q)
            total = g.rows.kernel * g.cols.kernel
            items.append(f"    y[{p},{q}] <- rows {_coord_range(g.rows.reads(p), g.rows.size)}"
                         f" x cols {_coord_range(g.cols.reads(q), g.cols.size)}: "
                         f"{text.plural(real, 'real cell')}, {total - real} padding")
    if len(items) > FULL_LIST:
        items = items[:6] + [f"    ... ({text.thousands(len(items))} outputs in all)"] + items[-2:]
    return lines + items


def _padded_plane(plane: np.ndarray, g: ConvGeometry) -> list[str]:
    top, bottom, left, right = g.padding
    padded = np.pad(plane, ((top, bottom), (left, right)))
    real = np.pad(np.ones(plane.shape, bool), ((top, bottom), (left, right)))
    return text.grid(padded, real, indent="    ")


def _small(*sizes) -> bool:
    return max(sizes) <= FULL_GRID


def _worked_sum(e, p: int, q: int) -> str:
    """y[0,0,p,q] written out as its sum of products (padding terms are 0 and left out)."""
    g = e.geometry
    terms, skipped = [], 0
    for c in range(g.c):
        for i, h in enumerate(g.rows.reads(p)):
            for j, v in enumerate(g.cols.reads(q)):
                if g.rows.is_padding(h) or g.cols.is_padding(v):
                    skipped += 1
                    continue
                terms.append(f"{text.number(e.w[0, c, i, j])}*{text.number(e.x[0, c, h, v])}")
    body = " + ".join(terms) if terms else "0"
    if e.b is not None:
        body = f"({body}) + {text.number(e.b[0])}"
    note = f"   ({text.plural(skipped, 'padding term')} left out: they are 0)" if skipped else ""
    return f"    y[{p},{q}] = {body} = {text.number(e.y[0, 0, p, q])}{note}"


def conv_values(e) -> list[str]:
    g = e.geometry
    lines = text.heading("3. The numbers")
    lines.append("  Unless given, x and w hold 0, 1, 2, ... in reading order and b is 0, so a "
                 "value names its cell.")
    if _small(g.rows.padded, g.cols.padded):
        lines.append("  x[0, 0] padded ('.' = padding):")
        lines += _padded_plane(e.x[0, 0], g)
    if _small(g.rows.kernel, g.cols.kernel):
        lines.append("  w[0, 0]:")
        lines += text.grid(e.w[0, 0], indent="    ")
    if g.taps <= WORKED_TAPS:
        lines.append("  Each output is a sum of products, weight * input (first image, filter 0):")
        cells = [(p, q) for p in range(g.rows.out) for q in range(g.cols.out)]
        lines += [_worked_sum(e, p, q) for p, q in cells[:4]]
        if len(cells) > 4:
            lines.append(f"    ... and so on for the other {len(cells) - 4} outputs")
    if _small(g.rows.out, g.cols.out):
        lines.append("  y[0, 0] (computed by metalnet.reference.conv2d_forward):")
        lines += text.grid(e.y[0, 0], indent="    ")
    return lines


def im2col(e, sources: np.ndarray) -> list[str]:
    g = e.geometry
    hw = g.rows.out * g.cols.out
    lines = text.heading("4. im2col: the convolution as one matrix product")
    lines += [
        "  Column (p, q) holds the C*R*S input values output (p, q) reads; row (c, i, j) holds",
        "  what weight w[k, c, i, j] meets at every output position. Then, per image,",
        "      y (K x H_out*W_out) = w (K x C*R*S) @ cols (C*R*S x H_out*W_out)",
        f"      here: ({g.k} x {hw}) = ({g.k} x {g.taps}) @ ({g.taps} x {hw})",
    ]
    matrix = e.im2col
    full = matrix.shape[0] <= FULL_IM2COL[0] and matrix.shape[1] <= FULL_IM2COL[1]
    if full:
        row_ids, col_ids = range(matrix.shape[0]), range(matrix.shape[1])
        what = "cols of image 0"
    else:
        # Columns from the middle output row: the top-left corner is mostly padding.
        first = (g.rows.out // 2) * g.cols.out
        row_ids = range(min(matrix.shape[0], 9))
        col_ids = range(first, min(matrix.shape[1], first + 10))
        what = f"{len(row_ids)} rows x {len(col_ids)} columns of cols (of {g.taps} x {hw})"
    r, s = g.rows.kernel, g.cols.kernel
    row_labels = [f"w[{t // (r * s)},{t // s % r},{t % s}]" for t in row_ids]
    col_labels = [f"{t // g.cols.out},{t % g.cols.out}" for t in col_ids]
    cells = [[text.PAD_MARK if sources[i, j] == PADDING else text.number(matrix[i, j])
              for j in col_ids] for i in row_ids]
    lines.append(f"  {what} ('.' = padding; column label p,q):")
    lines += text.table(cells, row_labels, col_labels, indent="    ")
    copies = matrix.size / max(1, g.c * g.rows.size * g.cols.size)
    lines.append(f"  size: {g.taps} x {hw} = {text.thousands(matrix.size)} numbers per image, "
                 f"copied from {text.thousands(g.c * g.rows.size * g.cols.size)} input values "
                 f"({copies:.2f}x)")
    return lines


def conv_cost(cost: ConvCost, dtype: np.dtype) -> list[str]:
    g = cost.geometry
    n, k, ho, wo = g.y_shape
    r, s = g.rows.kernel, g.cols.kernel
    bias = cost.bias
    lines = text.heading("5. Cost")
    if bias:
        lines.append(f"  parameters       (R*S*C + 1)*K = ({r}*{s}*{g.c} + 1)*{k} = "
                     f"{text.thousands(cost.parameters)}   ({text.plural(cost.weights, 'weight')} + "
                     f"{text.plural(k, 'bias', 'biases')})")
    else:
        lines.append(f"  parameters       R*S*C*K = {r}*{s}*{g.c}*{k} = "
                     f"{text.thousands(cost.parameters)}   (no bias)")
    padding_products = cost.multiplications - cost.real_multiplications
    lines += [
        f"  multiplications  N*K*H_out*W_out * C*R*S = {n}*{k}*{ho}*{wo} * {g.c}*{r}*{s} = "
        f"{text.thousands(cost.multiplications)}",
        f"                   ({text.thousands(cost.real_multiplications)} with real input, "
        f"{text.thousands(padding_products)} with padding zeros)",
        f"  additions        N*K*H_out*W_out * (C*R*S - 1{' + 1' if bias else ''}) = "
        f"{text.thousands(cost.additions)}",
        f"  FLOPs            multiplications + additions = {text.thousands(cost.flops)}",
        f"  bytes ({dtype.name}, {cost.itemsize} per number), the least any algorithm moves:",
    ]
    for name, value in cost.traffic().items():
        lines.append(f"    {name:<8} {text.thousands(value):>14}")
    lines += [
        f"    {'total':<8} {text.thousands(cost.bytes):>14}   ({text.human_bytes(cost.bytes)}; "
        f"{cost.intensity:.2f} FLOPs per byte)",
        f"  im2col also writes its N x {g.taps} x {ho * wo} matrices and reads them back: "
        f"+ 2*{text.thousands(cost.im2col_elements)}*{cost.itemsize} = "
        f"{text.thousands(2 * cost.im2col_elements * cost.itemsize)} bytes",
    ]
    return lines


# What each of the C++ backend's convolution algorithms does, in one line (cpp/conv2d*.cpp).
ALGORITHMS = {
    "winograd": "Winograd F(2x2, 3x3): each 2x2 output tile from a 4x4 input patch, 16 "
                "multiplications instead of 36, as 16 GEMMs over all channels",
    "winograd4": "Winograd F(4x4, 3x3): each 4x4 output tile from a 6x6 input patch, 36 "
                 "multiplications instead of 144, as 36 GEMMs over all channels",
    "rows": "direct, vectorised across output positions: each tap is one contiguous load of the "
            "padded row, multiplied by a few output channels' weights",
    "window": "direct, vectorised across output channels along output rows: each broadcast "
              "input value meets all the taps of a kernel row (S multiply-adds per load)",
    "images": "direct, vectorised across images (a vector's worth in lockstep): no lane "
              "empty whatever the channel counts, and the taps on padding skipped, not "
              "multiplied by zeros",
    "direct": "direct, vectorised across output channels: each tap's input value is broadcast "
              "against a vector of output channels' weights (an implicit GEMM, nothing unrolled)",
    "im2col": "im2col in cache-sized blocks of columns, then our GEMM",
    "taps": "one GEMM per kernel tap over only the outputs whose input under it is real "
            "(images and channels innermost), so padding is never multiplied",
    "col2im": "dcols = W^T @ dY by GEMM, then col2im adds each column back to the input cells "
              "it came from",
}


def _wrapped(label: str, sentence: str) -> list[str]:
    return textwrap.wrap(f"{label:<9}{sentence}", 96, initial_indent="  ",
                         subsequent_indent=" " * 11)


def plan(g: ConvGeometry, dtype=np.float32) -> list[str]:
    """How metalnet's cpu backend computes this layer in `dtype`, forward and backward (some
    choices depend on how many elements a vector holds)."""
    lines = text.heading("6. How metalnet's cpu backend runs it")
    try:
        from .. import _cpu
    except ImportError:
        return lines + ["  (the C++ extension is not built here)"]
    n, k, ho, wo = g.y_shape
    chosen = _cpu.conv2d_plan(list(g.x_shape), list(g.w_shape), ho, wo, g.rows.stride,
                              g.cols.stride, g.rows.pad_before, g.cols.pad_before,
                              g.rows.dilation, g.cols.dilation, dtype=np.dtype(dtype).name)
    forward, dx, dw = chosen["forward"], chosen["dx"], chosen["dw"]
    if dx == "col2im":
        dx_how = f"col2im: {ALGORITHMS['col2im']}"
    elif dx == "taps":
        dx_how = ("taps: the forward's GEMMs per tap with dy and dx swapped, the tap's weights "
                  "untransposed (no flipped copy)")
    else:
        dx_how = (f"{dx}{' as well' if dx == forward else ': ' + ALGORITHMS[dx]}, as a "
                  "convolution of dy (stride 1: the kernel flipped, its channel axes swapped)")
    dw_how = {"rows": "shifted dot products of dy with the padded input, nothing unrolled",
              "window": "the same windows, dy as vectors across output channels: each broadcast "
                        "input value meets the dy of S outputs",
              "winograd": "F(2x2, 3x3)'s transforms transposed: 16 products summed over the "
                          "tiles",
              "winograd4": "F(4x4, 3x3)'s transforms transposed: 36 products summed over the "
                           "tiles",
              "taps": "the forward's runs of rows again, each tap's K x C block summed as "
                      "dy_run^T @ x_run (no unrolled copy, padding skipped)",
              "im2col": "dW^T = cols @ dY^T by GEMM on im2col blocks"}[dw]
    return (lines + _wrapped("forward", f"{forward}: {ALGORITHMS[forward]}")
            + _wrapped("dx", dx_how) + _wrapped("dW", f"{dw}: {dw_how}")
            + _wrapped("", "Chosen per layer by a rule measured on the course layers; "
                           "`metalnet explain compare` runs the algorithms side by side."))


def pool_values(e) -> list[str]:
    g = e.geometry
    lines = text.heading("3. The numbers")
    lines.append("  Unless given, x is a fixed shuffle of 0, 1, 2, ... (first image, channel 0 "
                 "shown).")
    if _small(g.rows.padded, g.cols.padded):
        lines.append("  x[0, 0] padded ('.' = padding):")
        lines += _padded_plane(e.x[0, 0], g)
    for p, q in [(p, q) for p in range(g.rows.out) for q in range(g.cols.out)][:4]:
        cells = [(h, v) for h, v in g.reads(p, q)
                 if not (g.rows.is_padding(h) or g.cols.is_padding(v))]
        values = ", ".join(text.number(e.x[0, 0, h, v]) for h, v in cells)
        if e.mode == "max":
            flat = int(e.argmax[0, 0, p, q])
            h, v = divmod(flat, g.cols.size)
            lines.append(f"    y[{p},{q}] = max({values}) = {text.number(e.y[0, 0, p, q])}"
                         f"   argmax = {h}*W + {v} = {flat}")
        else:
            divisor = g.rows.kernel * g.cols.kernel if e.count_include_pad else len(cells)
            lines.append(f"    y[{p},{q}] = ({' + '.join(values.split(', '))}) / {divisor} = "
                         f"{text.number(e.y[0, 0, p, q])}")
    if _small(g.rows.out, g.cols.out):
        lines.append("  y[0, 0]:")
        lines += text.grid(e.y[0, 0], indent="    ")
    return lines


def pool_cost(cost: PoolCost, dtype: np.dtype) -> list[str]:
    lines = text.heading("4. Cost")
    lines.append("  parameters       0 (pooling has no weights)")
    if cost.mode == "max":
        lines.append(f"  comparisons      {text.thousands(cost.operations)}   (real cells - 1 per "
                     "window; padding is skipped)")
    else:
        lines.append(f"  operations       {text.thousands(cost.operations)}   (kh*kw - 1 = "
                     f"{cost.window - 1} additions + 1 division per output)")
    lines.append(f"  bytes ({dtype.name}, {cost.itemsize} per number):")
    for name, value in cost.traffic().items():
        lines.append(f"    {name:<22} {text.thousands(value):>12}")
    lines.append(f"    {'total':<22} {text.thousands(cost.bytes):>12}")
    return lines
