"""Random test cases for every primitive: arguments drawn fresh, odd sizes, every geometry kind.

A case is (args, kwargs) holding float64 host arrays; ``cast`` turns them into the dtype under
test, and the reference then runs on exactly those values (upcast), so float32 and float64
backends are compared with the float64 reference on identical inputs.
"""
from __future__ import annotations

import numpy as np

SIZES = (1, 2, 3, 5, 7, 11, 13)
STRIDES = (1, 2, (3, 2), (1, 3))
PADDINGS = (0, 1, (1, 0), (0, 1, 2, 1))
DILATIONS = (1, 2, (2, 1))


def cast(value, dtype):
    """Float arrays to ``dtype`` (ints untouched), recursively through tuples."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    if isinstance(value, tuple):
        return tuple(cast(v, dtype) for v in value)
    return value


def gemm(rng):
    m, n, k = (int(rng.choice((0, 1, 3, 17, 31, 64, 97))) for _ in range(3))
    trans_a, trans_b = bool(rng.integers(2)), bool(rng.integers(2))
    a = rng.standard_normal((k, m) if trans_a else (m, k))
    b = rng.standard_normal((n, k) if trans_b else (k, n))
    use_c = bool(rng.integers(2))
    c = rng.standard_normal((m, n)) if use_c else None
    kwargs = dict(alpha=float(rng.choice((1.0, -0.5, 2.0))), beta=float(rng.choice((0.0, 1.0, 0.3))),
                  trans_a=trans_a, trans_b=trans_b)
    return (a, b, c), kwargs


def _conv_shapes(rng):
    """(x shape, w shape, geometry kwargs) where the dilated kernel fits the padded input."""
    from metalnet import _args
    while True:
        n, c, k = int(rng.choice((0, 1, 2, 3))), int(rng.choice((1, 2, 3))), int(rng.choice((1, 2, 5)))
        h, w = int(rng.choice(SIZES)), int(rng.choice(SIZES))
        r, s = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        geo = dict(stride=STRIDES[rng.integers(len(STRIDES))],
                   padding=PADDINGS[rng.integers(len(PADDINGS))],
                   dilation=DILATIONS[rng.integers(len(DILATIONS))])
        ho, wo = _args.conv_out_hw(h, w, (r, s), _args.pair(geo["stride"], "s"),
                                   _args.padding4(geo["padding"]), _args.pair(geo["dilation"], "d"))
        if ho >= 1 and wo >= 1:
            return (n, c, h, w), (k, c, r, s), (ho, wo), geo


def conv2d_forward(rng):
    xs, ws, _, geo = _conv_shapes(rng)
    b = rng.standard_normal(ws[0]) if rng.integers(2) else None
    return (rng.standard_normal(xs), rng.standard_normal(ws), b), geo


def conv2d_backward(rng):
    xs, ws, (ho, wo), geo = _conv_shapes(rng)
    dy = rng.standard_normal((xs[0], ws[0], ho, wo))
    return (dy, rng.standard_normal(xs), rng.standard_normal(ws)), geo


def _pool_geometry(rng):
    from metalnet import _args
    while True:
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        stride = (None, 1, 2, (3, 2))[rng.integers(4)]
        padding = (0, (kh // 2, kw // 2), (0, kh // 2, kw // 2, 0))[rng.integers(3)]
        shape = (int(rng.choice((0, 1, 2))), int(rng.choice((1, 3))),
                 int(rng.choice(SIZES)), int(rng.choice(SIZES)))
        st = (kh, kw) if stride is None else _args.pair(stride, "stride")
        ho, wo = _args.pool_out_hw(shape[2], shape[3], (kh, kw), st, _args.padding4(padding))
        if ho >= 1 and wo >= 1:
            return shape, (kh, kw), dict(stride=stride, padding=padding), (ho, wo)


def max_pool2d_forward(rng):
    shape, kernel, geo, _ = _pool_geometry(rng)
    return (rng.standard_normal(shape), kernel), geo


def avg_pool2d_forward(rng):
    shape, kernel, geo, _ = _pool_geometry(rng)
    return (rng.standard_normal(shape), kernel), dict(geo, count_include_pad=bool(rng.integers(2)))


def avg_pool2d_backward(rng):
    shape, kernel, geo, (ho, wo) = _pool_geometry(rng)
    dy = rng.standard_normal(shape[:2] + (ho, wo))
    return (dy, shape, kernel), dict(geo, count_include_pad=bool(rng.integers(2)))


def _elementwise_shape(rng):
    return ((0,), (1,), (7,), (3, 5), (2, 3, 5, 7), (1000,), (70001,))[rng.integers(7)]


def unary(rng):
    return (rng.standard_normal(_elementwise_shape(rng)) * 4,), {}


def binary(rng):
    shape = _elementwise_shape(rng)
    return (rng.standard_normal(shape), rng.standard_normal(shape) * 4), {}


# The saved outputs stay away from the saturated ends: there 1 - y and 1 - y*y cancel, and the
# comparison would measure that conditioning rather than the kernel.
def sigmoid_backward(rng):  # y = sigmoid(x) lies in (0, 1)
    dy = binary(rng)[0][0]
    return (dy, rng.uniform(0.05, 0.95, dy.shape)), {}


def tanh_backward(rng):  # y = tanh(x) lies in (-1, 1)
    dy = binary(rng)[0][0]
    return (dy, rng.uniform(-0.9, 0.9, dy.shape)), {}


def leaky(rng, backward=False):
    args = binary(rng)[0] if backward else unary(rng)[0]
    return args, dict(negative_slope=float(rng.choice((0.01, 0.2, 0.0))))


def logits(rng):
    n, c = int(rng.choice((1, 2, 7, 64))), int(rng.choice((1, 2, 10, 97)))
    return (rng.standard_normal((n, c)) * 3,), {}


def softmax_cross_entropy(rng):
    (x,), _ = logits(rng)
    return (x, rng.integers(0, x.shape[1], x.shape[0]).astype(np.int64)), {}


def lstm_inputs(rng):
    n, i, h = int(rng.choice((1, 3, 8))), int(rng.choice((1, 5, 16))), int(rng.choice((1, 4, 13)))
    return (rng.standard_normal((n, i)), rng.standard_normal((n, h)), rng.standard_normal((n, h)),
            rng.standard_normal((4 * h, i)) * 0.5, rng.standard_normal((4 * h, h)) * 0.5,
            rng.standard_normal(4 * h) * 0.5)


def bias_add(rng):
    shape = ((1, 1), (3, 7), (0, 4), (2, 5, 3, 7), (4, 16, 56, 9), (2, 3, 1, 1))[rng.integers(6)]
    return (rng.standard_normal(shape), rng.standard_normal(shape[1])), {}


def bias_add_backward(rng):
    return (bias_add(rng)[0][0],), {}


def lstm_sequence_inputs(rng):
    """(x (T, N, I), h0, c0, w_ih, w_hh, b) with T in 1..7."""
    x, h, c, w_ih, w_hh, b = lstm_inputs(rng)
    steps = int(rng.integers(1, 8))
    return (rng.standard_normal((steps,) + x.shape), h, c, w_ih, w_hh, b)


CASES = {
    "gemm": gemm,
    "bias_add": bias_add,
    "bias_add_backward": bias_add_backward,
    "conv2d_forward": conv2d_forward,
    "conv2d_backward": conv2d_backward,
    "max_pool2d_forward": max_pool2d_forward,
    "avg_pool2d_forward": avg_pool2d_forward,
    "avg_pool2d_backward": avg_pool2d_backward,
    "relu_forward": unary,
    "relu_backward": binary,
    "leaky_relu_forward": leaky,
    "leaky_relu_backward": lambda rng: leaky(rng, backward=True),
    "sigmoid_forward": unary,
    "sigmoid_backward": sigmoid_backward,
    "tanh_forward": unary,
    "tanh_backward": tanh_backward,
    "softmax": logits,
    "log_softmax": logits,
    "softmax_cross_entropy": softmax_cross_entropy,
    "lstm_cell_forward": lambda rng: (lstm_inputs(rng), {}),
    "lstm_forward": lambda rng: (lstm_sequence_inputs(rng), {}),
}
