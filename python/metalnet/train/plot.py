"""``plot_history``: the training curves as a PNG, drawn without a display."""
from __future__ import annotations

import os

__all__ = ["plot_history"]


def _figure():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting the curves needs matplotlib; install it with: "
                          "pip install \"metalnet[viz]\"") from exc
    # A bare Figure renders with Agg and never touches pyplot's global state or a display.
    return Figure(figsize=(10, 4), dpi=100, tight_layout=True)


def _panel(ax, history, name, label):
    epochs = history["epoch"]
    for split, style in (("train", "-o"), ("val", "--s")):
        values = history[f"{split}_{name}"]
        points = [(e, v) for e, v in zip(epochs, values) if v is not None]
        if points:
            ax.plot(*zip(*points), style, label=split, markersize=3)
    ax.xaxis.get_major_locator().set_params(integer=True)   # epochs are whole numbers
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()


def plot_history(history, path, title=None) -> str:
    """Loss (left) and accuracy (right, when measured) per epoch; returns the path."""
    fig = _figure()
    has_accuracy = any(v is not None for v in history["train_accuracy"])
    axes = fig.subplots(1, 2 if has_accuracy else 1, squeeze=False)[0]
    _panel(axes[0], history, "loss", "loss")
    if has_accuracy:
        _panel(axes[1], history, "accuracy", "accuracy")
    if title:
        fig.suptitle(title)
    path = os.fspath(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path)
    return path
