"""An FT group's life after the create (domain/recovery.py), over real gRPC with the simulated hypervisor: a lost host
is detected by its missed heartbeats, its groups fail over and are re-protected; no room leaves them Unprotected
until capacity appears; manual failover, reconnect and maintenance; and throughout: never both VMs of a group on
one host, never over-allocation, never a lost group."""

from __future__ import annotations

import collections
import json
import time

import grpc
import pytest
from test_create_service import Names, basic

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm.agent import HostAgentError
from ftvm.agent.simulation import SimulatedHypervisor
from ftvm.api.errors import error_from_status_details
from ftvm.domain.recovery import RecoveryConfig
from replica_support import memory_of, memory_rebuilt_from_rows
from service_support import inventory, log_in, rpc_error, start_server

FAST = RecoveryConfig(heartbeat_interval=0.1, missed_heartbeats=2, reconcile_interval=3600)


def wait_for(condition, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def groups_of(server) -> dict[str, dict]:
    return {g["uuid"]: g for g in server.running.store.read(lambda tx: tx.select("ft_groups"))}


def vms_of(server, group_uuid: str) -> list[dict]:
    return server.running.store.read(lambda tx: tx.select("vm_instances", {"group_uuid": group_uuid}))


def events(server, kind: str) -> list[dict]:
    return [e for e in server.running.store.read(lambda tx: tx.select("ft_events")) if e["kind"] == kind]


def all_protected(server, expected: int | None = None) -> bool:
    groups = groups_of(server)
    return (expected is None or len(groups) == expected) and all(g["status"] == "Protected" for g in groups.values())


def check_invariants(server, agent: SimulatedHypervisor) -> None:
    """Never both VMs of a group on one host; usage within capacity; every running VM's row on its host's agent;
    memory equal to what the rows say."""

    def read(tx):
        return (
            tx.select("vm_instances"),
            tx.select("ft_groups"),
            tx.host_usage(list(server.running.domain.catalog.hosts)),
        )

    vms, groups, usage = server.running.store.read(read)
    by_group = collections.defaultdict(list)
    for vm in vms:
        by_group[vm["group_uuid"]].append(vm)
    for group in groups:
        hosts = [v["host_uuid"] for v in by_group[group["uuid"]]]
        assert len(hosts) == len(set(hosts)), f"group {group['uuid']} has both VMs on one host"
        assert group["primary_vm_instance_uuid"] in {v["uuid"] for v in by_group[group["uuid"]]}
    catalog = server.running.domain.catalog
    config = catalog.placement_config()
    for host, u in usage.items():
        h = catalog.hosts[host]
        assert u.memory_used <= h["total_memory_capacity"] - config.reserved_memory
        assert u.cpu_used <= h["cpu_num"] * config.cpu_overprovisioning_ratio
    for vm in vms:
        if vm["state"] == "Running" and catalog.hosts[vm["host_uuid"]]["status"] == "Connected":
            assert vm["uuid"] in {v.uuid for v in agent.simulation.vms(vm["host_uuid"])}
    assert memory_of(server.running) == memory_rebuilt_from_rows(server.running)


@pytest.fixture
def env(tmp_path):
    agent = SimulatedHypervisor()
    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=64, memory_gib=129, racks=4)
    with start_server(tmp_path, spec, agent=agent, recovery=FAST) as server:
        yield server, log_in(grpc.insecure_channel(server.target)), Names(server), agent


