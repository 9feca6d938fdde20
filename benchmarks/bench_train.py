"""Training side by side: metalnet cpu vs PyTorch CPU eager, float32.

- LeNet-5: one training step (forward, cross-entropy, backward, SGD update) at batch 256 on
  28x28, and one full epoch over the 1,797 digits upsampled to 28x28, batch 32, data loading
  included (tanh, average pooling, 61,706 parameters);
- ResNet-18 (CIFAR stem: one 3x3 convolution, no pooling) and VGG-11 with batch norm, one
  training step at batch 32 on 3x32x32.

Both frameworks run the same architecture with the same optimizer and the same number of threads
(conftest.same_threads).
"""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import data, models, nn, optim
from metalnet.models.vgg import CONFIGS as VGG_CONFIGS

from conftest import torch

IMPLS = ["metalnet", "torch"]
# Forward multiply-adds x2 per sample (conv1 + conv2 + the three linear layers); a training
# step costs about three forwards (forward, input gradient, weight gradient).
LENET_TRAIN_FLOPS = 3 * 2 * (28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84
                             + 84 * 10)


def _torch_lenet():
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.Tanh(), tnn.AvgPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.Tanh(), tnn.AvgPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.Tanh(), tnn.Linear(120, 84), tnn.Tanh(), tnn.Linear(84, 10))


def _metalnet_step():
    metalnet.manual_seed(0)
    model = models.lenet5(10, 1, input_size=28)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step, metalnet.tensor


def _torch_step():
    if torch is None:
        pytest.skip("PyTorch is not installed")
    torch.manual_seed(0)
    model = _torch_lenet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step, torch.from_numpy


def _make(impl):
    return _metalnet_step() if impl == "metalnet" else _torch_step()


def _training_step(model, optimizer, loss_fn):
    def step(x, y):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step


def _torch_resnet18_cifar():
    tnn = torch.nn

    class Basic(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    layers, cin = [tnn.Conv2d(3, 64, 3, 1, 1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU()], 64
    for stage in range(4):
        cout = 64 * 2 ** stage
        layers += [Basic(cin, cout, 1 if stage == 0 else 2), Basic(cout, cout, 1)]
        cin = cout
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(cin, 10)]
    return tnn.Sequential(*layers)


def _torch_vgg11_bn():
    tnn = torch.nn
    layers, cin = [], 3
    for item in VGG_CONFIGS[11]:
        if item == "M":
            layers.append(tnn.MaxPool2d(2))
        else:
            layers += [tnn.Conv2d(cin, item, 3, padding=1), tnn.BatchNorm2d(item), tnn.ReLU()]
            cin = item
    layers += [tnn.Flatten(), tnn.Linear(cin, cin), tnn.ReLU(), tnn.Dropout(0.5),
               tnn.Linear(cin, cin), tnn.ReLU(), tnn.Dropout(0.5), tnn.Linear(cin, 10)]
    return tnn.Sequential(*layers)


CIFAR_MODELS = {
    "resnet18": (lambda: models.resnet18(10, stem="cifar"), _torch_resnet18_cifar),
    "vgg11": (lambda: models.vgg11(num_classes=10), _torch_vgg11_bn),
}


def _cifar_step(name, impl):
    ours, theirs = CIFAR_MODELS[name]
    if impl == "metalnet":
        metalnet.manual_seed(0)
        model = ours()
        return _training_step(model, optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                              nn.CrossEntropyLoss()), metalnet.tensor
    if torch is None:
        pytest.skip("PyTorch is not installed")
    torch.manual_seed(0)
    model = theirs()
    return _training_step(model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                          torch.nn.CrossEntropyLoss()), torch.from_numpy


@pytest.mark.parametrize("impl", IMPLS)
def test_lenet5_train_step_b256(benchmark, impl, rng):
    step, wrap = _make(impl)
    x = wrap(rng.random((256, 1, 28, 28), dtype=np.float32))
    y = wrap(rng.integers(0, 10, 256))
    benchmark.group = "lenet5 train step, batch 256, 1x28x28"
    benchmark.extra_info.update(flops=256 * LENET_TRAIN_FLOPS, impl=impl)
    benchmark(step, x, y)


def _epoch(impl, digits):
    step, wrap = _make(impl)
    loader = data.DataLoader(digits, 32, shuffle=True, seed=0)

    def run():
        for x, y in loader:    # metalnet Tensors; PyTorch gets the same arrays, no copy
            step(x, y) if impl == "metalnet" else step(wrap(x.data), wrap(y.data))
    return run


@pytest.mark.parametrize("impl", IMPLS)
def test_lenet5_epoch_digits(benchmark, impl):
    digits = data.digits(size=28)
    run = _epoch(impl, digits)
    benchmark.group = "lenet5 epoch, 1,797 digits 28x28, batch 32"
    benchmark.extra_info.update(flops=len(digits) * LENET_TRAIN_FLOPS, impl=impl)
    benchmark.pedantic(run, rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", sorted(CIFAR_MODELS))
def test_cifar_model_train_step_b32(benchmark, name, impl, rng):
    step, wrap = _cifar_step(name, impl)
    x = wrap(rng.standard_normal((32, 3, 32, 32), dtype=np.float32))
    y = wrap(rng.integers(0, 10, 32))
    forward = metalnet.summary(CIFAR_MODELS[name][0](), (3, 32, 32), batch_size=32).total_flops
    benchmark.group = f"{name} train step, batch 32, 3x32x32"
    benchmark.extra_info.update(flops=3 * forward, impl=impl)
    benchmark.pedantic(step, args=(x, y), rounds=5, warmup_rounds=1)
