"""``Module``: the base of every layer and model.

A Module registers the Parameters, buffers (non-trained state such as batch-norm running
statistics) and sub-modules assigned to it as attributes, and walks them for ``parameters()``,
``state_dict()``, ``to(device)`` and ``train()/eval()``. Names are dotted paths
('layer1.0.conv1.weight'), as in PyTorch, so state dicts of equally named models line up.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..autograd import array_module
from ..tensor import Tensor, _parse_device
from .parameter import Parameter

__all__ = ["Module"]


class _HookHandle:
    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


class Module:
    """Subclass, create layers in ``__init__`` (after ``super().__init__()``), write ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before assigning attributes")
        if isinstance(value, (Parameter, Module)):
            self._forget(name)
            table = self._parameters if isinstance(value, Parameter) else self._modules
            table[name] = value
        elif name in self._buffers:
            self._buffers[name] = None if value is None else _as_tensor(value, name)
        elif name in self._parameters or name in self._modules:
            if value is not None:
                raise TypeError(f"{name!r} is a registered parameter or module: assign a "
                                f"Parameter/Module or None, not {type(value).__name__}")
            (self._parameters if name in self._parameters else self._modules)[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table, {})
            if name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"param must be a Parameter or None, got {type(param).__name__}")
        if param is None:
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Non-trained state saved in the state dict (unless ``persistent=False``)."""
        self._buffers[name] = None if tensor is None else _as_tensor(tensor, name)
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"module must be a Module, got {type(module).__name__}")
        self._modules[name] = module

    # ------------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            out = out if result is None else result
        return out

    def register_forward_hook(self, hook):
        """``hook(module, inputs, output)`` runs after each forward; returns a removable handle."""
        key = object()
        self._forward_hooks[key] = hook
        return _HookHandle(self._forward_hooks, key)

    # ------------------------------------------------------------------ walking
    def named_modules(self, prefix=""):
        """(name, module) for this module and every descendant, each module once."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop(0)
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items()
                        if m is not None]
            stack[0:0] = children      # depth-first, in registration order
        return

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named(self, table, recurse=True):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value, module, name

    def named_parameters(self, recurse=True):
        """(dotted name, Parameter) pairs; a shared parameter appears once."""
        return ((n, p) for n, p, _, _ in self._named("_parameters", recurse))

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse))

    def named_buffers(self, recurse=True):
        return ((n, b) for n, b, _, _ in self._named("_buffers", recurse))

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse))

    # ------------------------------------------------------------------ modes, grads
    def train(self, mode: bool = True):
        """Training mode (dropout active, batch norm on batch statistics) for all modules."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be True or False, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, flag: bool = True):
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    # ------------------------------------------------------------------ device, dtype
    def to(self, device=None, dtype=None):
        """Move (explicitly) and/or cast every parameter and buffer, in place; returns self.

        Float buffers take ``dtype``; integer buffers (batch counters) keep theirs. Parameters
        stay the same objects, so an optimizer built before ``to`` still holds them.
        """
        if isinstance(device, (type, np.dtype)) and dtype is None:
            device, dtype = None, device
        device = None if device is None else _parse_device(device)
        dtype = None if dtype is None else np.dtype(dtype)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"dtype must be a float dtype, got {dtype}")
        for tensor in list(self.parameters()) + list(self.buffers()):
            tensor.data = _convert(tensor.data, device, dtype)
            if tensor.grad is not None:
                tensor.grad.data = _convert(tensor.grad.data, device, dtype)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    # ------------------------------------------------------------------ state dict
    def state_dict(self):
        """OrderedDict of dotted name -> array copy (parameters and persistent buffers)."""
        state = OrderedDict()
        for prefix, module in self.named_modules():
            for table in ("_parameters", "_buffers"):
                for name, value in getattr(module, table).items():
                    if value is None or (table == "_buffers" and name in module._non_persistent):
                        continue
                    state[f"{prefix}.{name}" if prefix else name] = value.data.copy()
        return state

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays into the parameters and buffers of the same names, in place.

        Values may be NumPy or CuPy arrays (or anything np.asarray accepts); each is copied to
        where its parameter lives (loading is an explicit request to copy) and cast to its
        dtype. ``strict``: the key sets must match exactly. Shapes must always match.
        Returns (missing_keys, unexpected_keys).
        """
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict does not match the model: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for key, tensor in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else value
            shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
            if shape != tensor.shape:
                raise ValueError(f"state_dict[{key!r}] has shape {shape} but the model's "
                                 f"{key} is {tensor.shape}")
            tensor.data[...] = _to_device_of(value, tensor.data)
        return missing, unexpected

    def _state_targets(self):
        targets = OrderedDict()
        for prefix, module in self.named_modules():
            for table in ("_parameters", "_buffers"):
                for name, value in getattr(module, table).items():
                    if value is None or (table == "_buffers" and name in module._non_persistent):
                        continue
                    targets[f"{prefix}.{name}" if prefix else name] = value
        return targets

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ")
                 for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")


def _as_tensor(value, name):
    if isinstance(value, Tensor):
        return value
    try:
        array_module(value)
    except TypeError:
        raise TypeError(f"buffer {name!r} must be a Tensor or an array, "
                        f"got {type(value).__name__}") from None
    return Tensor(value)


def _array_module_or_none(value):
    try:
        return array_module(value)
    except TypeError:
        return None


def _to_device_of(value, target):
    """``value`` as an array on the module of ``target`` (an explicit copy when they differ)."""
    xp = array_module(target)
    source = _array_module_or_none(value)
    if source is xp:
        return value
    if source is not None and source is not np:      # CuPy -> host
        return value.get()
    return xp.asarray(np.asarray(value))


def _convert(array, device, dtype):
    if device is not None:
        here = "cpu" if array_module(array) is np else "cuda"
        if device != here:
            if device == "cuda":
                import cupy
                array = cupy.asarray(array)
            else:
                array = array.get()
    if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
        array = array.astype(dtype)
    return array
