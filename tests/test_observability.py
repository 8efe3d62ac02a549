"""Metrics and structured logs of a real `ftvm serve` process (demo inventory, JSON log lines at INFO on stderr):
GET /metrics in Prometheus text with every family, counts that move with a create and a failed create, `--metrics-port`
without the gateway, `--workers 2` summing both workers' counts; the request id from `X-Request-Id` (or made) through
the gateway and gRPC, echoed back and on the server's log lines (the create's INFO line naming its hosts), and a bad
one replaced, never logged."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_gateway import http, login

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm._proto.zstack.ft.v1 import services_pb2_grpc as pb_grpc
from service_support import ADMIN_PASSWORD, log_in

CREATE = "/zstack/v1/vm-instances/fault-tolerance"
COUNTED = {
    "ftvm_rpc_duration_seconds",
    "ftvm_create_step_duration_seconds",
    "ftvm_placements",
    "ftvm_placement_hosts_removed",
    "ftvm_store_batch_size",
    "ftvm_store_commit_duration_seconds",
    "ftvm_replica_conflicts",
    "ftvm_feed_lag_seconds",
    "ftvm_feed_reloads",
    "ftvm_failover_duration_seconds",
    "ftvm_reprotect_duration_seconds",
}
SCRAPED = {"ftvm_cpu_vcpus", "ftvm_memory_bytes", "ftvm_storage_bytes", "ftvm_ft_groups"}
MADE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class Served:
    proc: subprocess.Popen
    banner: str
    log_path: Path

    def url(self, what: str) -> str:
        match = re.search(rf"{what} (\S+)", self.banner)
        assert match, self.banner
        return match.group(1)

    @property
    def target(self) -> str:
        return self.url("gRPC listening on")

    def create_params(self, **changes: Any) -> dict:
        """The banner's sample create (the demo's offering, image and L3), changed."""
        match = re.search(r"CreateFaultToleranceVmInstance '(\{.*\})'", self.banner)
        assert match, self.banner
        return {**json.loads(match.group(1)), **changes}

    def log_lines(self) -> list[dict]:
        """Every stderr line, each a JSON object (a line that is not fails here)."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def lines_of(self, request_id: str, until: str) -> list[dict]:
        """The log lines with `request_id`, once one from logger `until` is among them (lines are written as the
        server goes: the access line after the answer)."""
        for _ in range(200):
            lines = [line for line in self.log_lines() if line.get("request_id") == request_id]
            if any(line["logger"] == until for line in lines):
                return lines
            time.sleep(0.05)
        raise AssertionError(f"no {until} line with request id {request_id}: {self.log_path.read_text()[-3000:]}")


def serve(tmp: Path, *options: str, env: dict | None = None) -> Served:
    log_path = tmp / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ftvm.cli", "serve", "--data-dir", str(tmp / "data"), "--grpc-port", "0"]
            + ["--log-level", "INFO", "--log-format", "json", *options],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "FTVM_ADMIN_PASSWORD": ADMIN_PASSWORD, **(env or {})},
        )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "try it:" in line:
            lines.append(proc.stdout.readline())
            break
    banner = "".join(lines)
    if "try it:" not in banner:
        proc.kill()
        raise AssertionError(banner + log_path.read_text())
    return Served(proc, banner, log_path)


def stop(served: Served) -> None:
    served.proc.send_signal(signal.SIGTERM)
    out, _ = served.proc.communicate(timeout=60)
    assert served.proc.returncode == 0, out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    served = serve(tmp_path_factory.mktemp("observed"), "--http-port", "0")
    yield served
    stop(served)


def scrape(url: str) -> dict[str, Any]:
    """The families of a /metrics answer by name, after checking it is Prometheus text."""
    reply = http("GET", url)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain; version="), reply.headers
    return {family.name: family for family in text_string_to_metric_families(reply.body.decode())}


