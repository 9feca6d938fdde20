"""Tests of metalnet.Tensor's reverse-mode autograd against finite differences and algebra.

Every composite operation's gradient is checked with central differences in float64 on the
reference backend (each coordinate of small inputs), on fresh random inputs from the ``rng``
fixture (its seed is printed).
"""
import gc
import weakref

import numpy as np
import pytest

import metalnet
from metalnet import Tensor


def numeric_grad(f, arrays, eps=1e-6):
    """Central differences of the scalar f() with respect to every element of every array."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for i in range(a.size):
            old = a.flat[i]
            a.flat[i] = old + eps
            up = f()
            a.flat[i] = old - eps
            down = f()
            a.flat[i] = old
            g.flat[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def check(fn, rng, *shapes, positive=False):
    """Compare autograd with finite differences for L = sum(fn(*inputs) * R)."""
    arrays = [rng.standard_normal(s) for s in shapes]
    if positive:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    with metalnet.backend("numpy"):
        out = fn(*tensors)
        weights = rng.standard_normal(out.shape)
        (out * Tensor(weights)).sum().backward()

        def loss():
            with metalnet.no_grad():
                return float((fn(*[Tensor(a) for a in arrays]).data * weights).sum())
        expected = numeric_grad(loss, arrays)
    for t, e in zip(tensors, expected):
        np.testing.assert_allclose(t.grad.data, e, rtol=1e-6, atol=1e-8)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1.0),
    "matmul": lambda a, b: a @ b.T,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_operations_match_finite_differences(name, rng):
    check(BINARY[name], rng, (3, 4), (5, 4) if name == "matmul" else (3, 4))


@pytest.mark.parametrize("shapes", [((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3))])
def test_broadcasting_sums_gradients_over_stretched_axes(shapes, rng):
    check(lambda a, b: a * b + a, rng, *shapes)


def test_batched_matmul_and_vector_operands(rng):
    check(lambda a, b: a @ b, rng, (2, 3, 4), (4, 5))
    check(lambda a, b: a @ b, rng, (4,), (4, 3))
    check(lambda a, b: a @ b, rng, (3, 4), (4,))


UNARY = {
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "sqrt": lambda a: a.sqrt(),
    "pow": lambda a: a ** 3,
    "neg_rsub": lambda a: 2.0 - (-a),
    "rdiv": lambda a: 1.0 / a,
    "abs": lambda a: (a - 1.0).abs(),
    "clamp": lambda a: a.clamp(0.8, 1.6),
    "relu": lambda a: (a - 1.0).relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "tanh": lambda a: a.tanh(),
    "softmax": lambda a: a.softmax(0),
    "log_softmax": lambda a: a.log_softmax(-1),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_elementwise_operations_match_finite_differences(name, rng):
    check(UNARY[name], rng, (3, 5), positive=True)


SHAPES = {
    "reshape": lambda a: a.reshape(6, -1) * 2.0,
    "transpose": lambda a: a.transpose(0, 2) @ Tensor(np.arange(6.0).reshape(2, 3)),
    "permute": lambda a: a.permute(2, 0, 1).flatten(1),
    "T": lambda a: a.T,
    "squeeze": lambda a: a.unsqueeze(1).squeeze(1),
    "slice": lambda a: a[1:, ::2, -1],
    "fancy_repeated": lambda a: a[np.array([0, 1, 0, 0])],
    "sum_axis": lambda a: a.sum(1),
    "sum_keepdim": lambda a: a.sum((0, 2), keepdim=True) * a,
    "sum_all": lambda a: a.sum() * a,
    "mean": lambda a: a.mean(-1),
    "var": lambda a: a.var(1, unbiased=False) + a.var(),
    "max_dim": lambda a: a.max(1)[0],
    "max_all": lambda a: a.max() * a,
    "cat": lambda a: metalnet.cat([a, a * 3.0, a[:, :1]], dim=1),
    "stack": lambda a: metalnet.stack([a[0], a[1] * a[1]], dim=2),
    "unbind": lambda a: metalnet.unbind(a, 1)[2] * metalnet.unbind(a, 1)[0],
    "gather": lambda a: a.gather(2, np.array([[[1, 0]] * 4] * 2)),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_and_reduction_operations_match_finite_differences(name, rng):
    check(SHAPES[name], rng, (2, 4, 3))


def test_reused_tensor_accumulates_every_path(rng):
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    y = x * x + x * 3.0                     # dy/dx = 2x + 3
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3)


def test_backward_accumulates_across_calls_and_can_be_reset(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    (x * 2.0).sum().backward()
    (x * 5.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full(3, 7.0))


def test_graph_is_single_use_unless_retained(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_frees_the_intermediate_tensors(rng):
    # A training loop keeps `loss` until the next step's forward has run: the graph behind it
    # must not keep the forward's intermediate tensors alive after backward.
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    h = x * 2.0
    loss = (h * h).sum()
    intermediate = weakref.ref(h)
    del h
    assert intermediate() is not None  # the graph holds it until backward
    loss.backward()
    gc.collect()
    assert intermediate() is None
    np.testing.assert_allclose(x.grad.data, 8 * x.data)


def test_leaf_gradients_never_share_memory(rng):
    """A leaf's first gradient is kept without a copy only when nothing else holds the array:
    an addition hands one array to both parents, a caller keeps the gradient it passes, a
    retained gradient flows on. Each .grad must stay its tensor's own -- zero_grad(False) and
    clip_grad_norm write into .grad in place."""
    a = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    (a + b).sum().backward()                      # both parents get the one array g
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data[...] = 0
    np.testing.assert_array_equal(b.grad.data, np.ones((3, 4)))

    leaf = Tensor(rng.standard_normal(5), requires_grad=True)
    given = rng.standard_normal(5)
    leaf.backward(given)                          # the caller still holds `given`
    assert not np.shares_memory(leaf.grad.data, given)
    np.testing.assert_array_equal(leaf.grad.data, given)

    x = Tensor(rng.standard_normal(4), requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()                      # h's gradient also flows on to x
    assert not np.shares_memory(h.grad.data, x.grad.data)
    np.testing.assert_allclose(x.grad.data, 3 * h.grad.data)

    w = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    (w * w).sum().backward()                      # a first gradient nothing else holds
    first = w.grad.data
    (w * w).sum().backward()                      # a second one adds into a new array
    np.testing.assert_allclose(w.grad.data, 4 * w.data)
    np.testing.assert_allclose(first, 2 * w.data)


def test_no_grad_records_nothing_and_detach_cuts_the_graph(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    with metalnet.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    z = (x.detach() * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.data, x.data)     # only the non-detached factor counts


def test_retain_grad_keeps_intermediate_gradients(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    h = (x * 2.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.data, 2 * h.data)


def test_unused_output_of_a_multi_output_operation_gets_zero_gradient(rng):
    x = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    first, second, third = metalnet.unbind(x, 0)
    (second * 4.0).sum().backward()
    expected = np.zeros((3, 2))
    expected[1] = 4.0
    np.testing.assert_array_equal(x.grad.data, expected)


def test_backward_needs_a_scalar_or_an_explicit_gradient(rng):
    x = Tensor(rng.standard_normal((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match="grad"):
        (x * 2.0).backward()
    (x * 2.0).backward(np.ones((2, 2)))
    np.testing.assert_allclose(x.grad.data, np.full((2, 2), 2.0))
    with pytest.raises(RuntimeError, match="requires_grad"):
        Tensor(np.ones(2)).sum().backward()


def test_float_defaults_and_integer_tensors():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.ones(2)).dtype == np.float64       # arrays keep their dtype
    assert Tensor([1, 2]).dtype == np.int64
    with pytest.raises(TypeError, match="float"):
        Tensor([1, 2], requires_grad=True)
    mask = Tensor(np.array([True, False]))
    np.testing.assert_array_equal((Tensor([3.0, 4.0]) * mask).numpy(), [3.0, 0.0])


def test_mixing_float_dtypes_is_an_error_naming_the_operand():
    a = Tensor(np.ones(2, dtype=np.float32))
    b = Tensor(np.ones(2, dtype=np.float64))
    with pytest.raises(TypeError, match="other"):
        a + b
    with pytest.raises(TypeError, match="tensors\\[1\\]"):
        metalnet.cat([a, b])


def test_dtype_cast_is_differentiable(rng):
    x = Tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    y = x.double() * Tensor(np.arange(3.0))
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, np.arange(3.0, dtype=np.float32))


def test_numpy_operands_defer_to_the_tensor(rng):
    a = rng.standard_normal(3)
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    y = a * x + a                           # ndarray on the left
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, a)


def test_device_errors_are_explicit():
    x = Tensor(np.ones(2))
    with pytest.raises(ValueError, match="device"):
        x.to("tpu")
    assert x.to("cpu") is x


def test_comparisons_and_argmax_give_plain_tensors(rng):
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    labels = x.argmax(1)
    assert labels.dtype == np.int64 and not labels.requires_grad
    np.testing.assert_array_equal(labels.numpy(), x.data.argmax(1))
    accuracy = (labels == Tensor(x.data.argmax(1))).float().mean().item()
    assert accuracy == 1.0
