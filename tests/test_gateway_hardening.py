"""The REST gateway against careless and hostile HTTP clients, over real sockets in front of a real server: a body
that stalls and an idle connection are closed, a client's mistake never logs an ERROR or a traceback (a gateway
bug still does), JSON that json_format would read leniently is refused, and uuids in the path or query string are
held to the uuid limit (as DestroyVmInstance and GetFaultToleranceVms hold them over gRPC)."""

from __future__ import annotations

import json
import logging
import socket
import time
from concurrent import futures

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from test_gateway import ENVELOPE_KEYS, Site, sha512

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm._proto.zstack.ft.v1 import services_pb2_grpc as pb_grpc
from ftvm._proto.zstack.ft.v1 import types_pb2
from ftvm.contract import MAX_UUID_LENGTH
from ftvm.gateway import Gateway, Route
from ftvm.gateway.app import ServerLog
from ftvm.gateway.codec import BadRequest, decode_request
from service_support import ADMIN_PASSWORD, G, inventory, log_in, rpc_error, start_server

SHORT_TIMEOUT = 2.0  # body read and keep-alive idle of the test's own gateway
SAFETY_SECONDS = 60.0  # a socket read that waits longer has found a connection the server never closes
CREATE = "/zstack/v1/vm-instances/fault-tolerance"
OPENAPI = b"GET /openapi.json HTTP/1.1\r\nHost: gateway\r\n\r\n"  # public, small, kept alive


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=64, memory_gib=257)
    with start_server(tmp_path_factory.mktemp("hardening"), spec, http_port=0) as server:
        yield Site(server)


@pytest.fixture(scope="module")
def quick(site):
    """A second gateway in front of the same server, with short body-read and keep-alive timeouts."""
    server = site.server
    gateway = server.call(
        lambda: Gateway.start(server.target, body_timeout=SHORT_TIMEOUT, keepalive_timeout=SHORT_TIMEOUT)
    )
    yield gateway
    server.call(gateway.stop)


# -- raw HTTP over a socket -----------------------------------------------------------------------------------------
def read_to_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout if it never does)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(port: int, *requests: bytes) -> bytes:
    """Sends each request once the answer to the one before has arrived; everything the server sent in the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=SAFETY_SECONDS) as sock:
        received = b""
        for i, request in enumerate(requests):
            while i and len(responses(received)) < i:
                chunk = sock.recv(65536)
                assert chunk, f"the connection closed before the answer to request {i}: {received[:300]!r}"
                received += chunk
            sock.sendall(request)
        return received + read_to_eof(sock)


def responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """(status, headers with lower-case names, body) of each complete response in `raw`."""
    out = []
    while b"\r\n\r\n" in raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", len(rest)))
        if len(rest) < length:
            break
        out.append((int(status_line.split(" ")[1]), headers, rest[:length]))
        raw = rest[length:]
    return out


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """The one response in `raw`."""
    [response] = responses(raw)
    return response


def post(path: str, body: bytes, *extra: str) -> bytes:
    """A POST with a session-shaped Authorization (the body is read before the backend sees the session)."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: gateway",
        "Authorization: OAuth no-such-session",
        "Content-Type: application/json",
        *extra,
    ]
    if not any(line.lower().startswith(("content-length", "transfer-encoding")) for line in extra):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def envelope_code(raw: bytes, expected_status: int) -> str:
    status, headers, body = parse(raw)
    assert status == expected_status, raw[:500]
    assert headers["content-type"].startswith("application/json")
    document = json.loads(body)
    assert set(document) == {"success", "error"} and set(document["error"]) == ENVELOPE_KEYS
    return document["error"]["code"]


# -- 1. timeouts ----------------------------------------------------------------------------------------------------
def test_a_stalled_body_is_answered_408_and_the_connection_closed(quick):
    raw = exchange(quick.port, post("/zstack/v1/zones", b'{"name": "ha', "Content-Length: 100"))
    assert envelope_code(raw, 408) == "SYS.1007"
    _, headers, body = parse(raw)
    assert headers["connection"] == "close"
    assert json.loads(body)["error"]["details"] == f"the request body did not arrive within {SHORT_TIMEOUT:g} s"


