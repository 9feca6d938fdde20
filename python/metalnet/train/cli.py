"""``metalnet train``: train a model of the zoo on a bundled dataset from the command line.

    metalnet train lenet5 --data digits --epochs 3
    metalnet train mlp --data breast_cancer --epochs 20 --backend numpy
    metalnet train lstm --data my_sequences.npz --device cuda
    metalnet train --list
"""
from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["add_parser"]


def _best_device() -> str:
    from .._backend_choice import backends
    return "cuda" if {"cuda", "cupy"} & set(backends()) else "cpu"


def _list() -> int:
    from ..data import describe as describe_data
    from .recipes import describe as describe_models
    print("models:\n" + describe_models())
    print("datasets (or a path to an .npz file with arrays x, y, or to a folder of class "
          "folders of images):\n" + describe_data())
    return 0


def _optimizer(name, params, lr):
    from .. import optim
    return optim.Adam(params, lr=lr) if name == "adam" else optim.SGD(params, lr, momentum=0.9)


def _setup(args):
    """Datasets, model, optimizer and loss for the parsed arguments."""
    from .. import data, manual_seed, nn
    from .recipes import RECIPES, prepare
    recipe = RECIPES[args.model]
    manual_seed(args.seed)
    train, val, test = prepare(args.model, data.load(args.data), seed=args.seed)
    model = recipe.build(train)
    optimizer = _optimizer(args.optimizer, model.parameters(), args.lr or recipe.lr)
    loss = nn.MSELoss() if recipe.reconstruction else nn.CrossEntropyLoss()
    batch = args.batch_size or recipe.batch_size
    loaders = (data.DataLoader(train, batch, shuffle=True, seed=args.seed),
               data.DataLoader(val, 256), data.DataLoader(test, 256))
    return model, optimizer, loss, loaders


def _write_outputs(history, out, title) -> None:
    with open(os.path.join(out, "history.json"), "w") as f:
        json.dump(history.to_dict(), f, indent=1)
    try:
        print(f"curves: {history.plot(os.path.join(out, 'curves.png'), title)}")
    except ImportError as exc:               # matplotlib is optional: say so, keep the run
        print(f"curves not drawn: {exc}")


def _summary(history, test) -> str:
    speed = sum(r["samples_per_s"] for r in history.epochs) / max(len(history.epochs), 1)
    text = f"test loss {test['loss']:.4f}"
    if test["accuracy"] is not None:
        text = f"test accuracy {100 * test['accuracy']:.2f}%  " + text
    return f"{text}  |  training throughput {speed:.0f} samples/s (mean over epochs)"


def _train(args) -> int:
    from .recipes import RECIPES
    from .trainer import Trainer, evaluate
    device = _best_device() if args.device == "auto" else args.device
    model, optimizer, loss, (train, val, test) = _setup(args)
    out = args.out or os.path.join("runs", f"{args.model}-{os.path.basename(args.data)}")
    os.makedirs(out, exist_ok=True)
    print(f"{args.model} on {args.data}: {len(train.dataset)} train / {len(val.dataset)} val /"
          f" {len(test.dataset)} test samples, device {device}, backend "
          f"{args.backend or 'automatic'}")
    trainer = Trainer(model, optimizer, loss, device=device, backend=args.backend,
                      progress=not args.quiet, checkpoint=os.path.join(out, "checkpoint.npz"),
                      clip_grad_norm=RECIPES[args.model].clip_grad_norm)
    history = trainer.fit(train, val, args.epochs, resume=args.resume)
    test_metrics = evaluate(model, loss, test, device=device, backend=args.backend)
    print(_summary(history, test_metrics))
    _write_outputs(history, out, f"{args.model} on {args.data}")
    return 0


def _run(args) -> int:
    if args.list:
        return _list()
    if not args.model or not args.data:
        print("metalnet train: error: give MODEL and --data DATASET (see metalnet train --list)",
              file=sys.stderr)
        return 2
    try:
        return _train(args)
    except (ValueError, ImportError, FileNotFoundError, KeyError) as exc:
        print(f"metalnet train: error: {exc}", file=sys.stderr)
        return 2


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``train`` on the subparsers ``sub`` of the metalnet command."""
    from .recipes import RECIPES
    p = sub.add_parser("train", help="train a model on a bundled dataset (see --list)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", choices=list(RECIPES), metavar="MODEL",
                   help=f"one of {', '.join(RECIPES)}")
    p.add_argument("--data", help="a dataset name (see --list), an .npz file or an image folder")
    p.add_argument("--epochs", type=int, default=10, help="epochs in total (default 10)")
    p.add_argument("--batch-size", type=int, help="default: the model's recipe (32)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's recipe)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="Adam, or SGD with momentum 0.9 (default adam)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the model runs (default: cuda when usable, else cpu)")
    p.add_argument("--backend", choices=("numpy", "cpu", "cupy", "cuda"),
                   help="force a kernel backend (default: the best one for the device)")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, split and order")
    p.add_argument("--out", help="folder for curves.png, history.json, checkpoint.npz "
                                 "(default runs/MODEL-DATA)")
    p.add_argument("--resume", help="continue from a checkpoint.npz of the same command")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    p.add_argument("--list", action="store_true", help="list the models and datasets")
    p.set_defaults(func=_run)
    return p
