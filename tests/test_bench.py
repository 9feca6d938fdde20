"""``metalnet bench``: the quick run on the CPU writes a valid JSON report and PNG figures and
its table has a row for every implementation available here; bad arguments fail clearly; the
pytest-benchmark suites read the same workload list. No speed is asserted anywhere."""
from __future__ import annotations

import io
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

try:
    import resource
except ImportError:  # not on this platform: the allocator test skips
    resource = None

import metalnet
from metalnet.__main__ import main
from metalnet.bench import impls, runner, suites, timing, workloads
from metalnet.bench.progress import Progress

BENCHMARKS = str(Path(__file__).resolve().parents[1] / "benchmarks")
SUITES = ("gemm", "conv", "pool", "act", "lstm", "train")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run of every suite on the CPU, as a user would start it."""
    out = tmp_path_factory.mktemp("bench")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "metalnet", "bench", "--quick", "--device",
                           "cpu", "--out", str(out), "--seed", "7"],
                          capture_output=True, text=True, timeout=300)
    return proc, out, time.perf_counter() - t0


@pytest.mark.slow
def test_quick_run_writes_valid_json(quick_run):
    proc, out, _ = quick_run
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "bench.json").read_text())
    assert doc["quick"] and doc["devices"] == ["cpu"] and doc["suites"] == list(SUITES)
    machine = doc["machine"]
    for key in ("cpu_model", "isa", "threads", "gpus", "metalnet", "numpy", "torch"):
        assert key in machine
    cpu = doc["ceilings"]["cpu"]
    assert cpu["compute"]["flops_per_s"] > 0 and "GEMM" in cpu["compute"]["method"]
    assert cpu["memory"]["bytes_per_s"] > 0 and "copyto" in cpu["memory"]["method"]
    for row in doc["results"]:
        assert row["error"] is None, row
        assert row["median_s"] > 0 and row["rate"] > 0 and row["of_ceiling"] > 0
        assert row["rounds"] >= timing.QUICK.min_rounds


@pytest.mark.slow
def test_quick_run_compares_every_available_implementation(quick_run):
    proc, out, _ = quick_run
    doc = json.loads((out / "bench.json").read_text())
    expected = [i.name for i in impls.for_device("cpu")]
    assert "numpy" in expected and doc["implementations"] == expected
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    for suite in SUITES:
        names = {r["workload"] for r in doc["results"] if r["suite"] == suite}
        assert names, f"suite {suite} produced no rows"
        for workload in names:
            rows = [line for line in table if line.startswith(f"| {workload} |")]
            assert {line.split(" | ")[1] for line in rows} == set(expected), workload
    # metalnet's rows say what runs, from the same table `metalnet info` prints.
    info = metalnet.info()["primitives"]
    if "metalnet cpu" in expected:
        conv = next(r for r in doc["results"]
                    if r["suite"] == "conv" and r["impl"] == "metalnet cpu")
        assert conv["runs"] == info["conv2d_forward"]["cpu"]
        assert set(conv["speedup"]) == set(expected) - {"metalnet cpu"}


@pytest.mark.slow
def test_quick_run_draws_figures_and_stays_quick(quick_run):
    pytest.importorskip("matplotlib")
    proc, out, seconds = quick_run
    doc = json.loads((out / "bench.json").read_text())
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "roofline-cpu.png" in pngs and "bench-gemm.png" in pngs
    assert len(doc["figures"]) == len(pngs)
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert seconds < 120, "--quick is meant to finish in under a minute"


@pytest.mark.parametrize("argv, message", [
    (["bench", "matmul"], "unknown suite 'matmul': expected one of gemm, conv, pool, act"),
    (["bench", "--device", "tpu"], "unknown device 'tpu': expected a comma-separated list of "
                                   "cpu, cuda"),
    (["bench", "--device", ","], "--device is empty"),
])
def test_bad_arguments_name_what_is_valid(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unusable_cuda_says_why(capsys):
    if impls.for_device("cuda"):
        pytest.skip("a GPU implementation is available here")
    assert main(["bench", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "nothing can run on 'cuda' here" in err and "metalnet cuda:" in err


def test_benchmark_suites_share_the_workload_list():
    sys.path.insert(0, BENCHMARKS)
    try:
        import workloads as suite_workloads
    finally:
        sys.path.remove(BENCHMARKS)
    assert suite_workloads.GEMM is workloads.GEMM
    assert suite_workloads.TENSOR is workloads.TENSOR and suite_workloads.POOLS is workloads.POOLS
    gemm = suites.cases(["gemm"], quick=False)
    assert [c.name for c in gemm] == [f"gemm {workloads.gemm_id(s)}" for s in workloads.GEMM]


def test_torch_twins_have_the_models_parameters():
    """The PyTorch peers of the training benchmarks are metalnet's models, parameter for
    parameter (counts per tensor shape, in order)."""
    torch = pytest.importorskip("torch")
    from metalnet import models
    from metalnet.bench import torch_models
    pairs = [(models.lenet5(10, 1, input_size=28), torch_models.lenet5(torch)),
             (models.lenet5(10, 1), torch_models.lenet5(torch, 32)),
             (models.resnet18(10, stem="cifar"), torch_models.resnet18_cifar(torch)),
             (models.vgg11(num_classes=10), torch_models.vgg11_bn(torch))]
    for ours, theirs in pairs:
        assert sorted(tuple(p.shape) for p in ours.parameters()) == \
            sorted(tuple(p.shape) for p in theirs.parameters())


def test_full_train_suite_adds_resnet_without_the_numpy_backend():
    names = [c.name for c in suites.cases(["train"], quick=False)]
    assert names == ["lenet5 train step batch 256", "resnet18 (CIFAR) train step batch 32"]
    resnet = suites.cases(["train"], quick=False)[1]
    numpy_impl = impls.Impl("numpy", "numpy", "cpu", "numpy")
    assert resnet.build(numpy_impl, np.random.default_rng(0)) is None
    # ResNet-18 on 32x32 images: about 0.56 G multiply-adds per image; a step is three forwards.
    assert resnet.flops == pytest.approx(3 * 32 * 2 * 0.556e9, rel=0.02)


def test_conv_workloads_are_the_course_layers():
    conv = {workloads.conv_id(c) for c in workloads.CONV}
    assert "256x1x28x28 -> 6@5x5 p2" in conv and "8x3x224x224 -> 64@7x7 s2 p3" in conv
    assert workloads.CONV[3].out_hw == (56, 56) and workloads.CONV[5].out_hw == (112, 112)


def test_peers_share_values_but_not_arrays():
    """Per case one seed: every implementation computes on the same values, freshly drawn."""
    case = suites.cases(["act"], quick=True)[0]
    seen = []
    original = case.build

    def spy(impl, rng):
        seen.append(rng.standard_normal(4))
        return original(impl, rng)
    object.__setattr__(case, "build", spy)
    cpu = [i for i in impls.for_device("cpu") if i.family != "torch"]
    runner.run([case], cpu, timing.Budget(warmup=0, min_rounds=1, max_rounds=1, seconds=0))
    assert len(seen) == len(cpu) and all(np.array_equal(seen[0], s) for s in seen)


def test_inputs_are_fresh_and_not_zero():
    cases = suites.cases(["gemm"], quick=True)
    numpy_impl = impls.Impl("numpy", "numpy", "cpu", "numpy")
    rng = np.random.default_rng(0)
    a = cases[0].build(numpy_impl, rng)()
    b = cases[0].build(numpy_impl, rng)()
    assert np.any(a != 0) and not np.array_equal(a, b)


def test_measure_keeps_warmup_out_and_reports_the_median():
    calls = []

    class Clock(timing.HostClock):
        def stop(self):
            return float(len(calls))   # round i "takes" i seconds

    stats = timing.measure(lambda: calls.append(1), Clock(),
                           timing.Budget(warmup=2, min_rounds=5, max_rounds=5, seconds=0))
    assert len(calls) == 7 and stats.rounds == 5
    assert stats.median == 5.0 and stats.best == 3.0


_ALLOCATOR_PROBE = r"""
import resource, numpy as np, torch
from metalnet.bench import timing
torch.set_num_threads(1)
x = torch.from_numpy(np.random.default_rng(0).standard_normal((256, 6, 14, 14), dtype=np.float32))
w = torch.from_numpy(np.random.default_rng(1).standard_normal((16, 6, 5, 5), dtype=np.float32))
def faults(calls=10):
    torch.nn.functional.conv2d(x, w)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        torch.nn.functional.conv2d(x, w)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
