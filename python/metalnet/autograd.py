"""Reverse-mode automatic differentiation: the grad mode switch and the backward walk.

Every differentiable operation produces a Tensor that remembers a ``Node``: its parent tensors
and a ``backward`` function mapping the gradient of the output to one gradient per parent (None
where a parent needs none). ``run_backward`` visits the graph once in reverse topological order,
summing the gradients that reach each tensor before passing them on, so a tensor used twice
(a residual connection, a shared weight) receives the sum of both contributions.

Gradients are plain NumPy/CuPy arrays inside the walk; leaves receive them as Tensors in
``.grad``, accumulated across calls (zero them between steps, as every optimizer loop does).
"""
from __future__ import annotations

import contextvars
import numbers
import sys

import numpy as np

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "Node", "Group", "Parts", "run_backward",
           "array_module", "unbroadcast", "scatter_add"]

_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("metalnet_grad", default=True)


def is_grad_enabled() -> bool:
    """True unless inside ``with no_grad():``."""
    return _grad_enabled.get()


class _GradMode:
    """Context manager (and decorator) that sets whether operations record the graph."""

    enabled = True

    def __enter__(self):
        self._token = _grad_enabled.set(self.enabled)
        return self

    def __exit__(self, *exc):
        _grad_enabled.reset(self._token)
        return False

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
        return wrapper


class no_grad(_GradMode):
    """``with no_grad():`` runs operations without recording them (evaluation, updates)."""

    enabled = False


class enable_grad(_GradMode):
    """``with enable_grad():`` records operations again inside a ``no_grad`` block."""

    enabled = True


class Node:
    """How a tensor was made: its parents and the function giving their gradients.

    ``backward(grad)`` takes the output gradient (an array of the output's shape) and returns
    a tuple with one entry per parent: an array of that parent's shape, or None.
    """

    __slots__ = ("parents", "backward", "name")

    def __init__(self, parents, backward, name):
        self.parents = tuple(parents)
        self.backward = backward
        self.name = name

    def __repr__(self):
        return f"<{self.name}Backward>"


class Parts(dict):
    """Gradients reaching some outputs of a multi-output operation, keyed by output position.

    Adding two Parts merges them, so the engine's usual summation works for a Group.
    """

    def __add__(self, other):
        merged = Parts(self)
        for key, grad in other.items():
            merged[key] = merged[key] + grad if key in merged else grad
        return merged


class Group:
    """The hidden joint result of an operation with several outputs (an LSTM cell's h and c).

    Each real output is a Tensor whose node selects its part of the Group; the Group's node
    runs the operation's backward once, with every output's gradient (None for unused ones).
    """

    requires_grad = True
    _retains_grad = False
    shape = None

    def __init__(self, node):
        self._node = node


def _topological_order(root):
    """Tensors reachable from ``root`` through recorded nodes, parents before children."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:                       # iterative DFS: deep graphs (long LSTMs) must not recurse
        tensor, finished = stack.pop()
        if finished:                   # every parent is already in order
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        node = tensor._node
        if node is not None:
            stack.extend((p, False) for p in node.parents
                         if p.requires_grad and id(p) not in visited)
    return order


def run_backward(root, grad, retain_graph=False):
    """Propagate ``grad`` (array shaped like ``root``) to every leaf that requires a gradient."""
    from .tensor import Tensor  # the engine and the tensor type refer to each other

    grads = {id(root): grad}
    for tensor in reversed(_topological_order(root)):
        g = grads.pop(id(tensor), None)
        if g is None:
            continue
        node = tensor._node
        if node is None or tensor._retains_grad:
            _accumulate(tensor, g, Tensor)
        if node is None:
            continue
        if node.backward is None:
            raise RuntimeError(
                f"the graph behind this tensor ({node.name}) was already used by backward() and "
                f"freed; pass retain_graph=True to the first backward() to go through it twice")
        parent_grads = node.backward(g)
        for parent, pg in zip(node.parents, parent_grads):
            if pg is None or not parent.requires_grad:
                continue
            if parent.shape is not None and tuple(pg.shape) != tuple(parent.shape):
                raise RuntimeError(f"{node.name} backward gave a gradient of shape "
                                   f"{tuple(pg.shape)} for a parent of shape {parent.shape}")
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
        if not retain_graph:
            # The graph is single use: drop the saved arrays now, and the parents too -- they
            # hold every intermediate tensor of the forward, which a training loop's `loss`
            # would otherwise keep alive through the next step's forward (twice the memory at
            # its peak, and fresh pages for the second half).
            node.backward = None
            node.parents = ()


def _accumulate(tensor, g, tensor_type):
    if tensor.grad is None:
        # A leaf's first gradient becomes its .grad as it is when nothing else can reach the
        # array (a NumPy array owning its memory, referenced by this walk alone); otherwise --
        # an array handed to two parents, kept by the caller or a view -- a copy, so that
        # zero_grad(set_to_none=False) or clip_grad_norm, which write .grad in place, touch
        # this tensor's gradient only. Copying every parameter's gradient took about 2 ms a
        # step (2% of VGG-11's at batch 32, 0.8% of ResNet-18's).
        owned = (tensor._node is None and type(g) is np.ndarray and g.dtype == tensor.dtype
                 and g.flags.owndata and g.flags.writeable
                 and _reference_count(g) <= _SOLE_REFERENCES)
        tensor.grad = tensor_type(g if owned else g.astype(tensor.dtype, copy=True))
    else:
        tensor.grad.data = tensor.grad.data + g


def _reference_count(g):
    return sys.getrefcount(g)


def _probe(tensor, g, tensor_type):  # the shape of _accumulate's call to _reference_count
    return _reference_count(g)


def _sole_references():
    """The references a gradient has at _accumulate when run_backward's local is the only
    other one, counted through calls of the same shape on this interpreter, not assumed."""
    grads = {0: np.empty(1)}
    g = grads.pop(0)
    return _probe(None, g, None)


_SOLE_REFERENCES = _sole_references()


# ------------------------------------------------------------------------ array helpers
def array_module(a):
    """numpy for host arrays, cupy for device arrays (found without importing CuPy)."""
    if isinstance(a, (np.ndarray, np.generic, numbers.Number)):
        return np
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy
        return cupy
    raise TypeError(f"expected a NumPy or CuPy array, got {type(a).__name__}")


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting stretched, giving an array of ``shape``."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def scatter_add(target, index, values):
    """target[index] += values, adding (not overwriting) where an index repeats."""
    xp = array_module(target)
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)
    return target
