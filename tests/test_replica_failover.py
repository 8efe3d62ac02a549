"""A replica killed with SIGKILL under load, as a client with the shipped service config sees it: every call
succeeds (retried on a survivor; a create under its idempotency key gets the original reply), no acknowledged create
is lost, and the restarted replica's memory equals one rebuilt from the rows."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import grpc

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm.client import open_channel
from replica_support import memory_of, memory_rebuilt_from_rows, wait_caught_up
from service_support import ADMIN_PASSWORD, log_in, start_server

THREADS, CREATES_PER_THREAD, KILL_AFTER = 6, 25, 40


def _serve(data_dir, *extra: str) -> tuple[subprocess.Popen, str]:
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
            "--no-gateway",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "FTVM_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    for line in proc.stdout:
        match = re.search(r"gRPC listening on (\S+)", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining its output
            return proc, match.group(1)
    raise AssertionError(f"ftvm serve exited with {proc.wait()}")


def test_a_replica_killed_under_load_fails_no_call(tmp_path, database_url):
    # a process, to be killed; the survivor runs here
    doomed, doomed_target = _serve(tmp_path / "data", "--database-url", database_url)
    try:
        with start_server(tmp_path, None, database_url=database_url) as survivor:
            _load_and_kill(doomed, doomed_target, survivor)
            wait_caught_up(survivor)
            assert memory_of(survivor.running) == memory_rebuilt_from_rows(survivor.running)
            with start_server(tmp_path, None, database_url=database_url) as restarted:
                wait_caught_up(survivor, restarted)
                assert memory_of(restarted.running) == memory_of(survivor.running)
    finally:
        if doomed.poll() is None:
            doomed.kill()


def _load_and_kill(doomed: subprocess.Popen, doomed_target: str, survivor) -> None:
    channel = open_channel(f"{doomed_target},{survivor.target}")
    client = log_in(channel)
    image = client.query("QueryImage", "mediaType=RootVolumeTemplate")[0].uuid
    l3 = client.query("QueryL3Network", "name=l3-a-vm")[0].uuid
    offering = client.query("QueryInstanceOffering", "name=small")[0].uuid
    outcomes: list[tuple[str, object, float]] = []
    lock = threading.Lock()
    killed = threading.Event()

    def worker(t: int) -> None:
        for i in range(CREATES_PER_THREAD):
            request = pb.CreateFaultToleranceVmInstanceRequest(
                name=f"load-{t}-{i}", image_uuid=image, l3_network_uuids=[l3], instance_offering_uuid=offering
            )
            started = time.monotonic()
            try:
                reply = client.vm.CreateFaultToleranceVmInstance(
                    request, metadata=client.metadata + (("idempotency-key", uuid.uuid4().hex),), timeout=30
                )
                result: tuple[str, object] = ("ok", reply)
            except grpc.RpcError as e:
                result = ("error", e)
            with lock:
                outcomes.append((*result, time.monotonic() - started))
                if len(outcomes) == KILL_AFTER:
                    doomed.send_signal(signal.SIGKILL)  # while the other threads' creates are in flight
                    killed.set()

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert killed.is_set()
    doomed.wait()
    errors = [e for kind, e, _ in outcomes if kind == "error"]
    assert not errors, [(e.code(), e.details()) for e in errors[:5]]
    acknowledged = {reply.fault_tolerance_vm_group_inventory.uuid for _, reply, _ in outcomes}
    assert len(acknowledged) == len(outcomes) == THREADS * CREATES_PER_THREAD
    groups = {g.uuid for g in log_in(grpc.insecure_channel(survivor.target)).query("QueryFaultToleranceVm", limit=1000)}
    assert acknowledged <= groups  # nothing acknowledged is lost
    assert len(groups) == len(acknowledged)  # and no create made a second pair
