"""Convolution and pooling explained: the arithmetic, the algorithms, the pictures.

- ``conv2d(input_shape, kernel_shape, stride=, padding=, dilation=)`` and
  ``pool2d(input_shape, kernel_size, ...)``: an explanation whose text (``str()``/``print``)
  works out the output size step by step, lists which input cells each output reads, prints
  the im2col matrix and counts parameters, FLOPs and bytes.
- ``conv2d_direct``, ``conv2d_im2col``, ``conv2d_winograd``, ``conv2d_fft``: readable NumPy
  algorithms, each equal to ``metalnet.reference.conv2d_forward``.
- ``compare_algorithms(input_shape, kernel_shape)``: their multiplication counts and times
  next to ``metalnet.ops.conv2d_forward``.
- ``metalnet.explain.figures`` (needs matplotlib): the pictures, drawn off-screen.

On the command line: ``metalnet explain conv --input 1x5x5 --kernel 1x3x3 --stride 2,1``.
"""
from .algorithms import ALGORITHMS
from .compare import compare_algorithms
from .direct import conv2d_direct
from .explainer import ConvExplanation, PoolExplanation, conv2d, pool2d
from .fft import conv2d_fft
from .geometry import Axis, ConvGeometry
from .im2col import conv2d_im2col, im2col_matrix
from .winograd import conv2d_winograd

__all__ = [
    "conv2d", "pool2d", "ConvExplanation", "PoolExplanation", "Axis", "ConvGeometry",
    "ALGORITHMS", "conv2d_direct", "conv2d_im2col", "conv2d_winograd", "conv2d_fft",
    "im2col_matrix", "compare_algorithms",
]
