"""`ftvm serve --workers N`: N processes on one SQLite file and one port pair, any of them answering any call,
kept in step by the change feed; a worker killed with SIGKILL is started again and nothing acknowledged is lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import grpc
import psutil

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from service_support import ADMIN_PASSWORD, log_in


def _serve(data_dir, workers: int) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftvm.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "FTVM_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "REST listening on" in line or proc.poll() is not None:
            break
    text = "".join(lines)
    grpc_match, rest_match = re.search(r"gRPC listening on (\S+)", text), re.search(r"REST listening on (\S+)", text)
    assert grpc_match and rest_match and f"({workers} worker processes)" in text, text
    return proc, grpc_match.group(1), rest_match.group(1)


def _create_on_new_connections(target: str, n: int, prefix: str) -> list:
    """Each create on its own channel, so the kernel spreads the connections over the workers."""
    replies = []
    for i in range(n):
        channel = grpc.insecure_channel(target)
        client = log_in(channel)
        image = client.query("QueryImage", "mediaType=RootVolumeTemplate")[0].uuid
        l3 = client.query("QueryL3Network", "name=l3-a-vm")[0].uuid
        offering = client.query("QueryInstanceOffering", "name=small")[0].uuid
        replies.append(
            client.create(
                name=f"{prefix}-{i}", image_uuid=image, l3_network_uuids=[l3], instance_offering_uuid=offering
            )
        )
        channel.close()
    return replies


def _workers(supervisor: psutil.Process) -> list[psutil.Process]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    out = []
    for child in supervisor.children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def _feed_origins(data_dir) -> set[str]:
    import sqlite3

    db = sqlite3.connect(data_dir / "ftvm.db")
    try:
        return {origin for (origin,) in db.execute("SELECT origin FROM change_feed")}
    finally:
        db.close()


def test_workers_share_the_ports_and_the_database_and_a_killed_worker_comes_back(tmp_path):
    data = tmp_path / "data"
    proc, target, _ = _serve(data, 2)
    try:
        supervisor = psutil.Process(proc.pid)
        workers = _workers(supervisor)
        assert len(workers) == 2
        replies = _create_on_new_connections(target, 12, "before")
        assert len(_feed_origins(data)) == 2  # both workers committed creates
        workers[0].send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len([c for c in _workers(supervisor) if c.pid != workers[0].pid and c.is_running()]) < 2:
            assert time.monotonic() < deadline, "the killed worker was not started again"
            time.sleep(0.2)
        replies += _create_on_new_connections(target, 6, "after")
        client = log_in(grpc.insecure_channel(target))
        groups = client.query("QueryFaultToleranceVm")
        assert {g.uuid for g in groups} == {r.fault_tolerance_vm_group_inventory.uuid for r in replies}
        ips = [r.primary_vm_inventory.vm_nics[0].ip for r in replies]
        assert len(set(ips)) == len(ips) == 18
        client.vm.DestroyVmInstance(pb.DestroyVmInstanceRequest(uuid=groups[0].uuid), metadata=client.metadata)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert not [c for c in workers if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
