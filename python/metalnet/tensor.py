"""``metalnet.Tensor``: a NumPy or CuPy array that records the operations made with it.

A Tensor holds ``data`` (a NumPy array on the host or a CuPy array on the GPU), ``requires_grad``
and, after ``backward()``, ``grad``. The composite operations here (arithmetic with
broadcasting, matmul, reshape/transpose, indexing, reductions, exp/log, concatenation) are what
residual blocks, skip connections and hand-written losses need; the layer primitives (conv,
pooling, activations, losses, LSTM cell) live in ``metalnet.functional`` and run the
``metalnet.ops`` kernels.

Rules that hold everywhere:
- Floating tensors are float32 (the default for Python numbers) or float64, never mixed within
  one operation: a mix is a TypeError, as in ``metalnet.ops``. Integer and bool tensors are
  accepted next to a float tensor (masks, labels) and take its dtype.
- Nothing moves between host and device behind your back: mixing them is a TypeError; move a
  tensor explicitly with ``.to("cuda")`` / ``.to("cpu")``.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import ops
from .autograd import (Group, Node, Parts, array_module, is_grad_enabled, run_backward,
                       scatter_add, unbroadcast)

__all__ = ["Tensor", "tensor", "cat", "stack", "unbind", "zeros", "ones"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _device_of(a) -> str:
    return "cpu" if array_module(a) is np else "cuda"


def _to_array(data, dtype=None):
    """An ndarray (host or device) from a Tensor, an array, a number or a nested list."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.generic):           # NumPy scalars (full reductions) keep their dtype
        data = np.asarray(data)
    if isinstance(data, np.ndarray) or type(data).__module__.split(".")[0] == "cupy":
        return data if dtype is None else data.astype(dtype, copy=False)
    array = np.asarray(data)
    if array.dtype.kind == "O":
        raise TypeError(f"cannot make a tensor from {type(data).__name__}")
    if dtype is None and array.dtype.kind == "f":
        array = array.astype(np.float32)       # Python floats become float32, as in layers
    return array if dtype is None else array.astype(dtype, copy=False)


def _parse_device(device) -> str:
    if device in ("cpu", "cuda") or (isinstance(device, str) and device.startswith("cuda:")):
        return "cuda" if device.startswith("cuda") else "cpu"
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


def _records(parents) -> bool:
    """Whether an operation on ``parents`` is recorded for backward (a parent needs a gradient
    and recording is on): an operation that is not need not keep what its backward reads."""
    return is_grad_enabled() and any(p.requires_grad for p in parents)


def _make(data, parents, backward, name):
    """The output Tensor of an operation; records the graph when a parent needs a gradient."""
    out = Tensor(data)
    if _records(parents):
        out.requires_grad = True
        out._node = Node(parents, backward, name)
    return out


def _make_many(datas, parents, backward, name):
    """The outputs of an operation with several results.

    ``backward(grads)`` receives one gradient per output (None for an output no path used) and
    returns one gradient per parent, as for ``_make``.
    """
    if not _records(parents):
        return tuple(Tensor(d) for d in datas)
    count = len(datas)
    group = Group(Node(parents, lambda parts: backward([parts.get(i) for i in range(count)]),
                       name))
    outs = []
    for i, data in enumerate(datas):
        out = Tensor(data)
        out.requires_grad = True
        out._node = Node((group,), lambda g, i=i: (Parts({i: g}),), f"{name}[{i}]")
        outs.append(out)
    return tuple(outs)


def _operand(other, like: "Tensor", name="other") -> "Tensor":
    """``other`` as a Tensor usable with ``like``: same device, float dtypes equal."""
    if isinstance(other, numbers.Number) and not isinstance(other, bool):
        xp = like.xp
        dtype = like.dtype if like.dtype.kind == "f" else np.result_type(like.dtype, other)
        return Tensor(xp.asarray(other, dtype=dtype))
    other = other if isinstance(other, Tensor) else Tensor(other)
    if other.device != like.device:
        raise TypeError(f"{name} is on {other.device} but the tensor is on {like.device}; "
                        f"move one explicitly with .to(device)")
    a, b = like.dtype, other.dtype
    if a.kind == "f" and b.kind == "f" and a != b:
        raise TypeError(f"{name} has dtype {b} but the tensor has {a}; mixing float dtypes is "
                        f"not allowed (convert one with .to(dtype))")
    if a.kind == "f" and b.kind != "f":
        other = Tensor(other.data.astype(a))
    return other


