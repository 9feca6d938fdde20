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
from metalnet.bench import torch_models

from conftest import torch

IMPLS = ["metalnet", "torch"]
# Forward multiply-adds x2 per sample (conv1 + conv2 + the three linear layers); a training
# step costs about three forwards (forward, input gradient, weight gradient).
LENET_TRAIN_FLOPS = 3 * 2 * (28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84
                             + 84 * 10)


def _training_step(model, optimizer, loss_fn):
    def step(x, y):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step


# metalnet's model and its PyTorch twin (metalnet.bench.torch_models).
MODELS = {
    "lenet5": (lambda: models.lenet5(10, 1, input_size=28), torch_models.lenet5),
    "resnet18": (lambda: models.resnet18(10, stem="cifar"), torch_models.resnet18_cifar),
    "vgg11": (lambda: models.vgg11(num_classes=10), torch_models.vgg11_bn),
}
CIFAR_MODELS = ("resnet18", "vgg11")


def _step(name, impl):
    """(step(x, y), wrap): one SGD-with-momentum training step of model `name` on `impl`, and
    what turns a NumPy array into that framework's input."""
    ours, theirs = MODELS[name]
    if impl == "metalnet":
        metalnet.manual_seed(0)
        model = ours()
        return _training_step(model, optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                              nn.CrossEntropyLoss()), metalnet.tensor
    if torch is None:
        pytest.skip("PyTorch is not installed")
    torch.manual_seed(0)
    model = theirs(torch)
    return _training_step(model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                          torch.nn.CrossEntropyLoss()), torch.from_numpy


@pytest.mark.parametrize("impl", IMPLS)
def test_lenet5_train_step_b256(benchmark, impl, rng):
    step, wrap = _step("lenet5", impl)
    x = wrap(rng.random((256, 1, 28, 28), dtype=np.float32))
    y = wrap(rng.integers(0, 10, 256))
    benchmark.group = "lenet5 train step, batch 256, 1x28x28"
    benchmark.extra_info.update(flops=256 * LENET_TRAIN_FLOPS, impl=impl)
    benchmark(step, x, y)


def _epoch(impl, digits):
    step, wrap = _step("lenet5", impl)
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
    benchmark.pedantic(run, rounds=9, warmup_rounds=1)  # more rounds: a stalled one moves less


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_cifar_model_train_step_b32(benchmark, name, impl, rng):
    step, wrap = _step(name, impl)
    x = wrap(rng.standard_normal((32, 3, 32, 32), dtype=np.float32))
    y = wrap(rng.integers(0, 10, 32))
    forward = metalnet.summary(MODELS[name][0](), (3, 32, 32), batch_size=32).total_flops
    benchmark.group = f"{name} train step, batch 32, 3x32x32"
    benchmark.extra_info.update(flops=3 * forward, impl=impl)
    # Steady-state steps: two warm-up steps (the first ones fault in every buffer's pages), and
    # eleven rounds, as on a shared host one round in five can stall, which moved the median of
    # five by 10-20%.
    benchmark.pedantic(step, args=(x, y), rounds=11, warmup_rounds=2)
