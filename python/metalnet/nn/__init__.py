"""``metalnet.nn``: layers, containers, losses and initialisation, in the PyTorch style.

Layers run the ``metalnet.ops`` kernels through ``metalnet.functional`` and work on NumPy
(host) and CuPy (GPU) data alike; move a model with ``model.to("cuda")``.
"""
from . import functional, init
from ._rng import manual_seed
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .containers import ModuleList, Sequential
from .conv import Conv2d, ConvTranspose2d
from .dropout import Dropout
from .embedding import Embedding
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import Module
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, Upsample
from .rnn import LSTM, LSTMCell

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList",
    "Linear", "Flatten", "Identity", "Conv2d", "ConvTranspose2d",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Upsample",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Dropout", "BatchNorm1d", "BatchNorm2d", "Embedding", "LSTM", "LSTMCell",
    "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss",
    "init", "functional", "manual_seed",
]
