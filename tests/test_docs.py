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
    rounding (the printed error), and its backward returns one gradient per input."""
    (block,) = _python_blocks("lstm.md")
    scope = {}
    exec(compile(block, "docs/lstm.md", "exec"), scope)
    printed = float(capsys.readouterr().out.split()[-1])
    assert printed == np.abs(scope["hs"] - scope["hs_ref"]).max() and printed < 1e-13
    assert np.allclose(scope["c_last"], scope["c_ref"], rtol=0, atol=1e-13)
    for name, like in (("dx", "x"), ("dh0", "h0"), ("dc0", "c0"), ("dw_ih", "w_ih"),
                       ("dw_hh", "w_hh"), ("db", "b")):
        assert scope[name].shape == scope[like].shape and np.isfinite(scope[name]).all(), name
