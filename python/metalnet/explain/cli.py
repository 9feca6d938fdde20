"""``metalnet explain ...``: the explainer on the command line.

    metalnet explain conv --input 1x5x5 --kernel 1x3x3 --stride 2,1 --padding 1
    metalnet explain pool --input 1x4x4 --kernel 2 --mode max --save figures/
    metalnet explain compare --input 1x16x32x32 --kernel 32x16x3x3 --padding 1
    metalnet explain winograd
"""
from __future__ import annotations

import argparse
import sys


def _ints(value: str, separators: str) -> tuple[int, ...]:
    for sep in separators:
        value = value.replace(sep, " ")
    try:
        return tuple(int(v) for v in value.split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers, got {value!r}") from None


def shape(value: str) -> tuple[int, ...]:
    """'1x5x5' -> (1, 5, 5)."""
    out = _ints(value.lower(), "x,")
    if not out:
        raise argparse.ArgumentTypeError(f"expected a shape such as 1x5x5, got {value!r}")
    return out


def geometry(value: str):
    """'2' -> 2, '3,2' -> (3, 2), '1,0,2,1' -> (1, 0, 2, 1): the forms metalnet._args takes."""
    out = _ints(value, ",x")
    if len(out) not in (1, 2, 4):
        raise argparse.ArgumentTypeError(f"expected N, ROW,COL or TOP,BOTTOM,LEFT,RIGHT, got "
                                         f"{value!r}")
    return out[0] if len(out) == 1 else out


def _friendly(command):
    """A ValueError (a layer that cannot exist) becomes a one-line message and exit status 2."""
    def run(args) -> int:
        try:
            return command(args)
        except ValueError as exc:
            print(f"metalnet explain: error: {exc}", file=sys.stderr)
            return 2
    return run


def _conv(args) -> int:
    from .explainer import conv2d

    e = conv2d(args.input, args.kernel, args.stride, args.padding, args.dilation,
               out_channels=args.out_channels, bias=not args.no_bias, dtype=args.dtype)
    print(e)
    _save(e, args.save)
    return 0


def _pool(args) -> int:
    from .explainer import pool2d

    e = pool2d(args.input, args.kernel, args.stride, args.padding, mode=args.mode,
               count_include_pad=not args.exclude_pad, dtype=args.dtype)
    print(e)
    _save(e, args.save)
    return 0


def _compare(args) -> int:
    from .compare import compare_algorithms

    compare_algorithms(args.input, args.kernel, stride=args.stride, padding=args.padding,
                       dilation=args.dilation, dtype=args.dtype, repeat=args.repeat,
                       direct_limit=args.direct_limit)
    return 0


def _winograd(args) -> int:
    from . import winograd

    print(winograd.explanation())
    if args.save:
        from . import figures
        _report(figures.save({"matrices": figures.winograd_figure()}, args.save, "winograd"))
    return 0


def _save(e, directory) -> None:
    if directory:
        _report(e.save_figures(directory))


def _report(paths) -> None:
    print("\nfigures written:")
    for path in paths:
        print(f"  {path}")


def _common(p, *, dilation: bool = True, save: bool = True) -> None:
    p.add_argument("--stride", type=geometry, default=1, help="N or ROW,COL (default 1)")
    p.add_argument("--padding", type=geometry, default=0,
                   help="N, ROW,COL or TOP,BOTTOM,LEFT,RIGHT (default 0)")
    if dilation:
        p.add_argument("--dilation", type=geometry, default=1, help="N or ROW,COL (default 1)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="storage type the byte counts assume (default float32)")
    if save:
        p.add_argument("--save", metavar="DIR", help="also write the figures as PNG files "
                       "into DIR (needs matplotlib)")


def add_parser(sub) -> None:
    """Add the ``explain`` command to the top-level subparsers ``sub``."""
    p = sub.add_parser("explain", help="convolution and pooling explained step by step",
                       description="Convolution and pooling explained: output sizes, the cells "
                       "each output reads, im2col, costs, algorithms and figures.")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    kinds = p.add_subparsers(dest="what", metavar="WHAT")

    conv = kinds.add_parser("conv", help="explain a convolution layer")
    conv.add_argument("--input", type=shape, required=True, help="HxW, CxHxW or NxCxHxW")
    conv.add_argument("--kernel", type=shape, required=True, help="RxS, CxRxS or KxCxRxS")
    conv.add_argument("--out-channels", type=int, default=1,
                      help="K when --kernel leaves it out (default 1)")
    conv.add_argument("--no-bias", action="store_true", help="the layer has no bias")
    _common(conv)
    conv.set_defaults(func=_friendly(_conv))

    pool = kinds.add_parser("pool", help="explain a max or average pooling layer")
    pool.add_argument("--input", type=shape, required=True, help="HxW, CxHxW or NxCxHxW")
    pool.add_argument("--kernel", type=geometry, default=2, help="window: N or ROWxCOL")
    pool.add_argument("--mode", choices=["max", "avg"], default="max")
    pool.add_argument("--exclude-pad", action="store_true",
                      help="avg: divide by the real cells only (count_include_pad=False)")
    _common(pool, dilation=False)
    pool.set_defaults(func=_friendly(_pool), stride=None)

    compare = kinds.add_parser("compare", help="direct, im2col, Winograd and FFT side by side")
    compare.add_argument("--input", type=shape, default=(1, 16, 32, 32), help="NxCxHxW")
    compare.add_argument("--kernel", type=shape, default=(32, 16, 3, 3), help="KxCxRxS")
    compare.add_argument("--repeat", type=int, default=3, help="runs per timing (best is kept)")
    compare.add_argument("--direct-limit", type=int, default=2_000_000,
                         help="skip the pure-Python loops above this many multiply-adds")
    _common(compare, save=False)
    compare.set_defaults(func=_friendly(_compare), padding=1)

    wino = kinds.add_parser("winograd", help="Winograd F(2x2, 3x3) and its matrices")
    wino.add_argument("--save", metavar="DIR", help="also write the matrices figure into DIR")
    wino.set_defaults(func=_winograd)
