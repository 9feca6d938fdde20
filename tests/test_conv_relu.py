"""Conv2d followed by ReLU: ``F.conv2d_relu`` and the pairs ``nn.Sequential`` routes through it.

On the host backends (numpy, cpu), which have no fused forward, conv2d_relu must be exactly
relu(conv2d(...)) and a Sequential exactly its layers run one by one: same values, same
gradients, same graph. The fused node itself (one forward call, backward = ReLU mask then
conv2d_backward) runs on the GPU backends (tests/test_nn_gpu.py); here its autograd wiring is
also checked on the host by lending the reference backend a fused forward for one test.
"""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import Tensor, nn, ops, reference
from metalnet import functional as F
from metalnet.autograd import _topological_order
from metalnet.backends import _registry

from test_nn_layers import assert_grads_match

HOST_BACKENDS = [
    pytest.param(name, id=name, marks=pytest.mark.skipif(
        _registry.load(name) is None,
        reason=f"backend {name!r} unavailable: {_registry.reason(name)}"))
    for name in ("numpy", "cpu")
]

# x shape, weight shape, bias?, stride, padding, dilation
GEOMETRIES = [
    ((2, 3, 6, 7), (4, 3, 3, 3), True, 1, 1, 1),
    ((2, 2, 7, 6), (3, 2, 3, 2), False, (2, 1), (1, 0, 2, 1), (1, 2)),
    ((1, 3, 5, 5), (2, 3, 1, 1), True, 2, 0, 1),
]


def _draw(rng, geometry, dtype=np.float64):
    xs, ws, has_bias, stride, padding, dilation = geometry
    x = Tensor(rng.standard_normal(xs).astype(dtype), requires_grad=True)
    w = Tensor(rng.standard_normal(ws).astype(dtype), requires_grad=True)
    b = Tensor(rng.standard_normal(ws[0]).astype(dtype), requires_grad=True) if has_bias else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation)


def _node_names(out):
    """Names of the graph nodes behind ``out``, parents first."""
    return [t._node.name for t in _topological_order(out) if t._node is not None]


def _leaves(*tensors):
    return [t for t in tensors if t is not None]


def _grads(leaves):
    grads = [t.grad.data.copy() for t in leaves]
    for t in leaves:
        t.grad = None
    return grads


# ----------------------------------------------------------- the host backends: no fusion
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("backend_name", HOST_BACKENDS)
def test_conv2d_relu_is_conv2d_then_relu(backend_name, geometry, dtype, rng):
    x, w, b, geo = _draw(rng, geometry, dtype)
    leaves = _leaves(x, w, b)
    with metalnet.backend(backend_name):
        assert not ops.has_fused("conv2d_bias_relu_forward", x.data)
        fused = F.conv2d_relu(x, w, b, **geo)
        composed = F.relu(F.conv2d(x, w, b, **geo))
        assert _node_names(fused) == _node_names(composed) == ["Conv2d", "ReLU"]
        np.testing.assert_array_equal(fused.data, composed.data)
        assert fused.dtype == dtype and (fused.data >= 0).all()
        dy = rng.standard_normal(fused.shape).astype(dtype)
        fused.backward(dy)
        got = _grads(leaves)
        composed.backward(dy)
        want = _grads(leaves)
    for g, r in zip(got, want):
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("backend_name", HOST_BACKENDS)
def test_conv2d_relu_gradients_match_finite_differences(backend_name, geometry, rng):
    x, w, b, geo = _draw(rng, geometry)
    assert_grads_match(lambda: F.conv2d_relu(x, w, b, **geo), _leaves(x, w, b), rng,
                       backend=backend_name)


def _small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 5, (3, 2), stride=(2, 1), padding=(1, 0, 2, 1), bias=False), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(5, 2, 1), nn.Flatten(), nn.Linear(2 * 1 * 3, 3))


def _one_by_one(model, x):
    for layer in model:
        x = layer(x)
    return x


def test_sequential_on_cpu_is_its_layers_one_by_one(rng):
    """The routing changes nothing on the host: values, gradients and graph are those of the
    layers applied by hand."""
    if _registry.load("cpu") is None:
        pytest.skip(f"backend 'cpu' unavailable: {_registry.reason('cpu')}")
    metalnet.manual_seed(3)
    model = _small_cnn()
    x = Tensor(rng.standard_normal((2, 3, 6, 5)).astype(np.float32), requires_grad=True)
    labels = rng.integers(0, 3, size=2)
    leaves = [x] + list(model.parameters())
    results = []
    with metalnet.backend("cpu"):
        for run in (model, lambda t: _one_by_one(model, t)):
            out = run(x)
            loss = nn.CrossEntropyLoss()(out, labels)
            names = _node_names(loss)
            loss.backward()
            results.append((out.data.copy(), float(loss.data), names, _grads(leaves)))
    (out, loss, names, grads), (out_ref, loss_ref, names_ref, grads_ref) = results
    np.testing.assert_array_equal(out, out_ref)
    assert loss == loss_ref
    assert names == names_ref and names.count("Conv2d") == 3 and names.count("ReLU") == 2
    for g, r in zip(grads, grads_ref):
        np.testing.assert_array_equal(g, r)


