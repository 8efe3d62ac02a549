"""`ftvm` command line: argparse with one small function per subcommand.

    ftvm serve [--data-dir DIR] [--grpc-port N] [--http-port N | --no-gateway] [--inventory FILE]
    ftvm gateway --target HOST:PORT [--http-host HOST] [--http-port N]
    ftvm bench placement [--hosts 1000,10000,100000,1000000] [--requests N] [--engines rust,numpy,cpsat,nova]
                         [--batch/--no-batch] [--json] [--seed S]

    ftvm bench service [--concurrency 1,8,32,64] [--requests N] [--json]
    ftvm call [--target HOST:PORT] [--session UUID | --login ACCOUNT:PASSWORD] (--list | METHOD [JSON])

New commands (serve, call, ...) add an `_add_<name>(subparsers)` function and register it in `COMMANDS`.
Each sets `func` (called with the parsed namespace, returns the exit code); heavy imports happen inside `func`.
"""

from __future__ import annotations

import argparse
import os
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
    from ftvm.bench import service

    p = bsub.add_parser("service", help="CreateFaultToleranceVmInstance over gRPC against a real `ftvm serve`",
                        description=service.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    service.add_arguments(p)
    p.set_defaults(func=_run_bench_service)


def _run_bench_placement(args: argparse.Namespace) -> int:
    from ftvm.bench import placement

    return placement.run_cli(args)


def _run_bench_service(args: argparse.Namespace) -> int:
    from ftvm.bench import service

    return service.run_cli(args)


def _add_call(sub: argparse._SubParsersAction) -> None:
    from ftvm import client

    p = sub.add_parser("call", help="call any RPC by name with a JSON request (try the API)",
                       description=client.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    client.add_arguments(p)
    p.set_defaults(func=_run_call)


def _run_call(args: argparse.Namespace) -> int:
    from ftvm import client

    return client.run_cli(args)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the service: gRPC and the REST gateway (SQLite under --data-dir; demo "
                                     "inventory on first start)",
                       description="Runs the FT VM service (gRPC, and REST on --http-port) until SIGTERM/SIGINT. On "
                                   "first start (empty database) it loads --inventory FILE, else the demo inventory, "
                                   "and creates the admin account.")
    p.add_argument("--data-dir", default=os.environ.get("FTVM_DATA_DIR", "ftvm-data"),
                   help="where the SQLite database lives (default: ./ftvm-data or $FTVM_DATA_DIR)")
    p.add_argument("--grpc-host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--grpc-port", type=int, default=50051, help="gRPC port; 0 picks a free one (default 50051)")
    _add_http_arguments(p)
    p.add_argument("--no-gateway", action="store_true", help="serve gRPC only (no REST gateway)")
    p.add_argument("--inventory", metavar="FILE",
                   help="YAML/JSON inventory loaded on first start (docs/inventory-file.md)")
    p.add_argument("--no-demo", action="store_true", help="start with an empty inventory instead of the demo")
    p.add_argument("--database-url", help="sqlite:///PATH (default sqlite:///<data-dir>/ftvm.db) or "
                                          "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, which several "
                                          "replicas share")
    p.add_argument("--log-level", default="WARNING", help="Python log level (default WARNING)")
    p.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    import logging

    from ftvm.server import ServerConfig, serve

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(ServerConfig(data_dir=args.data_dir, grpc_host=args.grpc_host, grpc_port=args.grpc_port,
                              http_host=args.http_host, http_port=None if args.no_gateway else args.http_port,
                              inventory_file=args.inventory, with_demo=not args.no_demo,
                              database_url=args.database_url))


def _add_http_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--http-host", default="127.0.0.1", help="REST address to listen on (default 127.0.0.1)")
    p.add_argument("--http-port", type=int, default=8080, help="REST port; 0 picks a free one (default 8080)")


def _add_gateway(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gateway", help="run the REST gateway alone, in front of a running gRPC server",
                       description="Serves ZStack's REST API (routes from the proto's google.api.http annotations, "
                                   "OpenAPI at /openapi.json) and forwards every call to the gRPC server at --target. "
                                   "Runs until SIGTERM/SIGINT.")
    p.add_argument("--target", default=os.environ.get("FTVM_TARGET") or "127.0.0.1:50051",
                   help="the gRPC server, HOST:PORT (default $FTVM_TARGET or 127.0.0.1:50051)")
    _add_http_arguments(p)
    p.add_argument("--log-level", default="WARNING", help="Python log level (default WARNING)")
    p.set_defaults(func=_run_gateway)


def _run_gateway(args: argparse.Namespace) -> int:
    import logging

    from ftvm.gateway import serve

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.target, args.http_host, args.http_port)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_serve, _add_gateway, _add_call, _add_bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftvm", description="Fault-tolerant VM placement service")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`ftvm call --list | head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
