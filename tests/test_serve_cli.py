"""`ftvm serve` as a user runs it: demo inventory and admin password on first start, the printed sample call
works, health and reflection answer, SIGTERM stops it cleanly, a restart keeps everything, and the product
imports nothing of the lab (numpy, tqdm, nova, the bench/ package) nor OR-Tools with the default engine."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def _start(
    data_dir, env=None, *options: str, python_flags=(), stderr=subprocess.STDOUT
) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            *python_flags,
            "-m",
            "ftvm.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if "try it:" in line:
            lines.append(proc.stdout.readline().strip())
            break
        if proc.poll() is not None:
            break
    assert any("gRPC listening on" in line for line in lines), "\n".join(lines)
    return proc, lines


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_first_start_demo_sample_call_sigterm_and_restart(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FTVM_ADMIN_PASSWORD"}
    os.environ.pop("FTVM_ADMIN_PASSWORD", None)
    proc, lines = _start(tmp_path / "data")
    try:
        text = "\n".join(lines)
        target = re.search(r"gRPC listening on (\S+)", text).group(1)
        assert re.search(r"loaded the demo inventory: .*\d+ hosts", text), text
        password = re.search(r"created account 'admin' with password (\S+)", text).group(1)
        channel = grpc.insecure_channel(target)
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
        assert {"zstack.ft.v1.VmService", "zstack.ft.v1.InventoryService", "zstack.ft.v1.AccountService"} <= services
        sample = lines[-1]
        assert sample.startswith("ftvm call ") and password in sample
        argv = shlex.split(sample)
        result = subprocess.run(
            [sys.executable, "-m", "ftvm.cli", *argv[1:]], capture_output=True, text=True, env=env, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"primaryVmInventory"' in result.stdout and '"Running"' in result.stdout
        vm_name = re.search(r'"name": "([^"]+)"', sample).group(1)
        channel.close()
    finally:
        out = _stop(proc)
    assert "stopped" in out

    proc, lines = _start(tmp_path / "data")
    try:
        text = "\n".join(lines)
        assert "loaded" not in text and "created account" not in text  # nothing reloaded or regenerated
        target = re.search(r"gRPC listening on (\S+)", text).group(1)
        query = subprocess.run(
            [
                sys.executable,
                "-m",
                "ftvm.cli",
                "call",
                "--target",
                target,
                "--login",
                f"admin:{password}",
                "QueryVmInstance",
                f'{{"q": ["name={vm_name}"]}}',
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert query.returncode == 0, query.stdout + query.stderr
        assert query.stdout.count(f'"name": "{vm_name}"') == 1
    finally:
        _stop(proc)


def test_serve_imports_nothing_of_the_lab(tmp_path):
    # -X importtime logs every module the process imports, when it first does: start, serve a create, stop
    log = tmp_path / "imports.log"
    with open(log, "w") as stderr:
        proc, lines = _start(tmp_path / "data", python_flags=("-X", "importtime"), stderr=stderr)
        try:
            argv = shlex.split(lines[-1])
            result = subprocess.run(
                [sys.executable, "-m", "ftvm.cli", *argv[1:]], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0 and '"Running"' in result.stdout, result.stdout + result.stderr
        finally:
            _stop(proc)
    imported = {
        line.rpartition("|")[2].strip() for line in log.read_text().splitlines() if line.startswith("import time:")
    }
    assert {"ftvm.server", "ftvm.gateway", "ftvm._placement", "grpc", "aiohttp"} <= imported  # the log is complete
    roots = {name.partition(".")[0] for name in imported}
    assert not roots & {"numpy", "tqdm", "nova", "bench", "ortools", "highspy"}, sorted(roots)


def test_serve_on_postgresql_loads_the_demo_inventory_there_and_hides_the_password(tmp_path, postgres_cluster):
    url = postgres_cluster.create_database().replace("postgres@", "postgres:s3cret@")  # trust: any password
    proc, lines = _start(tmp_path / "data", {"FTVM_ADMIN_PASSWORD": "pw"}, "--database-url", url)
    try:
        text = "\n".join(lines)
        assert f"ftvm: database {url.replace('s3cret', '***')}" in text and "s3cret" not in text
        assert re.search(r"loaded the demo inventory: .*48 hosts", text), text
    finally:
        _stop(proc)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM hosts").fetchone()[0] == 48
    assert not (tmp_path / "data" / "ftvm.db").exists()
