"""A failed create leaves nothing behind (failure injected at every step), and concurrent creates racing for the
last capacity never over-allocate, over real gRPC; a restarted server reads the same state back. On SQLite and on
PostgreSQL (conftest.py)."""

from __future__ import annotations

import asyncio
import collections
import threading
import time

import grpc
import pytest
from test_create_service import Names, basic
from test_create_validation import ROW_TABLES

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm.agent.simulation import SimulatedHypervisor
from ftvm.store.postgres import RECONNECT_PAUSE_SECONDS
from service_support import inventory, log_in, rpc_error, start_server

STEPS = ("validate", "place", "allocate_network", "start_primary", "start_secondary", "commit", "commit_rows_written")


class FailAt:
    """A failpoint: raises at the named step of the create flow."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.seen: list[str] = []

    def __call__(self, step: str) -> None:
        self.seen.append(step)
        if step == self.step:
            raise RuntimeError(f"injected failure at {step}")


def _state(server, agent: SimulatedHypervisor) -> dict:
    running = server.running
    rows = running.store.read(lambda tx: {t: len(tx.select(t)) for t in ROW_TABLES})
    hosts = {u: running.domain.engine.host_usage(u) for u in running.domain.catalog.hosts}
    storages = {u: running.domain.engine.storage_available(u) for u in running.domain.catalog.storages}
    return dict(
        rows=rows,
        hosts=hosts,
        storages=storages,
        network=running.network.in_use(),
        reservations=running.domain.engine.reservation_count(),
        agent=agent.simulation.vm_count(),
    )


@pytest.mark.parametrize("step", STEPS)
def test_failure_at_each_step_leaves_nothing_behind(tmp_path, database_url, step):
    failpoint, agent = FailAt(), SimulatedHypervisor()
    spec = inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=129)
    with start_server(tmp_path, spec, database_url=database_url, failpoint=failpoint, agent=agent) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        client.create(**basic(names, name="existing", data_disk_offering_uuids=[names.disk["data-20g"]]))
        before = _state(server, agent)
        failpoint.step = step
        code, error = rpc_error(
            lambda: client.create(**basic(names, data_disk_offering_uuids=[names.disk["data-20g"]]))
        )
        assert step in failpoint.seen  # the step was reached, so the injected failure is what refused the create
        assert code == grpc.StatusCode.INTERNAL and error.code == "SYS.1000"
        assert _state(server, agent) == before
        failpoint.step = None
        reply = client.create(**basic(names, name="after"))  # and the service carries on
        assert reply.success


def test_database_down_is_unavailable_and_leaves_nothing_behind_and_creates_resume_when_it_is_back(
    tmp_path, postgres_cluster
):
    agent, url = SimulatedHypervisor(), postgres_cluster.create_database()
    spec = inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=129)
    with start_server(tmp_path, spec, database_url=url, agent=agent) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        client.create(**basic(names, name="before"))
        before = _state(server, agent)
        with postgres_cluster.refusing_connections(url):
            code, error = rpc_error(lambda: client.create(**basic(names, name="while-down")))
            assert code == grpc.StatusCode.UNAVAILABLE and error.code == "SYS.1006"
            assert error.details.startswith("the database is unavailable: ")
            code, error = rpc_error(lambda: client.query("QueryFaultToleranceVm"))
            assert code == grpc.StatusCode.UNAVAILABLE and error.code == "SYS.1006"
        time.sleep(RECONNECT_PAUSE_SECONDS)  # the writer connects again after this pause
        assert _state(server, agent) == before  # the refused create took nothing (memory, agent, rows)
        assert client.create(**basic(names, name="after")).success  # no restart needed
        assert {g.name for g in client.query("QueryFaultToleranceVm")} == {"before", "after"}


def test_exhaustion_race_never_over_allocates_and_survives_restart(tmp_path, database_url):
    # 4 hosts x 33 GiB (32 usable) = 8 small (4 GiB) VMs per host: room for exactly K = 16 pairs.
    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=33, ip_count=200)
    k, threads = 16, 32
    with start_server(tmp_path, spec, database_url=database_url) as server:
        target, names = server.target, Names(server)
        channel = grpc.insecure_channel(target)
        client = log_in(channel)
        outcomes: list = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            for i in range(n):
                try:
                    reply = client.create(**basic(names, name=f"race-{threading.get_ident()}-{i}"))
                    result = ("ok", reply)
                except grpc.RpcError as e:
                    result = ("error", e)
                with lock:
                    outcomes.append(result)

        pool = [threading.Thread(target=worker, args=(10 * k // threads,)) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        assert len(outcomes) == 10 * k
        replies = [r for kind, r in outcomes if kind == "ok"]
        errors = [e for kind, e in outcomes if kind == "error"]
        codes = collections.Counter(e.code() for e in errors)
        assert len(replies) == k, codes
        assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED: 9 * k}
        for e in errors[:5]:
            _, error = rpc_error(lambda e=e: (_ for _ in ()).throw(e))
            assert error.cause.code == "HOST_ALLOCATION.1000"

        per_host = collections.Counter()
        ips, macs = [], []
        for reply in replies:
            p, s = reply.primary_vm_inventory, reply.secondary_vm_inventory
            assert p.host_uuid != s.host_uuid
            per_host.update([p.host_uuid, s.host_uuid])
            ips.append(p.vm_nics[0].ip)
            macs.append(p.vm_nics[0].mac)
        assert max(per_host.values()) <= 8 and sum(per_host.values()) == 2 * k
        assert len(set(ips)) == k and len(set(macs)) == k

        def db_facts(tx):
            usage = tx.host_usage(list(names.hosts))
            used_ips = tx.select("used_ips")
            return (
                {h: (u.vm_count, u.memory_used) for h, u in usage.items()},
                sorted(u["ip"] for u in used_ips),
                len(tx.select("ft_groups")),
            )

        usage, db_ips, groups = server.running.store.read(db_facts)
        assert groups == k and db_ips == sorted(ips)
        assert all(count <= 8 and memory <= 32 << 30 for count, memory in usage.values())
        engine_usage = {h: server.running.domain.engine.host_usage(h) for h in names.hosts}
        vms = {v.uuid: (v.host_uuid, v.vm_nics[0].ip) for v in client.query("QueryVmInstance")}
        channel.close()

    with start_server(tmp_path, spec, database_url=database_url) as restarted:
        client = log_in(grpc.insecure_channel(restarted.target))
        assert {v.uuid: (v.host_uuid, v.vm_nics[0].ip) for v in client.query("QueryVmInstance")} == vms
        assert {h: restarted.running.domain.engine.host_usage(h) for h in names.hosts} == engine_usage
        code, error = rpc_error(lambda: client.create(**basic(names, name="still-full")))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        # destroying one pair made before the restart frees exactly one pair's room
        victim = replies[0].fault_tolerance_vm_group_inventory.uuid
        client.vm.DestroyVmInstance(pb.DestroyVmInstanceRequest(uuid=victim), metadata=client.metadata)
        again = client.create(**basic(names, name="after-restart"))
        freed_ip = replies[0].primary_vm_inventory.vm_nics[0].ip
        assert again.primary_vm_inventory.vm_nics[0].ip not in set(ips) - {freed_ip}
        code, _ = rpc_error(lambda: client.create(**basic(names, name="full-again")))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_destroy_gives_back_exactly_what_create_took(tmp_path, database_url):
    agent = SimulatedHypervisor()
    with start_server(
        tmp_path,
        inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=129),
        database_url=database_url,
        agent=agent,
    ) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        before = _state(server, agent)
        reply = client.create(**basic(names, data_disk_offering_uuids=[names.disk["data-20g"]]))
        assert agent.simulation.vm_count() == 2 and _state(server, agent) != before
        client.vm.DestroyVmInstance(
            pb.DestroyVmInstanceRequest(uuid=reply.fault_tolerance_vm_group_inventory.uuid), metadata=client.metadata
        )
        assert _state(server, agent) == before


def test_a_create_whose_caller_gives_up_mid_commit_still_finishes_consistently(tmp_path, database_url):
    """The client's deadline expires while the create's rows are being written: the create still completes (its
    work is shielded from the call), so the rows, the engine's reservation and the addresses agree."""
    agent = SimulatedHypervisor()

    def slow_commit(step: str) -> None:
        if step == "commit_rows_written":
            time.sleep(0.3)  # blocks the loop inside the group commit: the deadline expires meanwhile

    with start_server(
        tmp_path,
        inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=129),
        database_url=database_url,
        failpoint=slow_commit,
        agent=agent,
    ) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        before = _state(server, agent)
        code, _ = rpc_error(
            lambda: client.vm.CreateFaultToleranceVmInstance(
                pb.CreateFaultToleranceVmInstanceRequest(**basic(names)), metadata=client.metadata, timeout=0.1
            )
        )
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        time.sleep(0.5)
        after = _state(server, agent)
        assert after["rows"]["ft_groups"] == before["rows"]["ft_groups"] + 1
        assert after["reservations"] == before["reservations"] + 1 and after["agent"] == before["agent"] + 2
        assert after["network"]["ips"] == before["network"]["ips"] + 1
        (group,) = client.query("QueryFaultToleranceVm")
        client.vm.DestroyVmInstance(pb.DestroyVmInstanceRequest(uuid=group.uuid), metadata=client.metadata)
        assert _state(server, agent) == before


class SlowHypervisor(SimulatedHypervisor):
    """The simulated hypervisor, taking its time to start a VM (a real agent takes seconds)."""

    async def start_vm(self, host_uuid, vm):
        await asyncio.sleep(0.5)
        await super().start_vm(host_uuid, vm)


def test_graceful_stop_finishes_in_flight_creates(tmp_path, database_url):
    spec = inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=129)
    server = start_server(tmp_path, spec, database_url=database_url, agent=SlowHypervisor())
    with server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        future = client.vm.CreateFaultToleranceVmInstance.future(
            pb.CreateFaultToleranceVmInstanceRequest(**basic(names)), metadata=client.metadata
        )
        time.sleep(0.2)  # the create is inside the agent's start now
        stopper = threading.Thread(target=server.stop, kwargs={"grace": 5.0})
        stopper.start()
        reply = future.result(timeout=10)
        stopper.join()
    assert reply.success
    with start_server(tmp_path, spec, database_url=database_url) as restarted:
        client = log_in(grpc.insecure_channel(restarted.target))
        (group,) = client.query("QueryFaultToleranceVm")
        assert group.uuid == reply.fault_tolerance_vm_group_inventory.uuid
