"""The REST gateway over real HTTP in front of a real server (ServerThread with `http_port=0`): the reference curl
example, JSON rules of spec §3, the neighbouring APIs, every status convention of spec §5, `ftvm serve`'s REST
port, `ftvm gateway --target` alone, and the route table / OpenAPI against the proto's annotations."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from google.api import annotations_pb2
from google.protobuf.descriptor import FieldDescriptor
from openapi_spec_validator import validate as validate_openapi
from test_create_service import EMPTY_ON_SUCCESS

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm._proto.zstack.ft.v1 import types_pb2
from ftvm.gateway import routes
from ftvm.gateway.routes import by_path
from service_support import ADMIN_PASSWORD, G, inventory, start_server

CONTRACT = Path(__file__).resolve().parent / "contract"
# `MMM d, yyyy h:mm:ss a`: no zero padding of day or hour.
ZSTACK_DATE = re.compile(
    r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [1-9]\d?, \d{4} (1[0-2]|[1-9]):[0-5]\d:"
    r"[0-5]\d (AM|PM)$"
)
ENVELOPE_KEYS = {"code", "description", "details", "elaboration", "opaque", "cause"}
INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


# -- a tiny HTTP client ---------------------------------------------------------------------------------------------
class Reply:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def error(self, status: int, code: str) -> dict:
        """The envelope's ErrorCode, after checking the status, the content type and the envelope's shape."""
        assert self.status == status, (self.status, self.body[:500])
        assert self.headers["Content-Type"].startswith("application/json")
        document = self.json
        assert set(document) == {"success", "error"} and document["success"] is False
        assert set(document["error"]) == ENVELOPE_KEYS and document["error"]["code"] == code, document
        return document["error"]


def http(method: str, url: str, body: Any = None, session: str | None = None, headers: dict | None = None) -> Reply:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}
    if session:
        all_headers["Authorization"] = f"OAuth {session}"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def sha512(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()


def login(base: str, account: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    reply = http(
        "PUT",
        f"{base}/zstack/v1/accounts/login",
        {"logInByAccount": {"accountName": account, "password": sha512(password)}},
    )
    assert reply.status == 200, reply.body
    return reply.json["inventory"]["uuid"]


# -- the JSON rules, checked against the descriptors ----------------------------------------------------------------
def assert_rest_json(value: dict, descriptor, where: str = "$") -> None:
    """Every field under its camelCase name; null only where the field has presence; lists always lists; 64-bit
    integers as numbers; dates as ZStack prints them; a Struct as an object."""
    assert set(value) == {f.json_name for f in descriptor.fields}, where
    for f in descriptor.fields:
        here, v = f"{where}.{f.json_name}", value[f.json_name]
        if f.is_repeated:
            assert isinstance(v, list), here
            items = v
        elif v is None:
            assert f.has_presence, f"{here} is null but has no presence"
            continue
        else:
            items = [v]
        for item in items:
            if f.message_type is None:
                expected = {FieldDescriptor.TYPE_BOOL: bool, FieldDescriptor.TYPE_STRING: str}.get(f.type, int)
                assert type(item) is expected, f"{here}: {item!r} is not {expected.__name__}"
            elif f.message_type.full_name == "google.protobuf.Timestamp":
                assert isinstance(item, str) and ZSTACK_DATE.match(item), f"{here}: {item!r}"
            elif f.message_type.full_name == "google.protobuf.Struct":
                assert isinstance(item, dict), here
            else:
                assert_rest_json(item, f.message_type, here)


def zstack_date(seconds: int) -> str:
    """The same date printed another way (strftime, local time) to compare with the gateway's."""
    return datetime.fromtimestamp(seconds).strftime("%b %-d, %Y %-I:%M:%S %p")


# -- the server -----------------------------------------------------------------------------------------------------
class Site:
    def __init__(self, server) -> None:
        self.server = server
        self.base = server.http_url
        self.session = login(self.base)
        cat = server.running.domain.catalog
        self.catalog = cat
        self.image = {r["name"]: u for u, r in cat.images.items()}
        self.offering = {r["name"]: u for u, r in cat.instance_offerings.items()}
        self.disk = {r["name"]: u for u, r in cat.disk_offerings.items()}
        self.l3 = {r["name"]: u for u, r in cat.l3_networks.items()}
        self.host = {r["name"]: u for u, r in cat.hosts.items()}
        self.storage = {r["name"]: u for u, r in cat.storages.items()}

    def __call__(self, method: str, path: str, body: Any = None, **kwargs) -> Reply:
        kwargs.setdefault("session", self.session)
        return http(method, self.base + path, body, **kwargs)

    def create_body(self, **extra) -> dict:
        return {
            "name": "web-1",
            "imageUuid": self.image["centos"],
            "l3NetworkUuids": [self.l3["l3-0"]],
            "instanceOfferingUuid": self.offering["small"],
            **extra,
        }


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=64, memory_gib=257)
    with start_server(tmp_path_factory.mktemp("gateway"), spec, http_port=0) as server:
        yield Site(server)


