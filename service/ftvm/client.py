"""`ftvm call`: a small gRPC client for trying any RPC of the service by name, with JSON in and out.

    ftvm call --list
    ftvm call --target 127.0.0.1:PORT --login admin:PASSWORD QueryHost '{"limit": 2}'
    ftvm call --session UUID CreateFaultToleranceVmInstance '{"name": "vm1", "imageUuid": "...", ...}'
    ftvm call --session UUID zstack.ft.v1.VmService/QueryVmInstance '{"q": ["state=Running"]}'
    echo '{"uuid": "..."}' | ftvm call --session UUID DestroyVmInstance -

METHOD is an RPC found in the service descriptors (`services_pb2.DESCRIPTOR`, plus grpc.health.v1): its short
name (`QueryHost`), `Service/Method`, or the full `zstack.ft.v1.VmService/QueryVmInstance`. JSON is the request
in proto JSON (camelCase or snake_case field names, `google.protobuf.json_format.Parse`); `-` reads it from stdin,
`@FILE` from a file; default `{}`. The response is printed as proto JSON (camelCase), every field included.

`--login ACCOUNT:PASSWORD` logs in first (the password is sent as its SHA-512 hex, as ZStack clients do);
`--login ACCOUNT` takes the password from `FTVM_ADMIN_PASSWORD`. `--session UUID` (or `FTVM_SESSION`) uses an
existing session. Without either, no `authorization` metadata is sent (fine for LogInByAccount and Health/Check).
`--tls-ca FILE` connects over TLS trusting that CA (with `--tls-cert`/`--tls-key` for a server that asks for a
client certificate); the target's host must be a name in the server's certificate.
`--target` defaults to `FTVM_TARGET`, else 127.0.0.1:50051; several replicas are given comma-separated
(`--target 127.0.0.1:50051,127.0.0.1:50052`): calls go round-robin over them and a call that finds its replica
unavailable is retried on another (the shipped service config, `grpc_service_config.json`). A create is sent with
an `idempotency-key` (`--idempotency-key`, else a fresh one), so such a retry returns the original reply.

On an error the status code and message go to stderr, the `zstack.ft.v1.ErrorCode` from the rich status details
(`grpc-status-details-bin`) is printed as JSON on stdout, and the exit status is 1 (2 for usage errors: unknown
method, malformed JSON).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftvm import tls

DEFAULT_TARGET = "127.0.0.1:50051"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class Method:
    service: str  # full service name, e.g. zstack.ft.v1.VmService
    name: str  # e.g. QueryVmInstance
    input_type: Any  # message class
    output_type: Any  # message class
    http_method: str | None  # GET, POST, ... from the google.api.http annotation
    http_path: str | None
    http_body: str | None

    @property
    def full_name(self) -> str:
        return f"{self.service}/{self.name}"

    @property
    def path(self) -> str:
        """The gRPC path, `/package.Service/Method`."""
        return f"/{self.full_name}"


_METHODS: list[Method] | None = None


def methods() -> list[Method]:
    """Every RPC of the service (proto order), then grpc.health.v1.Health/Check."""
    global _METHODS
    if _METHODS is None:
        from google.api import annotations_pb2
        from google.protobuf import message_factory
        from grpc_health.v1 import health_pb2

        from ftvm._proto.zstack.ft.v1 import services_pb2

        out = []
        for file in (services_pb2.DESCRIPTOR, health_pb2.DESCRIPTOR):
            for service in file.services_by_name.values():
                for m in service.methods:
                    if m.client_streaming or m.server_streaming:
                        continue  # Health/Watch: a stream, not for this client
                    verb = path = body = None
                    options = m.GetOptions()
                    if options.HasExtension(annotations_pb2.http):
                        rule = options.Extensions[annotations_pb2.http]
                        kind = rule.WhichOneof("pattern")
                        if kind == "custom":
                            verb, path = rule.custom.kind, rule.custom.path
                        elif kind:
                            verb, path = kind.upper(), getattr(rule, kind)
                        body = rule.body or None
                    # types-protobuf: GetMessageClass takes protobuf's Python Descriptor, the health stubs give
                    # upb's (what every descriptor is at run time)
                    out.append(
                        Method(
                            service.full_name,
                            m.name,
                            message_factory.GetMessageClass(m.input_type),  # type: ignore[arg-type]
                            message_factory.GetMessageClass(m.output_type),  # type: ignore[arg-type]
                            verb,
                            path,
                            body,
                        )
                    )
        _METHODS = out
    return _METHODS


class UnknownMethod(LookupError):
    pass


def find_method(name: str) -> Method:
    """`QueryHost`, `InventoryService/QueryHost`, `zstack.ft.v1.InventoryService/QueryHost` (a leading `/` and
    `.` instead of `/` are accepted too). Case-sensitive; an ambiguous short name is an error naming the choices."""
    key = name.strip().lstrip("/")
    all_ = methods()
    exact = [m for m in all_ if key in (m.full_name, f"{m.service}.{m.name}")]
    if exact:
        return exact[0]
    if "/" in key or "." in key:
        svc, _, meth = key.replace("/", ".").rpartition(".")
        hits = [m for m in all_ if m.name == meth and (m.service == svc or m.service.endswith("." + svc))]
    else:
        hits = [m for m in all_ if m.name == key]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise UnknownMethod(f"ambiguous method {name!r}: {', '.join(m.full_name for m in hits)}")
    import difflib

    short = key.replace("/", ".").rpartition(".")[2]
    names = {m.name: m.full_name for m in all_}
    close = [names[n] for n in difflib.get_close_matches(short, list(names), n=5, cutoff=0.6)]
    hint = f"; did you mean {', '.join(close[:5])}?" if close else "; see `ftvm call --list`"
    raise UnknownMethod(f"unknown method {name!r}{hint}")


def list_table() -> str:
    rows = [(m.full_name, f"{m.http_method} {m.http_path}" if m.http_path else "-") for m in methods()]
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


# ---- talking to the server ----------------------------------------------------------------------------------


def password_hash(password: str) -> str:
    """What LogInByAccount expects: the SHA-512 hex of the password (as ZStack clients send it)."""
    return hashlib.sha512(password.encode()).hexdigest()


def login_request(account: str, password: str):
    from ftvm._proto.zstack.ft.v1 import services_pb2

    return services_pb2.LogInByAccountRequest(
        log_in_by_account=services_pb2.LogInByAccountParams(account_name=account, password=password_hash(password))
    )


def auth_metadata(session: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"OAuth {session}"),) if session else ()


def login(channel, account: str, password: str, timeout: float = 30.0) -> str:
    """Logs in over a synchronous channel and answers the session uuid (raises grpc.RpcError)."""
    m = find_method("zstack.ft.v1.AccountService/LogInByAccount")
    reply = unary(channel, m)(login_request(account, password), timeout=timeout)
    return reply.inventory.uuid


async def login_async(channel, account: str, password: str, timeout: float = 30.0) -> str:
    """The same over a grpc.aio channel."""
    m = find_method("zstack.ft.v1.AccountService/LogInByAccount")
    reply = await unary(channel, m)(login_request(account, password), timeout=timeout)
    return reply.inventory.uuid


def unary(channel, method: Method):
    """A callable for `method` on a grpc (sync or aio) channel."""
    return channel.unary_unary(
        method.path,
        request_serializer=method.input_type.SerializeToString,
        response_deserializer=method.output_type.FromString,
    )


def error_code_of(error) -> Any:
    """The zstack.ft.v1.ErrorCode in a grpc error's rich status details, or None."""
    from ftvm.api.errors import error_from_status_details

    try:
        trailing = error.trailing_metadata() or ()
    except Exception:  # noqa: BLE001 -- an error without trailers (e.g. the channel never connected)
        return None
    for key, value in trailing:
        if key == STATUS_DETAILS_KEY:
            try:
                return error_from_status_details(value)
            except Exception:  # noqa: BLE001 -- not a google.rpc.Status: report the status code only
                return None
    return None