def _promote(a: "Tensor", b: "Tensor"):
    """Give an integer/bool operand the float dtype of the other one."""
    if a.dtype.kind != "f" and b.dtype.kind == "f":
        a = Tensor(a.data.astype(b.dtype))
    return a, b


def _normalize_axes(dim, ndim):
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    return tuple(sorted(d % ndim if ndim else d for d in dims))


class Tensor:
    """An array with reverse-mode autograd.

    ``Tensor(data, requires_grad=False, dtype=None)``: data is a NumPy/CuPy array (kept as is,
    no copy), a number or a nested list (Python floats give float32).
    """

    __array_ufunc__ = None        # numpy_array * tensor calls Tensor.__rmul__, not NumPy
    __hash__ = object.__hash__    # == is elementwise, so hash by identity

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _to_array(data, dtype)
        self.grad = None
        self._node = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------------- properties
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self) -> str:
        return _device_of(self.data)

    @property
    def xp(self):
        """The array module of ``data``: numpy or cupy."""
        return array_module(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.ndim

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        device = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy() if self.device == "cpu" else self.data.get(),
                               prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{device}{grad})"

    # ---------------------------------------------------------------- autograd API
    def requires_grad_(self, flag=True):
        """Mark a leaf as needing a gradient (floating tensors only)."""
        if flag and self.dtype.kind != "f":
            raise TypeError(f"only float tensors can require gradients, got {self.dtype}")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; "
                               "use .detach()")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor too after backward()."""
        self._retains_grad = True
        return self

    def backward(self, grad=None, retain_graph=False):
        """Fill ``.grad`` of every leaf this tensor depends on (accumulating into it).

        ``grad`` is dL/dself; it may be omitted for a one-element tensor (a loss).
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require a gradient: no "
                               "input had requires_grad=True (or it was made under no_grad)")
        if grad is None:
            if self.numel() != 1:
                raise ValueError(f"grad can be omitted only for a one-element tensor, got "
                                 f"shape {self.shape}")
            grad = self.xp.ones(self.shape, dtype=self.dtype)
        else:
            grad = _operand(grad, self, "grad").data
            if tuple(grad.shape) != self.shape:
                raise ValueError(f"grad must have shape {self.shape}, got {tuple(grad.shape)}")
        run_backward(self, grad, retain_graph=retain_graph)

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor(self.data)

    # ------------------------------------------------------------ moving, converting
    def numpy(self):
        """The host NumPy array (shared, not copied). A CUDA tensor must be moved first."""
        if self.device != "cpu":
            raise TypeError("numpy() of a CUDA tensor: call .to('cpu') first (an explicit copy)")
        return self.data

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item() needs a one-element tensor, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return (self.data if self.device == "cpu" else self.data.get()).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def to(self, device=None, dtype=None) -> "Tensor":
        """A copy on ``device`` ('cpu' or 'cuda') and/or with ``dtype``; self when unchanged.

        Differentiable: the gradient travels back to the original device and dtype.
        """
        if isinstance(device, (type, np.dtype)) and dtype is None:
            device, dtype = None, device
        out = self
        if device is not None and _parse_device(device) != self.device:
            out = out._moved(_parse_device(device))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = out._cast(np.dtype(dtype))
        return out

    def _moved(self, device):
        src = self.device
        if device == "cuda":
            import cupy
            data = cupy.asarray(self.data)
        else:
            data = self.data.get()

        def backward(g):
            return (g.get() if src == "cpu" else _cupy().asarray(g),)
        return _make(data, (self,), backward, "To")

    def _cast(self, dtype):
        src = self.dtype
        if self.requires_grad and dtype.kind != "f":
            raise TypeError(f"cannot cast a tensor that requires grad to {dtype}; detach() first")
        return _make(self.data.astype(dtype), (self,), lambda g: (g.astype(src),), "Cast")

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def long(self):
        return self.to(dtype=np.int64)

    def clone(self) -> "Tensor":
        return _make(self.data.copy(), (self,), lambda g: (g,), "Clone")

    def contiguous(self) -> "Tensor":
        if self.data.flags.c_contiguous:
            return self
        return _make(self.xp.ascontiguousarray(self.data), (self,), lambda g: (g,), "Contiguous")

    # -------------------------------------------------------------------- arithmetic
    def __add__(self, other):
        a, b = _promote(self, _operand(other, self))

        def backward(g):
            return unbroadcast(g, a.shape), unbroadcast(g, b.shape)
        return _make(a.data + b.data, (a, b), backward, "Add")

    __radd__ = __add__

    def __sub__(self, other):
        a, b = _promote(self, _operand(other, self))

        def backward(g):
            return unbroadcast(g, a.shape), unbroadcast(-g, b.shape)
        return _make(a.data - b.data, (a, b), backward, "Sub")

    def __rsub__(self, other):
        return _operand(other, self) - self

    def __neg__(self):
        return _make(-self.data, (self,), lambda g: (-g,), "Neg")

    def __mul__(self, other):
        a, b = _promote(self, _operand(other, self))

        def backward(g):
            return unbroadcast(g * b.data, a.shape), unbroadcast(g * a.data, b.shape)
        return _make(a.data * b.data, (a, b), backward, "Mul")

    __rmul__ = __mul__

    def __truediv__(self, other):
        a, b = _promote(self, _operand(other, self))

        def backward(g):
            ga = g / b.data
            return unbroadcast(ga, a.shape), unbroadcast(-ga * a.data / b.data, b.shape)
        return _make(a.data / b.data, (a, b), backward, "Div")

    def __rtruediv__(self, other):
        return _operand(other, self) / self

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor) or not isinstance(exponent, numbers.Real):
            raise TypeError(f"exponent must be a real number, got {type(exponent).__name__}")
        p = self.dtype.type(exponent)

        def backward(g):
            return (g * p * self.data ** (p - 1),)
        return _make(self.data ** p, (self,), backward, "Pow")

    def __matmul__(self, other):
        return matmul(self, _operand(other, self))

    def __rmatmul__(self, other):
        return matmul(_operand(other, self), self)

    # ------------------------------------------------------------------- comparisons
    def _compare(self, other, fn):
        other = _operand(other, self)
        return Tensor(fn(self.data, other.data))

    def __eq__(self, other):
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):
        return self._compare(other, lambda a, b: a != b)

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    # -------------------------------------------------------------- shape operations
    def reshape(self, *shape) -> "Tensor":
        """Same elements, new shape (one entry may be -1)."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        src = self.shape
        return _make(self.data.reshape(shape), (self,), lambda g: (g.reshape(src),), "Reshape")

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1) -> "Tensor":
        """Merge axes start_dim..end_dim into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        shape = self.shape
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:])

    def permute(self, *dims) -> "Tensor":
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        dims = tuple(d % self.ndim for d in dims)
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"dims must be a permutation of 0..{self.ndim - 1}, got {dims}")
        inverse = tuple(np.argsort(dims))
        return _make(self.data.transpose(dims), (self,), lambda g: (g.transpose(inverse),),
                     "Permute")

    def transpose(self, dim0, dim1) -> "Tensor":
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(dims)

    @property
    def T(self) -> "Tensor":
        return self.permute(tuple(reversed(range(self.ndim))))

    def t(self) -> "Tensor":
        if self.ndim != 2:
            raise ValueError(f"t() needs a 2-D tensor, got shape {self.shape}")
        return self.T

    def squeeze(self, dim=None) -> "Tensor":
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        if self.shape[dim] != 1:
            return self
        shape = list(self.shape)
        del shape[dim]
        return self.reshape(tuple(shape))

    def unsqueeze(self, dim) -> "Tensor":
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def __getitem__(self, index):
        index = _index_arrays(index)
        src_shape, xp = self.shape, self.xp

        def backward(g):
            full = xp.zeros(src_shape, dtype=g.dtype)
            if _is_basic(index):
                full[index] += g           # slices never repeat an element
            else:
                scatter_add(full, index, g)
            return (full,)
        return _make(self.data[index], (self,), backward, "Index")

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -------------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False) -> "Tensor":
        axes = _normalize_axes(dim, self.ndim)
        src = self.shape

        def backward(g):
            return (self.xp.broadcast_to(_keep(g, axes, keepdim, len(src)), src),)
        return _make(self.data.sum(axis=axes, keepdims=keepdim), (self,), backward, "Sum")

    def mean(self, dim=None, keepdim=False) -> "Tensor":
        axes = _normalize_axes(dim, self.ndim)
        count = self.numel() if axes is None else int(np.prod([self.shape[a] for a in axes]))
        return self.sum(dim, keepdim) / float(count)

    def var(self, dim=None, keepdim=False, unbiased=True) -> "Tensor":
        """Variance (divides by count - 1 when ``unbiased``, as torch.var)."""
        axes = _normalize_axes(dim, self.ndim)
        count = self.numel() if axes is None else int(np.prod([self.shape[a] for a in axes]))
        centered = self - self.mean(dim, keepdim=True)
        return (centered * centered).sum(dim, keepdim) / float(count - 1 if unbiased else count)

    def max(self, dim=None, keepdim=False):
        """The maximum (a tensor) without ``dim``; (values, indices) along ``dim``."""
        if dim is None:
            return self.flatten().max(0)[0]
        indices = self.argmax(dim, keepdim=True)
        values = self.gather(dim, indices)
        if not keepdim:
            values, indices = values.squeeze(dim), indices.squeeze(dim)
        return values, indices

    def argmax(self, dim=None, keepdim=False) -> "Tensor":
        """Indices (int64) of the first maximum; over the flattened tensor without ``dim``."""
        if dim is None:
            return Tensor(self.data.reshape(-1).argmax())
        out = self.data.argmax(axis=dim)
        return Tensor(self.xp.expand_dims(out, dim) if keepdim else out)

    def gather(self, dim, index) -> "Tensor":
        """out[..., j, ...] = self[..., index[..., j, ...], ...] along ``dim``."""
        index = index.data if isinstance(index, Tensor) else index
        xp, dim = self.xp, dim % self.ndim
        src = self.shape

        def backward(g):
            # One-hot of index along dim, weighted by g, summed over the gathered positions.
            full = xp.zeros(src, dtype=g.dtype)
            positions = xp.arange(src[dim]).reshape((-1,) + (1,) * (self.ndim - dim - 1))
            for j in range(index.shape[dim]):
                at = (slice(None),) * dim + (slice(j, j + 1),)
                full += (positions == index[at]) * g[at]
            return (full,)
        return _make(xp.take_along_axis(self.data, index, axis=dim), (self,), backward, "Gather")

    # ---------------------------------------------------------------- elementwise math
    def exp(self) -> "Tensor":
        y = self.xp.exp(self.data)
        return _make(y, (self,), lambda g: (g * y,), "Exp")

    def log(self) -> "Tensor":
        return _make(self.xp.log(self.data), (self,), lambda g: (g / self.data,), "Log")

    def sqrt(self) -> "Tensor":
        y = self.xp.sqrt(self.data)
        return _make(y, (self,), lambda g: (g / (2 * y),), "Sqrt")

    def abs(self) -> "Tensor":
        return _make(self.xp.abs(self.data), (self,), lambda g: (g * self.xp.sign(self.data),),
                     "Abs")

    def clamp(self, min=None, max=None) -> "Tensor":
        """Clip to [min, max]; the gradient flows where the value was not clipped."""
        xp, lo, hi, y = self.xp, min, max, self.data
        if lo is not None:
            y = xp.maximum(y, self.dtype.type(lo))
        if hi is not None:
            y = xp.minimum(y, self.dtype.type(hi))
        keep = (y == self.data)
        return _make(y.astype(self.dtype, copy=False), (self,), lambda g: (g * keep,), "Clamp")

    def relu(self):
        from . import functional
        return functional.relu(self)

    def sigmoid(self):
        from . import functional
        return functional.sigmoid(self)

    def tanh(self):
        from . import functional
        return functional.tanh(self)

    def softmax(self, dim=-1):
        from . import functional
        return functional.softmax(self, dim)

    def log_softmax(self, dim=-1):
        from . import functional
        return functional.log_softmax(self, dim)