# -- the reference example ------------------------------------------------------------------------------------------
def _seed_request(site: Site) -> str:
    host = site.host["host-4"]
    row = site.catalog.hosts[host]
    fill = {
        "<name>": "seed-vm",
        "<instanceOfferingUuid>": site.offering["small"],
        "<imageUuid>": site.image["centos"],
        "<l3NetworkUuids>": site.l3["l3-0"],
        "<dataDiskOfferingUuids>": site.disk["data-20g"],
        "<zoneUuid>": row["zone_uuid"],
        "<clusterUuid>": row["cluster_uuid"],
        "<hostUuid>": host,
        "<primaryStorageUuidForRootVolume>": site.storage["nfs-0"],
        "<description>": "from the reference doc",
        "<defaultL3NetworkUuid>": site.l3["l3-0"],
        "<rootVolumeSystemTags>": "ephemeral::false",
        "<dataVolumeSystemTags>": "ephemeral::false",
        "<resourceUuid>": "5f0a1b2c3d4e4f5a8b6c7d8e9f0a1b2c",
        "<tagUuids>": "6f0a1b2c3d4e4f5a8b6c7d8e9f0a1b2c",
        "<systemTags>": "hostname::seed-vm",
        "<userTags>": "team::web",
        "<strategy>": "InstantStart",
        "<type>": "FaultToleranceVmGroup",
    }
    text = (CONTRACT / "seed-request.json").read_text()
    for placeholder, value in fill.items():
        text = text.replace(placeholder, value)
    assert "<" not in text
    return text


def _walk(document: Any, path: str) -> list[tuple[str, Any]]:
    """(path, value) of every node a seed path reaches, through every element of nested lists; a missing key
    fails, a null stops the walk there."""
    nodes = [("", document)]
    for part in path.split("."):
        nxt = []
        for where, node in nodes:
            for i, element in enumerate(node if isinstance(node, list) else [node]):
                if element is None:
                    continue
                assert isinstance(element, dict) and part in element, f"{path}: no {part!r} at {where}[{i}]"
                nxt.append((f"{where}.{part}", element[part]))
        nodes = nxt
    return nodes


