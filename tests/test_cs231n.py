"""metalnet.cs231n against the assignments' definitions, written here as plain loops.

Forward passes are compared with the textbook formulas; every backward pass with the
assignments' own check (central differences of f against an upstream gradient, float64).
"""
import numpy as np
import pytest

from metalnet import cs231n as L


def numeric_grad(f, x, df, h=1e-6):
    """sum(f(x) * df) differentiated by central differences with respect to x (in place)."""
    grad = np.zeros_like(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + h
        up = np.sum(f() * df)
        x.flat[i] = old - h
        down = np.sum(f() * df)
        x.flat[i] = old
        grad.flat[i] = (up - down) / (2 * h)
    return grad


def close(a, b, tol=1e-7):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ------------------------------------------------------------------------ affine, relu
def test_affine(rng):
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((8, 5)), rng.standard_normal(5)
    out, cache = L.affine_forward(x, w, b)
    expected = np.array([[sum(x[n].reshape(-1)[d] * w[d, m] for d in range(8)) + b[m]
                          for m in range(5)] for n in range(3)])
    close(out, expected)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = L.affine_backward(dout, cache)
    assert dx.shape == x.shape
    close(dx, numeric_grad(lambda: L.affine_forward(x, w, b)[0], x, dout))
    close(dw, numeric_grad(lambda: L.affine_forward(x, w, b)[0], w, dout))
    close(db, numeric_grad(lambda: L.affine_forward(x, w, b)[0], b, dout))


def test_relu_and_affine_relu(rng):
    x = rng.standard_normal((4, 5))
    out, cache = L.relu_forward(x)
    close(out, np.where(x > 0, x, 0))
    dout = rng.standard_normal(x.shape)
    close(L.relu_backward(dout, cache), dout * (x > 0))
    w, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    out, cache = L.affine_relu_forward(x, w, b)
    close(out, np.maximum(x @ w + b, 0))
    dout = rng.standard_normal(out.shape)
    dx, dw, db = L.affine_relu_backward(dout, cache)
    close(dw, numeric_grad(lambda: L.affine_relu_forward(x, w, b)[0], w, dout))


# ------------------------------------------------------------------------ convolution
def conv_loops(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    h_out, w_out = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    out = np.zeros((n, f, h_out, w_out))
    for i in range(n):
        for k in range(f):
            for p in range(h_out):
                for q in range(w_out):
                    window = xp[i, :, p * stride:p * stride + hh, q * stride:q * stride + ww]
                    out[i, k, p, q] = np.sum(window * w[k]) + b[k]
    return out


@pytest.mark.parametrize("forward, backward", [
    (L.conv_forward_naive, L.conv_backward_naive), (L.conv_forward_fast, L.conv_backward_fast)])
def test_conv(forward, backward, rng):
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), \
        rng.standard_normal(4)
    conv_param = {"stride": 2, "pad": 1}
    out, cache = forward(x, w, b, conv_param)
    close(out, conv_loops(x, w, b, 2, 1))
    dout = rng.standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    f = lambda: forward(x, w, b, conv_param)[0]  # noqa: E731
    close(dx, numeric_grad(f, x, dout))
    close(dw, numeric_grad(f, w, dout))
    close(db, numeric_grad(f, b, dout))


def test_conv_relu_pool_sandwich(rng):
    x, w, b = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), \
        rng.standard_normal(3)
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2,
                                                       "stride": 2}
    out, cache = L.conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    relu = np.maximum(conv_loops(x, w, b, 1, 1), 0)
    close(out, relu.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)))
    dout = rng.standard_normal(out.shape)
    dx, dw, db = L.conv_relu_pool_backward(dout, cache)
    f = lambda: L.conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0]  # noqa: E731
    close(dx, numeric_grad(f, x, dout), tol=1e-6)
    close(dw, numeric_grad(f, w, dout), tol=1e-6)
    out, cache = L.conv_relu_forward(x, w, b, conv_param)
    close(out, relu)
    assert len(L.conv_relu_backward(rng.standard_normal(out.shape), cache)) == 3


@pytest.mark.parametrize("forward, backward", [
    (L.max_pool_forward_naive, L.max_pool_backward_naive),
    (L.max_pool_forward_fast, L.max_pool_backward_fast)])
def test_max_pool(forward, backward, rng):
    x = rng.standard_normal((2, 3, 7, 5))
    pool_param = {"pool_height": 3, "pool_width": 2, "stride": 2}
    out, cache = forward(x, pool_param)
    expected = np.array([[[[x[n, c, 2 * p:2 * p + 3, 2 * q:2 * q + 2].max() for q in range(2)]
                           for p in range(3)] for c in range(3)] for n in range(2)])
    close(out, expected)
    dout = rng.standard_normal(out.shape)
    close(backward(dout, cache), numeric_grad(lambda: forward(x, pool_param)[0], x, dout))


