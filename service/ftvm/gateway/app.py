"""The REST gateway: an aiohttp server with one route per annotated RPC, each call forwarded over a grpc.aio channel
(the `Authorization` header becomes `authorization` metadata), and the reply or error written as spec §3/§5 say.

Statuses: 200 with the reply; 503 with `{"success": false, "error": ErrorCode}` for every gRPC error (the ErrorCode
from the rich status details; a status without one, such as UNAVAILABLE when the backend is down, gets SYS.1006,
or SYS.1000 for INTERNAL/UNKNOWN/DATA_LOSS). The gateway's own refusals use the same envelope: 400 SYS.1007
(malformed JSON, a wrong JSON type, an unknown field or query parameter, a missing or ill-formed `Authorization`),
404 SYS.1003 (no API at that path), 405 SYS.1007 (with `Allow`), 408 SYS.1007 (the body did not arrive in time; the
connection is closed), 413 SYS.1007 (body over 1 MiB), and 500 SYS.1000 only for a bug of the gateway itself.

Logs: ERROR with a traceback is for the gateway's own bugs only. A client's mistake (an HTTP message aiohttp cannot
parse, a body that cannot be read, stalls or is cut off by a disconnect) is one INFO line without traceback, beside
aiohttp's access-log line; a refused request (400 ...) has the access-log line only.

Request ids: the client's `X-Request-Id` (or a made one, observability/logs.py) is on every log line of the request,
goes to the gRPC server as `x-request-id` metadata, and comes back in the answer's `X-Request-Id`.

`ftvm serve` runs it in the server's process and loop (over a Unix socket of the server's); `ftvm gateway --target
HOST:PORT` runs it alone. Either may serve HTTPS (`ssl_context`); `channel_credentials` reach a gRPC server over TLS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from google.protobuf.message import DecodeError

from ftvm._proto.zstack.ft.v1 import types_pb2
from ftvm.api.errors import DESCRIPTIONS, error_from_status_details
from ftvm.api.metadata import FORWARDED_FOR, IDEMPOTENCY_KEY, REQUEST_ID
from ftvm.observability.logs import accepted_request_id, request_id

from .codec import BadRequest, decode_request, encode, parse_json
from .openapi import openapi_document
from .routes import Route, by_path, routes
from .ui import add_routes as add_ui_routes

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
CALL_TIMEOUT_SECONDS = 60.0
# The whole body must arrive within this time of its headers (408 and the connection closed after).
BODY_READ_TIMEOUT_SECONDS = 30.0
# A connection with no request in progress for this long is closed: idle between requests, before its first one, or
# still sending its headers. (Shorter than aiohttp's hour; balancers keep theirs shorter still, e.g. 60 s.)
KEEPALIVE_TIMEOUT_SECONDS = 75.0
STATUS_DETAILS_KEY = "grpc-status-details-bin"
REQUEST_ID_HEADER = "X-Request-Id"
# The ErrorCode codes of the envelopes the gateway writes itself.
INVALID_REQUEST = "SYS.1007"  # 400, 405, 408, 413
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
    return web.Response(
        status=status,
        body=json.dumps(payload, ensure_ascii=False).encode(),
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def _error_response(status: int, code: str, details: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(status, envelope(error_code(code, details)), headers)


def rpc_error_code(error: grpc.aio.AioRpcError) -> types_pb2.ErrorCode:
    """The ZStack ErrorCode the server packed in the rich status details, else one made from the status."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):  # a -bin key's value is bytes
            try:
                found = error_from_status_details(value)
            except DecodeError:
                found = None
            if found is not None:
                return found
    status = error.code()
    return error_code(INTERNAL if status in _BUG_STATUSES else BACKEND_FAILED, f"gRPC {status.name}: {error.details()}")


class UnreadableBody(Exception):
    """The body cannot be read to its end: malformed (400), not there in time (408), or the client is gone."""

    def __init__(self, status: int, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.details = details


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())  # aiohttp's parser errors span lines (the bad line and a caret under it)
    return f"{type(error).__name__}: {text[:300]}"


async def read_body(request: web.Request, timeout: float) -> bytes:
    """The whole body, within `timeout` seconds; else UnreadableBody (answered, and the connection closed)."""
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise UnreadableBody(408, f"the request body did not arrive within {timeout:g} s") from None
    except RequestPayloadError as e:  # a broken chunked or compressed encoding
        raise UnreadableBody(400, f"the request body cannot be read: {_one_line(e)}") from None
    except ConnectionError:
        raise UnreadableBody(400, "the client closed the connection before the whole body arrived") from None


