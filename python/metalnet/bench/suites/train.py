"""Training steps (forward, cross-entropy, backward, SGD with momentum): LeNet-5 on 32x32
single-channel images and, outside --quick, ResNet-18 with the CIFAR stem on 3x32x32 images:
metalnet's model zoo and optimizer on each backend, against the same networks written in PyTorch
(metalnet.bench.torch_models). Built from the model and optimizer API directly."""
from __future__ import annotations

from ... import models, nn, optim
from ...summary import summary
from ...tensor import Tensor
from .. import torch_models
from .. import workloads as W
from ..cases import Case, normal
from ..impls import load_torch

_PRIMITIVES = ("conv2d_forward", "conv2d_backward", "tanh_forward", "tanh_backward",
               "avg_pool2d_forward", "avg_pool2d_backward", "gemm", "softmax_cross_entropy")
_RESNET_PRIMITIVES = ("conv2d_forward", "conv2d_backward", "relu_forward", "relu_backward", "gemm",
                      "softmax_cross_entropy")
RESNET_BATCH = 32


class _Model:
    """One network of the suite: metalnet's builder, the PyTorch twin's, the input shape."""

    def __init__(self, name, ours, theirs, image_shape, numpy_ok, primitives):
        self.name, self.ours, self.theirs = name, ours, theirs
        self.image_shape, self.numpy_ok, self.primitives = image_shape, numpy_ok, primitives

    def work(self, batch):
        """(flops, bytes) of one step: three forwards (forward, then the input and weight
        gradients); activations written and read three times, weights, gradients and momentum
        moved four times."""
        s = summary(self.ours(), self.image_shape, batch_size=1)  # per image, then scaled
        activations = batch * sum(_numel(r.output_shape) for r in s.rows)
        return 3.0 * batch * s.total_flops, 4.0 * (3 * activations + 4 * s.total_params)


def _numel(shape):
    n = 1
    for d in shape or ():
        n *= d
    return n


LENET = _Model("lenet5", lambda: models.lenet5(10), lambda t: torch_models.lenet5(t, 32),
               (1, 32, 32), True, _PRIMITIVES)
# The NumPy backend would take minutes per ResNet step: that peer sits this one out.
RESNET = _Model("resnet18 (CIFAR)", lambda: models.resnet18(10, stem="cifar"),
                torch_models.resnet18_cifar, (3, 32, 32), False, _RESNET_PRIMITIVES)


def _build(model, batch):
    def build(impl, rng):
        if impl.family == "numpy" and not model.numpy_ok:
            return None
        images = normal(rng, (batch,) + model.image_shape)
        labels = rng.integers(0, 10, batch)
        if impl.family == "torch":
            torch = load_torch()
            net = model.theirs(torch).to(impl.device)
            opt, loss_fn = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9), \
                torch.nn.CrossEntropyLoss()
            x, y = impl.asarray(images), impl.asarray(labels)
        else:
            net = model.ours()
            if impl.device == "cuda":
                net.to("cuda")
            opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
            loss_fn = nn.CrossEntropyLoss()
            x, y = Tensor(impl.asarray(images)), impl.asarray(labels)

        def step():
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    return build


def _case(model, batch):
    flops, moved = model.work(batch)
    return Case("train", f"{model.name} train step batch {batch}", flops, moved, "flops",
                model.primitives, _build(model, batch),
                numpy_label="metalnet on the NumPy backend")


def cases(quick: bool) -> list[Case]:
    lenet = _case(LENET, W.TRAIN_BATCH_QUICK if quick else W.TRAIN_BATCH)
    return [lenet] if quick else [lenet, _case(RESNET, RESNET_BATCH)]