# ----------------------------------------------------------------------------- losses
def test_softmax_loss(rng):
    x, y = rng.standard_normal((5, 4)) * 3, rng.integers(0, 4, size=5)
    loss, dx = L.softmax_loss(x, y)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), y])), rel=1e-12)
    close(dx, numeric_grad(lambda: np.array(L.softmax_loss(x, y)[0]), x, np.array(1.0)))


def test_svm_loss(rng):
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)
    loss, dx = L.svm_loss(x, y)
    expected = sum(max(0.0, x[n, j] - x[n, y[n]] + 1) for n in range(6) for j in range(4)
                   if j != y[n]) / 6
    assert loss == pytest.approx(expected, rel=1e-12)
    close(dx, numeric_grad(lambda: np.array(L.svm_loss(x, y)[0]), x, np.array(1.0)))


# ------------------------------------------------------------------------ batch norm
def test_batchnorm_train_and_test(rng):
    x = rng.standard_normal((6, 3)) * 4 + 2
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn_param = {"mode": "train", "momentum": 0.8}
    out, cache = L.batchnorm_forward(x, gamma, beta, bn_param)
    mean, var = x.mean(axis=0), x.var(axis=0)
    close(out, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta)
    close(bn_param["running_mean"], 0.2 * mean)               # started at zero
    close(bn_param["running_var"], 0.2 * var)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = L.batchnorm_backward(dout, cache)
    f = lambda: L.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]  # noqa: E731
    close(dx, numeric_grad(f, x, dout), tol=1e-6)
    close(dgamma, numeric_grad(f, gamma, dout), tol=1e-6)
    close(dbeta, numeric_grad(f, beta, dout), tol=1e-6)
    close(L.batchnorm_backward_alt(dout, cache)[0], dx)
    bn_param["mode"] = "test"
    out, _ = L.batchnorm_forward(x, gamma, beta, bn_param)
    close(out, gamma * (x - 0.2 * mean) / np.sqrt(0.2 * var + 1e-5) + beta)


def test_spatial_batchnorm(rng):
    x = rng.standard_normal((2, 3, 4, 2)) + 1
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    out, cache = L.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    mean = x.mean(axis=(0, 2, 3))[None, :, None, None]
    var = x.var(axis=(0, 2, 3))[None, :, None, None]
    close(out, gamma[None, :, None, None] * (x - mean) / np.sqrt(var + 1e-5)
          + beta[None, :, None, None])
    dout = rng.standard_normal(out.shape)
    dx, dgamma, _ = L.spatial_batchnorm_backward(dout, cache)
    f = lambda: L.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]  # noqa: E731
    close(dx, numeric_grad(f, x, dout), tol=1e-6)
    close(dgamma, numeric_grad(f, gamma, dout), tol=1e-6)


# ---------------------------------------------------------------------------- dropout
def test_dropout_keeps_with_probability_p_like_the_assignment(rng):
    x = rng.standard_normal((50, 40))
    param = {"mode": "train", "p": 0.7, "seed": 123}
    out, cache = L.dropout_forward(x, param)
    np.random.seed(123)
    mask = (np.random.rand(*x.shape) < 0.7) / 0.7
    close(out, x * mask)
    dout = rng.standard_normal(x.shape)
    close(L.dropout_backward(dout, cache), dout * mask)
    test_out, test_cache = L.dropout_forward(x, {"mode": "test", "p": 0.7})
    close(test_out, x)
    close(L.dropout_backward(dout, test_cache), dout)


# ------------------------------------------------------------------------------- RNNs
def test_rnn_step_and_sequence(rng):
    n, d, h, t = 3, 4, 5, 3
    x, h0 = rng.standard_normal((n, t, d)), rng.standard_normal((n, h))
    wx, wh, b = rng.standard_normal((d, h)), rng.standard_normal((h, h)), rng.standard_normal(h)
    next_h, cache = L.rnn_step_forward(x[:, 0], h0, wx, wh, b)
    close(next_h, np.tanh(x[:, 0] @ wx + h0 @ wh + b))
    dnext = rng.standard_normal(next_h.shape)
    grads = L.rnn_step_backward(dnext, cache)
    x0 = x[:, 0].copy()
    f = lambda: L.rnn_step_forward(x0, h0, wx, wh, b)[0]  # noqa: E731
    for got, wrt in zip(grads, (x0, h0, wx, wh, b)):
        close(got, numeric_grad(f, wrt, dnext))

    hs, cache = L.rnn_forward(x, h0, wx, wh, b)
    prev = h0
    for step in range(t):
        prev = np.tanh(x[:, step] @ wx + prev @ wh + b)
        close(hs[:, step], prev)
    dh = rng.standard_normal(hs.shape)
    grads = L.rnn_backward(dh, cache)
    f = lambda: L.rnn_forward(x, h0, wx, wh, b)[0]  # noqa: E731
    for got, wrt in zip(grads, (x, h0, wx, wh, b)):
        close(got, numeric_grad(f, wrt, dh))


