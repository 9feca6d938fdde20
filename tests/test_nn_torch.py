"""Every metalnet.nn layer and loss against PyTorch (CPU), forward and backward.

The PyTorch twin receives metalnet's weights through ``load_state_dict(strict=True)`` (which
also checks that parameter and buffer names match), both see the same random input and the
same random upstream gradient, and outputs, input gradients and parameter gradients must
agree. Asymmetric padding, which torch layers lack, is given to torch as an explicit F.pad.
Runs on the default backend (C++ where native), float32 and float64.
"""
import numpy as np
import pytest

from metalnet import Tensor, nn

torch = pytest.importorskip("torch", reason="PyTorch is needed for the comparison tests")
tnn, tF = torch.nn, torch.nn.functional

DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def rel_err(ours, theirs):
    ours, theirs = np.asarray(ours, dtype=np.float64), theirs.detach().double().numpy()
    scale = np.linalg.norm(theirs)
    return np.linalg.norm(ours - theirs) / (scale if scale > 0 else 1.0)


def tol(dtype):
    return 2e-5 if dtype == np.float32 else 1e-10


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flat(item)]
    return [out]


def compare(ours, theirs, x, rng, dtype, torch_fn=None, extra=()):
    """Run both with copied weights; compare outputs, input and parameter gradients.

    ``torch_fn(module, x)`` replaces ``theirs(x)`` (e.g. to add an explicit pad); ``extra``
    are further (array) inputs passed to both after x.
    """
    ours.to(dtype=dtype)
    theirs.to(TORCH_DTYPE[dtype])
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            ours.state_dict().items()}, strict=True)
    x = x.astype(dtype)
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    extra_o = [Tensor(e.astype(dtype), requires_grad=True) for e in extra]
    extra_t = [torch.tensor(e.astype(dtype), requires_grad=True) for e in extra]
    outs_o = _flat(ours(xo, *_pack(extra_o)))
    outs_t = _flat(torch_fn(theirs, xt, *_pack(extra_t)) if torch_fn else theirs(xt,
                                                                             *_pack(extra_t)))
    grads = [rng.standard_normal(o.shape).astype(dtype) for o in outs_o]
    for o, t in zip(outs_o, outs_t):
        assert rel_err(o.numpy(), t) < tol(dtype)
    sum((o * Tensor(g)).sum() for o, g in zip(outs_o, grads)).backward()
    sum((t * torch.from_numpy(g)).sum() for t, g in zip(outs_t, grads)).backward()
    assert rel_err(xo.grad.numpy(), xt.grad) < tol(dtype)
    for eo, et in zip(extra_o, extra_t):
        assert rel_err(eo.grad.numpy(), et.grad) < tol(dtype)
    torch_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert rel_err(p.grad.numpy(), torch_params[name].grad) < tol(dtype), name
    return ours, theirs


def _pack(extra):
    """LSTMs take their initial state as one (h0, c0) tuple."""
    return [tuple(extra)] if len(extra) == 2 else list(extra)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(dtype, rng):
    compare(nn.Linear(5, 3), tnn.Linear(5, 3), rng.standard_normal((4, 5)), rng, dtype)
    compare(nn.Linear(4, 2, bias=False), tnn.Linear(4, 2, bias=False),
            rng.standard_normal((2, 3, 4)), rng, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_row_col_strides_dilation_and_asymmetric_padding(dtype, rng):
    ours = nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2, 0, 1), dilation=(1, 2))
    theirs = tnn.Conv2d(3, 4, (3, 2), stride=(2, 1), dilation=(1, 2))
    compare(ours, theirs, rng.standard_normal((2, 3, 7, 6)), rng, dtype,
            torch_fn=lambda m, x: m(tF.pad(x, (0, 1, 1, 2))))      # (left, right, top, bottom)
    compare(nn.Conv2d(2, 3, 3, padding=(1, 2), bias=False),
            tnn.Conv2d(2, 3, 3, padding=(1, 2), bias=False),
            rng.standard_normal((1, 2, 5, 4)), rng, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose2d(dtype, rng):
    ours = nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2),
                              dilation=(1, 2))
    theirs = tnn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 3), padding=(1, 0),
                                 output_padding=(1, 2), dilation=(1, 2))
    compare(ours, theirs, rng.standard_normal((2, 3, 4, 3)), rng, dtype)
    compare(nn.ConvTranspose2d(2, 3, 2, stride=2, bias=False),
            tnn.ConvTranspose2d(2, 3, 2, stride=2, bias=False),
            rng.standard_normal((1, 2, 3, 3)), rng, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d(dtype, rng):
    compare(nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0, 1, 1)),
            tnn.MaxPool2d((3, 2), stride=(2, 1)), rng.standard_normal((2, 3, 7, 6)), rng, dtype,
            torch_fn=lambda m, x: m(tF.pad(x, (1, 1, 1, 0), value=-float("inf"))))
    compare(nn.MaxPool2d(3, stride=2, padding=1), tnn.MaxPool2d(3, stride=2, padding=1),
            rng.standard_normal((2, 2, 6, 5)), rng, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool2d(dtype, rng):
    compare(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            tnn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            rng.standard_normal((2, 2, 6, 7)), rng, dtype)
    compare(nn.AvgPool2d((2, 3), stride=(1, 2), padding=(0, 1, 1, 0)),
            tnn.AvgPool2d((2, 3), stride=(1, 2)), rng.standard_normal((2, 2, 5, 6)), rng, dtype,
            torch_fn=lambda m, x: m(tF.pad(x, (1, 0, 0, 1))))
    compare(nn.AdaptiveAvgPool2d((2, 1)), tnn.AdaptiveAvgPool2d((2, 1)),
            rng.standard_normal((2, 3, 4, 6)), rng, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_upsample_nearest(dtype, rng):
    compare(nn.Upsample((2, 3)), tnn.Upsample(scale_factor=(2, 3), mode="nearest"),
            rng.standard_normal((2, 2, 3, 4)), rng, dtype)


ACTIVATIONS = [
    (lambda: nn.ReLU(), lambda: tnn.ReLU()),
    (lambda: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2)),
    (lambda: nn.Sigmoid(), lambda: tnn.Sigmoid()),
    (lambda: nn.Tanh(), lambda: tnn.Tanh()),
    (lambda: nn.Softmax(1), lambda: tnn.Softmax(1)),
    (lambda: nn.LogSoftmax(-1), lambda: tnn.LogSoftmax(-1)),
    (lambda: nn.Flatten(), lambda: tnn.Flatten()),
    (lambda: nn.Dropout(0.3).eval(), lambda: tnn.Dropout(0.3).eval()),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pair", ACTIVATIONS, ids=["relu", "leaky_relu", "sigmoid", "tanh",
                                                    "softmax", "log_softmax", "flatten",
                                                    "dropout_eval"])
