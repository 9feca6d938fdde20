"""Training on the GPU: every course model of the zoo, seeded identically on the host and on
the GPU (model.to("cuda")), gives the same losses for its first five SGD steps (relative 1e-3,
float32: the two sides differ only in summation order). Skipped, with the reason, where no GPU
backend can run."""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import Tensor, models, nn, optim
from metalnet.backends import _registry

pytestmark = pytest.mark.gpu

if not any(_registry.load(name) is not None for name in ("cuda", "cupy")):
    pytest.skip(f"no GPU backend: cuda: {_registry.reason('cuda')}; cupy: "
                f"{_registry.reason('cupy')}", allow_module_level=True)

import cupy  # noqa: E402  (only reached where a GPU backend loaded)

STEPS = 5

# name: (build, input shape, what the labels are, loss)
MODELS = {
    "mlp": (lambda: models.mlp(48, (32, 16), 5), (8, 48), "classes"),
    "lenet5": (lambda: models.lenet5(10, 1, input_size=28), (16, 1, 28, 28), "classes"),
    "lenet5-relu-max": (lambda: models.lenet5(10, 1, input_size=28, activation="relu",
                                              pooling="max"), (16, 1, 28, 28), "classes"),
    "alexnet": (lambda: models.alexnet(10, 3, width=8, dropout=0.0), (4, 3, 32, 32), "classes"),
    "vgg11": (lambda: models.vgg11(num_classes=10, width=8, dropout=0.0), (4, 3, 32, 32),
              "classes"),
    "resnet18": (lambda: models.resnet18(10, stem="cifar", width=8), (4, 3, 32, 32), "classes"),
    "unet": (lambda: models.unet(1, 2, width=4, depth=2), (2, 1, 16, 16), "pixels"),
    "autoencoder": (lambda: models.autoencoder("mlp", in_features=64, hidden=(32,), code_size=8),
                    (8, 64), "reconstruction"),
    "lstm": (lambda: models.lstm_classifier(4, vocab_size=20, embed_dim=8, hidden_size=16,
                                            num_layers=2), (6, 12), "tokens"),
}


def _batches(rng, shape, kind):
    out = []
    for _ in range(STEPS):
        if kind == "tokens":
            x = rng.integers(0, 20, size=shape)
            y = rng.integers(0, 4, size=shape[0])
        else:
            x = rng.standard_normal(shape).astype(np.float32)
            y = (x.reshape(shape[0], -1) if kind == "reconstruction" else
                 rng.integers(0, 2, size=(shape[0],) + shape[2:]) if kind == "pixels" else
                 rng.integers(0, 5 if shape == (8, 48) else 10, size=shape[0]))
        out.append((x, y))
    return out


def _losses(model, batches, device):
    loss_fn = nn.MSELoss() if isinstance(batches[0][1], np.ndarray) and \
        batches[0][1].dtype.kind == "f" else nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), 0.05, momentum=0.9)
    losses = []
    for x, y in batches:
        if device == "cuda":
            x, y = cupy.asarray(x), cupy.asarray(y)
        opt.zero_grad()
        loss = loss_fn(model(Tensor(x)), Tensor(y) if y.dtype.kind == "f" else y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item() if hasattr(loss, "item") else loss.data))
    return np.array(losses)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_first_steps_match_the_host(name, rng, seed):
    build, shape, kind = MODELS[name]
    host = build()
    device = build()
    device.load_state_dict(host.state_dict())
    device = device.to("cuda")
    batches = _batches(rng, shape, kind)
    on_host = _losses(host, batches, "cpu")
    on_gpu = _losses(device, batches, "cuda")
    assert np.isfinite(on_gpu).all(), f"{name}: {on_gpu}"
    np.testing.assert_allclose(on_gpu, on_host, rtol=1e-3,
                               err_msg=f"{name}: losses of the first {STEPS} steps (seed {seed})")