def lstm_step_definition(x, prev_h, prev_c, wx, wh, b):
    """The assignment's step: a = x Wx + h Wh + b split as (i, f, o, g)."""
    hidden = prev_h.shape[1]
    a = x @ wx + prev_h @ wh + b
    i, f = sigmoid(a[:, :hidden]), sigmoid(a[:, hidden:2 * hidden])
    o, g = sigmoid(a[:, 2 * hidden:3 * hidden]), np.tanh(a[:, 3 * hidden:])
    c = f * prev_c + i * g
    return o * np.tanh(c), c


def test_lstm_step(rng):
    n, d, h = 3, 4, 5
    x, prev_h, prev_c = rng.standard_normal((n, d)), rng.standard_normal((n, h)), \
        rng.standard_normal((n, h))
    wx, wh, b = rng.standard_normal((d, 4 * h)), rng.standard_normal((h, 4 * h)), \
        rng.standard_normal(4 * h)
    next_h, next_c, cache = L.lstm_step_forward(x, prev_h, prev_c, wx, wh, b)
    ref_h, ref_c = lstm_step_definition(x, prev_h, prev_c, wx, wh, b)
    close(next_h, ref_h)
    close(next_c, ref_c)
    dh, dc = rng.standard_normal((n, h)), rng.standard_normal((n, h))
    grads = L.lstm_step_backward(dh, dc, cache)

    def f():
        nh, nc, _ = L.lstm_step_forward(x, prev_h, prev_c, wx, wh, b)
        return np.concatenate([nh, nc], axis=1)
    upstream = np.concatenate([dh, dc], axis=1)
    for got, wrt in zip(grads, (x, prev_h, prev_c, wx, wh, b)):
        close(got, numeric_grad(f, wrt, upstream))


def test_lstm_sequence(rng):
    n, d, h, t = 2, 3, 4, 3
    x, h0 = rng.standard_normal((n, t, d)), rng.standard_normal((n, h))
    wx, wh, b = rng.standard_normal((d, 4 * h)), rng.standard_normal((h, 4 * h)), \
        rng.standard_normal(4 * h)
    hs, cache = L.lstm_forward(x, h0, wx, wh, b)
    prev_h, prev_c = h0, np.zeros((n, h))
    for step in range(t):
        prev_h, prev_c = lstm_step_definition(x[:, step], prev_h, prev_c, wx, wh, b)
        close(hs[:, step], prev_h)
    dh = rng.standard_normal(hs.shape)
    grads = L.lstm_backward(dh, cache)
    assert len(grads) == 5
    f = lambda: L.lstm_forward(x, h0, wx, wh, b)[0]  # noqa: E731
    for got, wrt in zip(grads, (x, h0, wx, wh, b)):
        close(got, numeric_grad(f, wrt, dh))


# --------------------------------------------------------------- captioning helpers
def test_word_embedding_and_temporal_layers(rng):
    words, vocab = np.array([[0, 3, 3], [2, 0, 1]]), rng.standard_normal((4, 2))
    out, cache = L.word_embedding_forward(words, vocab)
    close(out, np.array([[vocab[i] for i in row] for row in words]))
    dout = rng.standard_normal(out.shape)
    close(L.word_embedding_backward(dout, cache),
          numeric_grad(lambda: L.word_embedding_forward(words, vocab)[0], vocab, dout))

    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    out, cache = L.temporal_affine_forward(x, w, b)
    close(out, np.einsum("ntd,dm->ntm", x, w) + b)
    dout = rng.standard_normal(out.shape)
    grads = L.temporal_affine_backward(dout, cache)
    f = lambda: L.temporal_affine_forward(x, w, b)[0]  # noqa: E731
    for got, wrt in zip(grads, (x, w, b)):
        close(got, numeric_grad(f, wrt, dout))


def test_temporal_softmax_loss(rng):
    x, y = rng.standard_normal((2, 3, 4)), rng.integers(0, 4, size=(2, 3))
    mask = np.array([[True, True, False], [True, False, False]])
    loss, dx = L.temporal_softmax_loss(x, y, mask)
    p = np.exp(x) / np.exp(x).sum(axis=2, keepdims=True)
    expected = -sum(np.log(p[n, s, y[n, s]]) for n in range(2) for s in range(3)
                    if mask[n, s]) / 2
    assert loss == pytest.approx(expected, rel=1e-12)
    close(dx, numeric_grad(lambda: np.array(L.temporal_softmax_loss(x, y, mask)[0]), x,
                           np.array(1.0)))
