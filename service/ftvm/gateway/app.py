"""The REST gateway: an aiohttp server with one route per annotated RPC, each call forwarded over a grpc.aio channel
(the `Authorization` header becomes `authorization` metadata), and the reply or error written as spec §3/§5 say.

Statuses: 200 with the reply; 503 with `{"success": false, "error": ErrorCode}` for every gRPC error (the ErrorCode
from the rich status details; a status without one, such as UNAVAILABLE when the backend is down, gets SYS.1006,
or SYS.1000 for INTERNAL/UNKNOWN/DATA_LOSS). The gateway's own refusals use the same envelope: 400 SYS.1007
(malformed JSON, a wrong JSON type, an unknown field or query parameter, a missing or ill-formed `Authorization`),
404 SYS.1003 (no API at that path), 405 SYS.1007 (with `Allow`), 413 SYS.1007 (body over 1 MiB), and 500 SYS.1000
only for a bug of the gateway itself (logged).

`ftvm serve` runs it in the server's process and loop; `ftvm gateway --target HOST:PORT` runs it alone. Both take
the same path: the in-process gateway talks to its own gRPC port over loopback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
from typing import Any, Awaitable, Callable

import grpc
from aiohttp import web
from google.protobuf.message import DecodeError

from ftvm._proto.zstack.ft.v1 import types_pb2
from ftvm.api.errors import DESCRIPTIONS, error_from_status_details

from .codec import BadRequest, decode_request, encode
from .openapi import openapi_document
from .routes import Route, routes

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
CALL_TIMEOUT_SECONDS = 60.0
STATUS_DETAILS_KEY = "grpc-status-details-bin"
# The ErrorCode codes of the envelopes the gateway writes itself.
INVALID_REQUEST = "SYS.1007"  # 400, 405, 413
NO_SUCH_API = "SYS.1003"  # 404
BACKEND_FAILED = "SYS.1006"  # a gRPC error without an ErrorCode (backend down, deadline, message too large)
INTERNAL = "SYS.1000"  # INTERNAL/UNKNOWN/DATA_LOSS without an ErrorCode; a gateway bug (500)
_BUG_STATUSES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})

# `OAuth <session>`: the session is printable ASCII, as gRPC metadata values must be.
_OAUTH = re.compile(r"OAuth +([\x21-\x7e][\x20-\x7e]*)")


def error_code(code: str, details: str) -> types_pb2.ErrorCode:
    return types_pb2.ErrorCode(code=code, description=DESCRIPTIONS[code], details=details)


def envelope(error: types_pb2.ErrorCode) -> dict[str, Any]:
    return {"success": False, "error": encode(error)}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, ensure_ascii=False).encode(), headers=headers,
                        content_type="application/json", charset="utf-8")


def _error_response(status: int, code: str, details: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(status, envelope(error_code(code, details)), headers)


def rpc_error_code(error: grpc.aio.AioRpcError) -> types_pb2.ErrorCode:
    """The ZStack ErrorCode the server packed in the rich status details, else one made from the status."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            try:
                found = error_from_status_details(value)
            except DecodeError:
                found = None
            if found is not None:
                return found
    status = error.code()
    return error_code(INTERNAL if status in _BUG_STATUSES else BACKEND_FAILED, f"gRPC {status.name}: {error.details()}")


def session_metadata(header: str | None) -> tuple[tuple[str, str], ...]:
    if header is None:
        raise BadRequest("missing header 'Authorization'")
    match = _OAUTH.fullmatch(header.strip())
    if match is None:
        raise BadRequest("Authorization type must be 'OAuth'")
    return (("authorization", f"OAuth {match.group(1).strip()}"),)


@web.middleware
async def _envelopes(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Every answer is JSON with the ZStack envelope, aiohttp's own 404/405/413 included."""
    try:
        return await handler(request)
    except BadRequest as e:
        return _error_response(400, INVALID_REQUEST, str(e))
    except web.HTTPMethodNotAllowed as e:
        allowed = ", ".join(sorted(e.allowed_methods))
        return _error_response(405, INVALID_REQUEST, f"{request.method} is not allowed on {request.path}; "
                                                     f"allowed: {allowed}", {"Allow": allowed})
    except web.HTTPNotFound:
        return _error_response(404, NO_SUCH_API, f"no API at {request.path}")
    except web.HTTPRequestEntityTooLarge:
        return _error_response(413, INVALID_REQUEST, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    except Exception:  # noqa: BLE001 -- a gateway bug: logged, answered 500 with the envelope
        log.exception("REST gateway error on %s %s", request.method, request.path)
        return _error_response(500, INTERNAL, "unexpected error in the REST gateway; see its log")


def _handler(route: Route, call: grpc.aio.UnaryUnaryMultiCallable, timeout: float):
    async def handle(request: web.Request) -> web.Response:
        metadata = () if route.public else session_metadata(request.headers.get("Authorization"))
        body = await request.read() if route.body else b""
        message = decode_request(route, body, request.match_info, request.query.items())
        try:
            reply = await call(message, metadata=metadata, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            return json_response(503, envelope(rpc_error_code(e)))
        return json_response(200, encode(reply))

    return handle


def build_app(channel: grpc.aio.Channel, call_timeout: float = CALL_TIMEOUT_SECONDS) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_envelopes])
    table = routes()
    for route in table:
        call = channel.unary_unary(route.rpc_path, request_serializer=route.input_class.SerializeToString,
                                   response_deserializer=route.output_class.FromString)
        app.router.add_route(route.verb, route.template, _handler(route, call, call_timeout))
    document = json.dumps(openapi_document(table)).encode()

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json", charset="utf-8")

    app.router.add_get("/openapi.json", openapi)
    return app


def http_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Gateway:
    """REST in front of the gRPC server at `target`: `gateway = await Gateway.start(target, host, port)`, then
    `gateway.port` / `gateway.url`, and `await gateway.stop()` (in-flight requests finish first)."""

    def __init__(self, runner: web.AppRunner, channel: grpc.aio.Channel, host: str, port: int) -> None:
        self._runner = runner
        self._channel = channel
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return http_url(self.host, self.port)

    @classmethod
    async def start(cls, target: str, host: str = "127.0.0.1", port: int = 0, *,
                    call_timeout: float = CALL_TIMEOUT_SECONDS, grace_seconds: float = 10.0) -> "Gateway":
        # No receive cap: the server caps what it sends, and a reply it sent must reach the client.
        channel = grpc.aio.insecure_channel(target, options=[("grpc.max_receive_message_length", -1)])
        runner = web.AppRunner(build_app(channel, call_timeout), shutdown_timeout=grace_seconds)
        try:
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            await channel.close()
            raise
        return cls(runner, channel, host, runner.addresses[0][1])

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._channel.close()


def serve(target: str, host: str, port: int) -> int:
    """`ftvm gateway`: runs until SIGTERM or SIGINT."""

    async def main() -> None:
        gateway = await Gateway.start(target, host, port)
        print(f"ftvm: REST listening on {gateway.url} (gRPC backend {target})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await gateway.stop()
        print("ftvm: gateway stopped", flush=True)

    asyncio.run(main())
    return 0
