"""Tests of Module mechanics (registration, state dicts, modes, dtype moves), the layers'
non-gradient behaviour (running statistics, dropout masks), init, and argument errors."""
import math

import numpy as np
import pytest

import metalnet
from metalnet import Tensor, nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.tied = self.head[1]              # the same layer reachable twice

    def forward(self, x):
        return self.head(nn.functional.relu(self.bn(self.conv(x)))) * self.scale


def test_named_parameters_are_dotted_and_shared_ones_appear_once():
    names = [n for n, _ in Block().named_parameters()]
    assert names == ["scale", "conv.weight", "conv.bias", "bn.weight", "bn.bias",
                     "head.1.weight", "head.1.bias"]


def test_state_dict_holds_parameters_and_persistent_buffers():
    keys = list(Block().state_dict())
    assert "bn.running_mean" in keys and "bn.running_var" in keys
    assert "bn.num_batches_tracked" in keys and "tied.weight" not in keys


def test_state_dict_round_trip_is_exact(rng):
    a, b = Block(), Block()
    x = Tensor(rng.standard_normal((2, 2, 2, 2)).astype(np.float32))
    a(x)                                           # moves a's running statistics
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and va.dtype == vb.dtype
        np.testing.assert_array_equal(va, vb)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_state_dict_is_a_copy():
    model = nn.Linear(2, 2)
    state = model.state_dict()
    state["weight"][:] = 42
    assert not np.any(model.weight.data == 42)


def test_load_state_dict_reports_bad_keys_and_shapes():
    model = nn.Linear(3, 2)
    state = model.state_dict()
    with pytest.raises(KeyError, match="bias"):
        model.load_state_dict({"weight": state["weight"]})
    with pytest.raises(KeyError, match="extra"):
        model.load_state_dict(dict(state, extra=np.zeros(1)))
    missing, unexpected = model.load_state_dict({"weight": state["weight"]}, strict=False)
    assert missing == ["bias"] and unexpected == []
    with pytest.raises(ValueError, match="weight"):
        model.load_state_dict(dict(state, weight=np.zeros((3, 2), dtype=np.float32)))


def test_train_and_eval_reach_every_submodule():
    model = Block()
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_to_double_casts_in_place_and_keeps_parameter_objects():
    model = Block()
    params = list(model.parameters())
    model.double()
    assert all(p is q for p, q in zip(params, model.parameters()))
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model.bn.running_mean.dtype == np.float64
    assert model.bn.num_batches_tracked.dtype == np.int64


def test_zero_grad_and_forward_hooks(rng):
    model = nn.Linear(3, 2)
    seen = []
    handle = model.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    model(Tensor(rng.standard_normal((4, 3)).astype(np.float32))).sum().backward()
    assert seen == [(4, 2)] and model.weight.grad is not None
    model.zero_grad()
    assert model.weight.grad is None
    handle.remove()
    model(Tensor(np.zeros((1, 3), dtype=np.float32)))
    assert seen == [(4, 2)]


def test_assigning_a_plain_value_over_a_parameter_is_refused():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        model.weight = np.zeros((2, 2))


def test_batchnorm_running_statistics_follow_their_definition(rng):
    bn = nn.BatchNorm2d(3, momentum=0.3).double()
    x = rng.standard_normal((4, 3, 2, 5)) * 2 + 1
    bn(Tensor(x))
    count = 4 * 2 * 5
    mean = x.mean(axis=(0, 2, 3))
    unbiased = ((x - mean[None, :, None, None]) ** 2).sum(axis=(0, 2, 3)) / (count - 1)
    np.testing.assert_allclose(bn.running_mean.data, 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, 0.7 + 0.3 * unbiased, rtol=1e-12)
    assert int(bn.num_batches_tracked.data) == 1
    bn.eval()
    y = bn(Tensor(x)).numpy()
    expected = ((x - bn.running_mean.data[None, :, None, None])
                / np.sqrt(bn.running_var.data[None, :, None, None] + 1e-5))
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_dropout_masks_are_inverted_seeded_and_off_in_eval(rng):
    layer = nn.Dropout(0.25)
    x = Tensor(np.ones((200, 50), dtype=np.float32))
    metalnet.manual_seed(3)
    y1 = layer(x).numpy()
    metalnet.manual_seed(3)
    y2 = layer(x).numpy()
    np.testing.assert_array_equal(y1, y2)
    assert set(np.unique(y1)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y1 == 0).mean() - 0.25) < 0.02        # 10,000 draws: 4.6 sigma
    layer.eval()
    assert layer(x) is x


