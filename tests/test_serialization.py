"""metalnet.save / metalnet.load: exact npz round trips of state dicts, without pickle."""
import zipfile

import numpy as np
import pytest

import metalnet
from metalnet import Tensor, models


def test_round_trip_is_exact_and_keeps_order_and_dtypes(tmp_path, rng):
    model = models.resnet18(4, stem="cifar", width=2)
    model(Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32)))   # move running stats
    path = tmp_path / "weights"
    metalnet.save(model.state_dict(), path)
    assert path.exists() and zipfile.is_zipfile(path)          # no '.npz' added to the name
    loaded = metalnet.load(path)
    state = model.state_dict()
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        np.testing.assert_array_equal(loaded[key], value)


def test_a_loaded_state_dict_reproduces_the_model(tmp_path, rng):
    model = models.lenet5()
    metalnet.save(model, tmp_path / "lenet.npz")                  # a Module is accepted too
    other = models.lenet5()
    other.load_state_dict(metalnet.load(tmp_path / "lenet.npz"))
    x = Tensor(rng.standard_normal((2, 1, 32, 32)).astype(np.float32))
    np.testing.assert_array_equal(model(x).numpy(), other(x).numpy())


def test_files_are_plain_arrays_readable_without_metalnet(tmp_path):
    metalnet.save({"a.b": np.arange(3, dtype=np.int64), "c": np.ones((2, 2))}, tmp_path / "s")
    with np.load(tmp_path / "s", allow_pickle=False) as archive:
        assert archive.files == ["a.b", "c"]
        np.testing.assert_array_equal(archive["a.b"], [0, 1, 2])


def test_python_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="bad"):
        metalnet.save({"bad": np.array([{"x": 1}], dtype=object)}, tmp_path / "s")
    with pytest.raises(TypeError, match="bad"):
        metalnet.save({"bad": "text"}, tmp_path / "s")
    with pytest.raises(TypeError, match="state_dict"):
        metalnet.save([1, 2], tmp_path / "s")


def test_loading_never_unpickles(tmp_path):
    np.savez(tmp_path / "evil.npz", payload=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        metalnet.load(tmp_path / "evil.npz")