def test_the_reference_curl_example_creates_the_pair(site):
    body = _seed_request(site)
    url = f"{site.base}/zstack/v1/vm-instances/fault-tolerance"
    if shutil.which("curl"):  # the doc's command, placeholders filled in
        command = (
            f"curl -X POST '{url}' -H 'Authorization: OAuth {site.session}' "
            f"-H 'Content-Type: application/json;charset=UTF-8' -d '{body}'"
        )
        done = subprocess.run(command, shell=True, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        reply = json.loads(done.stdout)
    else:
        answer = http("POST", url, body.encode(), session=site.session)
        assert answer.status == 200, answer.body
        reply = answer.json
    assert reply["success"] is True and reply["error"] is None
    assert_rest_json(reply, pb.CreateFaultToleranceVmInstanceResponse.DESCRIPTOR)
    group, primary = reply["faultToleranceVmGroupInventory"], reply["primaryVmInventory"]
    assert group["uuid"] == "5f0a1b2c3d4e4f5a8b6c7d8e9f0a1b2c" and primary["hostUuid"] == site.host["host-4"]
    assert primary["memorySize"] == 4 * G and type(primary["memorySize"]) is int  # a number, not "4294967296"
    assert primary["description"] == "from the reference doc"

    paths = [f["path"] for f in json.loads((CONTRACT / "seed-fields.json").read_text())["response_fields"]]
    assert len(paths) == 183
    nulls = []
    for path in paths:
        nodes = _walk(reply, path)
        if nodes and all(v is None for _, v in nodes) and path.split(".")[-1] not in EMPTY_ON_SUCCESS:
            nulls.append(path)
    assert nulls == []


def test_dates_are_zstack_dates_in_local_time(site):
    reply = site("POST", "/zstack/v1/vm-instances/fault-tolerance", site.create_body(name="dated")).json
    vm = reply["primaryVmInventory"]
    stored = site.server.running.domain.store.read(lambda tx: tx.select("vm_instances", {"uuid": vm["uuid"]}))[0]
    assert vm["createDate"] == zstack_date(stored["create_date"] // 1000)
    assert abs(datetime.strptime(vm["createDate"], "%b %d, %Y %I:%M:%S %p") - datetime.now()).total_seconds() < 120


def test_both_body_shapes(site):
    flat = site("POST", "/zstack/v1/vm-instances/fault-tolerance", site.create_body(name="flat"))
    assert flat.status == 200 and len(flat.json["primaryVmInventory"]["vmCdRoms"]) == 1
    # the SDK shape: params, with systemTags beside them (and inside them too)
    body = {
        "params": site.create_body(name="sdk", systemTags=["hostname::sdk"]),
        "systemTags": ["createWithoutCdRom::true"],
        "userTags": ["team::sdk"],
    }
    sdk = site("POST", "/zstack/v1/vm-instances/fault-tolerance", body)
    assert sdk.status == 200, sdk.body
    assert sdk.json["primaryVmInventory"]["name"] == "sdk" and sdk.json["primaryVmInventory"]["vmCdRoms"] == []
    unknown_tag = dict(body, systemTags=["no-such-tag::1"])
    error = site("POST", "/zstack/v1/vm-instances/fault-tolerance", unknown_tag).error(503, "SYS.1007")
    assert "no system tag matches" in error["details"]
    # 64-bit integers as numeric strings
    reply = site(
        "POST",
        "/zstack/v1/vm-instances/fault-tolerance",
        site.create_body(name="strings", instanceOfferingUuid=None, cpuNum=1, memorySize=str(2 * G)),
    )
    assert reply.status == 200, reply.body
    assert reply.json["primaryVmInventory"]["memorySize"] == 2 * G


# -- the neighbouring APIs ------------------------------------------------------------------------------------------
def test_login_and_logout(site):
    reply = site(
        "PUT",
        "/zstack/v1/accounts/login",
        {"logInByAccount": {"accountName": "admin", "password": sha512(ADMIN_PASSWORD)}},
        session=None,
    )
    assert reply.status == 200
    inventory_ = reply.json["inventory"]
    assert set(reply.json) == {"inventory"}
    assert set(inventory_) == {"uuid", "accountUuid", "userUuid", "expiredDate", "createDate"}
    assert_rest_json(reply.json, pb.LogInByAccountResponse.DESCRIPTOR)
    session = inventory_["uuid"]
    assert site("GET", "/zstack/v1/zones", session=session).status == 200
    logout = site("DELETE", f"/zstack/v1/accounts/sessions/{session}", session=None)
    assert (logout.status, logout.json) == (200, {})
    site("GET", "/zstack/v1/zones", session=session).error(503, "ID.1001")
    wrong = {"logInByAccount": {"accountName": "admin", "password": sha512("wrong")}}
    site("PUT", "/zstack/v1/accounts/login", wrong, session=None).error(503, "ID.1000")


def test_queries(site):
    zones = site("GET", "/zstack/v1/zones")
    assert zones.status == 200 and zones.json["total"] is None
    assert_rest_json(zones.json, pb.QueryZoneResponse.DESCRIPTOR)
    cluster = site.catalog.hosts[site.host["host-1"]]["cluster_uuid"]
    in_cluster = {u: r for u, r in site.catalog.hosts.items() if r["cluster_uuid"] == cluster}
    hosts = site(
        "GET",
        f"/zstack/v1/hosts?q=clusterUuid={cluster}&q=state=Enabled&limit=2&start=1"
        f"&sort=+createDate&replyWithCount=true",
    )
    assert hosts.status == 200, hosts.body
    assert_rest_json(hosts.json, pb.QueryHostResponse.DESCRIPTOR)
    assert hosts.json["total"] == len(in_cluster) == 4
    page = hosts.json["inventories"]
    assert len(page) == 2 and {h["uuid"] for h in page} <= set(in_cluster)
    assert all(type(h["totalMemoryCapacity"]) is int for h in page)
    by_name = site("GET", f"/zstack/v1/hosts?q=clusterUuid={cluster}&sort=-name&limit=2&start=1").json
    names = sorted((r["name"] for r in in_cluster.values()), reverse=True)
    assert [h["name"] for h in by_name["inventories"]] == names[1:3] and by_name["total"] is None
    snake = site("GET", f"/zstack/v1/hosts?q=cluster_uuid={cluster}&reply_with_count=true&limit=1")
    assert snake.json["total"] == 4 and len(snake.json["inventories"]) == 1


def test_sub_vms_change_host_state_and_destroy(site):
    created = site("POST", "/zstack/v1/vm-instances/fault-tolerance", site.create_body(name="pair")).json
    group = created["faultToleranceVmGroupInventory"]["uuid"]
    pair = site("GET", f"/zstack/v1/vm-instances/fault-tolerance/sub-vms?faultToleranceVmUuid={group}")
    assert pair.status == 200
    assert_rest_json(pair.json, pb.GetFaultToleranceVmsResponse.DESCRIPTOR)
    assert pair.json["primaryVmInventory"]["uuid"] == created["primaryVmInventory"]["uuid"]
    assert pair.json["secondaryVmInventory"]["uuid"] == created["secondaryVmInventory"]["uuid"]

    host = created["primaryVmInventory"]["hostUuid"]
    disabled = site("PUT", f"/zstack/v1/hosts/{host}/actions", {"changeHostState": {"stateEvent": "disable"}})
    assert disabled.status == 200 and disabled.json["inventory"]["state"] == "Disabled"
    assert_rest_json(disabled.json, pb.ChangeHostStateResponse.DESCRIPTOR)
    enabled = site("PUT", f"/zstack/v1/hosts/{host}/actions", {"changeHostState": {"stateEvent": "enable"}})
    assert enabled.json["inventory"]["state"] == "Enabled"

    for _ in range(2):  # idempotent
        destroyed = site("DELETE", f"/zstack/v1/vm-instances/{group}")
        assert (destroyed.status, destroyed.json) == (200, {})
    left = site("GET", f"/zstack/v1/vm-instances/fault-tolerance?q=uuid={group}&replyWithCount=true").json
    assert left == {"inventories": [], "total": 0}


# -- status conventions ---------------------------------------------------------------------------------------------
def test_transport_errors_are_400_404_405_413_with_the_envelope(site):
    create = "/zstack/v1/vm-instances/fault-tolerance"
    assert "Expecting" in site("POST", create, b'{"name": ').error(400, "SYS.1007")["details"]
    assert "NaN" in site("POST", create, b'{"cpuNum": NaN}').error(400, "SYS.1007")["details"]
    assert "name" in site("POST", create, {"name": 5}).error(400, "SYS.1007")["details"]
    site("POST", create, {"l3NetworkUuids": "not-a-list"}).error(400, "SYS.1007")
    site("POST", create, [site.create_body()]).error(400, "SYS.1007")
    site("POST", create, {"params": ["x"]}).error(400, "SYS.1007")
    assert "nmae" in site("POST", create, {"nmae": "x"}).error(400, "SYS.1007")["details"]
    site("POST", create, {"cpuNum": 2**40}).error(400, "SYS.1007")  # out of int32
    site("PUT", "/zstack/v1/hosts/x/actions", {"changeHostState": "disable"}).error(400, "SYS.1007")
    site("GET", "/zstack/v1/hosts?limit=ten").error(400, "SYS.1007")
    site("GET", "/zstack/v1/hosts?replyWithCount=yes").error(400, "SYS.1007")
    site("GET", "/zstack/v1/hosts?limit=1&limit=2").error(400, "SYS.1007")
    assert "colour" in site("GET", "/zstack/v1/hosts?colour=red").error(400, "SYS.1007")["details"]

    missing = site("GET", "/zstack/v1/zones", session=None).error(400, "SYS.1007")
    assert missing["details"] == "missing header 'Authorization'"
    for header in ("Bearer abc", "OAuth", "oauth abc", "OAuth caf\xe9"):
        ill = site("GET", "/zstack/v1/zones", session=None, headers={"Authorization": header})
        assert ill.error(400, "SYS.1007")["details"] == "Authorization type must be 'OAuth'", header
    site("GET", "/zstack/v1/zones", session="no-such-session").error(503, "ID.1001")

    assert site("GET", "/zstack/v1/no-such-api").error(404, "SYS.1003")["details"] == "no API at /zstack/v1/no-such-api"
    wrong = site("PATCH", "/zstack/v1/zones")
    wrong.error(405, "SYS.1007")
    assert wrong.headers["Allow"] == "GET, POST"

    site("POST", "/zstack/v1/zones", b"[" + b" " * (1 << 20) + b"]").error(413, "SYS.1007")
    assert site("GET", "/zstack/v1/zones").status == 200  # still serving


def test_no_host_is_503_with_the_nested_cause(site):
    reply = site(
        "POST",
        "/zstack/v1/vm-instances/fault-tolerance",
        site.create_body(name="huge", instanceOfferingUuid=None, cpuNum=100000, memorySize=G),
    )
    error = reply.error(503, "SYS.1006")
    cause = error["cause"]
    assert set(cause) == ENVELOPE_KEYS and cause["code"] == "HOST_ALLOCATION.1000" and cause["cause"] is None
    assert cause["description"] == "No available host found" and "Cpu" in cause["details"]
    removed = cause["opaque"]["hostsRemovedByRule"]
    assert removed["Cpu"] == 8 and type(removed["Cpu"]) is int
    assert_rest_json(error, types_pb2.ErrorCode.DESCRIPTOR)


# -- ftvm serve and ftvm gateway ------------------------------------------------------------------------------------
def _read_until(proc: subprocess.Popen, pattern: str) -> re.Match:
    seen = []
    for line in proc.stdout:
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError("".join(seen))


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_ftvm_serve_serves_rest_on_http_port(tmp_path):
    env = {**os.environ, "FTVM_ADMIN_PASSWORD": ADMIN_PASSWORD}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftvm.cli",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        base = _read_until(proc, r"REST listening on (http://127\.0\.0\.1:\d+)").group(1)
        session = login(base)
        zones = http("GET", f"{base}/zstack/v1/zones", session=session)
        assert zones.status == 200 and len(zones.json["inventories"]) == 2  # the demo inventory
    finally:
        _stop(proc)


def test_ftvm_gateway_alone_in_front_of_a_server(site):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftvm.cli", "gateway", "--target", site.server.target, "--http-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = _read_until(proc, r"REST listening on (http://127\.0\.0\.1:\d+)").group(1)
        session = login(base)
        ours = http("GET", f"{base}/zstack/v1/hosts?replyWithCount=true", session=session)
        theirs = site("GET", "/zstack/v1/hosts?replyWithCount=true")
        assert ours.status == 200 and ours.json == theirs.json
        assert http("GET", f"{base}/openapi.json").json == site("GET", "/openapi.json").json
    finally:
        assert "gateway stopped" in _stop(proc)


def test_a_backend_that_is_down_is_503_with_the_envelope():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftvm.cli", "gateway", "--target", dead, "--http-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = _read_until(proc, r"REST listening on (\S+) ").group(1)
        reply = http(
            "PUT",
            f"{base}/zstack/v1/accounts/login",
            {"logInByAccount": {"accountName": "admin", "password": sha512("x")}},
        )
        assert "UNAVAILABLE" in reply.error(503, "SYS.1006")["details"]
    finally:
        _stop(proc)


# -- the route table and the OpenAPI document are the proto's annotations -------------------------------------------
def _annotated_rpcs() -> dict[str, tuple[str, str]]:
    """RPC name -> (verb, path template), read straight from the descriptors."""
    out = {}
    for service in pb.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            if verb:
                out[method.name] = (verb.upper(), getattr(rule, verb))
    return out


def test_every_annotated_rpc_is_routed_and_documented(site):
    annotated = _annotated_rpcs()
    assert len(annotated) == sum(len(s.methods) for s in pb.DESCRIPTOR.services_by_name.values())
    assert {r.name: (r.verb, r.template) for r in routes()} == annotated
    for name, (verb, template) in annotated.items():
        path = re.sub(r"\{[^}]*\}", "x", template)
        reply = site(verb, path, {} if verb in ("POST", "PUT") else None, session=None)
        if name in ("LogInByAccount", "LogOut"):
            assert reply.status in (200, 503), (name, reply.body)  # reached the RPC without a session
        else:
            assert reply.error(400, "SYS.1007")["details"] == "missing header 'Authorization'", name

    document = site("GET", "/openapi.json", session=None).json
    validate_openapi(document)
    operations = {
        op["operationId"]: (verb.upper(), path) for path, item in document["paths"].items() for verb, op in item.items()
    }
    # actions sharing a path (ChangeHostState and ReconnectHost) are one operation, named after both
    expected = {
        "Or".join(r.name for r in shared): (verb, template) for (verb, template), shared in by_path(routes()).items()
    }
    assert set(operations) == set(expected) and len(expected) == len(annotated) - 1
    for name, (verb, path) in operations.items():
        assert re.sub(r"\{[^}]*\}", "{}", path) == re.sub(r"\{[^}]*\}", "{}", expected[name][1]), name
        assert verb == expected[name][0]
