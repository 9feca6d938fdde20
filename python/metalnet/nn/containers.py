"""Containers: ``Sequential`` (a pipeline) and ``ModuleList`` (an indexable list of layers)."""
from __future__ import annotations

from collections import OrderedDict

from .. import functional as F
from .activation import ReLU
from .conv import Conv2d
from .module import Module

__all__ = ["Sequential", "ModuleList"]


def _fusable(layer, following) -> bool:
    """A plain Conv2d directly followed by a plain ReLU, neither watched by a forward hook
    (a hook must see its own layer's output, so hooked layers run one by one)."""
    return (type(layer) is Conv2d and type(following) is ReLU
            and not layer._forward_hooks and not following._forward_hooks)


class Sequential(Module):
    """Runs its layers in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Layers are named '0', '1', ... (or by the keys of an OrderedDict). A Conv2d directly
    followed by a ReLU runs as ``F.conv2d_relu``: one fused node on the backends that have the
    fused forward (cuda, cupy), exactly the two layers elsewhere. The layers, their names and
    the state dict stay as they are.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            items = layers[0].items()
        else:
            items = ((str(i), layer) for i, layer in enumerate(layers))
        for name, layer in items:
            if not isinstance(layer, Module):
                raise TypeError(f"layer {name} must be a Module, got {type(layer).__name__}")
            self.add_module(name, layer)

    def forward(self, x):
        layers = list(self._modules.values())
        i = 0
        while i < len(layers):
            layer = layers[i]
            if i + 1 < len(layers) and _fusable(layer, layers[i + 1]):
                x = F.conv2d_relu(x, layer.weight, layer.bias, layer.stride, layer.padding,
                                  layer.dilation)
                i += 2
            else:
                x = layer(x)
                i += 1
        return x

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, layer):
        self.add_module(str(len(self)), layer)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (named '0', '1', ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"module must be a Module, got {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
