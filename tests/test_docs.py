"""The tutorials' code runs as printed and shows what their text says."""
from __future__ import annotations

import pathlib
import re

import numpy as np

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def _python_blocks(name):
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), re.S)


def test_lstm_tutorial_code_matches_the_reference(capsys):
    """docs/lstm.md: the sequence kernel agrees with the step-by-step reference to float64
    rounding (the printed error), its backward returns one gradient per input, and its
    inference form returns the same states without a cache."""
    (block,) = _python_blocks("lstm.md")
    scope = {}
    exec(compile(block, "docs/lstm.md", "exec"), scope)
    lines = capsys.readouterr().out.splitlines()
    printed = float(lines[0])
    assert printed == np.abs(scope["hs"] - scope["hs_ref"]).max() and printed < 1e-13
    # Inference (keep_cache=False) gives the same states and no cache, as the text prints.
    assert lines[1] == "True True None"
    assert np.allclose(scope["hs_inf"], scope["hs_ref"], rtol=0, atol=1e-13)
    assert scope["no_cache"] is None
    assert np.allclose(scope["c_last"], scope["c_ref"], rtol=0, atol=1e-13)
    for name, like in (("dx", "x"), ("dh0", "h0"), ("dc0", "c0"), ("dw_ih", "w_ih"),
                       ("dw_hh", "w_hh"), ("db", "b")):
        assert scope[name].shape == scope[like].shape and np.isfinite(scope[name]).all(), name


def _winograd4_matrices():
    """B^T, G and A^T as printed in docs/convolution.md's F(4x4, 3x3) paragraph."""
    from fractions import Fraction
    text = (DOCS / "convolution.md").read_text()
    block = text[text.index("    B^T = ["):].split("\n\n")[0].splitlines()
    rows = [re.findall(r"\[([^\]]*)\]", line) for line in block]
    as_numbers = lambda row: [float(Fraction(v)) for v in row.split()]
    bt = np.array([as_numbers(r[0]) for r in rows])
    g = np.array([as_numbers(r[1]) for r in rows])
    at = np.array([as_numbers(r[2]) for r in rows if len(r) == 3])
    return bt, g, at


def test_winograd4_matrices_in_the_text_compute_the_correlation(rng):
    """The printed F(4x4, 3x3) matrices give the 4x4 correlation of a 6x6 patch with a 3x3
    kernel, to float64 rounding."""
    bt, g_mat, at = _winograd4_matrices()
    assert bt.shape == (6, 6) and g_mat.shape == (6, 3) and at.shape == (4, 6)
    for _ in range(5):
        d = rng.standard_normal((6, 6))
        w = rng.standard_normal((3, 3))
        direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * w) for j in range(4)]
                           for i in range(4)])
        y = at @ ((g_mat @ w @ g_mat.T) * (bt @ d @ bt.T)) @ at.T
        assert np.allclose(y, direct, rtol=0, atol=1e-12), np.abs(y - direct).max()