# ---------------------------------------------------------------------- index helpers
def _index_arrays(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_basic(index) -> bool:
    """True when the index holds only ints, slices, None and Ellipsis (no repeats possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral))
               for i in items)


def _keep(g, axes, keepdim, ndim):
    """Re-insert the reduced axes of ``g`` (as size 1) so it broadcasts to the input."""
    if keepdim or axes is None and g.ndim == ndim:
        return g
    if axes is None:
        return g.reshape((1,) * ndim)
    return array_module(g).expand_dims(g, axes)


def _cupy():
    import cupy
    return cupy


# ------------------------------------------------------------------- free functions
def tensor(data, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A new leaf Tensor (Python floats give float32)."""
    out = Tensor(data, dtype=dtype)
    if device is not None:
        out = out.to(device)
    return out.requires_grad_(requires_grad) if requires_grad else out


def zeros(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product. 2-D @ 2-D runs ``ops.gemm``; batched and 1-D operands broadcast."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul needs tensors of at least one dimension")
    if a.ndim == 1:
        return matmul(a.unsqueeze(0), b).squeeze(-2)
    if b.ndim == 1:
        return matmul(a, b.unsqueeze(1)).squeeze(-1)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul inner dimensions differ: {a.shape} @ {b.shape}")
    if a.ndim == 2 and b.ndim == 2 and a.dtype in _FLOATS and a.dtype == b.dtype:
        return _gemm(a.contiguous(), b.contiguous())
    xp = a.xp

    def backward(g):
        ga = xp.matmul(g, xp.swapaxes(b.data, -1, -2))
        gb = xp.matmul(xp.swapaxes(a.data, -1, -2), g)
        return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)
    return _make(xp.matmul(a.data, b.data), (a, b), backward, "MatMul")


