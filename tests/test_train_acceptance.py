"""Acceptance: the course networks learn the bundled data on the CPU backend (seeded).

Targets: LeNet-5 on digits >= 97% test accuracy, an MLP on breast cancer >= 95%, an LSTM on
planted-motif DNA >= 95%, a conv autoencoder cuts its reconstruction MSE >= 5x; ResNet-18 and
VGG-11 run forward and backward on CIFAR-shaped input on every backend; the numpy and cpu
backends give the same first five losses.
"""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import data, models, nn, optim, train
from metalnet.backends import _registry

pytest.importorskip("sklearn")


def _fit(model, optimizer, loss, parts, epochs, batch_size=32, **options):
    """Train on parts[0] (validating on parts[1]) on the cpu backend; test metrics of parts[2]."""
    train_set, val_set, test_set = parts
    train.fit(model, optimizer, loss, data.DataLoader(train_set, batch_size, shuffle=True),
              data.DataLoader(val_set, 256), epochs, progress=False, backend="cpu", **options)
    return train.evaluate(model, loss, test_set, backend="cpu")


@pytest.mark.slow
def test_lenet5_on_digits_reaches_97_percent():
    metalnet.manual_seed(0)
    parts = data.split(data.digits(size=28), seed=0)
    model = models.lenet5(10, 1, input_size=28)
    result = _fit(model, optim.Adam(model.parameters(), lr=2e-3), nn.CrossEntropyLoss(), parts,
                  epochs=10)
    assert result["accuracy"] >= 0.97, result


def test_mlp_on_breast_cancer_reaches_95_percent():
    metalnet.manual_seed(0)
    parts = data.standardize(*data.split(data.breast_cancer(), seed=0))
    model = models.mlp(30, (32, 16), 2)
    result = _fit(model, optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(), parts,
                  epochs=20)
    assert result["accuracy"] >= 0.95, result


@pytest.mark.slow
def test_lstm_on_dna_motifs_reaches_95_percent():
    metalnet.manual_seed(0)
    parts = data.split(data.dna_motifs(n=3000, length=30, seed=0), seed=0)
    model = models.lstm_classifier(2, input_size=4, hidden_size=32)
    result = _fit(model, optim.Adam(model.parameters(), lr=3e-3), nn.CrossEntropyLoss(), parts,
                  epochs=12, clip_grad_norm=1.0)
    assert result["accuracy"] >= 0.95, result


@pytest.mark.slow
def test_conv_autoencoder_cuts_reconstruction_error_5x():
    metalnet.manual_seed(0)
    images = data.digits(size=16).inputs
    recon = data.ArrayDataset(images, images, task="reconstruction")
    parts = data.split(recon, seed=0)
    model = models.autoencoder("conv", in_channels=1, channels=(16, 32))
    loss = nn.MSELoss()
    before = train.evaluate(model, loss, parts[2], backend="cpu")["loss"]
    after = _fit(model, optim.Adam(model.parameters(), lr=2e-3), loss, parts, epochs=15)["loss"]
    assert after * 5 <= before, (before, after)


def _device_of(backend_name):
    return _registry.load(backend_name).DEVICE


@pytest.mark.slow
@pytest.mark.parametrize("build", [
    lambda: models.resnet18(10, stem="cifar"),
    lambda: models.vgg11(num_classes=10),
], ids=["resnet18", "vgg11"])
def test_big_models_train_a_step_on_every_backend(build, backend):
    metalnet.manual_seed(0)
    device = _device_of(backend)
    model = build().to(device)
    x = metalnet.tensor(np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32))
    y = metalnet.tensor(np.array([3, 7]))
    loss = nn.CrossEntropyLoss()(model(x.to(device)), y.to(device))
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert all(bool(g.xp.isfinite(g.data).all()) for g in grads)
    assert np.isfinite(float(loss.data))


def _first_losses(backend_name, steps=5):
    metalnet.manual_seed(0)
    train_set = data.split(data.digits(size=28), seed=0)[0]
    model = models.lenet5(10, 1, input_size=28)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = data.DataLoader(train_set.subset(np.arange(steps * 32)), 32, shuffle=True)
    history = train.fit(model, optimizer, nn.CrossEntropyLoss(), loader, epochs=1,
                        progress=False, backend=backend_name)
    return np.array(history.steps)


def test_numpy_and_cpu_backends_give_the_same_first_losses():
    if "cpu" not in metalnet.backends():
        pytest.skip("the C++ extension is not built")
    ref, cpu = _first_losses("numpy"), _first_losses("cpu")
    assert len(ref) == 5 and ref[-1] < ref[0]
    np.testing.assert_allclose(cpu, ref, rtol=1e-4)