fresh = faults()
timing.settle_allocator()
print(fresh, faults())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or resource is None,
                    reason="the mmap threshold is glibc's")
def test_settled_allocator_stops_fresh_pages_per_call():
    """In a fresh process PyTorch's LeNet convolution faults in fresh pages on every call (its
    temporaries are new mappings); after settle_allocator they come back from the heap. Counted
    in page faults, not time."""
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, "-c", _ALLOCATOR_PROBE], capture_output=True,
                         text=True, check=True).stdout
    fresh, settled = (int(v) for v in out.split())
    assert fresh > 1000          # the problem is there to solve ...
    assert settled < fresh / 10  # ... and settling solves it


def test_ratios_compare_every_peer_of_a_workload():
    rows = [{"workload": "w", "impl": "a", "median_s": 1.0},
            {"workload": "w", "impl": "b", "median_s": 3.0},
            {"workload": "v", "impl": "a", "median_s": 9.0}]
    runner.add_ratios(rows)
    assert rows[0]["speedup"] == {"b": 3.0} and rows[1]["speedup"] == {"a": pytest.approx(1 / 3)}
    assert rows[2]["speedup"] == {}


def test_progress_bar_draws_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    pipe, terminal = io.StringIO(), Terminal()
    for stream in (pipe, terminal):
        bar = Progress(4, stream=stream)
        bar.advance()
        bar.show("gemm 512")
        bar.close()
    assert pipe.getvalue() == ""
    drawn = terminal.getvalue()
    assert "[######------------------] 1/4" in drawn and "gemm 512" in drawn
