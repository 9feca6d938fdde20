"""``Trainer`` and ``fit``: the training loop with progress bars, evaluation and checkpoints."""
from __future__ import annotations

import contextlib
import time

from .._backend_choice import backend as use_backend
from ..autograd import no_grad
from ..data.dataset import ArrayDataset
from ..data.loader import DataLoader
from .clip import clip_grad_norm
from .checkpoint import load_checkpoint, save_checkpoint
from .history import History

__all__ = ["Trainer", "fit", "evaluate"]


def _loader(data, batch_size, shuffle):
    """A DataLoader as given, or one over a dataset."""
    if data is None or isinstance(data, DataLoader):
        return data
    if isinstance(data, ArrayDataset):
        return DataLoader(data, batch_size, shuffle=shuffle)
    raise TypeError(f"expected a DataLoader or an ArrayDataset, got {type(data).__name__}")


def _correct(output, target):
    """Correct predictions in a batch of logits (N, C) and integer labels (N,), else None."""
    if target.dtype.kind not in "iu" or output.ndim != 2:
        return None
    return int((output.data.argmax(axis=1) == target.data).sum())


class _Meter:
    """Running sums of one pass: loss weighted by batch size, correct answers, time."""

    def __init__(self):
        self.seen, self.loss, self.correct, self.start = 0, 0.0, None, time.perf_counter()

    def add(self, loss, correct, count):
        self.seen += count
        self.loss += loss * count
        if correct is not None:
            self.correct = (self.correct or 0) + correct

    def summary(self, prefix) -> dict:
        seconds = time.perf_counter() - self.start
        return {f"{prefix}_loss": self.loss / max(self.seen, 1),
                f"{prefix}_accuracy": None if self.correct is None
                else self.correct / max(self.seen, 1),
                "seconds": seconds, "samples_per_s": self.seen / max(seconds, 1e-9)}

    def postfix(self) -> dict:
        out = {"loss": f"{self.loss / max(self.seen, 1):.4f}"}
        if self.correct is not None:
            out["acc"] = f"{self.correct / max(self.seen, 1):.3f}"
        out["samples/s"] = f"{self.seen / max(time.perf_counter() - self.start, 1e-9):.0f}"
        return out


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``loss(output, target)``.

    - ``scheduler``: an LR schedule stepped once per epoch.
    - ``device``: 'cpu' or 'cuda'; the model and every batch are moved there.
    - ``backend``: run the kernels on this metalnet backend ('numpy', 'cpu', 'cupy', 'cuda').
    - ``progress``: tqdm bars with loss, accuracy and samples/s (False for silence).
    - ``checkpoint``: a path written after every epoch, for ``fit(..., resume=path)``.
    - ``clip_grad_norm``: rescale gradients to this joint L2 norm at most (None: never).
    """

    def __init__(self, model, optimizer, loss, *, scheduler=None, device="cpu", backend=None,
                 progress=True, checkpoint=None, clip_grad_norm=None):
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.scheduler, self.device, self.backend = scheduler, device, backend
        self.progress, self.checkpoint = progress, checkpoint
        self.clip_grad_norm = clip_grad_norm
        self.history = History()
        self.epoch = 0
        self.model.to(device)

    def _context(self):
        return use_backend(self.backend) if self.backend else contextlib.nullcontext()

    def _to_device(self, batch):
        return tuple(t if t.device == self.device else t.to(self.device) for t in batch)

    def _bar(self, loader, desc):
        from tqdm.auto import tqdm
        return tqdm(loader, desc=desc, unit="batch", leave=True, disable=not self.progress,
                    dynamic_ncols=True)

    def train_epoch(self, loader, desc="train") -> dict:
        """One pass over ``loader`` with an update per batch; returns train_* metrics."""
        self.model.train()
        meter = _Meter()
        with self._context(), self._bar(loader, desc) as bar:
            for batch in bar:
                x, y = self._to_device(batch)
                output = self.model(x)
                loss = self.loss(output, y)
                self.optimizer.zero_grad()
                loss.backward()
                if self.clip_grad_norm is not None:
                    clip_grad_norm(self.model.parameters(), self.clip_grad_norm)
                self.optimizer.step()
                value = float(loss.data)
                self.history.steps.append(value)
                meter.add(value, _correct(output, y), len(x))
                bar.set_postfix(meter.postfix(), refresh=False)
        return meter.summary("train")

    def evaluate(self, loader, prefix="val") -> dict:
        """Loss (and accuracy) over ``loader`` in eval mode, without gradients."""
        self.model.eval()
        meter = _Meter()
        with self._context(), no_grad():
            for batch in loader:
                x, y = self._to_device(batch)
                output = self.model(x)
                meter.add(float(self.loss(output, y).data), _correct(output, y), len(x))
        summary = meter.summary(prefix)
        return {k: v for k, v in summary.items() if k.startswith(prefix)}

    def _record(self, train_metrics, val_metrics, lr):
        record = {"epoch": self.epoch, **train_metrics, **val_metrics, "lr": lr}
        self.history.epochs.append(record)
        if self.progress:
            from tqdm.auto import tqdm
            tqdm.write(format_record(record))
        return record

    def fit(self, train, val=None, epochs=1, resume=None, batch_size=32) -> History:
        """Train until ``epochs`` epochs in total are done (counting those of a resumed
        checkpoint), evaluating on ``val`` after each; returns the history."""
        if resume is not None:
            self.resume(resume)
        train, val = _loader(train, batch_size, True), _loader(val, batch_size, False)
        while self.epoch < epochs:
            if hasattr(train, "set_epoch"):
                train.set_epoch(self.epoch)
            lr = self.optimizer.param_groups[0]["lr"]       # the rate this epoch used
            train_metrics = self.train_epoch(train, f"epoch {self.epoch + 1}/{epochs}")
            val_metrics = self.evaluate(val) if val is not None else {}
            self.epoch += 1
            if self.scheduler is not None:
                self.scheduler.step()
            self._record(train_metrics, val_metrics, lr)
            if self.checkpoint:
                self.save(self.checkpoint)
        return self.history

    def save(self, path) -> None:
        """Write a checkpoint of the current state."""
        save_checkpoint(path, self.model, self.optimizer, self.epoch, self.history,
                        self.scheduler)

    def resume(self, path) -> None:
        """Load a checkpoint: model, optimizer, schedule, RNG, epoch count and history."""
        meta = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.epoch = meta["epoch"]
        self.history = History.from_dict(meta["history"] or {})


def format_record(record: dict) -> str:
    """One line per epoch: 'epoch 3  train loss 0.1234 acc 96.1%  val loss ... (812 samples/s)'."""
    parts = [f"epoch {record['epoch']}"]
    for split in ("train", "val", "test"):
        if record.get(f"{split}_loss") is not None:
            text = f"{split} loss {record[f'{split}_loss']:.4f}"
            if record.get(f"{split}_accuracy") is not None:
                text += f" acc {100 * record[f'{split}_accuracy']:.1f}%"
            parts.append(text)
    if "samples_per_s" in record:
        parts.append(f"({record['samples_per_s']:.0f} samples/s)")
    return "  ".join(parts)


def fit(model, optimizer, loss, train, val=None, epochs=1, **options) -> History:
    """Train ``model`` for ``epochs`` epochs; ``options`` are Trainer's (scheduler, device,
    backend, progress, checkpoint, clip_grad_norm) and fit's (resume, batch_size).
    Returns the History."""
    fit_keys = ("resume", "batch_size")
    fit_options = {k: options.pop(k) for k in fit_keys if k in options}
    trainer = Trainer(model, optimizer, loss, **options)
    return trainer.fit(train, val, epochs, **fit_options)


def evaluate(model, loss, data, device="cpu", backend=None, batch_size=256) -> dict:
    """{'loss', 'accuracy'} of ``model`` on ``data`` (a DataLoader or an ArrayDataset);
    accuracy is None when the targets are not class labels."""
    trainer = Trainer(model, None, loss, device=device, backend=backend, progress=False)
    metrics = trainer.evaluate(_loader(data, batch_size, False), prefix="test")
    return {"loss": metrics["test_loss"], "accuracy": metrics["test_accuracy"]}
