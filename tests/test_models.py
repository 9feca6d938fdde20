"""The model zoo: output shapes, published parameter counts, gradient checks of every block and
of whole (tiny) models, a PyTorch twin of the residual block, and a short training run.

Gradient checks run in float64 on the reference backend: autograd against central differences
of L = sum(out * R) along a random unit direction through every input and parameter, plus
single coordinates of a few parameters. The step is small (1e-7) because deep ReLU networks
are only piecewise smooth: a larger step crosses kinks more often.
"""
import numpy as np
import pytest

import metalnet
from metalnet import Tensor, models, nn, optim


@pytest.fixture(autouse=True)
def seeded_init(seed):
    """Weights drawn from the printed seed too, so a failure replays exactly."""
    metalnet.manual_seed(seed)


def assert_grads_match(forward, leaves, rng, coords=1, eps=1e-7):
    """forward() -> Tensor built from ``leaves``; autograd against central differences."""
    with metalnet.backend("numpy"):
        out = forward()
        weights = rng.standard_normal(out.shape)
        (out * Tensor(weights)).sum().backward()

        def shifted(direction, sign):
            for leaf, d in zip(leaves, direction):
                leaf.data += sign * eps * d
            with metalnet.no_grad():
                value = float((forward().data * weights).sum())
            for leaf, d in zip(leaves, direction):
                leaf.data -= sign * eps * d
            return value

        def numeric(direction):
            return (shifted(direction, 1) - shifted(direction, -1)) / (2 * eps)

        direction = [rng.standard_normal(leaf.shape) for leaf in leaves]
        norm = np.sqrt(sum(float((d * d).sum()) for d in direction))
        direction = [d / norm for d in direction]     # a step of eps, whatever the leaf count
        analytic = sum(float((leaf.grad.data * d).sum()) for leaf, d in zip(leaves, direction))
        # Rounding in the differences is relative to the whole gradient, not to this component.
        floor = 1e-6 * np.sqrt(sum(float((leaf.grad.data ** 2).sum()) for leaf in leaves))
        assert numeric(direction) == pytest.approx(analytic, rel=1e-5, abs=floor)
        picks = rng.choice(len(leaves), size=min(coords * 4, len(leaves)), replace=False)
        for k in picks:
            i = rng.integers(leaves[k].numel())
            unit = [np.zeros(leaf.shape) for leaf in leaves]
            unit[k].flat[i] = 1.0
            assert numeric(unit) == pytest.approx(leaves[k].grad.data.flat[i], rel=1e-5,
                                                  abs=floor), f"leaf {k}, coordinate {i}"


def check_model(model, x, rng, **kwargs):
    model.double()
    x = Tensor(x, requires_grad=x.dtype.kind == "f")
    leaves = ([x] if x.requires_grad else []) + list(model.parameters())

    def forward():
        metalnet.manual_seed(5)         # dropout draws the same mask at every evaluation
        return model(x)
    assert_grads_match(forward, leaves, rng, **kwargs)


