"""``metalnet.summary(model, input_shape)``: output shape, parameters and FLOPs per layer.

The model runs once (in eval mode, without recording a graph) on a batch of ``batch_size``
inputs of ``input_shape``; a forward hook on every leaf layer records what it produced.

FLOPs count 2 per multiply-add (a Conv2d output element costs 2*C*R*S), plus 1 per bias add,
activation or other elementwise step; pooling counts one operation per window cell; reshapes,
dropout and lookups count 0. Layers this table does not know show '-' and add nothing.
"""
from __future__ import annotations

import typing

import numpy as np

from . import nn
from .autograd import no_grad
from .tensor import Tensor

__all__ = ["summary", "Summary", "Row"]


class Row(typing.NamedTuple):
    name: str
    type: str
    output_shape: tuple
    params: int
    flops: typing.Optional[int]


def _numel(shape) -> int:
    return int(np.prod(shape)) if shape else 1


def _conv_flops(m, x, y):
    return _numel(y) * 2 * m.in_channels * _numel(m.kernel_size) + (
        _numel(y) if m.bias is not None else 0)


def _conv_transpose_flops(m, x, y):
    # Every input element is multiplied into a C_out x R x S block of the output.
    return _numel(x) * 2 * m.out_channels * _numel(m.kernel_size) + (
        _numel(y) if m.bias is not None else 0)


def _linear_flops(m, x, y):
    return _numel(y) * 2 * m.in_features + (_numel(y) if m.bias is not None else 0)


def _lstm_flops(m, x, y):
    steps_times_batch = _numel(x[:2])
    per_step = 0
    for k in range(m.num_layers):
        inputs = m.input_size if k == 0 else m.hidden_size
        # Two gemms into the 4H gates, then ~10 elementwise steps per hidden unit.
        per_step += 2 * 4 * m.hidden_size * (inputs + m.hidden_size) + 10 * m.hidden_size
    return steps_times_batch * per_step


def _pool_flops(m, x, y):
    return _numel(y) * _numel(m.kernel_size)


def _adaptive_pool_flops(m, x, y):
    return _numel(x)


_FLOPS = {
    nn.Conv2d: _conv_flops,
    nn.ConvTranspose2d: _conv_transpose_flops,
    nn.Linear: _linear_flops,
    nn.LSTM: _lstm_flops,
    nn.MaxPool2d: _pool_flops,
    nn.AvgPool2d: _pool_flops,
    nn.AdaptiveAvgPool2d: _adaptive_pool_flops,
    nn.BatchNorm1d: lambda m, x, y: 2 * _numel(y),
    nn.BatchNorm2d: lambda m, x, y: 2 * _numel(y),
    nn.ReLU: lambda m, x, y: _numel(y),
    nn.LeakyReLU: lambda m, x, y: _numel(y),
    nn.Sigmoid: lambda m, x, y: _numel(y),
    nn.Tanh: lambda m, x, y: _numel(y),
    nn.Softmax: lambda m, x, y: 3 * _numel(y),
    nn.LogSoftmax: lambda m, x, y: 3 * _numel(y),
    nn.Dropout: lambda m, x, y: 0,
    nn.Flatten: lambda m, x, y: 0,
    nn.Identity: lambda m, x, y: 0,
    nn.Upsample: lambda m, x, y: 0,
    nn.Embedding: lambda m, x, y: 0,
}


class Summary:
    """The table: ``rows`` (Row per layer call), ``total_params``, ``trainable_params``,
    ``total_flops``; ``str()`` formats it."""

    def __init__(self, rows, total_params, trainable_params, input_shape, batch_size):
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_flops = sum(r.flops or 0 for r in rows)
        self.input_shape, self.batch_size = input_shape, batch_size

    def __str__(self):
        header = ("Layer (type)", "Output shape", "Params", "FLOPs")
        body = [(f"{r.name} ({r.type})", str(r.output_shape), f"{r.params:,}",
                 "-" if r.flops is None else f"{r.flops:,}") for r in self.rows]
        widths = [max(len(line[i]) for line in [header] + body) for i in range(4)]
        fmt = "  ".join(("{:<%d}" if i == 0 else "{:>%d}") % w for i, w in enumerate(widths))
        rule = "-" * (sum(widths) + 6)
        lines = [fmt.format(*header), rule] + [fmt.format(*line) for line in body] + [rule]
        lines += [f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.total_params - self.trainable_params:,}",
                  f"Total FLOPs: {self.total_flops:,} (input {self.input_shape}, batch of "
                  f"{self.batch_size})"]
        return "\n".join(lines)

    __repr__ = __str__


def _leaf_layers(model):
    """Modules with no children, or with parameters of their own (their params count there)."""
    for name, module in model.named_modules():
        own = any(p is not None for p in module._parameters.values())
        if own or not any(True for _ in module.children()):
            yield name or type(module).__name__, module


def summary(model, input_shape, dtype=np.float32, batch_size=1) -> Summary:
    """Run ``model`` on a (batch_size, *input_shape) input and tabulate every leaf layer.

    ``input_shape`` excludes the batch axis, e.g. (1, 28, 28); ``dtype`` int64 for models that
    take token indices. The input is zeros (indices) or standard normal noise (floats), on the
    device of the model's first parameter.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a metalnet.nn.Module, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and n > 0 for n in input_shape):
        raise ValueError(f"input_shape must be a tuple of positive ints (no batch axis), got "
                         f"{input_shape!r}")
    shape = (int(batch_size),) + tuple(int(n) for n in input_shape)
    dtype = np.dtype(dtype)
    data = (np.zeros(shape, dtype=dtype) if dtype.kind in "iu"
            else np.random.default_rng(0).standard_normal(shape).astype(dtype))
    first = next(model.parameters(), None)
    x = Tensor(data) if first is None else Tensor(data).to(first.device)

    rows, handles = [], []
    for name, module in _leaf_layers(model):
        handles.append(module.register_forward_hook(_recorder(name, rows)))
    was_training = {id(m): m.training for m in model.modules()}
    try:
        model.eval()
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m in model.modules():
            object.__setattr__(m, "training", was_training[id(m)])
    params = list(model.parameters())
    return Summary(rows, sum(p.numel() for p in params),
                   sum(p.numel() for p in params if p.requires_grad), tuple(input_shape),
                   batch_size)


def _recorder(name, rows):
    def hook(module, inputs, output):
        first_out = output[0] if isinstance(output, tuple) else output
        first_in = inputs[0] if inputs else None
        in_shape = first_in.shape if first_in is not None else ()
        counter = _FLOPS.get(type(module))
        flops = None if counter is None else int(counter(module, in_shape, first_out.shape))
        params = sum(p.numel() for p in module._parameters.values() if p is not None)
        rows.append(Row(name, type(module).__name__, first_out.shape, params, flops))
    return hook
