"""Checkpoints that resume training exactly: model, optimizer state, schedule, RNG, history.

One ``.npz`` file (written with ``metalnet.save``, read without pickle): the model's state dict
under ``model.``, every optimizer state array under ``optim.<param index>.<name>``, and a JSON
string ``meta`` with the epoch count, the optimizer's hyper-parameters and scalar state, the
scheduler position, the state of the generator behind dropout, and the history. Data order
needs no entry: ``DataLoader`` draws epoch k's order from (seed, k).
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..autograd import array_module
from ..nn import _rng
from ..serialization import load, save

__all__ = ["save_checkpoint", "load_checkpoint"]


def _params(optimizer):
    return [p for group in optimizer.param_groups for p in group["params"]]


def _optimizer_state(optimizer):
    arrays, scalars = {}, {}
    for i, p in enumerate(_params(optimizer)):
        for key, value in optimizer.state.get(id(p), {}).items():
            if hasattr(value, "shape"):
                arrays[f"optim.{i}.{key}"] = value
            else:
                scalars.setdefault(str(i), {})[key] = value
    groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    return arrays, {"groups": groups, "scalars": scalars}


def _restore_optimizer(optimizer, arrays, meta):
    params = _params(optimizer)
    if len(meta["groups"]) != len(optimizer.param_groups):
        raise ValueError(f"checkpoint has {len(meta['groups'])} parameter groups, the "
                         f"optimizer {len(optimizer.param_groups)}")
    for group, saved in zip(optimizer.param_groups, meta["groups"]):
        group.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    optimizer.state.clear()
    for i, p in enumerate(params):
        state = dict(meta["scalars"].get(str(i), {}))
        prefix = f"optim.{i}."
        xp = array_module(p.data)
        for key, value in arrays.items():
            if key.startswith(prefix):
                state[key[len(prefix):]] = xp.array(value)    # a copy, on the param's device
        if state:
            optimizer.state[id(p)] = state


def save_checkpoint(path, model, optimizer, epoch, history=None, scheduler=None) -> None:
    """Write everything needed to continue training after ``epoch`` epochs."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_arrays, optim_meta = _optimizer_state(optimizer)
    arrays.update(optim_arrays)
    meta = {
        "epoch": int(epoch), "optimizer": optim_meta,
        "scheduler": None if scheduler is None else {"last_epoch": scheduler.last_epoch},
        "rng": _rng.generator().bit_generator.state,
        "history": None if history is None else history.to_dict(),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    # Write beside the target, then rename: an interrupted save never leaves half a file.
    partial = os.fspath(path) + ".partial"
    save(arrays, partial)
    os.replace(partial, path)


def load_checkpoint(path, model, optimizer=None, scheduler=None) -> dict:
    """Restore a checkpoint into ``model`` (and ``optimizer``, ``scheduler``, the dropout RNG);
    returns its meta dict (``epoch``, ``history``)."""
    arrays = load(path)
    if "meta" not in arrays:
        raise ValueError(f"{path} is not a metalnet training checkpoint (no 'meta' entry); "
                         f"a bare state dict loads with model.load_state_dict(metalnet.load())")
    meta = json.loads(str(arrays.pop("meta")))
    model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model.")})
    if optimizer is not None:
        _restore_optimizer(optimizer, arrays, meta["optimizer"])
    if scheduler is not None and meta["scheduler"] is not None:
        scheduler.last_epoch = meta["scheduler"]["last_epoch"]
        scheduler._apply()
    _rng.generator().bit_generator.state = meta["rng"]
    return meta