async def _answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Sends `response` and closes the connection at once: the rest of the body is not worth waiting for (aiohttp
    would otherwise keep reading it for up to 10 s), and after a broken one the stream is lost anyway."""
    protocol = request.protocol
    if protocol.transport is not None:  # None: the client is gone, there is no one to answer
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        protocol.force_close()
    return response


class ServerLog(logging.LoggerAdapter):
    """aiohttp's server log for the gateway's connections. aiohttp logs an HTTP message it cannot parse, or a body
    that breaks off, as an ERROR with a traceback: that is the client's mistake, so here it is one INFO line. Anything
    else it reports (an error of ours) stays as it is."""

    def log(self, level: int, msg: object, *args: object, exc_info: Any = None, **kwargs: Any) -> None:
        if isinstance(exc_info, (HttpProcessingError, RequestPayloadError, ConnectionError)):
            super().log(logging.INFO, f"{msg}: %s", *args, _one_line(exc_info), **kwargs)
        else:
            super().log(level, msg, *args, exc_info=exc_info, **kwargs)


def session_metadata(header: str | None) -> tuple[tuple[str, str], ...]:
    if header is None:
        raise BadRequest("missing header 'Authorization'")
    match = _OAUTH.fullmatch(header.strip())
    if match is None:
        raise BadRequest("Authorization type must be 'OAuth'")
    return (("authorization", f"OAuth {match.group(1).strip()}"),)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request's id, for its log lines (aiohttp's access line included: it is logged in the same task) and the
    gRPC call, and echoed in the answer."""
    call_id = accepted_request_id(request.headers.get(REQUEST_ID_HEADER))
    request_id.set(call_id)
    response = await handler(request)
    response.headers[REQUEST_ID_HEADER] = call_id
    return response


