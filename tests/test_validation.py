"""Bad input gets a clear exception naming the argument, before any kernel runs."""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import ops
from metalnet.reference import LSTMCache

f32 = np.float32


def z(*shape, dtype=f32):
    return np.zeros(shape, dtype)


def x4():
    return np.ones((2, 3, 8, 8), f32)


def w4():
    return np.ones((4, 3, 3, 3), f32)


BAD_CALLS = [
    # (call, exception, words the message must contain)
    (lambda: ops.relu_forward([1.0, 2.0]), TypeError, "x must be a NumPy or CuPy array"),
    (lambda: ops.relu_forward(z(4, dtype=np.float16)), TypeError, "x must be float32 or float64"),
    (lambda: ops.relu_forward(z(4, dtype=np.int64)), TypeError, "x must be float32 or float64"),
    (lambda: ops.relu_forward(z(4, 4)[:, ::2]), ValueError, "x must be C-contiguous"),
    (lambda: ops.relu_forward(z(4, 4).T), ValueError, "x must be C-contiguous"),
    (lambda: ops.relu_backward(z(4), z(5)), ValueError, "x must have shape (4,)"),
    (lambda: ops.relu_backward(z(4), z(4, dtype=np.float64)), TypeError, "mixing dtypes"),
    (lambda: ops.leaky_relu_forward(z(4), "0.1"), TypeError, "negative_slope must be a real number"),
    (lambda: ops.leaky_relu_forward(z(4), float("nan")), ValueError, "negative_slope must be finite"),
    (lambda: ops.sigmoid_backward(z(3), z(3, 1)), ValueError, "y must have shape (3,)"),
    (lambda: ops.gemm(z(3, 4), z(5, 2)), ValueError, "inner dimensions differ"),
    (lambda: ops.gemm(z(3, 4), z(4)), ValueError, "b must have 2 dimensions"),
    (lambda: ops.gemm(z(3, 4), z(4, 2), z(2, 3)), ValueError, "c must have shape (3, 2)"),
    (lambda: ops.gemm(z(3, 4), z(4, 2), alpha=None), TypeError, "alpha must be a real number"),
    (lambda: ops.gemm(z(3, 4), z(4, 2), trans_a=1), TypeError, "trans_a must be True or False"),
    (lambda: ops.gemm(z(3, 4), z(4, 2, dtype=np.float64)), TypeError, "mixing dtypes"),
    (lambda: ops.bias_add(z(4), z(4)), ValueError, "x must have at least 2 dimensions"),
    (lambda: ops.bias_add(z(2, 3, 4), z(4)), ValueError, "b must have shape (3,)"),
    (lambda: ops.bias_add(z(2, 3), z(3, dtype=np.float64)), TypeError, "mixing dtypes"),
    (lambda: ops.bias_add_backward(z(5)), ValueError, "dy must have at least 2 dimensions"),
    (lambda: ops.conv2d_forward(z(3, 8, 8), w4()), ValueError, "x must have 4 dimensions"),
    (lambda: ops.conv2d_forward(x4(), z(4, 2, 3, 3)), ValueError, "C = 3 input channels"),
    (lambda: ops.conv2d_forward(x4(), w4(), stride=0), ValueError, "stride must be >= 1"),
    (lambda: ops.conv2d_forward(x4(), w4(), stride=(2, -1)), ValueError, "stride must be >= 1"),
    (lambda: ops.conv2d_forward(x4(), w4(), stride=1.5), TypeError, "stride must be an int"),
    (lambda: ops.conv2d_forward(x4(), w4(), dilation=0), ValueError, "dilation must be >= 1"),
    (lambda: ops.conv2d_forward(x4(), w4(), padding=-1), ValueError, "padding must be >= 0"),
    (lambda: ops.conv2d_forward(x4(), w4(), padding=(1, 2, 3)), TypeError, "padding must be an int"),
    (lambda: ops.conv2d_forward(x4(), z(4, 3, 11, 3)), ValueError, "larger than the padded input"),
    (lambda: ops.conv2d_forward(x4(), w4(), dilation=4), ValueError, "larger than the padded input"),
    (lambda: ops.conv2d_forward(x4(), w4(), z(5)), ValueError, "b must have shape (4,)"),
    (lambda: ops.conv2d_backward(z(2, 4, 5, 5), x4(), w4()), ValueError, "dy must have shape (2, 4, 6, 6)"),
    (lambda: ops.conv2d_backward(z(2, 4, 6, 6), x4(), w4(), need_dx=1), TypeError, "need_dx must be True or False"),
    (lambda: ops.conv2d_backward(z(2, 4, 6, 6), x4(), w4(), need_dw=None), TypeError, "need_dw must be True or False"),
    (lambda: ops.conv2d_backward(z(2, 4, 6, 6), x4(), w4(), need_db=1), TypeError, "need_db must be True or False"),
    (lambda: ops.max_pool2d_forward(x4(), 0), ValueError, "kernel_size must be >= 1"),
    (lambda: ops.max_pool2d_forward(x4(), 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda: ops.max_pool2d_forward(x4(), 9), ValueError, "larger than the padded input"),
    (lambda: ops.max_pool2d_forward(x4(), 2, padding=2), ValueError, "at most half of kernel_size"),
    (lambda: ops.max_pool2d_backward(z(2, 3, 4, 4), z(2, 3, 4, 4), (2, 3, 8, 8)), TypeError,
     "argmax must be"),
    (lambda: ops.max_pool2d_backward(z(2, 3, 4, 4), z(2, 3, 4, 4, dtype=np.int32), (2, 3, 8, 8)),
     TypeError, "argmax must be int64"),
    (lambda: ops.max_pool2d_backward(z(2, 3, 4, 4), np.full((2, 3, 4, 4), 64), (2, 3, 8, 8)),
     ValueError, "argmax must hold values in [0, 64)"),
    (lambda: ops.max_pool2d_backward(z(2, 3, 4, 4), z(2, 3, 4, 4, dtype=np.int64), (2, 8, 8)),
     ValueError, "x_shape must be an (N, C, H, W)"),
    (lambda: ops.avg_pool2d_forward(x4(), 2, count_include_pad="yes"), TypeError,
     "count_include_pad must be True or False"),
    (lambda: ops.avg_pool2d_backward(z(2, 3, 3, 3), (2, 3, 8, 8), 2), ValueError,
     "dy must have shape (2, 3, 4, 4)"),
    (lambda: ops.softmax(z(4)), ValueError, "x must have 2 dimensions"),
    (lambda: ops.softmax(z(4, 0)), ValueError, "at least one class column"),
    (lambda: ops.softmax_cross_entropy(z(0, 3), np.zeros(0, np.int64)), ValueError, "at least one row"),
    (lambda: ops.softmax_cross_entropy(z(2, 3), np.zeros(2, np.float32)), TypeError,
     "labels must be int64"),
    (lambda: ops.softmax_cross_entropy(z(2, 3), np.zeros(3, np.int64)), ValueError,
     "labels must have shape (2,)"),
    (lambda: ops.softmax_cross_entropy(z(2, 3), np.array([0, 3])), ValueError,
     "labels must hold values in [0, 3)"),
    (lambda: ops.softmax_cross_entropy(z(2, 3), np.array([-1, 0])), ValueError,
     "labels must hold values in [0, 3)"),
    (lambda: ops.lstm_cell_forward(z(2, 5), z(2, 4), z(2, 4), z(16, 4), z(16, 4), z(16)),
     ValueError, "w_ih must have shape (16, 5)"),
    (lambda: ops.lstm_cell_forward(z(2, 5), z(2, 4), z(2, 3), z(16, 5), z(16, 4), z(16)),
     ValueError, "c must have shape (2, 4)"),
    (lambda: ops.lstm_cell_forward(z(3, 5), z(2, 4), z(2, 4), z(16, 5), z(16, 4), z(16)),
     ValueError, "x must have shape (2, 5)"),
    (lambda: ops.lstm_cell_forward(z(2, 5), z(2, 4), z(2, 4), z(16, 5), z(16, 4), z(12)),
     ValueError, "b must have shape (16,)"),
    (lambda: ops.lstm_cell_backward(z(2, 4), z(2, 4), (1, 2, 3)), TypeError, "cache must be the LSTMCache"),
    (lambda: ops.lstm_forward(z(2, 5), z(2, 4), z(2, 4), z(16, 5), z(16, 4), z(16)), ValueError,
     "x must have 3 dimensions"),
    (lambda: ops.lstm_forward(z(0, 2, 5), z(2, 4), z(2, 4), z(16, 5), z(16, 4), z(16)), ValueError,
     "at least one time step"),
    (lambda: ops.lstm_forward(z(3, 3, 5), z(2, 4), z(2, 4), z(16, 5), z(16, 4), z(16)), ValueError,
     "x must have shape (3, 2, 5)"),
    (lambda: ops.lstm_forward(z(3, 2, 5), z(2, 4), z(2, 4), z(16, 5), z(16, 4), z(16),
                              keep_cache="no"), TypeError, "keep_cache must be True or False"),
    (lambda: ops.lstm_backward(None, None, None, (1,)), TypeError, "cache must be the LSTMSequenceCache"),
    (lambda: ops.lstm_cell_backward(z(2, 3), z(2, 4), LSTMCache(*(z(2, 4),) * 7)), ValueError,
     "dh_next must have shape (2, 4)"),
]


@pytest.mark.parametrize("call, exc, words", BAD_CALLS, ids=[b[2][:40] for b in BAD_CALLS])
def test_bad_input_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value), f"message {str(info.value)!r} lacks {words!r}"


def test_legal_edge_cases_are_accepted():
    """Zero batch, zero-size gemm and 1x1 inputs are legal: they must not be rejected."""
    assert ops.relu_forward(z(0)).shape == (0,)
    assert ops.gemm(z(0, 3), z(3, 2)).shape == (0, 2)
    np.testing.assert_array_equal(ops.gemm(z(2, 0), z(0, 3)), np.zeros((2, 3)))
    assert ops.conv2d_forward(z(0, 3, 5, 5), w4()).shape == (0, 4, 3, 3)
    assert ops.max_pool2d_forward(z(1, 1, 1, 1), 1)[0].shape == (1, 1, 1, 1)
    # A kernel exactly as large as the padded input gives one output cell.
    assert ops.conv2d_forward(x4(), z(4, 3, 10, 10), padding=1).shape == (2, 4, 1, 1)
