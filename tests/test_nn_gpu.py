"""Layers, models and optimizers on CuPy arrays agree with the same ones on the host.

Each test builds a model twice with the same weights, moves one copy with ``.to("cuda")``, and
compares outputs and gradients (float64, so only summation order differs). Skipped, with the
reason, where no GPU backend can run.
"""
import numpy as np
import pytest

import metalnet
from metalnet import Tensor, models, nn, optim
from metalnet.autograd import _topological_order
from metalnet.backends import _registry

pytestmark = pytest.mark.gpu

if not any(_registry.load(name) is not None for name in ("cuda", "cupy")):
    pytest.skip(f"no GPU backend: cuda: {_registry.reason('cuda')}; cupy: "
                f"{_registry.reason('cupy')}", allow_module_level=True)

import cupy  # noqa: E402  (only reached where a GPU backend loaded)


def rel_err(device_array, host_array):
    a, b = cupy.asnumpy(device_array), np.asarray(host_array)
    scale = np.linalg.norm(b)
    return np.linalg.norm(a - b) / (scale if scale > 0 else 1.0)


def twins(build):
    """The same model on the host and on the GPU, in float64."""
    host = build().double()
    device = build().double()
    device.load_state_dict(host.state_dict())
    return host, device.to("cuda")


def run(model, x, labels):
    model.zero_grad()
    out = model(x)
    nn.CrossEntropyLoss()(out, labels).backward()
    return out


def compare(host, device, x, labels):
    xp = Tensor(cupy.asarray(x))
    out_h, out_d = run(host, Tensor(x), labels), run(device, xp, cupy.asarray(labels))
    assert out_d.device == "cuda"
    assert rel_err(out_d.data, out_h.data) < 1e-10
    grads_d = dict(device.named_parameters())
    for name, p in host.named_parameters():
        assert grads_d[name].grad.device == "cuda"
        assert rel_err(grads_d[name].grad.data, p.grad.data) < 1e-9, name


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=(2, 1), padding=(1, 0, 2, 1)), nn.BatchNorm2d(4), nn.ReLU(),
        nn.ConvTranspose2d(4, 3, 2, stride=2), nn.LeakyReLU(0.1),
        nn.MaxPool2d(2, padding=(1, 0, 0, 1)), nn.AvgPool2d(2), nn.Upsample(2), nn.Tanh(),
        nn.Flatten(), nn.Dropout(0.0), nn.Linear(3 * 4 * 4, 5), nn.Sigmoid(), nn.Linear(5, 3))


def test_every_image_layer_matches_the_host(rng):
    host, device = twins(small_cnn)
    compare(host, device, rng.standard_normal((2, 3, 7, 8)), rng.integers(0, 3, size=2))
    np.testing.assert_allclose(cupy.asnumpy(device[1].running_var.data),
                               host[1].running_var.data, rtol=1e-10)


def test_lstm_classifier_matches_the_host(rng):
    host, device = twins(lambda: models.lstm_classifier(3, vocab_size=9, embed_dim=4,
                                                        hidden_size=5, num_layers=2))
    compare(host, device, rng.integers(0, 9, size=(2, 6)), rng.integers(0, 3, size=2))


def test_resnet_block_and_unet_match_the_host(rng):
    host, device = twins(lambda: models.resnet18(3, stem="cifar", width=2))
    compare(host, device, rng.standard_normal((2, 3, 8, 8)), rng.integers(0, 3, size=2))
    host, device = twins(lambda: models.unet(1, 2, width=2, depth=2))
    compare(host, device, rng.standard_normal((2, 1, 8, 8)), rng.integers(0, 2, size=(2, 8, 8)))


def test_adam_steps_on_the_gpu_match_the_host(rng):
    host, device = twins(lambda: nn.Linear(4, 3))
    opt_h, opt_d = optim.Adam(host.parameters(), lr=0.1), optim.Adam(device.parameters(), lr=0.1)
    x, labels = rng.standard_normal((5, 4)), rng.integers(0, 3, size=5)
    for _ in range(3):
        compare(host, device, x, labels)
        opt_h.step()
        opt_d.step()
    assert rel_err(device.weight.data, host.weight.data) < 1e-10