def test_a_lost_primary_host_fails_over_and_the_group_is_protected_again(env):
    server, client, names, agent = env
    reply = client.create(**basic(names, name="web"))
    group = reply.fault_tolerance_vm_group_inventory.uuid
    primary, secondary = reply.primary_vm_inventory, reply.secondary_vm_inventory
    agent.simulation.fail(primary.host_uuid)
    wait_for(
        lambda: (
            groups_of(server)[group]["status"] == "Protected"
            and groups_of(server)[group]["primary_vm_instance_uuid"] == secondary.uuid
        ),
        what="failover and re-protection",
    )
    assert server.running.domain.catalog.hosts[primary.host_uuid]["status"] == "Disconnected"
    pair = client.vm.GetFaultToleranceVms(
        pb.GetFaultToleranceVmsRequest(fault_tolerance_vm_uuid=group), metadata=client.metadata
    )
    assert pair.primary_vm_inventory.uuid == secondary.uuid  # the secondary took over ...
    assert pair.primary_vm_inventory.vm_nics[0].ip == primary.vm_nics[0].ip  # ... keeping IP and MAC
    assert pair.primary_vm_inventory.vm_nics[0].mac == primary.vm_nics[0].mac
    assert not [v for v in pair.primary_vm_inventory.all_volumes if v.type == "Cache"]
    new = pair.secondary_vm_inventory
    assert new.uuid not in (primary.uuid, secondary.uuid) and new.state == "Running"
    assert new.host_uuid not in (primary.host_uuid, secondary.host_uuid)
    assert new.vm_nics[0].ip == primary.vm_nics[0].ip and new.vm_nics[0].mac == primary.vm_nics[0].mac
    assert len([v for v in new.all_volumes if v.type == "Cache"]) == 2
    assert [e["group_uuid"] for e in events(server, "failover")] == [group]
    assert [e["group_uuid"] for e in events(server, "reprotected")] == [group]
    dead = server.running.store.read(lambda tx: tx.host_usage([primary.host_uuid]))[primary.host_uuid]
    assert (dead.vm_count, dead.cpu_used, dead.memory_used) == (0, 0, 0)  # the dead host's capacity is given back
    check_invariants(server, agent)


def test_a_lost_secondary_host_gets_a_new_secondary(env):
    server, client, names, agent = env
    reply = client.create(**basic(names, name="web"))
    group, primary = reply.fault_tolerance_vm_group_inventory.uuid, reply.primary_vm_inventory
    agent.simulation.fail(reply.secondary_vm_inventory.host_uuid)
    wait_for(lambda: events(server, "reprotected"), what="re-protection")
    assert groups_of(server)[group]["primary_vm_instance_uuid"] == primary.uuid
    assert [e["group_uuid"] for e in events(server, "secondary-dropped")] == [group]
    assert wait_for(lambda: all_protected(server, 1))
    check_invariants(server, agent)


def test_two_hosts_failing_at_once(env):
    """Groups with one VM on the failed hosts recover; a group with both there cannot and stays Unknown, its record
    kept (never a lost group)."""
    server, client, names, agent = env
    host_a, host_b = names.host["host-1"], names.host["host-2"]
    both = client.create(**basic(names, name="both", host_uuid=host_a))
    while both.secondary_vm_inventory.host_uuid != host_b:  # pin the pair to the two hosts
        client.vm.DestroyVmInstance(
            pb.DestroyVmInstanceRequest(uuid=both.fault_tolerance_vm_group_inventory.uuid), metadata=client.metadata
        )
        for other in names.host.values():
            if other not in (host_a, host_b):
                client.inventory.ChangeHostState(
                    pb.ChangeHostStateRequest(
                        uuid=other, change_host_state=pb.ChangeHostStateParams(state_event="disable")
                    ),
                    metadata=client.metadata,
                )
        both = client.create(**basic(names, name="both", host_uuid=host_a))
    for other in names.host.values():
        client.inventory.ChangeHostState(
            pb.ChangeHostStateRequest(uuid=other, change_host_state=pb.ChangeHostStateParams(state_event="enable")),
            metadata=client.metadata,
        )
    others = [
        client.create(**basic(names, name=f"other-{i}", host_uuid=host_a if i % 2 else None)) for i in range(12)
    ]  # half with their primary on A: their secondaries spread over the other hosts

    async def fail_both() -> None:  # on the server's loop: no heartbeat round sees one failed and not the other
        agent.simulation.fail(host_a)
        agent.simulation.fail(host_b)

    server.call(fail_both)
    dead = {host_a, host_b}
    lost_pairs = {both.fault_tolerance_vm_group_inventory.uuid} | {
        r.fault_tolerance_vm_group_inventory.uuid
        for r in others
        if {r.primary_vm_inventory.host_uuid, r.secondary_vm_inventory.host_uuid} == dead
    }
    recoverable = [r for r in others if r.fault_tolerance_vm_group_inventory.uuid not in lost_pairs]
    assert [r for r in recoverable if {r.primary_vm_inventory.host_uuid, r.secondary_vm_inventory.host_uuid} & dead]
    wait_for(
        lambda: (
            len(events(server, "host-lost")) == 2
            and all(
                groups_of(server)[r.fault_tolerance_vm_group_inventory.uuid]["status"] == "Protected"
                and not {v["host_uuid"] for v in vms_of(server, r.fault_tolerance_vm_group_inventory.uuid)} & dead
                for r in recoverable
            )
        ),
        what="the other groups re-protected",
    )
    for uuid in lost_pairs:
        lost = groups_of(server)[uuid]
        assert lost["status"] == "Unknown" and "every VM of the group is lost" in lost["status_reason"]
    assert len(groups_of(server)) == 13
    check_invariants(server, agent)