def sample(families: dict[str, Any], name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly these labels (0 when absent)."""
    family = families[re.sub(r"_(total|count|sum|bucket)$", "", name)]
    found = [s.value for s in family.samples if s.name == name and s.labels == labels]
    assert len(found) <= 1, found
    return found[0] if found else 0.0


def cluster_vcpus_used(families: dict[str, Any]) -> float:
    return sum(s.value for s in families["ftvm_cpu_vcpus"].samples if s.labels["state"] == "used")


# -- metrics ----------------------------------------------------------------------------------------------------------
def test_metrics_has_every_family_and_counts_a_create_and_a_failed_create(served):
    metrics_url = served.url("metrics at")
    assert metrics_url == served.url("REST listening on") + "/metrics"
    before = scrape(metrics_url)
    assert set(before) >= COUNTED | SCRAPED, sorted(set(before))
    base = served.url("REST listening on")
    session = login(base)

    created = http("POST", base + CREATE, {"params": served.create_params(name="counted")}, session)
    assert created.status == 200, created.body
    too_big = served.create_params(name="too-big", cpuNum=100000, memorySize=1 << 30)
    del too_big["instanceOfferingUuid"]
    refused = http("POST", base + CREATE, {"params": too_big}, session)
    assert refused.error(503, "SYS.1006")["cause"]["opaque"]["rule"] == "Cpu"
    after = scrape(metrics_url)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    method = "CreateFaultToleranceVmInstance"
    assert moved("ftvm_rpc_duration_seconds_count", method=method, code="OK") == 1
    assert moved("ftvm_rpc_duration_seconds_count", method=method, code="SYS.1006") == 1
    assert moved("ftvm_rpc_duration_seconds_bucket", method=method, code="OK", le="+Inf") == 1
    for step in ("validate", "place", "allocate", "start", "commit"):
        assert moved("ftvm_create_step_duration_seconds_count", step=step) == (2 if step == "validate" else 1), step
    assert moved("ftvm_placements_total", result="placed", rule="") == 1
    assert moved("ftvm_placements_total", result="no_host", rule="Cpu") == 1
    assert moved("ftvm_placement_hosts_removed_total", rule="Cpu") > 0
    assert moved("ftvm_store_batch_size_count") >= 1 and moved("ftvm_store_commit_duration_seconds_count") >= 1
    assert moved("ftvm_ft_groups", status="Protected") == 1
    assert cluster_vcpus_used(after) - cluster_vcpus_used(before) == 2 * created.json["primaryVmInventory"]["cpuNum"]


def test_metrics_port_serves_metrics_without_the_gateway(tmp_path):
    served = serve(tmp_path, "--no-gateway", "--metrics-port", "0")
    try:
        assert "REST listening" not in served.banner
        metrics_url = served.url("metrics at")
        before = scrape(metrics_url)
        assert set(before) >= COUNTED | SCRAPED
        with grpc.insecure_channel(served.target) as channel:
            log_in(channel)
        after = scrape(metrics_url)
        key = dict(method="LogInByAccount", code="OK")
        assert (
            sample(after, "ftvm_rpc_duration_seconds_count", **key)
            == sample(before, "ftvm_rpc_duration_seconds_count", **key) + 1
        )
    finally:
        stop(served)


def test_no_metrics_serves_no_metrics(tmp_path):
    served = serve(tmp_path, "--http-port", "0", "--no-metrics")
    try:
        assert "metrics at" not in served.banner
        http("GET", served.url("REST listening on") + "/metrics").error(404, "SYS.1003")
    finally:
        stop(served)


def test_workers_metrics_sum_every_worker(tmp_path):
    """Every scrape, whichever worker answers it, counts the calls both workers answered; the multiprocess folder
    is gone after the stop."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    served = serve(tmp_path, "--http-port", "0", "--workers", "2", env={"TMPDIR": str(scratch)})
    try:
        base = served.url("REST listening on")
        session = login(base)
        queries = 0
        while queries < 200:  # new connections until each worker answered some (the kernel spreads connections)
            assert http("GET", base + "/zstack/v1/zones", session=session).status == 200
            queries += 1
            workers = {
                line["worker"]
                for line in served.log_lines()
                if line["logger"] == "aiohttp.access" and "GET /zstack/v1/zones" in line["message"]
            }
            if queries >= 4 and workers == {0, 1}:
                break
        assert workers == {0, 1}
        for _ in range(6):  # new connections: both workers answer scrapes too
            families = scrape(base + "/metrics")
            assert sample(families, "ftvm_rpc_duration_seconds_count", method="QueryZone", code="OK") == queries
            assert sample(families, "ftvm_ft_groups", status="Protected") == 0
        assert [p.name for p in scratch.iterdir()] != []
    finally:
        stop(served)
    assert list(scratch.iterdir()) == []


# -- request ids ------------------------------------------------------------------------------------------------------
def test_a_rest_request_id_reaches_the_grpc_side_and_comes_back(served):
    base = served.url("REST listening on")
    session = login(base)
    reply = http(
        "POST", base + CREATE, {"params": served.create_params(name="traced")}, session, {"X-Request-Id": "trace-7f3a"}
    )
    assert reply.status == 200 and reply.headers["X-Request-Id"] == "trace-7f3a"
    lines = served.lines_of("trace-7f3a", until="aiohttp.access")
    loggers = {line["logger"] for line in lines}
    assert {"aiohttp.access", "ftvm.domain.create"} <= loggers  # the gateway's line and the gRPC server's
    (create,) = [line for line in lines if line["logger"] == "ftvm.domain.create"]
    group, primary, secondary = (
        reply.json["faultToleranceVmGroupInventory"],
        reply.json["primaryVmInventory"],
        reply.json["secondaryVmInventory"],
    )
    assert create["level"] == "INFO" and create["outcome"] == "created" and create["group_uuid"] == group["uuid"]
    assert (create["primary_host"], create["secondary_host"]) == (primary["hostUuid"], secondary["hostUuid"])
    (root,) = [v for v in primary["allVolumes"] if v["uuid"] == primary["rootVolumeUuid"]]
    assert create["primary_storage"] == root["primaryStorageUuid"]
    assert primary["hostUuid"] in create["message"] and secondary["hostUuid"] in create["message"]


def test_a_failed_create_logs_its_code_rule_and_removed_hosts(served):
    base = served.url("REST listening on")
    params = served.create_params(name="too-big", cpuNum=100000, memorySize=1 << 30)
    del params["instanceOfferingUuid"]
    reply = http("POST", base + CREATE, {"params": params}, login(base), {"X-Request-Id": "failing-1"})
    removed = reply.error(503, "SYS.1006")["cause"]["opaque"]["hostsRemovedByRule"]
    (create,) = [line for line in served.lines_of("failing-1", "aiohttp.access") if line["logger"].endswith("create")]
    assert (create["outcome"], create["code"], create["rule"]) == ("failed", "SYS.1006", "Cpu")
    assert create["hosts_removed_by_rule"] == removed


def test_a_rest_request_without_an_id_gets_a_made_one(served):
    base = served.url("REST listening on")
    reply = http("GET", base + "/zstack/v1/zones", session=login(base))
    made = reply.headers["X-Request-Id"]
    assert reply.status == 200 and MADE_ID.fullmatch(made)
    assert served.lines_of(made, until="aiohttp.access")


def test_grpc_calls_echo_their_request_id_or_a_made_one(served):
    with grpc.insecure_channel(served.target) as channel:
        client = log_in(channel)
        params = served.create_params()
        request = pb.CreateFaultToleranceVmInstanceRequest(
            name="grpc-traced",
            instance_offering_uuid=params["instanceOfferingUuid"],
            image_uuid=params["imageUuid"],
            l3_network_uuids=params["l3NetworkUuids"],
        )
        stub = pb_grpc.VmServiceStub(channel)
        _, call = stub.CreateFaultToleranceVmInstance.with_call(
            request, metadata=(*client.metadata, ("x-request-id", "grpc-call-1"))
        )
        assert ("x-request-id", "grpc-call-1") in call.trailing_metadata()
        (create,) = [
            line for line in served.lines_of("grpc-call-1", "ftvm.domain.create") if line["logger"].endswith("create")
        ]
        assert create["outcome"] == "created"

        with pytest.raises(grpc.RpcError) as failed:  # an error's trailing metadata carries it too
            pb_grpc.InventoryServiceStub(channel).QueryZone(
                pb.QueryZoneRequest(), metadata=(("x-request-id", "grpc-call-2"),)
            )
        assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert ("x-request-id", "grpc-call-2") in failed.value.trailing_metadata()

        _, call = pb_grpc.InventoryServiceStub(channel).QueryZone.with_call(
            pb.QueryZoneRequest(), metadata=client.metadata
        )
        made = dict(call.trailing_metadata())["x-request-id"]
        assert MADE_ID.fullmatch(made)


def _raw_get(url: str, request_id: bytes) -> tuple[int, dict[str, str]]:
    """GET over a plain socket (http.client refuses to send a header with a line break)."""
    host, port = re.fullmatch(r"http://([\d.]+):(\d+)", url).groups()  # type: ignore[union-attr]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: " + request_id + b"\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), headers


@pytest.mark.parametrize(
    "bad",
    [
        b"evil\r\n injected: folded onto a second line",  # obs-fold: a line break inside the value
        b"x" * 10_000,
        b"x" * 129,
        b'quo"ted',
        b"with space",
        b"tab\there",
        b"back\\slash",
        "n\u00e9e".encode(),
    ],
)
def test_a_bad_rest_request_id_is_replaced_and_never_logged(served, bad):
    """A bad id is replaced by a made one. A request aiohttp refuses itself (a line break in a header, a header over
    8190 bytes) is answered 400 before any handler: its one INFO line quotes what could not be parsed, clipped."""
    logged_before = len(served.log_path.read_text())
    status, headers = _raw_get(served.url("REST listening on"), bad)
    if status == 200:
        made = headers["X-Request-Id"]
        assert MADE_ID.fullmatch(made), headers
        new_lines = served.lines_of(made, until="aiohttp.access")
        assert new_lines == [line for line in new_lines if line["request_id"] == made]
        fragments = {bad.decode("latin-1")[:20], bad.decode("latin-1")[-20:]}
        new_text = served.log_path.read_text()[logged_before:]
        for fragment in fragments:
            assert fragment not in new_text and json.dumps(fragment)[1:-1] not in new_text, (fragment, new_text)
    else:
        assert status == 400 and "X-Request-Id" not in headers
        new_lines = [json.loads(line) for line in served.log_path.read_text()[logged_before:].splitlines()]
        assert all(line["request_id"] is None for line in new_lines), new_lines
        (refused,) = [line for line in new_lines if line["logger"] == "aiohttp.server"]
        assert len(refused["message"]) < 500


@pytest.mark.parametrize("bad", ["x" * 1000, 'quo"ted', "with space"])
def test_a_bad_grpc_request_id_is_replaced(served, bad):
    with grpc.insecure_channel(served.target) as channel:
        client = log_in(channel)
        _, call = pb_grpc.InventoryServiceStub(channel).QueryZone.with_call(
            pb.QueryZoneRequest(), metadata=(*client.metadata, ("x-request-id", bad))
        )
    assert MADE_ID.fullmatch(dict(call.trailing_metadata())["x-request-id"])
    assert bad not in served.log_path.read_text()
