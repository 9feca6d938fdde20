"""Finite-difference gradient checks of every metalnet.nn layer and loss, through autograd.

Each check runs in float64 on the reference backend: the gradients autograd assembles from the
kernels' backward functions must match central differences of L = sum(out * R), along a random
direction through all inputs and parameters at once and at a few coordinates of each.
"""
import numpy as np
import pytest

import metalnet
from metalnet import Tensor, nn


def _outputs(out):
    """The tensors of a (possibly nested) layer output."""
    if isinstance(out, Tensor):
        return [out]
    return [t for item in out for t in _outputs(item)]


def assert_grads_match(forward, leaves, rng, coords=4, eps=1e-6, backend="numpy"):
    """forward() -> Tensor(s) built from ``leaves``; autograd vs central differences, run on
    ``backend`` (the reference unless told)."""
    with metalnet.backend(backend):
        outs = _outputs(forward())
        weights = [rng.standard_normal(o.shape) for o in outs]
        for leaf in leaves:
            leaf.grad = None
        sum((o * Tensor(w)).sum() for o, w in zip(outs, weights)).backward()

        def loss():
            with metalnet.no_grad():
                return sum(float((o.data * w).sum()) for o, w in zip(_outputs(forward()),
                                                                    weights))

        def along(direction):
            for leaf, d in zip(leaves, direction):
                leaf.data += eps * d
            up = loss()
            for leaf, d in zip(leaves, direction):
                leaf.data -= 2 * eps * d
            down = loss()
            for leaf, d in zip(leaves, direction):
                leaf.data += eps * d
            return (up - down) / (2 * eps)

        grads = [leaf.grad.data for leaf in leaves]
        direction = [rng.standard_normal(leaf.shape) for leaf in leaves]
        norm = np.sqrt(sum(float((d * d).sum()) for d in direction))
        direction = [d / norm for d in direction]     # a step of eps, whatever the leaf count
        analytic = sum(float((g * d).sum()) for g, d in zip(grads, direction))
        # Rounding in the differences is relative to the whole gradient, not to this component.
        floor = 1e-7 * np.sqrt(sum(float((g ** 2).sum()) for g in grads))
        assert along(direction) == pytest.approx(analytic, rel=1e-6, abs=floor)
        for k, leaf in enumerate(leaves):
            for i in rng.choice(leaf.numel(), size=min(coords, leaf.numel()), replace=False):
                unit = [np.zeros(l.shape) for l in leaves]
                unit[k].flat[i] = 1.0
                assert along(unit) == pytest.approx(grads[k].flat[i], rel=1e-5, abs=floor), (
                    f"leaf {k} coordinate {i}")


def check_layer(layer, x_shape, rng, **kwargs):
    """Gradient check of layer(x) for x and every parameter of the layer."""
    layer.double()
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    assert_grads_match(lambda: layer(x), [x] + list(layer.parameters()), rng, **kwargs)


LAYERS = {
    "linear": (lambda: nn.Linear(5, 3), (2, 5)),
    "linear_3d_no_bias": (lambda: nn.Linear(4, 3, bias=False), (2, 3, 4)),
    "conv": (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0, 2, 1),
                               dilation=(1, 2)), (2, 2, 6, 7)),
    "conv_no_bias": (lambda: nn.Conv2d(3, 2, 1, bias=False), (1, 3, 3, 4)),
    "conv_transpose": (lambda: nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 3),
                                                  padding=(1, 0, 0, 1), output_padding=(1, 0),
                                                  dilation=(1, 2)), (2, 3, 3, 4)),
    "max_pool": (lambda: nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0, 1, 1)), (2, 2, 5, 6)),
    "avg_pool": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 2, 5, 6)),
    "avg_pool_exclude_pad": (lambda: nn.AvgPool2d((2, 3), padding=(1, 1, 0, 1),
                                                  count_include_pad=False), (1, 2, 5, 7)),
    "adaptive_avg_pool": (lambda: nn.AdaptiveAvgPool2d((2, 1)), (2, 3, 4, 6)),
    "upsample": (lambda: nn.Upsample((2, 3)), (2, 2, 3, 2)),
    "relu": (lambda: nn.ReLU(), (3, 4, 2)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (3, 4)),
    "sigmoid": (lambda: nn.Sigmoid(), (3, 4)),
    "tanh": (lambda: nn.Tanh(), (2, 3, 2, 2)),
    "softmax": (lambda: nn.Softmax(1), (2, 4, 3)),
    "log_softmax": (lambda: nn.LogSoftmax(), (3, 5)),
    "flatten": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), (2, 3, 2, 2)),
    "batchnorm1d": (lambda: nn.BatchNorm1d(3), (5, 3)),
    "batchnorm1d_3d": (lambda: nn.BatchNorm1d(2), (3, 2, 4)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 3, 2)),
    "batchnorm2d_eval": (lambda: _randomised_bn().eval(), (2, 3, 3, 2)),
    "batchnorm_no_affine": (lambda: nn.BatchNorm2d(3, affine=False), (2, 3, 2, 2)),
    "lstm_cell": (lambda: nn.LSTMCell(3, 4), (2, 3)),
    "sequential": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3),
                                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                         nn.Linear(12, 2)), (2, 2, 4, 4)),
}


def _randomised_bn():
    bn = nn.BatchNorm2d(3)
    bn.running_mean.data[:] = [0.5, -1.0, 0.2]
    bn.running_var.data[:] = [2.0, 0.5, 1.5]
    bn.weight.data[:] = [1.5, -0.5, 2.0]
    return bn


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradients_match_finite_differences(name, rng):
    build, x_shape = LAYERS[name]
    check_layer(build(), x_shape, rng)


@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_gradients_match_finite_differences(batch_first, rng):
    lstm = nn.LSTM(3, 4, num_layers=2, batch_first=batch_first).double()
    x = Tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((2, 2 if batch_first else 3, 4)), requires_grad=True)
    c0 = Tensor(rng.standard_normal(h0.shape), requires_grad=True)
    assert_grads_match(lambda: lstm(x, (h0, c0)), [x, h0, c0] + list(lstm.parameters()), rng,
                       coords=2)


def test_dropout_gradient_uses_the_forward_mask(rng):
    layer = nn.Dropout(0.4)

    def forward():
        metalnet.manual_seed(7)               # the same mask on every evaluation
        return layer(x)
    x = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    assert_grads_match(forward, [x], rng)


def test_embedding_gradient_adds_repeated_rows(rng):
    emb = nn.Embedding(5, 3).double()
    idx = np.array([[0, 2, 2], [4, 0, 2]])
    assert_grads_match(lambda: emb(idx), [emb.weight], rng, coords=6)
    emb.zero_grad()
    emb(idx).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[:, 0], [2, 0, 3, 0, 1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradients(reduction, rng):
    loss = nn.CrossEntropyLoss(reduction)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    labels = rng.integers(0, 3, size=4)
    assert_grads_match(lambda: loss(x, labels), [x], rng)
    x4 = Tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
    labels4 = rng.integers(0, 3, size=(2, 2, 2))
    assert_grads_match(lambda: loss(x4, labels4), [x4], rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_and_binary_losses_gradients(reduction, rng):
    a = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = Tensor(rng.uniform(0, 1, (3, 4)), requires_grad=True)
    assert_grads_match(lambda: nn.MSELoss(reduction)(a, b), [a, b], rng)
    bce = nn.BCEWithLogitsLoss(reduction, pos_weight=np.array([0.5, 1.0, 2.0, 3.0]))
    assert_grads_match(lambda: bce(a * 4.0, b), [a, b], rng)