def test_dropout_masks_on_the_gpu():
    metalnet.manual_seed(4)
    y1 = nn.Dropout(0.5)(Tensor(cupy.ones((64, 64))))
    metalnet.manual_seed(4)
    y2 = nn.Dropout(0.5)(Tensor(cupy.ones((64, 64))))
    assert y1.device == "cuda"
    np.testing.assert_array_equal(cupy.asnumpy(y1.data), cupy.asnumpy(y2.data))
    assert set(np.unique(cupy.asnumpy(y1.data))) <= {0.0, 2.0}


def test_devices_never_mix_silently(tmp_path):
    a, b = Tensor(np.ones(3)), Tensor(cupy.ones(3))
    with pytest.raises(TypeError, match="device|cuda|cpu"):
        a + b
    with pytest.raises(TypeError, match="to\\('cpu'\\)"):
        b.numpy()
    np.testing.assert_array_equal(b.to("cpu").numpy(), np.ones(3))


def test_a_gpu_state_dict_saves_and_loads_on_the_host(tmp_path, rng):
    host, device = twins(lambda: models.lenet5())
    metalnet.save(device, tmp_path / "gpu.npz")
    other = models.lenet5().double()
    other.load_state_dict(metalnet.load(tmp_path / "gpu.npz"))
    for key, value in host.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)


# --------------------------------------------------- Conv2d + ReLU through the fused forward
FUSING_BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(
        _registry.load(name) is None, reason=f"backend {name!r} unavailable: "
                                             f"{_registry.reason(name)}"))
    for name in ("cuda", "cupy")
]


def conv_relu_cnn():
    """Two Conv2d + ReLU pairs (with and without bias, strided, padded, dilated)."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0, 2, 1), dilation=(1, 2),
                  bias=False), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 2 * 4, 3))


def loss_and_grads(model, x, labels):
    model.zero_grad()
    loss = nn.CrossEntropyLoss()(model(x), labels)
    names = [t._node.name for t in _topological_order(loss) if t._node is not None]
    loss.backward()
    return float(loss.item()), {n: p.grad.data for n, p in model.named_parameters()}, names


@pytest.mark.skipif(_registry.load("cpu") is None,
                    reason=f"backend 'cpu' unavailable: {_registry.reason('cpu')}")
@pytest.mark.parametrize("backend_name", FUSING_BACKENDS)
def test_conv_relu_pairs_run_the_fused_forward(backend_name, rng, monkeypatch):
    """Sequential runs each Conv2d + ReLU pair as one fused call on the GPU backends, with the
    loss and gradients of the cpu backend running the layers one by one."""
    module = _registry.load(backend_name)
    fused, calls = module.conv2d_bias_relu_forward, []

    def counting(x, *args, **kwargs):
        calls.append(tuple(x.shape))
        return fused(x, *args, **kwargs)
    monkeypatch.setattr(module, "conv2d_bias_relu_forward", counting)
    host, device = twins(conv_relu_cnn)
    x, labels = rng.standard_normal((2, 3, 9, 8)), rng.integers(0, 3, size=2)
    with metalnet.backend("cpu"):
        loss_h, grads_h, names_h = loss_and_grads(host, Tensor(x), labels)
    assert calls == [] and names_h.count("Conv2d") == 2 and names_h.count("ReLU") == 2
    with metalnet.backend(backend_name):
        loss_d, grads_d, names_d = loss_and_grads(device, Tensor(cupy.asarray(x)),
                                                  cupy.asarray(labels))
        assert calls == [(2, 3, 9, 8), (2, 4, 9, 8)]
        assert names_d.count("Conv2dReLU") == 2 and "ReLU" not in names_d
        assert abs(loss_d - loss_h) <= 1e-10 * abs(loss_h)
        for name, g in grads_h.items():
            assert rel_err(grads_d[name], g) < 1e-9, name
        device.eval()
        with metalnet.no_grad():                       # inference fuses too
            out_d = device(Tensor(cupy.asarray(x)))
        assert len(calls) == 4
    with metalnet.backend("cpu"), metalnet.no_grad():
        out_h = host.eval()(Tensor(x))
    assert rel_err(out_d.data, out_h.data) < 1e-10
