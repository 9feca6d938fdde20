"""Optimizers (SGD with momentum/Nesterov, Adam, AdamW) and learning-rate schedules.

The update rules are PyTorch's, written out in each ``step`` docstring. Updates happen in place
on each parameter's array, on whatever device holds it, and read ``param.grad`` (parameters
without a gradient are skipped). Hyper-parameters live in ``param_groups`` (a list of dicts),
which the schedulers modify.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _checks as check
from . import ops
from .autograd import array_module
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW",
           "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR"]


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: holds param_groups and per-parameter state; subclasses define ``_update``."""

    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError("params is empty: pass model.parameters() (or a list of groups)")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups = []
        self.state = {}                       # id(param) -> dict of arrays
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict):
        """A dict with 'params' and optional per-group hyper-parameters."""
        group = dict(group)
        group["params"] = list(group["params"])
        for i, p in enumerate(group["params"]):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"params[{i}] must be a Tensor that requires grad, got "
                                f"{type(p).__name__}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group.setdefault("initial_lr", group["lr"])
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self):
        """Apply one update to every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p.data, p.grad.data, self.state.setdefault(id(p), {}), group)

    def _update(self, param, grad, state, group):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

        g = grad + weight_decay * p
        buf = g (first step), else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov), else buf         (when momentum > 0)
        p = p - lr * g
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        defaults = dict(lr=_non_negative(lr, "lr"), momentum=_non_negative(momentum, "momentum"),
                        dampening=_non_negative(dampening, "dampening"),
                        weight_decay=_non_negative(weight_decay, "weight_decay"),
                        nesterov=bool(nesterov))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        momentum = group["momentum"]
        if (param.dtype in check.FLOATS and grad.dtype == param.dtype
                and param.flags.c_contiguous and grad.flags.c_contiguous
                and ops.has_fused("sgd_update", param)):
            first = momentum != 0 and "momentum_buffer" not in state
            if first:
                state["momentum_buffer"] = np.empty_like(param)
            ops.sgd_update(param, grad, state.get("momentum_buffer"), lr=group["lr"],
                           momentum=momentum, dampening=group["dampening"],
                           weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                           first=first)
            return
        g = grad + group["weight_decay"] * param if group["weight_decay"] else grad
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= momentum
                if group["dampening"]:
                    buf += (1 - group["dampening"]) * g
                else:  # the usual case: no temporary the size of the parameter
                    buf += g
            buf = state["momentum_buffer"]
            g = g + momentum * buf if group["nesterov"] else buf
        param -= group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), with L2 weight decay added to the gradient, optionally AMSGrad.

        g = grad + weight_decay * p
        m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2      (t = step count)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    (AMSGrad uses the running maximum of v.)
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, numbers.Real) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
        defaults = dict(lr=_non_negative(lr, "lr"), betas=tuple(float(b) for b in betas),
                        eps=_non_negative(eps, "eps"),
                        weight_decay=_non_negative(weight_decay, "weight_decay"),
                        amsgrad=bool(amsgrad))
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        xp = array_module(param)
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if wd and self._decoupled:
            param *= 1 - lr * wd           # AdamW: decay the weights, not the gradient
        elif wd:
            grad = grad + wd * param
        if not state:
            state.update(step=0, m=xp.zeros_like(param), v=xp.zeros_like(param))
            if group["amsgrad"]:
                state["v_max"] = xp.zeros_like(param)
        state["step"] += 1
        t, m, v = state["step"], state["m"], state["v"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            xp.maximum(state["v_max"], v, out=state["v_max"])
            v = state["v_max"]
        denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + group["eps"]
        param -= (lr / (1 - beta1 ** t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p = p * (1 - lr * wd), then Adam
    on the plain gradient. weight_decay defaults to 0.01."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


# ------------------------------------------------------------------------------ schedules
class LRScheduler:
    """Sets each group's lr from its initial lr and the epoch count; call ``step()`` per epoch."""

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a metalnet Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        self._apply()

    def _apply(self):
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = step_size, _non_negative(gamma, "gamma")
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= epoch)."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = _non_negative(gamma, "gamma")
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** sum(m <= epoch for m in self.milestones)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma):
        self.gamma = _non_negative(gamma, "gamma")
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"T_max must be a positive int, got {T_max!r}")
        self.T_max, self.eta_min = T_max, _non_negative(eta_min, "eta_min")
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch
                                                                       / self.T_max)) / 2