def _gemm(a: Tensor, b: Tensor) -> Tensor:
    def backward(g):
        g = array_module(g).ascontiguousarray(g)
        return ops.gemm(g, b.data, trans_b=True), ops.gemm(a.data, g, trans_a=True)
    return _make(ops.gemm(a.data, b.data), (a, b), backward, "Gemm")


def cat(tensors, dim=0) -> Tensor:
    """Concatenate along ``dim`` (the U-Net skip connection)."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("tensors must hold at least one tensor")
    first = tensors[0]
    tensors = [first] + [_operand(t, first, f"tensors[{i + 1}]") for i, t in enumerate(tensors[1:])]
    xp, dim = first.xp, dim % first.ndim
    bounds = [int(b) for b in np.cumsum([t.shape[dim] for t in tensors])[:-1]]

    def backward(g):
        return tuple(xp.split(g, bounds, axis=dim))
    return _make(xp.concatenate([t.data for t in tensors], axis=dim), tensors, backward, "Cat")


def stack(tensors, dim=0) -> Tensor:
    """Stack equally shaped tensors along a new axis ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("tensors must hold at least one tensor")
    ndim = tensors[0].ndim + 1
    return cat([t.unsqueeze(dim % ndim) for t in tensors], dim % ndim)


def unbind(x: Tensor, dim=0):
    """The slices of x along ``dim``, as a tuple (one graph node for all of them).

    Slicing a sequence step by step would give every step's backward a full-size gradient;
    here the backward writes each slice's gradient into one array.
    """
    dim = dim % x.ndim
    xp, shape = x.xp, x.shape
    datas = [x.data[(slice(None),) * dim + (i,)] for i in range(shape[dim])]

    def backward(grads):
        full = xp.zeros(shape, dtype=x.dtype)
        for i, g in enumerate(grads):
            if g is not None:
                full[(slice(None),) * dim + (i,)] = g
        return (full,)
    return _make_many(datas, (x,), backward, "Unbind")