def to_json(message) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(message, always_print_fields_with_no_presence=True, indent=2, ensure_ascii=False)


def parse_request(method: Method, text: str):
    from google.protobuf import json_format

    request = method.input_type()
    json_format.Parse(text or "{}", request)
    return request


# ---- channels ---------------------------------------------------------------------------------------------------

SERVICE_CONFIG = (Path(__file__).parent / "grpc_service_config.json").read_text()


def channel_target(targets: str) -> str:
    """`host:port`, or comma-separated IP `host:port`s of several replicas as one gRPC target (`ipv4:a,b`)."""
    addresses = [t.strip() for t in targets.split(",") if t.strip()]
    if len(addresses) == 1:
        return addresses[0]
    scheme = "ipv6" if all(a.startswith("[") for a in addresses) else "ipv4"
    return f"{scheme}:{','.join(addresses)}"


def channel_options() -> list[tuple[str, Any]]:
    """Round-robin over the target's addresses and retries on UNAVAILABLE (the shipped service config)."""
    return [("grpc.service_config", SERVICE_CONFIG), ("grpc.enable_retries", 1)]


def open_channel(targets: str, client_tls: tls.ClientTls | None = None):
    """A channel to `targets`, over TLS with `client_tls`."""
    import grpc

    if client_tls is not None:
        return grpc.secure_channel(channel_target(targets), client_tls.grpc_credentials(), options=channel_options())
    return grpc.insecure_channel(channel_target(targets), options=channel_options())


