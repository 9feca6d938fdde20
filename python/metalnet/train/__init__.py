"""``metalnet.train``: fit a model with progress bars, per-epoch evaluation, history,
checkpoints that resume exactly, and a PNG of the curves.

    history = metalnet.train.fit(model, optimizer, nn.CrossEntropyLoss(), train_loader,
                                 val_loader, epochs=10, checkpoint="run/last.npz")
    history.plot("run/curves.png")
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .clip import clip_grad_norm
from .history import History
from .plot import plot_history
from .trainer import Trainer, evaluate, fit, format_record

__all__ = ["fit", "evaluate", "Trainer", "History", "plot_history", "save_checkpoint",
           "load_checkpoint", "format_record", "clip_grad_norm"]
