"""The ``metalnet`` command line (also ``python -m metalnet``)."""
from __future__ import annotations

import argparse
import json
import sys

from .bench.cli import add_parser as add_bench_parser
from .explain.cli import add_parser as add_explain_parser
from .train.cli import add_parser as add_train_parser


def _cmd_info(args) -> int:
    from .info import format_info, info

    data = info()
    print(json.dumps(data, indent=2, default=str) if args.json else format_info(data))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metalnet",
        description="Hand-written C++/CUDA kernels for the networks of deep learning courses.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_info = sub.add_parser("info", help="version, backends, per-primitive implementations, CPU/GPU")
    p_info.add_argument("--json", action="store_true", help="print the report as JSON")
    p_info.set_defaults(func=_cmd_info)
    add_explain_parser(sub)
    add_train_parser(sub)
    add_bench_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
