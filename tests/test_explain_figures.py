"""The explainer's figures draw off-screen and write real PNG files."""
import pytest

from metalnet import explain

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_pngs(paths, names):
    assert sorted(p.name for p in paths) == sorted(names)
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 2000, path


def test_conv_figures(tmp_path):
    e = explain.conv2d((1, 5, 5), (1, 3, 3), stride=(2, 1), padding=(1, 0, 1, 2),
                       dilation=(1, 2))
    _assert_pngs(e.save_figures(tmp_path), ["conv_windows.png", "conv_im2col.png"])


def test_figures_of_a_large_layer_leave_out_the_numbers(tmp_path):
    e = explain.conv2d((1, 3, 40, 40), (4, 3, 3, 3), padding=1)
    figures = e.figures()
    im2col_axes = figures["im2col"].axes[1]
    assert not im2col_axes.texts, "a 27 x 1600 matrix must not be labelled cell by cell"
    _assert_pngs(e.save_figures(tmp_path), ["conv_windows.png", "conv_im2col.png"])


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_figures(mode, tmp_path):
    e = explain.pool2d((1, 5, 6), 3, stride=2, padding=1, mode=mode)
    _assert_pngs(e.save_figures(tmp_path), [f"{mode}pool_windows.png"])


def test_winograd_figure(tmp_path):
    from metalnet.explain import figures

    fig = figures.winograd_figure()
    assert len(fig.axes) == 3
    _assert_pngs(figures.save({"matrices": fig}, tmp_path, "winograd"),
                 ["winograd_matrices.png"])
