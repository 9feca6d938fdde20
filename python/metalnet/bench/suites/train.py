"""One LeNet-5 training step (forward, cross-entropy, backward, SGD with momentum) on a batch of
32x32 single-channel images: metalnet's model zoo and optimizer on each backend, against the
same network written in PyTorch. Built from the model and optimizer API directly."""
from __future__ import annotations

from ... import models, nn, optim
from ...tensor import Tensor
from .. import workloads as W
from ..cases import Case, normal
from ..impls import load_torch

# Forward multiply-adds x 2 per image: conv1 6x28x28x25, conv2 16x10x10x150, fc 400x120 +
# 120x84 + 84x10. A training step costs about three forwards (forward, two backward GEMMs).
_FORWARD_FLOPS = 2 * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10)
_ACTIVATIONS = 1024 + 2 * 4704 + 1176 + 2 * 1600 + 400 + 2 * 120 + 2 * 84 + 10  # per image
_PARAMETERS = 61_706
_PRIMITIVES = ("conv2d_forward", "conv2d_backward", "tanh_forward", "tanh_backward",
               "avg_pool2d_forward", "avg_pool2d_backward", "gemm", "softmax_cross_entropy")


def _torch_lenet5(torch):
    nn_ = torch.nn
    return nn_.Sequential(
        nn_.Conv2d(1, 6, 5), nn_.Tanh(), nn_.AvgPool2d(2),
        nn_.Conv2d(6, 16, 5), nn_.Tanh(), nn_.AvgPool2d(2), nn_.Flatten(),
        nn_.Linear(400, 120), nn_.Tanh(), nn_.Linear(120, 84), nn_.Tanh(), nn_.Linear(84, 10))


def _build(batch):
    def build(impl, rng):
        images = normal(rng, (batch, 1, 32, 32))
        labels = rng.integers(0, 10, batch)
        if impl.family == "torch":
            return _torch_step(impl, images, labels)
        model = models.lenet5(10)
        if impl.device == "cuda":
            model.to("cuda")
        x, y = Tensor(impl.asarray(images)), impl.asarray(labels)
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    return build


def _torch_step(impl, images, labels):
    torch = load_torch()
    model = _torch_lenet5(torch).to(impl.device)
    x, y = impl.asarray(images), impl.asarray(labels)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def cases(quick: bool) -> list[Case]:
    batch = W.TRAIN_BATCH_QUICK if quick else W.TRAIN_BATCH
    moved = 4.0 * (3 * batch * _ACTIVATIONS + 4 * _PARAMETERS)  # acts x3, weights/grads/moments
    return [Case("train", f"lenet5 train step batch {batch}", 3.0 * _FORWARD_FLOPS * batch, moved,
                 "flops", _PRIMITIVES, _build(batch), numpy_label="metalnet on the NumPy backend")]