def test_no_room_leaves_groups_unprotected_until_capacity_appears(tmp_path):
    agent = SimulatedHypervisor()
    # 3 hosts with room for 3 small VMs each (13 - 1 GiB reserved = 12 GiB): 4 groups take 8 of the 9 slots;
    # after a host with 2 or 3 of them fails, the survivors have 1 or 2 free slots for 2 or 3 new secondaries
    spec = inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=13)
    with start_server(tmp_path, spec, agent=agent, recovery=FAST) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        replies = [client.create(**basic(names, name=f"g{i}")) for i in range(4)]
        doomed = max(names.host.values(), key=lambda h: len(agent.simulation.vms(h)))
        agent.simulation.fail(doomed)
        wait_for(
            lambda: (
                all(g["status"] in ("Protected", "Unprotected") for g in groups_of(server).values())
                and events(server, "unprotected")
            ),
            what="the groups to settle",
        )
        unprotected = [g for g in groups_of(server).values() if g["status"] == "Unprotected"]
        assert unprotected
        reason = json.loads(unprotected[0]["status_reason"])
        assert reason["reason"] == "no host for a new secondary" and reason["hostsRemovedByRule"]
        assert unprotected[0]["secondary_vm_instance_uuid"] is None
        check_invariants(server, agent)
        client.inventory.AddKVMHost(
            pb.AddKVMHostRequest(
                cluster_uuid=names.cluster["z0-c0"],
                name="fresh",
                management_ip="192.168.50.1",
                cpu_num=64,
                memory_size=129 << 30,
                ft_network_address="10.99.50.1",
            ),
            metadata=client.metadata,
        )
        wait_for(lambda: all_protected(server, len(replies)), what="re-protection once capacity appeared")
        check_invariants(server, agent)


