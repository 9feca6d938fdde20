"""``metalnet explain ...`` on the command line."""
import pytest

from metalnet.__main__ import main


def test_conv(capsys):
    assert main(["explain", "conv", "--input", "1x5x5", "--kernel", "1x3x3", "--stride", "2,1",
                 "--padding", "1"]) == 0
    out = capsys.readouterr().out
    assert "stride       (rows, cols) = (2, 1)" in out
    assert "H_out=3  W_out=5" in out and "= 2 + 1 = 3" in out
    assert "(3*3*1 + 1)*1 = 10" in out


def test_conv_asymmetric_padding_and_filters(capsys):
    assert main(["explain", "conv", "--input", "7x6", "--kernel", "3x3", "--out-channels", "6",
                 "--stride", "3,2", "--padding", "1,0,2,1", "--no-bias"]) == 0
    out = capsys.readouterr().out
    assert "(top, bottom, left, right) = (1, 0, 2, 1)" in out
    assert "R*S*C*K = 3*3*1*6 = 54" in out


def test_pool_with_figures(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    assert main(["explain", "pool", "--input", "1x4x4", "--kernel", "2", "--save",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Max pooling explained" in out and "stride       (rows, cols) = (2, 2)" in out
    assert (tmp_path / "maxpool_windows.png").stat().st_size > 0


def test_compare(capsys):
    assert main(["explain", "compare", "--input", "1x2x6x6", "--kernel", "3x2x3x3",
                 "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("direct", "im2col", "winograd", "fft", "reference", "ops"):
        assert f"  {name} " in out
    assert "metalnet.ops.conv2d_forward" in out


def test_winograd(capsys):
    assert main(["explain", "winograd"]) == 0
    out = capsys.readouterr().out
    assert "4 multiplications" in out and "B^T" in out and "A^T" in out


def test_impossible_layer_is_a_clear_error(capsys):
    assert main(["explain", "conv", "--input", "2x2", "--kernel", "3x3"]) == 2
    assert "does not fit" in capsys.readouterr().err


def test_bad_shape_is_rejected_by_the_parser():
    with pytest.raises(SystemExit):
        main(["explain", "conv", "--input", "1xfive", "--kernel", "3x3"])


def test_info_still_works(capsys):
    assert main(["info"]) == 0
    assert "metalnet" in capsys.readouterr().out
