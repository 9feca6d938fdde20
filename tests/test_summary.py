"""metalnet.summary: per-layer output shapes, parameter counts and FLOPs, against hand counts."""
import numpy as np
import pytest

import metalnet
from metalnet import models, nn


def test_a_single_conv_counts_weights_plus_bias():
    table = metalnet.summary(nn.Sequential(nn.Conv2d(1, 6, 3)), (1, 8, 8))
    (row,) = table.rows
    assert row.params == (3 * 3 * 1 + 1) * 6 == 60
    assert row.output_shape == (1, 6, 6, 6)
    # 2 FLOPs per multiply-add over the 3x3x1 window, plus the bias add, per output element.
    assert row.flops == 6 * 6 * 6 * (2 * 9 + 1)
    assert table.total_params == 60


def test_lenet_rows_follow_the_architecture():
    table = metalnet.summary(models.lenet5(), (1, 32, 32))
    shapes = [r.output_shape[1:] for r in table.rows if r.type in ("Conv2d", "AvgPool2d",
                                                                   "Linear")]
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120,), (84,), (10,)]
    linear = [r for r in table.rows if r.type == "Linear"]
    assert [r.params for r in linear] == [400 * 120 + 120, 120 * 84 + 84, 84 * 10 + 10]
    assert [r.flops for r in linear] == [2 * 400 * 120 + 120, 2 * 120 * 84 + 84,
                                         2 * 84 * 10 + 10]
    assert table.total_params == table.trainable_params == 61_706
    assert table.total_flops == sum(r.flops for r in table.rows)
    text = str(table)
    assert "Total params: 61,706" in text and "features.0 (Conv2d)" in text


def test_summary_leaves_the_model_as_it_was():
    model = models.mlp(12, (8,), 3, batch_norm=True, dropout=0.5)
    before = model.state_dict()
    table = metalnet.summary(model, (12,), batch_size=4)
    assert table.rows[-1].output_shape == (4, 3)
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])       # running stats untouched


def test_non_trainable_parameters_are_reported():
    model = models.mlp(4, (3,), 2)
    model[1].requires_grad_(False)
    table = metalnet.summary(model, (4,))
    assert table.total_params == 4 * 3 + 3 + 3 * 2 + 2
    assert table.trainable_params == 3 * 2 + 2


def test_token_models_take_an_integer_input():
    model = models.lstm_classifier(3, vocab_size=10, embed_dim=4, hidden_size=5)
    table = metalnet.summary(model, (7,), dtype=np.int64)
    rows = {r.type: r for r in table.rows}
    assert rows["Embedding"].output_shape == (1, 7, 4)
    assert rows["LSTM"].output_shape == (1, 7, 5)
    assert rows["LSTM"].params == 4 * 5 * (4 + 5) + 2 * 4 * 5
    assert rows["LSTM"].flops == 7 * (2 * 4 * 5 * (4 + 5) + 10 * 5)


@pytest.mark.parametrize("model, shape, error", [
    ("not a model", (1, 2), TypeError),
    (nn.Linear(2, 2), (0, 2), ValueError),
    (nn.Linear(2, 2), 2, ValueError),
])
def test_bad_arguments(model, shape, error):
    with pytest.raises(error, match="model|input_shape"):
        metalnet.summary(model, shape)