def test_activations_and_shape_layers(pair, dtype, rng):
    compare(pair[0](), pair[1](), rng.standard_normal((3, 4, 2, 3)) * 3, rng, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("build, shape", [
    (lambda m: m.BatchNorm1d(3), (5, 3)),
    (lambda m: m.BatchNorm1d(2, momentum=0.3), (3, 2, 4)),
    (lambda m: m.BatchNorm2d(3, eps=1e-3), (2, 3, 4, 3)),
], ids=["bn1d", "bn1d_3d", "bn2d"])
def test_batchnorm_train_then_eval(build, shape, dtype, rng):
    ours, theirs = compare(build(nn), build(tnn), rng.standard_normal(shape) * 2 + 1, rng, dtype)
    for name in ("running_mean", "running_var"):
        assert rel_err(getattr(ours, name).numpy(), getattr(theirs, name)) < tol(dtype)
    ours.eval(), theirs.eval()
    ours.zero_grad(), theirs.zero_grad()
    compare(ours, theirs, rng.standard_normal(shape), rng, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding(dtype, rng):
    ours, theirs = nn.Embedding(7, 3).to(dtype=dtype), tnn.Embedding(7, 3).to(TORCH_DTYPE[dtype])
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    idx = rng.integers(0, 7, size=(3, 4))
    out_o, out_t = ours(idx), theirs(torch.from_numpy(idx))
    assert rel_err(out_o.numpy(), out_t) < tol(dtype)
    g = rng.standard_normal(out_o.shape).astype(dtype)
    (out_o * Tensor(g)).sum().backward()
    (out_t * torch.from_numpy(g)).sum().backward()
    assert rel_err(ours.weight.grad.numpy(), theirs.weight.grad) < tol(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_multi_layer(batch_first, dtype, rng):
    ours = nn.LSTM(3, 4, num_layers=2, batch_first=batch_first)
    theirs = tnn.LSTM(3, 4, num_layers=2, batch_first=batch_first)
    x = rng.standard_normal((2, 5, 3))
    n = 2 if batch_first else 5
    h0, c0 = rng.standard_normal((2, n, 4)), rng.standard_normal((2, n, 4))
    compare(ours, theirs, x, rng, dtype, extra=(h0, c0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell_and_default_state(dtype, rng):
    compare(nn.LSTMCell(3, 5), tnn.LSTMCell(3, 5), rng.standard_normal((4, 3)), rng, dtype)
    compare(nn.LSTM(3, 2), tnn.LSTM(3, 2), rng.standard_normal((4, 2, 3)), rng, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses(reduction, dtype, rng):
    cases = [
        (nn.CrossEntropyLoss(reduction), tnn.CrossEntropyLoss(reduction=reduction),
         (5, 4), rng.integers(0, 4, size=5)),
        (nn.CrossEntropyLoss(reduction), tnn.CrossEntropyLoss(reduction=reduction),
         (2, 3, 2, 3), rng.integers(0, 3, size=(2, 2, 3))),
        (nn.MSELoss(reduction), tnn.MSELoss(reduction=reduction), (3, 4),
         rng.standard_normal((3, 4)).astype(dtype)),
        (nn.BCEWithLogitsLoss(reduction, pos_weight=np.array([0.5, 2.0, 1.0, 3.0], dtype=dtype)),
         tnn.BCEWithLogitsLoss(reduction=reduction,
                               pos_weight=torch.tensor([0.5, 2.0, 1.0, 3.0],
                                                       dtype=TORCH_DTYPE[dtype])),
         (3, 4), rng.uniform(0, 1, (3, 4)).astype(dtype)),
    ]
    for ours, theirs, shape, target in cases:
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        lo, lt = ours(xo, target), theirs(xt, torch.from_numpy(target))
        assert rel_err(lo.numpy(), lt) < tol(dtype)
        g = rng.standard_normal(lo.shape).astype(dtype)
        (lo * Tensor(g)).sum().backward()
        (lt * torch.from_numpy(g)).sum().backward()
        assert rel_err(xo.grad.numpy(), xt.grad) < tol(dtype)