@pytest.mark.parametrize(
    "sent",
    [
        OPENAPI,  # idle after a keep-alive request
        b"",  # never sends a request
        OPENAPI[:30],  # headers never finished
    ],
    ids=["idle-after-a-request", "no-request", "half-the-headers"],
)
def test_an_idle_connection_is_closed_by_the_server(quick, sent):
    raw = exchange(quick.port, sent)  # returns once the server has closed the connection
    if sent == OPENAPI:
        status, headers, body = parse(raw)
        assert status == 200 and "connection" not in headers  # kept alive, then closed when idle
        assert json.loads(body)["openapi"] == "3.1.0"
    else:
        assert raw == b""


# -- 2. logs --------------------------------------------------------------------------------------------------------
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a": ' * 50_000 + b"1" + b"}" * 50_000
CLIENT_MISTAKES = {  # name: (requests, one after the other's answer; the statuses they are answered with)
    "tls-on-the-http-port": ([b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n"], [400]),
    "bad-request-line": ([b"GET /zstack/v1/zones HTTP/1.1 extra\r\nHost: gateway\r\n\r\n"], [400]),
    "garbage-after-a-request": ([OPENAPI, b"G\x01T / HTTP/1.1\r\n\r\n"], [200, 400]),
    "control-character-in-a-header": (
        [b"GET /zstack/v1/zones HTTP/1.1\r\nHost: gateway\r\nX-A: a\x01b\r\n\r\n"],
        [400],
    ),
    "header-line-too-long": ([b"GET /zstack/v1/zones HTTP/1.1\r\nX-A: " + b"a" * 20_000 + b"\r\n\r\n"], [400]),
    "bad-chunked-encoding": (
        [post("/zstack/v1/zones", b"zz\r\nabc\r\n0\r\n\r\n", "Transfer-Encoding: chunked")],
        [400],
    ),
    "content-length-and-chunked": (
        [post("/zstack/v1/zones", b"0\r\n\r\n", "Transfer-Encoding: chunked", "Content-Length: 5")],
        [400],
    ),
    "broken-gzip-body": ([post("/zstack/v1/zones", b"not gzip at all", "Content-Encoding: gzip")], [400]),
    "invalid-utf8-json": ([post("/zstack/v1/zones", b'{"name": "\xff\xfe"}', "Connection: close")], [400]),
    "deeply-nested-json-list": ([post("/zstack/v1/zones", DEEP, "Connection: close")], [400]),
    "deeply-nested-json-object": ([post("/zstack/v1/zones", DEEP_OBJECT, "Connection: close")], [400]),
    "body-stalls": ([post("/zstack/v1/zones", b'{"name": "ha', "Content-Length: 100")], [408]),
}


def _wait_for(caplog, found, what: str, count: int = 1):
    deadline = time.monotonic() + SAFETY_SECONDS
    while time.monotonic() < deadline:
        records = [r for r in caplog.records if found(r)]
        if len(records) >= count:
            return records
        time.sleep(0.05)
    raise AssertionError(f"no log record for {what}")


def _assert_one_quiet_line(caplog, requests: int = 1) -> None:
    """Each request's access-log line is written last; then the gateway's and aiohttp's records are checked: no
    traceback, nothing above INFO, at most one INFO line besides the access log."""
    _wait_for(caplog, lambda r: r.name == "aiohttp.access", "the access log", requests)
    ours = [r for r in caplog.records if r.name.startswith(("ftvm", "aiohttp"))]
    assert [r.getMessage() for r in ours if r.exc_info or r.exc_text] == []
    assert [r.getMessage() for r in ours if r.levelno > logging.INFO] == []
    explained = [r for r in ours if r.levelno == logging.INFO and r.name != "aiohttp.access"]
    assert len(explained) <= 1, [r.getMessage() for r in explained]
    assert all("\n" not in r.getMessage() for r in explained)


@pytest.mark.parametrize("case", CLIENT_MISTAKES)
def test_a_client_mistake_logs_one_info_line_without_traceback(quick, caplog, case):
    caplog.set_level(logging.DEBUG)
    requests, statuses = CLIENT_MISTAKES[case]
    raw = exchange(quick.port, *requests)
    assert [status for status, _, _ in responses(raw)] == statuses, raw[:300]
    _assert_one_quiet_line(caplog, len(requests))


@pytest.mark.parametrize("body", [b'{"name": "ha', b'3\r\n{"n\r\nzz\r\n'], ids=["content-length", "chunked"])
def test_a_client_that_disconnects_mid_body_is_one_info_line(quick, caplog, body):
    caplog.set_level(logging.DEBUG)
    framing = "Transfer-Encoding: chunked" if body.startswith(b"3") else "Content-Length: 100"
    with socket.create_connection(("127.0.0.1", quick.port), timeout=SAFETY_SECONDS) as sock:
        # 100-continue: once it arrives the handler has the request, so the close lands in the middle of its read
        sock.sendall(post("/zstack/v1/zones", b"", framing, "Expect: 100-continue"))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
    gone = _wait_for(caplog, lambda r: r.name == "ftvm.gateway.app", "the disconnect")
    assert gone[0].levelno == logging.INFO and "closed the connection before the whole body" in gone[0].getMessage()
    _assert_one_quiet_line(caplog)


class _BrokenBackend(pb_grpc.AccountServiceServicer):
    """Answers LogInByAccount with a session expiring some 10^11 years from now: the message decodes (nothing checks
    a Timestamp's range on the wire), the gateway's date printer raises on it, and the gateway has no answer for
    that but a 500: a bug of the gateway."""

    def LogInByAccount(self, request, context):
        return pb.LogInByAccountResponse(
            inventory=types_pb2.SessionInventory(uuid="s", expired_date=Timestamp(seconds=1 << 62))
        )


def test_a_gateway_bug_still_logs_an_error_with_its_traceback(site, caplog):
    backend = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_AccountServiceServicer_to_server(_BrokenBackend(), backend)
    port = backend.add_insecure_port("127.0.0.1:0")
    backend.start()
    gateway = site.server.call(lambda: Gateway.start(f"127.0.0.1:{port}"))
    try:
        caplog.set_level(logging.INFO)
        body = json.dumps({"logInByAccount": {"accountName": "admin", "password": sha512("x")}}).encode()
        raw = exchange(
            gateway.port,
            b"PUT /zstack/v1/accounts/login HTTP/1.1\r\nHost: gateway\r\nConnection: "
            b"close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        )
        assert envelope_code(raw, 500) == "SYS.1000"
    finally:
        site.server.call(gateway.stop)
        backend.stop(0)
    bug = [r for r in caplog.records if r.name == "ftvm.gateway.app"]
    assert len(bug) == 1 and bug[0].levelno == logging.ERROR and bug[0].exc_info is not None


def test_aiohttp_reports_of_our_own_errors_stay_errors(caplog):
    """The filter on aiohttp's server log passes everything but a client's HTTP mistakes on unchanged."""
    caplog.set_level(logging.DEBUG)
    ServerLog(logging.getLogger("aiohttp.server")).exception("Unhandled exception", exc_info=RuntimeError("bug"))
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info[0] is RuntimeError


# -- 3. JSON leniency -----------------------------------------------------------------------------------------------
def _refused(site: Site, method: str, path: str, body: bytes | dict | None = None) -> str:
    return site(method, path, body).error(400, "SYS.1007")["details"]


@pytest.mark.parametrize(
    "body, key",
    [
        (b'{"name": "a", "name": "b"}', "name"),  # top level
        (b'{"params": {"name": "a", "description": "x", "name": "b"}}', "name"),  # the SDK shape's params
        (b'{"name": "a", "extra": [{"deep": {"k": 1, "k": 2}}]}', "k"),  # any depth, even of an unknown field
    ],
    ids=["top-level", "in-params", "deep"],
)
def test_a_duplicate_json_key_is_refused(site, body, key):
    assert f"the key '{key}' is given twice" in _refused(site, "POST", "/zstack/v1/zones", body)


def test_a_duplicate_key_in_a_named_body_field_is_refused(site):
    body = (
        b'{"logInByAccount": {"accountName": "admin", "accountName": "nobody", "password": "%s"}}'
        % sha512(ADMIN_PASSWORD).encode()
    )
    reply = site("PUT", "/zstack/v1/accounts/login", body, session=None)
    assert "the key 'accountName' is given twice" in reply.error(400, "SYS.1007")["details"]


@pytest.mark.parametrize("shape", ["flat", "params-and-beside", "both-in-params"])
def test_a_field_under_both_its_names_is_refused(site, shape):
    body = site.create_body(name=f"both-{shape}")
    other = site.image["centos"]
    if shape == "flat":
        body["image_uuid"] = other
    elif shape == "params-and-beside":
        body = {"params": body, "image_uuid": other}
    else:
        body = {"params": {**body, "image_uuid": other}}
    assert _refused(site, "POST", CREATE, body) == (
        "field 'imageUuid' of CreateFaultToleranceVmInstanceRequest is given twice, as 'imageUuid' and 'image_uuid'"
    )


def test_a_nested_field_under_both_its_names_is_refused(site):
    host = site.host["host-1"]
    details = _refused(
        site,
        "PUT",
        f"/zstack/v1/hosts/{host}/actions",
        {"changeHostState": {"stateEvent": "disable", "state_event": "enable"}},
    )
    assert "'stateEvent' of ChangeHostStateParams is given twice, as 'stateEvent' and 'state_event'" in details
    assert site.catalog.hosts[host]["state"] == "Enabled"


def test_a_query_parameter_under_both_its_names_is_refused(site):
    details = _refused(site, "GET", "/zstack/v1/hosts?replyWithCount=true&reply_with_count=false")
    assert "is given twice, as 'replyWithCount' and 'reply_with_count'" in details


def test_a_field_in_both_the_body_and_the_query_string_is_refused():
    # No annotated RPC has both a body and query fields today; the codec is generic, so a route made from a real
    # descriptor checks it: UpdateGlobalConfig with `name` left to the query string.
    method = pb.DESCRIPTOR.services_by_name["InventoryService"].methods_by_name["UpdateGlobalConfig"]
    route = Route(method, "PUT", "/configs/{category}/actions", "update_global_config")
    assert [f.name for f in route.query_fields] == ["name"]
    query = [("name", "from-the-query")]
    assert (
        decode_request(route, b'{"updateGlobalConfig": {"value": "1"}}', {"category": "c"}, query).name
        == "from-the-query"
    )
    with pytest.raises(BadRequest, match="'name' is given both in the body and in the query string"):
        decode_request(
            route, b'{"updateGlobalConfig": {"value": "1"}, "name": "from-the-body"}', {"category": "c"}, query
        )


@pytest.mark.parametrize("text", ["1_0", " 10", "10 ", "+10", "010", "1e3", "1.0", "0x10", "\u0661\u0660", ""])
def test_an_integer_in_a_string_must_be_an_integer_literal(site, text):
    body = site.create_body(name="digits", instanceOfferingUuid=None, cpuNum=1, memorySize=text)
    details = _refused(site, "POST", CREATE, body)
    assert f"field 'memorySize' must be an integer written as digits (an optional '-' first), not {text!r}" in details


@pytest.mark.parametrize("text", ["1_0", "+1", " 1", "1e1", "1.0", "01"])
def test_an_integer_in_the_query_string_must_be_an_integer_literal(site, text):
    details = _refused(site, "GET", f"/zstack/v1/hosts?limit={text.replace(' ', '%20').replace('+', '%2B')}")
    assert "query parameter 'limit' must be an integer written as digits" in details


def test_integers_proto3_json_allows_are_taken(site):
    for name, memory in (("as-string", str(2 * G)), ("as-number", 2 * G)):
        body = site.create_body(name=name, instanceOfferingUuid=None, cpuNum=1, memorySize=memory)
        reply = site("POST", CREATE, body)
        assert reply.status == 200, reply.body
        assert reply.json["primaryVmInventory"]["memorySize"] == 2 * G
    # an unquoted number is a double to every JSON parser: an integral 1.0 or 2.147483648e9 is that integer
    body = b'{"name": "floats", "imageUuid": "%s", "l3NetworkUuids": ["%s"], "cpuNum": 1.0, "memorySize": %s}'
    reply = site("POST", CREATE, body % (site.image["centos"].encode(), site.l3["l3-0"].encode(), b"2.147483648e9"))
    assert reply.status == 200, reply.body
    assert reply.json["primaryVmInventory"]["cpuNum"] == 1 and reply.json["primaryVmInventory"]["memorySize"] == 2 * G
    assert site("GET", "/zstack/v1/hosts?limit=2").status == 200


# -- 4. uuid length -------------------------------------------------------------------------------------------------
LONG = "a" * 5000
AT_LIMIT = "b" * MAX_UUID_LENGTH


@pytest.mark.parametrize(
    "method, path, name",
    [
        ("DELETE", "/zstack/v1/vm-instances/{}", "path variable 'uuid'"),
        ("DELETE", "/zstack/v1/accounts/sessions/{}", "path variable 'sessionUuid'"),
        ("PUT", "/zstack/v1/hosts/{}/actions", "path variable 'uuid'"),
        (
            "GET",
            "/zstack/v1/vm-instances/fault-tolerance/sub-vms?faultToleranceVmUuid={}",
            "query parameter 'faultToleranceVmUuid'",
        ),
        (
            "GET",
            "/zstack/v1/vm-instances/fault-tolerance/sub-vms?fault_tolerance_vm_uuid={}",
            "query parameter 'fault_tolerance_vm_uuid'",
        ),
    ],
)
def test_a_uuid_over_the_limit_in_the_path_or_query_is_400(site, method, path, name):
    for value in (LONG, "c" * (MAX_UUID_LENGTH + 1)):
        body = {"changeHostState": {"stateEvent": "disable"}} if method == "PUT" else None
        details = _refused(site, method, path.format(value), body)
        assert details == f"{name} is {len(value)} characters long; a uuid has at most {MAX_UUID_LENGTH}"


def test_a_uuid_at_the_limit_reaches_the_api(site):
    assert site("DELETE", f"/zstack/v1/vm-instances/{AT_LIMIT}").status == 200  # idempotent: nothing to destroy
    site("GET", f"/zstack/v1/vm-instances/fault-tolerance/sub-vms?faultToleranceVmUuid={AT_LIMIT}").error(
        503, "SYS.1003"
    )
    document = site("GET", "/openapi.json").json
    parameters = {p["name"]: p for p in document["paths"]["/zstack/v1/vm-instances/{uuid}"]["delete"]["parameters"]}
    assert parameters["uuid"]["schema"]["maxLength"] == MAX_UUID_LENGTH


def test_a_uuid_over_the_limit_over_grpc_is_invalid_argument(site):
    channel = grpc.insecure_channel(site.server.target)
    try:
        client = log_in(channel)
        calls = {
            "APIDestroyVmInstanceMsg": (
                "uuid",
                lambda uuid: client.vm.DestroyVmInstance(
                    pb.DestroyVmInstanceRequest(uuid=uuid), metadata=client.metadata
                ),
            ),
            "APIGetFaultToleranceVmsMsg": (
                "faultToleranceVmUuid",
                lambda uuid: client.vm.GetFaultToleranceVms(
                    pb.GetFaultToleranceVmsRequest(fault_tolerance_vm_uuid=uuid), metadata=client.metadata
                ),
            ),
        }
        for message, (field, call) in calls.items():
            status, error = rpc_error(lambda: call(LONG))
            assert (status, error.code) == (grpc.StatusCode.INVALID_ARGUMENT, "SYS.1007")
            assert error.details == f"field[{field}] of message[{message}] exceeds max length of string[64]"
        client.vm.DestroyVmInstance(pb.DestroyVmInstanceRequest(uuid=AT_LIMIT), metadata=client.metadata)
        status, error = rpc_error(lambda: calls["APIGetFaultToleranceVmsMsg"][1](AT_LIMIT))
        assert (status, error.code) == (grpc.StatusCode.NOT_FOUND, "SYS.1003")
    finally:
        channel.close()
