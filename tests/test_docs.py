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
