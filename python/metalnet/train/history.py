"""``History``: what a training run measured, per epoch and per step."""
from __future__ import annotations

__all__ = ["History"]


class History:
    """Per-epoch records (dicts: epoch, train_loss, train_accuracy, val_loss, val_accuracy,
    lr, seconds, samples_per_s; accuracies only for classification) and the loss of every
    training step. ``history['val_loss']`` gives one column as a list."""

    def __init__(self, epochs=None, steps=None):
        self.epochs = list(epochs or [])
        self.steps = list(steps or [])

    def __len__(self):
        return len(self.epochs)

    def __getitem__(self, key):
        return [record.get(key) for record in self.epochs]

    @property
    def last(self) -> dict:
        """The latest epoch's record (empty before the first epoch)."""
        return self.epochs[-1] if self.epochs else {}

    def keys(self):
        return list(dict.fromkeys(k for record in self.epochs for k in record))

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "steps": self.steps}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        return cls(data.get("epochs"), data.get("steps"))

    def plot(self, path, title=None):
        """Write the loss and accuracy curves to a PNG at ``path`` (needs matplotlib)."""
        from .plot import plot_history
        return plot_history(self, path, title)

    def __repr__(self):
        return f"History({len(self.epochs)} epochs, {len(self.steps)} steps, last={self.last})"
