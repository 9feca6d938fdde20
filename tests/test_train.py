"""metalnet.train: the loop, history, exact resume, curves, progress, clipping and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

import metalnet
from metalnet import data, nn, optim, train
from metalnet.__main__ import main

pytest.importorskip("sklearn")


def _cancer(seed=0):
    train_set, val_set, test_set = data.split(data.breast_cancer(), seed=seed)
    return data.standardize(train_set, val_set, test_set)


def _run(epochs, checkpoint=None, resume=None, model_seed=0):
    """A small MLP with dropout (so the RNG state matters) trained on breast cancer."""
    metalnet.manual_seed(model_seed)
    train_set, val_set, _ = _cancer()
    model = metalnet.models.mlp(30, (16,), 2, dropout=0.3)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    scheduler = optim.StepLR(optimizer, step_size=1, gamma=0.5)
    trainer = train.Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler,
                            progress=False, checkpoint=checkpoint)
    trainer.fit(data.DataLoader(train_set, 32, shuffle=True, seed=4), data.DataLoader(val_set),
                epochs, resume=resume)
    return trainer


def test_history_records_every_epoch_and_step():
    trainer = _run(2)
    history = trainer.history
    assert history["epoch"] == [1, 2] and len(history.steps) == 2 * 13
    assert history["lr"] == [1e-2, 5e-3]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "samples_per_s"):
        assert all(v is not None and np.isfinite(v) for v in history[key]), key
    assert history.last["val_accuracy"] > 0.8


def test_resume_continues_exactly(tmp_path):
    straight = _run(3)
    path = tmp_path / "ckpt.npz"
    _run(1, checkpoint=path)
    metalnet.manual_seed(99)                       # disturb the RNG between the two runs
    np.random.default_rng(0).random(10)
    resumed = _run(3, resume=path, model_seed=123)  # other initial weights, overwritten
    for (name, a), b in zip(straight.model.state_dict().items(),
                            resumed.model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert resumed.history.steps == straight.history.steps
    assert resumed.history["val_loss"] == straight.history["val_loss"]
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]


def test_checkpoint_rejects_a_bare_state_dict(tmp_path):
    model = metalnet.models.mlp(4, (3,), 2)
    metalnet.save(model, tmp_path / "weights.npz")
    with pytest.raises(ValueError, match="not a metalnet training checkpoint"):
        train.load_checkpoint(tmp_path / "weights.npz", model)


def test_curves_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = _run(2).history.plot(tmp_path / "out" / "curves.png", title="mlp")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_shows_loss_accuracy_and_speed(capsys):
    metalnet.manual_seed(0)
    train_set, _, _ = _cancer()
    model = metalnet.models.mlp(30, (8,), 2)
    train.fit(model, optim.SGD(model.parameters(), 0.1), nn.CrossEntropyLoss(),
              data.DataLoader(train_set, 64), epochs=1)
    err = capsys.readouterr().err
    assert "loss=" in err and "acc=" in err and "samples/s=" in err


def test_evaluate_and_reconstruction_has_no_accuracy():
    images = data.digits().inputs[:64]
    ds = data.ArrayDataset(images, images, task="reconstruction")
    model = metalnet.models.autoencoder("conv", in_channels=1, channels=(4,))
    metrics = train.evaluate(model, nn.MSELoss(), ds)
    assert metrics["accuracy"] is None and 0 < metrics["loss"] < 1


def test_clip_grad_norm():
    p = metalnet.tensor(np.zeros(2, np.float32), requires_grad=True)
    p.grad = metalnet.tensor(np.array([3.0, 4.0], np.float32))
    assert train.clip_grad_norm([p], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert train.clip_grad_norm([p], 10.0) == pytest.approx(1.0, rel=1e-5)


def test_cli_list(capsys):
    assert main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("lenet5", "resnet18", "lstm", "digits", "pathology", "dna"):
        assert name in out


def test_cli_trains_writes_outputs_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "mlp", "--data", "breast_cancer", "--epochs", "1", "--quiet",
            "--backend", "cpu", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "samples/s" in text
    assert (out / "checkpoint.npz").exists() and (out / "history.json").exists()
    resumed = args[:5] + ["2"] + args[6:] + ["--resume", str(out / "checkpoint.npz")]
    assert main(resumed) == 0
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]


def test_cli_errors_name_the_problem(capsys):
    assert main(["train", "mlp", "--data", "mnist"]) == 2
    assert "unknown dataset 'mnist'" in capsys.readouterr().err
    assert main(["train", "lenet5", "--data", "breast_cancer"]) == 2
    assert "reads images" in capsys.readouterr().err
    assert main(["train", "mlp"]) == 2
