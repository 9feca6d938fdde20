"""Which backend runs a call, forcing one, and what `metalnet info` reports."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import metalnet
from metalnet import ops
from metalnet.__main__ import main
from metalnet.backends import _registry


def test_numpy_and_cpu_are_always_listed_when_available():
    names = metalnet.backends()
    assert "numpy" in names
    assert set(names) <= set(_registry.ALL)


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        metalnet.backend("tpu")


def test_unavailable_backend_says_why():
    missing = [n for n in _registry.ALL if _registry.load(n) is None]
    if not missing:
        pytest.skip("every backend is available here")
    with pytest.raises(RuntimeError, match="is not available"):
        metalnet.backend(missing[0])


def test_forced_backend_runs_and_nests(monkeypatch):
    """Inside `with backend(...)` the named module runs; the choice is undone on exit."""
    calls = []
    module = _registry.load("numpy")
    real = module.relu_forward
    monkeypatch.setattr(module, "relu_forward", lambda x: calls.append("numpy") or real(x))
    x = np.ones(3, np.float32)
    with metalnet.backend("numpy"):
        ops.relu_forward(x)
        with metalnet.backend("numpy"):
            ops.relu_forward(x)
        ops.relu_forward(x)
    assert calls == ["numpy"] * 3
    assert _registry.forced() is None


def test_host_arrays_default_to_cpu_when_built():
    expected = "cpu" if _registry.load("cpu") is not None else "numpy"
    assert _registry.for_device("cpu").NAME == expected


def test_forcing_a_gpu_backend_with_host_arrays_is_a_type_error(monkeypatch):
    class FakeGpu:
        DEVICE = "cuda"
    monkeypatch.setitem(_registry._loaded, "cupy", FakeGpu)
    token = _registry.set_forced("cupy")
    try:
        with pytest.raises(TypeError, match="got NumPy \\(host\\) arrays"):
            ops.relu_forward(np.ones(3, np.float32))
    finally:
        _registry.reset_forced(token)


def test_info_reports_every_backend_and_primitive():
    data = metalnet.info()
    assert set(data["backends"]) == set(_registry.ALL)
    assert set(data["primitives"]) == set(_registry.PRIMITIVES)
    for prim, impls in data["primitives"].items():
        assert set(impls) == set(metalnet.backends())
        assert impls["numpy"] == "NumPy"
    assert set(data["fused"]) == set(_registry.FUSED)
    for name, has in data["fused"].items():
        assert set(has) == set(metalnet.backends()) and has["numpy"] is False
        on_cpu = name.startswith("batch_norm") or name == "sgd_update"
        assert has.get("cpu", on_cpu) == on_cpu
    from metalnet.info import format_info
    assert "batch_norm_forward" in format_info(data)


def test_info_marks_native_only_what_the_extension_provides():
    """cpu says C++ exactly for the primitives _cpu exports, NumPy otherwise."""
    cpu = _registry.load("cpu")
    if cpu is None:
        pytest.skip(f"cpu backend unavailable: {_registry.reason('cpu')}")
    from metalnet import _cpu
    for prim in _registry.PRIMITIVES:
        native = hasattr(_cpu, cpu.KERNEL_OF.get(prim, prim))
        assert cpu.IMPLEMENTATIONS[prim] == ("C++" if native else "NumPy"), prim
    assert cpu.IMPLEMENTATIONS["relu_forward"] == "C++"


def test_info_gives_a_reason_when_no_gpu():
    cuda = metalnet.info()["cuda"]
    if cuda["devices"]:
        pytest.skip("a GPU is present")
    assert cuda["reason"], "info must say why CUDA is unusable"


def test_cli_info_text_and_json(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "relu_forward" in text and "backends:" in text and "AVX-512" in text
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == metalnet.__version__


def test_python_dash_m_metalnet_info_runs():
    done = subprocess.run([sys.executable, "-m", "metalnet", "info"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "primitive" in done.stdout


def test_bad_isa_environment_warns_but_imports():
    code = "import warnings, metalnet; print(metalnet.cpu_isa())"
    done = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                          text=True, timeout=120, env={"METALNET_CPU_ISA": "sse9", "PATH": ""})
    assert done.returncode == 0, done.stderr
    if _registry.load("cpu") is not None:
        assert "METALNET_CPU_ISA='sse9' ignored" in done.stderr