@web.middleware
async def _envelopes(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Every answer is JSON with the ZStack envelope, aiohttp's own 404/405/413 included."""
    try:
        return await handler(request)
    except BadRequest as e:
        return _error_response(400, INVALID_REQUEST, str(e))
    except UnreadableBody as e:
        log.info("%s %s from %s: %s", request.method, request.path, request.remote, e.details)
        return await _answer_and_close(request, _error_response(e.status, INVALID_REQUEST, e.details))
    except web.HTTPMethodNotAllowed as e:
        allowed = ", ".join(sorted(e.allowed_methods))
        return _error_response(
            405,
            INVALID_REQUEST,
            f"{request.method} is not allowed on {request.path}; allowed: {allowed}",
            {"Allow": allowed},
        )
    except web.HTTPNotFound:
        return _error_response(404, NO_SUCH_API, f"no API at {request.path}")
    except web.HTTPRequestEntityTooLarge:
        return _error_response(413, INVALID_REQUEST, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    except Exception:  # a gateway bug: logged, answered 500 with the envelope
        log.exception("REST gateway error on %s %s", request.method, request.path)
        return _error_response(500, INTERNAL, "unexpected error in the REST gateway; see its log")


Forward = Callable[[web.Request, bytes], Awaitable[web.Response]]


def _forwarder(route: Route, call: grpc.aio.UnaryUnaryMultiCallable, call_timeout: float) -> Forward:
    """Sends the request (its body already read) to the route's RPC and answers as spec §5 says."""

    async def forward(request: web.Request, body: bytes) -> web.Response:
        metadata = () if route.public else session_metadata(request.headers.get("Authorization"))
        if request.remote:  # whom login limits count: the server trusts this only from a loopback peer (api.base)
            metadata += ((FORWARDED_FOR, request.remote),)
        key = request.headers.get("Idempotency-Key")
        if key is not None:  # names a create, so that its retries get the original reply (the server checks it)
            if not key.isascii() or not key.isprintable():
                raise BadRequest("header 'Idempotency-Key' must be printable ASCII")
            metadata += ((IDEMPOTENCY_KEY, key),)
        metadata += ((REQUEST_ID, request_id.get() or ""),)
        message = decode_request(route, body, request.match_info, request.query.items())
        try:
            reply = await call(message, metadata=metadata, timeout=call_timeout)
        except grpc.aio.AioRpcError as e:
            return json_response(503, envelope(rpc_error_code(e)))
        return json_response(200, encode(reply))

    return forward


def _handler(shared: tuple[Route, ...], forwards: tuple[Forward, ...], body_timeout: float):
    """One route, or the actions sharing a path: the body's one top-level key (camelCase or snake_case) picks."""
    if len(shared) == 1:
        route, forward = shared[0], forwards[0]

        async def handle(request: web.Request) -> web.Response:
            return await forward(request, await read_body(request, body_timeout) if route.body else b"")

        return handle
    by_key = {
        name: forward
        for route, forward in zip(shared, forwards)
        for name in (route.body_fields[0].json_name, route.body)
    }
    actions = sorted(r.body_fields[0].json_name for r in shared)

    async def dispatch(request: web.Request) -> web.Response:
        if not shared[0].public:  # the header is checked before the body is read, as for a route of its own
            session_metadata(request.headers.get("Authorization"))
        body = await read_body(request, body_timeout)
        document = parse_json(body)
        keys = [k for k in document if k in by_key] if isinstance(document, dict) else []
        if len(keys) != 1:
            raise BadRequest(f"the body must hold exactly one of the actions {actions}")
        return await by_key[keys[0]](request, body)

    return dispatch


def build_app(
    channel: grpc.aio.Channel,
    call_timeout: float = CALL_TIMEOUT_SECONDS,
    body_timeout: float = BODY_READ_TIMEOUT_SECONDS,
    metrics: Handler | None = None,
) -> web.Application:
    """`metrics`: the handler of GET /metrics (the server's; none in `ftvm gateway`)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_request_ids, _envelopes])
    table = routes()
    for (verb, template), shared in by_path(table).items():
        forwards = tuple(
            _forwarder(
                route,
                channel.unary_unary(
                    route.rpc_path,
                    request_serializer=route.input_class.SerializeToString,
                    response_deserializer=route.output_class.FromString,
                ),
                call_timeout,
            )
            for route in shared
        )
        app.router.add_route(verb, template, _handler(shared, forwards, body_timeout))
    document = json.dumps(openapi_document(table)).encode()

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json", charset="utf-8")

    app.router.add_get("/openapi.json", openapi)
    add_ui_routes(app)
    if metrics is not None:
        app.router.add_get("/metrics", metrics)
    return app


def http_url(host: str, port: int, tls: bool = False) -> str:
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


class Gateway:
    """REST in front of the gRPC server at `target`: `gateway = await Gateway.start(target, host, port)`, then
    `gateway.port` / `gateway.url`, and `await gateway.stop()` (in-flight requests finish first)."""

    def __init__(self, runner: web.AppRunner, channel: grpc.aio.Channel, host: str, port: int, tls: bool) -> None:
        self._runner = runner
        self._channel = channel
        self.host = host
        self.port = port
        self.tls = tls

    @property
    def url(self) -> str:
        return http_url(self.host, self.port, self.tls)

    @classmethod
    async def start(
        cls,
        target: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        call_timeout: float = CALL_TIMEOUT_SECONDS,
        grace_seconds: float = 10.0,
        body_timeout: float = BODY_READ_TIMEOUT_SECONDS,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT_SECONDS,
        reuse_port: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        channel_credentials: grpc.ChannelCredentials | None = None,
        metrics: Handler | None = None,
    ) -> Gateway:
        """`reuse_port`: share the port with other processes (the workers of `ftvm serve --workers N`); `ssl_context`:
        serve HTTPS; `channel_credentials`: reach `target` over TLS; `metrics`: the handler of GET /metrics."""
        # No receive cap: the server caps what it sends, and a reply it sent must reach the client.
        options = [("grpc.max_receive_message_length", -1)]
        if channel_credentials is None:
            channel = grpc.aio.insecure_channel(target, options=options)
        else:
            channel = grpc.aio.secure_channel(target, channel_credentials, options=options)
        runner = web.AppRunner(
            build_app(channel, call_timeout, body_timeout, metrics),
            shutdown_timeout=grace_seconds,
            keepalive_timeout=keepalive_timeout,
            logger=ServerLog(logging.getLogger("aiohttp.server")),
        )
        try:
            await runner.setup()
            await web.TCPSite(runner, host, port, reuse_port=reuse_port, ssl_context=ssl_context).start()
        except BaseException:
            await runner.cleanup()
            await channel.close()
            raise
        return cls(runner, channel, host, runner.addresses[0][1], ssl_context is not None)

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._channel.close()


def serve(
    target: str,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    channel_credentials: grpc.ChannelCredentials | None = None,
) -> int:
    """`ftvm gateway`: runs until SIGTERM or SIGINT."""

    async def main() -> None:
        gateway = await Gateway.start(
            target, host, port, ssl_context=ssl_context, channel_credentials=channel_credentials
        )
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