def test_structure_state_dict_and_summary_are_the_layers():
    model = _small_cnn()
    assert [type(m).__name__ for m in model] == [
        "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "Flatten", "Linear"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "5.weight", "5.bias",
                                        "7.weight", "7.bias"]
    rows = metalnet.summary(model, (3, 6, 5)).rows
    assert [r.type for r in rows] == [type(m).__name__ for m in model]


def test_ops_fused_forward_needs_a_backend_that_has_it(rng):
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    with metalnet.backend("numpy"):
        with pytest.raises(NotImplementedError, match="'numpy' has no fused"):
            ops.conv2d_bias_relu_forward(x, w)
    with pytest.raises(ValueError, match="name must be one of"):
        ops.has_fused("conv2d_relu", x)


# ------------------------------------------- the fused node, on a lent host fused forward
@pytest.fixture
def lent_fused(monkeypatch):
    """The reference backend given a fused forward for one test; returns its call log.

    Not a substitute for the GPU tests (the real fused kernels run there): it checks, on any
    machine, the node conv2d_relu builds where a backend has the fused forward."""
    calls = []

    def conv2d_bias_relu_forward(x, w, b=None, *, stride, padding, dilation):
        calls.append((tuple(x.shape), stride, padding, dilation))
        y = reference.conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation)
        return np.maximum(y, 0)
    monkeypatch.setattr(_registry.load("numpy"), "conv2d_bias_relu_forward",
                        conv2d_bias_relu_forward, raising=False)
    with metalnet.backend("numpy"):
        yield calls


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_fused_node_forward_and_backward(lent_fused, geometry, rng):
    x, w, b, geo = _draw(rng, geometry)
    leaves = _leaves(x, w, b)
    fused = F.conv2d_relu(x, w, b, **geo)
    assert _node_names(fused) == ["Conv2dReLU"] and len(lent_fused) == 1
    composed = F.relu(F.conv2d(x, w, b, **geo))
    np.testing.assert_array_equal(fused.data, composed.data)
    dy = rng.standard_normal(fused.shape)
    fused.backward(dy)
    got = _grads(leaves)
    composed.backward(dy)
    for g, r in zip(got, _grads(leaves)):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    assert_grads_match(lambda: F.conv2d_relu(x, w, b, **geo), leaves, rng)


def test_fused_forward_is_checked_like_conv2d(lent_fused, rng):
    x = rng.standard_normal((1, 2, 4, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    with pytest.raises(ValueError, match="b"):
        ops.conv2d_bias_relu_forward(x, w, np.zeros(2))
    with pytest.raises(TypeError, match="w"):
        ops.conv2d_bias_relu_forward(x, w.astype(np.float32))
    assert lent_fused == []


def test_sequential_routes_each_conv_relu_pair(lent_fused, rng):
    model = _small_cnn().double()
    x = Tensor(rng.standard_normal((2, 3, 6, 5)), requires_grad=True)
    out = model(x)
    assert len(lent_fused) == 2                         # the 1x1 conv has no ReLU after it
    assert _node_names(out).count("Conv2dReLU") == 2
    np.testing.assert_allclose(out.data, _one_by_one(model, x).data, rtol=1e-12)
    assert_grads_match(lambda: model(x), [x] + list(model.parameters()), rng, coords=2)


def test_hooked_or_subclassed_layers_run_one_by_one(lent_fused, rng):
    class MyConv(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) * 2.0

    x = Tensor(rng.standard_normal((1, 3, 6, 5)))
    nn.Sequential(MyConv(3, 4, 3), nn.ReLU()).double()(x)
    assert lent_fused == []
    model = _small_cnn().double()
    seen = []
    handle = model[1].register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    model(x)
    handle.remove()
    assert seen == [(1, 4, 6, 5)] and len(lent_fused) == 1   # the second pair still fuses
    rows = metalnet.summary(model, (3, 6, 5), dtype=np.float64).rows  # hooks on every layer
    assert len(lent_fused) == 1
    assert [r.type for r in rows] == [type(m).__name__ for m in model]
