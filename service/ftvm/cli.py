"""`ftvm` command line: argparse with one small function per subcommand.

    ftvm bench placement [--hosts 1000,10000,100000,1000000] [--requests N] [--engines rust,numpy,cpsat,nova]
                         [--batch/--no-batch] [--json] [--seed S]

New commands (serve, call, ...) add an `_add_<name>(subparsers)` function and register it in `COMMANDS`.
Each sets `func` (called with the parsed namespace, returns the exit code); heavy imports happen inside `func`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence


def _add_bench(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmarks", description="benchmarks")
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    from ftvm.bench import placement

    p = bsub.add_parser("placement", help="placement engines side by side (rust, numpy, CP-SAT, Nova)",
                        description=placement.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    placement.add_arguments(p)
    p.set_defaults(func=_run_bench_placement)


def _run_bench_placement(args: argparse.Namespace) -> int:
    from ftvm.bench import placement

    return placement.run_cli(args)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftvm", description="Fault-tolerant VM placement service")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
