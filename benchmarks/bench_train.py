"""LeNet-5 training side by side: metalnet cpu vs PyTorch CPU eager, float32.

- one training step (forward, cross-entropy, backward, SGD update) at batch 256 on 28x28;
- one full epoch over the 1,797 digits upsampled to 28x28, batch 32, data loading included.

Both run the same architecture (tanh, average pooling, 61,706 parameters) with the same
optimizer and the same number of threads (conftest.same_threads).
"""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import data, models, nn, optim

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