# ------------------------------------------------------------------------------ blocks
BLOCKS = {
    "basic_block_identity": (lambda: models.BasicBlock(3, 3), (2, 3, 4, 4)),
    "basic_block_downsample": (lambda: models.BasicBlock(2, 4, stride=2), (2, 2, 5, 5)),
    "double_conv": (lambda: models.DoubleConv(2, 3), (2, 2, 4, 3)),
    "down": (lambda: models.Down(2, 3), (2, 2, 4, 6)),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_gradients(name, rng):
    build, shape = BLOCKS[name]
    check_model(build(), rng.standard_normal(shape), rng, coords=2)


@pytest.mark.parametrize("mode", ["transpose", "nearest"])
def test_unet_up_block_gradients_reach_both_inputs(mode, rng):
    up = models.Up(4, 2, mode).double()
    x = Tensor(rng.standard_normal((2, 4, 2, 3)), requires_grad=True)
    skip = Tensor(rng.standard_normal((2, 2, 4, 6)), requires_grad=True)
    assert_grads_match(lambda: up(x, skip), [x, skip] + list(up.parameters()), rng, coords=2)


# ------------------------------------------------------------------------ whole models
TINY = {
    "mlp": (lambda: models.mlp(12, (6, 5), 3, batch_norm=True, dropout=0.2), (4, 3, 2, 2)),
    "lenet5": (lambda: models.lenet5(4, input_size=28, activation="relu", pooling="max"),
               (2, 1, 28, 28)),
    "alexnet": (lambda: models.alexnet(3, width=4, input_size=8), (2, 3, 8, 8)),
    "vgg11": (lambda: models.vgg(11, 3, width=2), (2, 3, 32, 32)),
    "resnet18_cifar": (lambda: models.resnet18(3, stem="cifar", width=2), (2, 3, 16, 16)),
    "resnet34_imagenet": (lambda: models.resnet34(3, width=2), (2, 3, 64, 64)),
    "autoencoder_mlp": (lambda: models.autoencoder("mlp", 12, (6,), 3), (2, 12)),
    "autoencoder_conv": (lambda: models.autoencoder("conv", in_channels=2, channels=(3, 4)),
                         (2, 2, 4, 8)),
    "unet": (lambda: models.unet(2, 3, width=2, depth=2), (2, 2, 8, 4)),
}

OUTPUT = {"mlp": (4, 3), "lenet5": (2, 4), "alexnet": (2, 3), "vgg11": (2, 3),
          "resnet18_cifar": (2, 3), "resnet34_imagenet": (2, 3), "autoencoder_mlp": (2, 12),
          "autoencoder_conv": (2, 2, 4, 8), "unet": (2, 3, 8, 4)}


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_model_shapes_and_gradients(name, rng):
    build, shape = TINY[name]
    model = build()
    y = model(Tensor(rng.standard_normal(shape).astype(np.float32)))
    assert y.shape == OUTPUT[name] and y.dtype == np.float32
    check_model(model, rng.standard_normal(shape), rng)


@pytest.mark.parametrize("layers", [1, 2])
def test_lstm_classifier_on_tokens_and_on_float_sequences(layers, rng):
    tokens = models.lstm_classifier(3, vocab_size=7, embed_dim=4, hidden_size=5,
                                    num_layers=layers, dropout=0.3)
    assert tokens(rng.integers(0, 7, size=(2, 6))).shape == (2, 3)
    check_model(tokens, rng.integers(0, 7, size=(2, 4)), rng)
    floats = models.lstm_classifier(2, input_size=3, hidden_size=4, num_layers=layers)
    check_model(floats, rng.standard_normal((2, 5, 3)), rng)


def test_vgg_depths_have_their_convolution_counts():
    for depth in (11, 13, 16):
        convs = [m for m in models.vgg(depth, width=2).modules() if isinstance(m, nn.Conv2d)]
        linears = [m for m in models.vgg(depth, width=2).modules() if isinstance(m, nn.Linear)]
        assert len(convs) == depth - 3 and len(linears) == 3


# --------------------------------------------------------------------- published sizes
def count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_published_architectures():
    assert count(models.lenet5()) == 61_706
    assert count(models.resnet18()) == 11_689_512          # ImageNet, 1000 classes
    assert count(models.resnet34()) == 21_797_672
    assert count(models.resnet18(10, stem="cifar")) == 11_173_962


def test_resnet_state_dict_uses_the_standard_names():
    keys = models.resnet18(stem="cifar", width=2).state_dict()
    assert "layer2.0.downsample.0.weight" in keys and "layer1.1.bn2.running_var" in keys
    assert "fc.weight" in keys and "layer1.0.downsample.0.weight" not in keys


def test_basic_block_matches_a_pytorch_twin(rng):
    torch = pytest.importorskip("torch", reason="PyTorch is needed for the comparison")
    tnn = torch.nn

    class TorchBlock(tnn.Module):            # the textbook residual block, written for torch
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(4)
            self.conv2 = tnn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn2 = tnn.BatchNorm2d(4)
            self.downsample = tnn.Sequential(tnn.Conv2d(2, 4, 1, stride=2, bias=False),
                                             tnn.BatchNorm2d(4))

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(out + self.downsample(x))

    ours, theirs = models.BasicBlock(2, 4, stride=2).double(), TorchBlock().double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((3, 2, 5, 5))
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(yo.shape)
    (yo * Tensor(g)).sum().backward()
    (yt * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=name)


def test_lenet_learns_a_small_batch():
    # Seeded: whether 25 Adam steps memorise 8 random images depends on the draw, and a test
    # must not fail by chance.
    metalnet.manual_seed(0)
    rng = np.random.default_rng(0)
    model = models.lenet5(4, activation="relu", pooling="max")
    x = Tensor(rng.standard_normal((8, 1, 32, 32)).astype(np.float32))
    y = rng.integers(0, 4, size=8)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize("build, match", [
    (lambda: models.vgg(12), "depth"),
    (lambda: models.resnet18(stem="tiny"), "stem"),
    (lambda: models.lenet5(input_size=30), "input_size"),
    (lambda: models.alexnet(input_size=20), "input_size"),
    (lambda: models.mlp(0), "in_features"),
    (lambda: models.autoencoder("vae"), "kind"),
    (lambda: models.lstm_classifier(2), "vocab_size"),
    (lambda: models.unet(width=0), "width"),
])
def test_bad_model_arguments_name_the_argument(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_unet_refuses_sizes_its_pools_cannot_halve():
    with pytest.raises(ValueError, match="divisible by 4"):
        models.unet(1, 2, width=2, depth=2)(Tensor(np.ones((1, 1, 6, 8), dtype=np.float32)))
