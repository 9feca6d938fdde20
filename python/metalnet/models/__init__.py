"""``metalnet.models``: the networks of deep learning courses, built from ``metalnet.nn``.

Every builder takes size knobs (``width``, hidden sizes, ``depth``) so the same architecture
runs full size for training and tiny in tests.
"""
from .alexnet import AlexNet, alexnet
from .autoencoder import Autoencoder, autoencoder
from .lenet import LeNet5, lenet5
from .lstm_classifier import LSTMClassifier, lstm_classifier
from .mlp import mlp
from .resnet import BasicBlock, ResNet, resnet18, resnet34
from .unet import DoubleConv, Down, UNet, Up, unet
from .vgg import VGG, vgg, vgg11, vgg13, vgg16

__all__ = [
    "mlp", "lenet5", "LeNet5", "alexnet", "AlexNet", "vgg", "vgg11", "vgg13", "vgg16", "VGG",
    "resnet18", "resnet34", "ResNet", "BasicBlock", "lstm_classifier", "LSTMClassifier",
    "autoencoder", "Autoencoder", "unet", "UNet", "DoubleConv", "Down", "Up",
]
