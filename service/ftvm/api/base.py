"""What every servicer method shares: the session check, admin-only guard, and FtError -> rich gRPC status.

Decorate each RPC with `@rpc()` (or `@rpc(admin=True)`, or `@rpc(public=True)` for login). The method then receives
the caller's `Account` (None for public RPCs) and may raise FtError; a database that cannot be reached is answered
SYS.1006 with status UNAVAILABLE (retry later); anything else is logged and answered SYS.1000.
Register servicers with `add_servicer`: a request that cannot be decoded is then answered SYS.1007 like any other
bad argument (gRPC's own answer is a bare UNKNOWN "Unexpected DecodeError", logged with a traceback).
Every call runs with its request id (`x-request-id` metadata, or a made one; echoed in the trailing metadata) and
counts in `ftvm_rpc_duration_seconds` by method and answer.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import unquote

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError

from ftvm._proto.zstack.ft.v1 import services_pb2
from ftvm.domain.accounts import Account, Accounts
from ftvm.domain.errors import FtError, database_unavailable, internal, invalid, permission_denied
from ftvm.observability import metrics
from ftvm.observability.logs import accepted_request_id, request_id
from ftvm.store import StoreUnavailable

from .errors import to_status
from .metadata import AUTHORIZATION, FORWARDED_FOR, REQUEST_ID

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # gRPC messages each way (the server's channel options use it too)


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    """The first text value of a metadata key (None when absent)."""
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return None


async def caller_account(accounts: Accounts, context: grpc.aio.ServicerContext) -> Account:
    header = metadata_value(context, AUTHORIZATION)
    if header is None:
        raise FtError("ID.1001", "missing session: send metadata 'authorization: OAuth <sessionUuid>'")
    kind, _, session_uuid = header.strip().partition(" ")
    if kind != "OAuth" or not session_uuid.strip():
        raise FtError("ID.1001", "Authorization type must be 'OAuth', as 'authorization: OAuth <sessionUuid>'")
    return await accounts.authenticate(session_uuid.strip())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return (ip.ipv4_mapped or ip) if ip.version == 6 else ip


def client_address(peer: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """Whom a login counts against: the gRPC peer's IP (`ipv4:10.0.0.7:52100` -> `10.0.0.7`). A peer on this
    machine (the REST gateway over its Unix socket, or any local process on loopback: inside the trust boundary, as
    the database is) may name the client it forwards for in `x-forwarded-for`; the last entry counts, the one the
    nearest proxy added. From any other peer the header is ignored, or every client could pick its own address."""
    kind, _, rest = unquote(peer).partition(":")
    host = rest.rpartition(":")[0].strip("[]") if kind in ("ipv4", "ipv6") else ""
    ip = _ip(host)
    if ip is None and kind != "unix":
        return peer  # neither IP nor a Unix socket: the peer as gRPC names it
    if ip is None or ip.is_loopback:
        forwarded = [v for k, v in metadata or () if k == FORWARDED_FOR and isinstance(v, str)]
        claimed = _ip(forwarded[-1].rpartition(",")[2]) if forwarded else None
        if claimed is not None:
            return str(claimed)
    return peer if ip is None else str(ip)


# Every RPC's work runs as its own task, shielded from the call: a client that cancels (or a deadline that expires)
# after a create's rows were queued must not cancel the create half-way, or its undo would run while its commit
# lands. The call's own await is cancelled; the work finishes (committing or undoing itself) and its reply is
# dropped. `drain()` waits for such work at shutdown, before the store closes.
_work: set[asyncio.Task] = set()


async def drain(timeout: float) -> None:
    loop = asyncio.get_running_loop()
    pending = [t for t in _work if t.get_loop() is loop and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


class UndecodableRequest:
    """What a method receives instead of a request whose bytes are not its message."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _lenient(decode: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def lenient_decode(data: bytes) -> Any:
        try:
            return decode(data)
        except DecodeError as e:
            return UndecodableRequest(str(e))

    return lenient_decode


def add_servicer(server: grpc.aio.Server, service_name: str, servicer: Any) -> None:
    """What the generated `add_<Service>Servicer_to_server` does, with a request decoder that never raises."""
    service = services_pb2.DESCRIPTOR.services_by_name[service_name]
    handlers = {}
    for method in service.methods:
        request = message_factory.GetMessageClass(method.input_type)
        reply = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=_lenient(request.FromString),
            response_serializer=reply.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


def rpc(admin: bool = False, public: bool = False) -> Callable:
    def decorate(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        latency: dict[str, Any] = {}  # answer code -> its ftvm_rpc_duration_seconds child, bound on first use

        def observe(code: str, started: float) -> None:
            child = latency.get(code)
            if child is None:
                child = latency[code] = metrics.RPC_SECONDS.labels(method.__name__, code)
            child.observe(time.perf_counter() - started)

        async def work(self, request, context: grpc.aio.ServicerContext) -> Any:
            """The reply, or the FtError to answer with."""
            try:
                if isinstance(request, UndecodableRequest):
                    raise invalid(f"the request is not a valid {method.__name__} message: {request.reason}")
                account = None if public else await caller_account(self.accounts, context)
                if admin and (account is None or not account.is_admin):
                    raise permission_denied(f"{type(request).__name__[:-7]} is an admin-only API")
                reply = await method(self, request, context, account)
                if reply.ByteSize() > MAX_MESSAGE_BYTES:  # gRPC would answer a bare RESOURCE_EXHAUSTED
                    raise invalid(
                        f"the reply would be {reply.ByteSize()} bytes, over the {MAX_MESSAGE_BYTES}-byte "
                        "message limit: ask for a smaller page (limit)"
                    )
                return reply
            except FtError as e:
                return e
            except StoreUnavailable as e:
                log.warning("%s: the database is unavailable (%s)", method.__qualname__, e)
                return database_unavailable(str(e))
            except Exception:  # a bug: answered as SYS.1000, never a bare crash
                log.exception("unexpected error in %s", method.__qualname__)
                return internal(f"unexpected error in {method.__name__}; see the server log")

        @functools.wraps(method)
        async def handler(self, request, context: grpc.aio.ServicerContext):
            started = time.perf_counter()
            call_id = accepted_request_id(metadata_value(context, REQUEST_ID))
            request_id.set(call_id)  # this call's task: its work (a task made from it) and every line it logs
            echo = ((REQUEST_ID, call_id),)
            task = asyncio.ensure_future(work(self, request, context))
            _work.add(task)
            task.add_done_callback(_work.discard)
            outcome = await asyncio.shield(task)
            if isinstance(outcome, FtError):
                observe(outcome.code, started)
                status = to_status(outcome)
                await context.abort(status.code, status.details, tuple(status.trailing_metadata) + echo)
            observe("OK", started)
            context.set_trailing_metadata(echo)
            return outcome

        return handler

    return decorate