@pytest.mark.parametrize("fn, expected_std", [
    (lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / 300)),
    (lambda t: nn.init.xavier_normal_(t), math.sqrt(2 / (300 + 200))),
    (lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / 300)),
    (lambda t: nn.init.xavier_uniform_(t), math.sqrt(2 / (300 + 200))),
])
def test_init_matches_its_variance_definition(fn, expected_std):
    weight = nn.Parameter(np.empty((200, 300), dtype=np.float64))    # fan_in 300, fan_out 200
    fn(weight)
    assert abs(weight.data.mean()) < 0.02 * expected_std      # 60,000 draws: ~5 sigma
    assert weight.data.std() == pytest.approx(expected_std, rel=0.03)


def test_uniform_inits_stay_inside_their_bounds():
    weight = nn.Parameter(np.empty((40, 30, 3, 3)))
    nn.init.kaiming_uniform_(weight, a=0.1, nonlinearity="leaky_relu")
    bound = math.sqrt(2 / (1 + 0.01)) * math.sqrt(3 / (30 * 9))
    assert np.abs(weight.data).max() <= bound
    assert np.abs(weight.data).max() > 0.95 * bound
    nn.init.xavier_uniform_(weight, gain=2.0)
    assert np.abs(weight.data).max() <= 2.0 * math.sqrt(6 / (30 * 9 + 40 * 9))


def test_manual_seed_makes_initialisation_repeatable():
    metalnet.manual_seed(11)
    a = nn.Conv2d(3, 4, 3).weight.data
    metalnet.manual_seed(11)
    np.testing.assert_array_equal(a, nn.Conv2d(3, 4, 3).weight.data)


@pytest.mark.parametrize("build, match", [
    (lambda: nn.Conv2d(3, 4, 0), "kernel_size"),
    (lambda: nn.Conv2d(3, 4, 3, stride=(1, 0)), "stride"),
    (lambda: nn.Conv2d(3, 4, 3, padding=(1, 2, 3)), "padding"),
    (lambda: nn.Conv2d(0, 4, 3), "in_channels"),
    (lambda: nn.Linear(3, -1), "out_features"),
    (lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2), "output_padding"),
    (lambda: nn.Dropout(1.0), "p"),
    (lambda: nn.Upsample(2, mode="bilinear"), "mode"),
    (lambda: nn.CrossEntropyLoss("average"), "reduction"),
    (lambda: nn.Linear(2, 2, dtype=np.int32), "dtype"),
    (lambda: nn.LSTM(3, 4, dropout=-0.1), "dropout"),
])
def test_bad_constructor_arguments_name_the_argument(build, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build()


def test_bad_inputs_name_the_argument(rng):
    x = Tensor(rng.standard_normal((2, 3, 4, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="padding"):
        nn.MaxPool2d(2, padding=2)(x)
    with pytest.raises(ValueError, match="w must be"):
        nn.Conv2d(4, 2, 3)(x)
    with pytest.raises(ValueError, match="BatchNorm2d"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, 3), dtype=np.float32)))
    with pytest.raises(TypeError, match="weight"):
        nn.Linear(4, 2)(Tensor(np.ones((2, 4))))             # float64 input, float32 layer
    with pytest.raises(ValueError, match="labels"):
        nn.CrossEntropyLoss()(Tensor(np.ones((2, 3), dtype=np.float32)), np.array([0, 3]))
    with pytest.raises(ValueError, match="indices"):
        nn.Embedding(4, 2)(np.array([4]))
    with pytest.raises(ValueError, match="I = 3"):
        nn.LSTM(3, 2)(Tensor(np.ones((2, 2, 4), dtype=np.float32)))