def open_aio_channel(targets: str, extra_options: Sequence[tuple[str, Any]] = ()):
    """The same for asyncio clients (grpc.aio), with channel options of the caller's beside the shipped ones."""
    import grpc

    return grpc.aio.insecure_channel(channel_target(targets), options=channel_options() + list(extra_options))


# ---- the command ----------------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--target",
        default=os.environ.get("FTVM_TARGET") or DEFAULT_TARGET,
        help=f"server address host:port, or several comma-separated (default $FTVM_TARGET or {DEFAULT_TARGET})",
    )
    p.add_argument(
        "--idempotency-key",
        help="name of a create, so that a retry gets the original reply (default: a fresh one per call)",
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument(
        "--session",
        default=os.environ.get("FTVM_SESSION") or None,
        help="session uuid sent as 'authorization: OAuth UUID' (default $FTVM_SESSION)",
    )
    auth.add_argument(
        "--login", metavar="ACCOUNT[:PASSWORD]", help="log in first (password from $FTVM_ADMIN_PASSWORD when not given)"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="deadline of each call in seconds (default 30)")
    tls.add_client_arguments(p)
    p.add_argument("--list", action="store_true", help="list the RPCs with their REST paths and exit")
    p.add_argument(
        "method",
        nargs="?",
        metavar="METHOD",
        help="RPC name: QueryHost, VmService/QueryVmInstance or zstack.ft.v1.VmService/QueryVmInstance",
    )
    p.add_argument(
        "json",
        nargs="?",
        metavar="JSON",
        default="{}",
        help="request as proto JSON (camelCase); '-' reads stdin, '@FILE' a file; default {}",
    )
    return p


def _read_json_arg(text: str) -> str:
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as f:
            return f.read()
    return text


def _report_rpc_error(error, what: str) -> int:
    code = error.code()
    name = code.name if code is not None else "UNKNOWN"
    print(f"ftvm call: {what} failed: {name}: {error.details()}", file=sys.stderr)
    error_code = error_code_of(error)
    payload = {"status": name}
    if error_code is not None:
        payload["error"] = json.loads(to_json(error_code))
    print(json.dumps(payload, indent=2, ensure_ascii=False), flush=True)
    return 1


def run_cli(args: argparse.Namespace) -> int:
    if args.list:
        print(list_table(), flush=True)
        return 0
    if not args.method:
        print("ftvm call: METHOD is required (or --list)", file=sys.stderr)
        return 2
    try:
        method = find_method(args.method)
    except UnknownMethod as e:
        print(f"ftvm call: {e}", file=sys.stderr)
        return 2
    from google.protobuf import json_format

    try:
        request = parse_request(method, _read_json_arg(args.json))
    except (json_format.ParseError, OSError) as e:
        print(f"ftvm call: bad request JSON for {method.input_type.DESCRIPTOR.full_name}: {e}", file=sys.stderr)
        return 2

    try:
        client_tls = tls.client_tls(args.tls_ca, args.tls_cert, args.tls_key)
    except tls.TlsConfigError as e:
        print(f"ftvm call: {e}", file=sys.stderr)
        return 2

    import grpc

    with open_channel(args.target, client_tls) as channel:
        session = args.session
        if args.login:
            account, sep, password = args.login.partition(":")
            if not sep:
                password = os.environ.get("FTVM_ADMIN_PASSWORD")
                if password is None:
                    print("ftvm call: --login ACCOUNT needs :PASSWORD or $FTVM_ADMIN_PASSWORD", file=sys.stderr)
                    return 2
            try:
                session = login(channel, account, password, timeout=args.timeout)
            except grpc.RpcError as e:
                return _report_rpc_error(e, "login")
        metadata = auth_metadata(session)
        if method.name == "CreateFaultToleranceVmInstance":
            metadata += (("idempotency-key", args.idempotency_key or uuid.uuid4().hex),)
        try:
            reply = unary(channel, method)(request, metadata=metadata, timeout=args.timeout)
        except grpc.RpcError as e:
            return _report_rpc_error(e, method.name)
    print(to_json(reply), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = add_arguments(argparse.ArgumentParser(prog="ftvm call", description=__doc__.split("\n\n")[0]))
    return run_cli(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
