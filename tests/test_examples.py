"""The scripts in examples/ run from start to end (one epoch each, in a scratch folder)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skimage")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def test_every_example_is_listed():
    assert {s.stem for s in SCRIPTS} >= {"lenet5_digits", "mlp_breast_cancer", "lstm_dna",
                                         "autoencoder_digits", "resnet18_pathology"}


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_example_runs(script, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    done = subprocess.run([sys.executable, str(script), "--epochs", "1"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test" in done.stdout