class RefusingAgent(SimulatedHypervisor):
    """The simulated hypervisor, refusing to start VMs while `refuse` is set (a host agent in trouble)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = False

    async def start_vm(self, host_uuid, vm):
        if self.refuse:
            raise HostAgentError("refusing starts (test)")
        await super().start_vm(host_uuid, vm)


def test_a_restart_in_the_middle_of_recovery_resumes_it(tmp_path):
    agent = RefusingAgent()
    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=129)
    with start_server(tmp_path, spec, agent=agent, recovery=FAST) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        replies = [client.create(**basic(names, name=f"g{i}")) for i in range(6)]
        agent.refuse = True
        doomed = replies[0].primary_vm_inventory.host_uuid
        agent.simulation.fail(doomed)
        wait_for(
            lambda: [g for g in groups_of(server).values() if g["status"] == "Recovering"], what="groups recovering"
        )
    recovering = {u for u, g in groups_of_stopped(tmp_path).items() if g["status"] == "Recovering"}
    assert recovering
    agent.refuse = False
    with start_server(tmp_path, None, agent=agent, recovery=FAST) as restarted:
        wait_for(lambda: all_protected(restarted, 6), what="recovery resumed after the restart")
        assert {e["group_uuid"] for e in events(restarted, "reprotected")} >= recovering
        check_invariants(restarted, agent)


def groups_of_stopped(tmp_path) -> dict[str, dict]:
    import sqlite3

    db = sqlite3.connect(tmp_path / "data" / "ftvm.db")
    db.row_factory = sqlite3.Row
    try:
        return {r["uuid"]: dict(r) for r in db.execute("SELECT * FROM ft_groups")}
    finally:
        db.close()


def test_manual_failover_and_its_refusals(env):
    server, client, names, agent = env
    reply = client.create(**basic(names, name="manual"))
    group = reply.fault_tolerance_vm_group_inventory.uuid

    def failover(uuid: str):
        return client.vm.FailoverFaultToleranceVm(
            pb.FailoverFaultToleranceVmRequest(
                failover_fault_tolerance_vm=pb.FailoverFaultToleranceVmParams(fault_tolerance_vm_uuid=uuid)
            ),
            metadata=client.metadata,
        )

    code, error = rpc_error(lambda: failover(reply.primary_vm_inventory.uuid))
    assert (code, error.code) == (grpc.StatusCode.FAILED_PRECONDITION, "SYS.1006")
    assert "please confirm it is a fault tolerance vm group" in error.details
    new_primary = failover(group).primary_vm_inventory
    assert new_primary.uuid == reply.secondary_vm_inventory.uuid and new_primary.state == "Running"
    old = reply.primary_vm_inventory
    assert old.uuid not in {v.uuid for v in agent.simulation.vms(old.host_uuid)}  # the old primary was stopped
    try:
        failover(group)  # re-protection already done: Protected again, so a second failover is allowed
    except grpc.RpcError as e:  # still Recovering: refused
        error = error_from_status_details(dict(e.trailing_metadata() or ()).get("grpc-status-details-bin"))
        assert (e.code(), error.code) == (grpc.StatusCode.FAILED_PRECONDITION, "SYS.1006")
        assert "is not in status of [Protected, Unknown]" in error.details
    wait_for(lambda: all_protected(server, 1), what="re-protection after the manual failover")
    client.inventory.UpdateGlobalConfig(
        pb.UpdateGlobalConfigRequest(
            category="ft", name="enable", update_global_config=pb.UpdateGlobalConfigParams(value="false")
        ),
        metadata=client.metadata,
    )
    code, error = rpc_error(lambda: failover(group))
    assert "please enable ft in GlobalConfig" in error.details
    check_invariants(server, agent)


def test_reconnect_brings_a_host_back_and_destroys_what_was_failed_over(env):
    server, client, names, agent = env
    reply = client.create(**basic(names, name="partitioned"))
    host, old_primary = reply.primary_vm_inventory.host_uuid, reply.primary_vm_inventory.uuid
    agent.simulation.fail(host, vms_survive=True)  # a network partition: the old primary keeps running
    wait_for(
        lambda: all_protected(server, 1) and server.running.domain.catalog.hosts[host]["status"] == "Disconnected",
        what="failover during the partition",
    )

    def reconnect():
        return client.inventory.ReconnectHost(
            pb.ReconnectHostRequest(uuid=host, reconnect_host=pb.ReconnectHostParams()), metadata=client.metadata
        )

    code, error = rpc_error(reconnect)
    assert (code, error.code) == (grpc.StatusCode.FAILED_PRECONDITION, "SYS.1006") and "unreachable" in error.details
    agent.simulation.recover(host)
    assert old_primary in {v.uuid for v in agent.simulation.vms(host)}
    assert reconnect().inventory.status == "Connected"
    assert old_primary not in {v.uuid for v in agent.simulation.vms(host)}  # no pair runs twice
    assert server.running.domain.catalog.hosts[host]["status"] == "Connected"
    check_invariants(server, agent)


def test_maintenance_moves_ft_vms_off_the_host(env):
    server, client, names, agent = env
    host = names.host["host-1"]
    on_host = [client.create(**basic(names, name=f"m{i}", host_uuid=host)) for i in range(3)]

    def maintain():
        return client.inventory.ChangeHostState(
            pb.ChangeHostStateRequest(uuid=host, change_host_state=pb.ChangeHostStateParams(state_event="maintain")),
            metadata=client.metadata,
        )

    assert maintain().inventory.state == "Maintenance"
    wait_for(lambda: all_protected(server, 3), what="the groups moved off and re-protected")
    for r in on_host:
        assert host not in {v["host_uuid"] for v in vms_of(server, r.fault_tolerance_vm_group_inventory.uuid)}
    assert not agent.simulation.vms(host)
    check_invariants(server, agent)


def test_maintenance_is_refused_while_groups_recover(tmp_path):
    agent = RefusingAgent()
    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=129)
    with start_server(tmp_path, spec, agent=agent, recovery=FAST) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        reply = client.create(**basic(names, name="busy"))
        agent.refuse = True
        agent.simulation.fail(reply.secondary_vm_inventory.host_uuid)
        wait_for(lambda: all(g["status"] == "Recovering" for g in groups_of(server).values()), what="recovering")
        code, error = rpc_error(
            lambda: client.inventory.ChangeHostState(
                pb.ChangeHostStateRequest(
                    uuid=reply.primary_vm_inventory.host_uuid,
                    change_host_state=pb.ChangeHostStateParams(state_event="maintain"),
                ),
                metadata=client.metadata,
            )
        )
        assert (code, error.code) == (grpc.StatusCode.FAILED_PRECONDITION, "SYS.1006")
        assert "Can not maintain host, because ft vms" in error.details and "are under recovering" in error.details
        assert server.running.domain.catalog.hosts[reply.primary_vm_inventory.host_uuid]["state"] == "Enabled"
        agent.refuse = False


def test_a_failed_host_carrying_a_thousand_groups(tmp_path):
    agent = SimulatedHypervisor()
    spec = inventory(hosts_per_cluster=25, clusters=2, cpu=512, memory_gib=2049, ip_count=2000)
    spec["instanceOfferings"].append({"name": "tiny", "cpuNum": 1, "memorySize": "1G"})
    config = RecoveryConfig(heartbeat_interval=0.2, missed_heartbeats=2, reconcile_interval=3600)
    with start_server(tmp_path, spec, agent=agent, recovery=config) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        doomed = names.host["host-1"]
        calls = [
            client.vm.CreateFaultToleranceVmInstance.future(
                pb.CreateFaultToleranceVmInstanceRequest(
                    **basic(names, name=f"g{i}", host_uuid=doomed, instance_offering_uuid=names.offering["tiny"])
                ),
                metadata=client.metadata,
            )
            for i in range(1000)
        ]
        replies = [c.result() for c in calls]
        assert len(agent.simulation.vms(doomed)) == 1000
        agent.simulation.fail(doomed)
        wait_for(lambda: events(server, "host-lost"), what="the host lost")
        wait_for(lambda: all_protected(server, 1000), timeout=120, what="a thousand groups re-protected")
        stats = server.running.recovery.stats
        assert (stats.failovers, stats.reprotected) == (1000, 1000)
        assert stats.last_batch["placed"] == 1000 and stats.last_batch["placed"] >= stats.last_batch["greedy_placed"]
        for r in replies:  # every pair moved off the dead host, the secondaries now primaries
            group = groups_of(server)[r.fault_tolerance_vm_group_inventory.uuid]
            assert group["primary_vm_instance_uuid"] == r.secondary_vm_inventory.uuid
        check_invariants(server, agent)


def test_recovery_with_two_replicas_keeps_both_memories_right(tmp_path, database_url):
    """The lease holder recovers; the other replica follows every failover and re-protection through the feed."""
    from replica_support import wait_caught_up

    agent = SimulatedHypervisor()  # both replicas talk to the same simulated hosts
    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=64, memory_gib=129, racks=4)
    with (
        start_server(tmp_path, spec, agent=agent, recovery=FAST, database_url=database_url) as a,
        start_server(tmp_path, None, agent=agent, recovery=FAST, database_url=database_url) as b,
    ):
        names = Names(a)
        clients = [log_in(grpc.insecure_channel(s.target)) for s in (a, b)]
        replies = [clients[i % 2].create(**basic(names, name=f"r{i}")) for i in range(10)]
        doomed = max(names.host.values(), key=lambda h: len(agent.simulation.vms(h)))
        agent.simulation.fail(doomed)
        wait_for(lambda: events(a, "host-lost") and all_protected(a, len(replies)), what="recovery")
        workers = [
            s for s in (a, b) if s.running.recovery.stats.failovers + s.running.recovery.stats.secondaries_dropped
        ]
        assert len(workers) == 1  # one replica at a time did the recovery
        wait_caught_up(a, b)
        rebuilt = memory_rebuilt_from_rows(a.running)
        assert memory_of(a.running) == rebuilt == memory_of(b.running)
        check_invariants(a, agent)
