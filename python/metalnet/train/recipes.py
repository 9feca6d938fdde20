"""What ``metalnet train MODEL --data DATASET`` builds: each model with the input view it
needs, sensible optimizer settings, and sizes small enough to train on a laptop CPU."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import models
from ..data import ArrayDataset, resize_bilinear, split, standardize

__all__ = ["Recipe", "RECIPES", "prepare", "describe"]


@dataclass(frozen=True)
class Recipe:
    """How to train one model: ``build(dataset) -> Module`` on the prepared dataset."""
    summary: str
    build: Callable
    inputs: str              # 'any', 'image', 'sequence': what the model reads
    lr: float = 1e-3
    batch_size: int = 32
    image_size: int = 0      # resize images to this side (0: keep)
    reconstruction: bool = False
    clip_grad_norm: float = None   # recurrent networks need it (one bad step undoes an epoch)


def _channels(ds):
    return ds.sample_shape[0]


RECIPES = {
    "mlp": Recipe("multi-layer perceptron, hidden 64-32",
                  lambda ds: models.mlp(int(np.prod(ds.sample_shape)), (64, 32), ds.num_classes),
                  "any"),
    "lenet5": Recipe("LeNet-5 (tanh, average pooling) on 28x28 images",
                     lambda ds: models.lenet5(ds.num_classes, _channels(ds), input_size=28),
                     "image", lr=2e-3, image_size=28),
    "alexnet": Recipe("AlexNet for 32x32 images, width 16",
                      lambda ds: models.alexnet(ds.num_classes, _channels(ds), width=16),
                      "image", image_size=32),
    "vgg11": Recipe("VGG-11 with batch norm for 32x32 images, width 16",
                    lambda ds: models.vgg11(num_classes=ds.num_classes,
                                            in_channels=_channels(ds), width=16),
                    "image", image_size=32),
    "resnet18": Recipe("ResNet-18 with the CIFAR stem, width 16",
                       lambda ds: models.resnet18(ds.num_classes, "cifar", 16, _channels(ds)),
                       "image", image_size=32),
    "lstm": Recipe("LSTM classifier (hidden 32) on sequences; images are read row by row",
                   lambda ds: models.lstm_classifier(ds.num_classes, input_size=ds.sample_shape[1],
                                                     hidden_size=32),
                   "sequence", lr=3e-3, clip_grad_norm=1.0),
    "autoencoder": Recipe("convolutional autoencoder (16-32 channels), MSE reconstruction",
                          lambda ds: models.autoencoder("conv", in_channels=_channels(ds)),
                          "image", lr=2e-3, reconstruction=True),
}


def _as_images(ds: ArrayDataset, size: int, model: str) -> ArrayDataset:
    if len(ds.sample_shape) != 3:
        raise ValueError(f"{model} reads images (C, H, W); this dataset has samples of shape "
                         f"{ds.sample_shape}")
    if size and ds.sample_shape[1:] != (size, size):
        ds = ds.map_inputs(lambda x: np.ascontiguousarray(resize_bilinear(x, size)))
    return ds


def _as_sequences(ds: ArrayDataset) -> ArrayDataset:
    if len(ds.sample_shape) == 3 and ds.sample_shape[0] == 1:
        return ds.map_inputs(lambda x: np.ascontiguousarray(x[:, 0]))  # rows as time steps
    if len(ds.sample_shape) != 2:
        raise ValueError(f"lstm reads sequences (T, features) or 1-channel images; this "
                         f"dataset has samples of shape {ds.sample_shape}")
    return ds


def _view(model: str, ds: ArrayDataset) -> ArrayDataset:
    recipe = RECIPES[model]
    if recipe.inputs == "image":
        ds = _as_images(ds, recipe.image_size, model)
    elif recipe.inputs == "sequence":
        ds = _as_sequences(ds)
    if recipe.reconstruction:
        ds = ArrayDataset(ds.inputs, ds.inputs, task="reconstruction",
                          description=ds.description)
    return ds


def prepare(model: str, ds: ArrayDataset, seed=0, fractions=(0.7, 0.15, 0.15)):
    """(train, val, test) in the view ``model`` reads; tables standardized on train alone."""
    if model not in RECIPES:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(RECIPES)}")
    parts = split(_view(model, ds), fractions, seed=seed)
    if len(ds.sample_shape) == 1:
        parts = standardize(*parts)
    return parts


def describe() -> str:
    """One line per model."""
    return "\n".join(f"  {name:<16}{r.summary}" for name, r in RECIPES.items())
