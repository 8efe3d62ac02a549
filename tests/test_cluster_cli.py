"""`ftvm cluster up` as a user runs it: a PostgreSQL of its own and N `ftvm serve` replicas; the printed sample call
works over all of them and on each alone; SIGTERM stops every replica and the database; the folder keeps the data
for the next start (unless --ephemeral); what it cannot start is a clear error that leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import psutil
import pytest


@pytest.fixture
def folder():
    # as root, PostgreSQL runs as the `postgres` user, which must be able to enter the folder's parents (pytest's
    # tmp_path is under a root-only folder)
    base = Path(tempfile.mkdtemp(prefix="ftvm-cluster-test-"))
    base.chmod(0o755)
    yield base / "cluster"
    shutil.rmtree(base, ignore_errors=True)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("FTVM_ADMIN_PASSWORD", "FTVM_TARGET", "FTVM_SESSION")}


def _cluster_up(folder: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """Starts `ftvm cluster up` and answers once it runs (its output until then)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftvm.cli",
            "cluster",
            "up",
            "--data-dir",
            str(folder),
            "--grpc-port-base",
            "0",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("ftvm cluster: running;"):
            return proc, "".join(lines)
    raise AssertionError(f"ftvm cluster up exited with {proc.wait()}:\n{''.join(lines)}")


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def _call(argv: list[str]) -> dict:
    assert argv[0] == "ftvm"
    done = subprocess.run(
        [sys.executable, "-m", "ftvm.cli", *argv[1:]], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _with_target(argv: list[str], target: str) -> list[str]:
    i = argv.index("--target")
    return argv[: i + 1] + [target] + argv[i + 2 :]


def _processes_of(proc: subprocess.Popen, folder: Path) -> list[psutil.Process]:
    """The replicas (children of `cluster up`) and PostgreSQL (the postmaster, which pg_ctl detached, and its
    children)."""
    replicas = [p for p in psutil.Process(proc.pid).children(recursive=True) if "serve" in p.cmdline()]
    postmaster = psutil.Process(int((folder / "postgres" / "data" / "postmaster.pid").read_text().split()[0]))
    return replicas + [postmaster] + postmaster.children(recursive=True)


def _gone(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE  # an orphan whose reaper is slow
    except psutil.NoSuchProcess:
        return True


def _processes_in(folder: Path) -> list[psutil.Process]:
    """Live processes whose command line names the folder (its replicas' logs, PostgreSQL's data)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        if str(folder) in " ".join(p.info["cmdline"] or ()) and not _gone(p):
            out.append(p)
    return out


def test_cluster_up_serves_the_sample_call_on_every_replica_stops_everything_and_keeps_the_data(folder):
    proc, out = _cluster_up(folder, "--replicas", "2", "--http-port-base", "0")
    try:
        grpc_targets = re.findall(r"replica \d: gRPC (\S+),", out)
        rest_urls = re.findall(r", REST (\S+) \(log", out)
        assert len(grpc_targets) == len(rest_urls) == 2, out
        assert re.search(r"database postgresql://postgres@127\.0\.0\.1:\d+/ftvm", out), out
        password = re.search(r"admin password (\S+) \(printed once", out).group(1)
        (sample,) = [line.strip() for line in out.splitlines() if line.startswith("  ftvm call ")]
        argv = shlex.split(sample)
        assert argv[argv.index("--target") + 1] == ",".join(grpc_targets) and f"admin:{password}" in argv
        processes = _processes_of(proc, folder)
        assert len(processes) > 3 and not any(_gone(p) for p in processes)

        groups = [_call(argv)["faultToleranceVmGroupInventory"]["uuid"]]  # over both replicas
        for target in grpc_targets:  # and on each alone
            reply = _call(_with_target(argv, target))
            assert reply["success"] is True
            assert reply["primaryVmInventory"]["hostUuid"] != reply["secondaryVmInventory"]["hostUuid"]
            groups.append(reply["faultToleranceVmGroupInventory"]["uuid"])
        for target in grpc_targets:  # every replica sees every create
            listed = _call(
                ["ftvm", "call", "--target", target, "--login", f"admin:{password}", "QueryFaultToleranceVm", "{}"]
            )
            assert sorted(g["uuid"] for g in listed["inventories"]) == sorted(groups)
        for url in rest_urls:
            with urllib.request.urlopen(f"{url}/openapi.json", timeout=30) as reply:
                assert reply.status == 200 and json.load(reply)["openapi"].startswith("3.")
    finally:
        out = _stop(proc)
    assert "stopped; the data stays in" in out, out
    assert all(_gone(p) for p in processes), [p for p in processes if not _gone(p)]
    assert _processes_in(folder) == []

    # the folder keeps the cluster: started again (one replica, then removed), the creates and the password are there
    proc, out = _cluster_up(folder, "--replicas", "1", "--no-gateway", "--ephemeral")
    try:
        assert "admin password: the one set at the first start" in out and password not in out, out
        (target,) = re.findall(r"replica 1: gRPC (\S+) \(log", out)
        listed = _call(
            ["ftvm", "call", "--target", target, "--login", f"admin:{password}", "QueryFaultToleranceVm", "{}"]
        )
        assert sorted(g["uuid"] for g in listed["inventories"]) == sorted(groups)
    finally:
        out = _stop(proc)
    assert f"stopped; removed {folder}" in out and not folder.exists()
    assert _processes_in(folder.parent) == []


def test_missing_postgresql_is_a_clear_error(folder):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ftvm.cli",
            "cluster",
            "up",
            "--data-dir",
            str(folder),
            "--postgres-bin",
            str(folder / "nowhere"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert done.returncode == 1
    assert (
        f"ftvm cluster: {folder / 'nowhere'} is not a PostgreSQL bin folder: no postgres, initdb, pg_ctl" in done.stderr
        and "Traceback" not in done.stderr
    ), done.stderr


def test_a_replica_that_cannot_start_is_a_clear_error_and_leaves_nothing_running(folder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ftvm.cli",
                "cluster",
                "up",
                "--data-dir",
                str(folder),
                "--replicas",
                "2",
                "--grpc-port-base",
                str(port),
                "--no-gateway",
                "--ephemeral",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=_env(),
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ftvm cluster: replica 1 exited with code 1; its log" in done.stderr, done.stderr
    assert "stopping the replicas and the database" in done.stdout and not folder.exists()
    assert _processes_in(folder.parent) == []
