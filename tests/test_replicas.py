"""Several replicas on one database (real servers in one process, on one SQLite file and on PostgreSQL), any replica
answering any call: each follows the others' commits through the change feed, and the database keeps them safe when
a replica's memory is stale."""

from __future__ import annotations

import collections
import json
import threading
import time

import grpc
import pytest
from test_create_service import Names, basic

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm.domain import inventory_file, replication
from ftvm.store import open_store
from replica_support import memory_of, memory_rebuilt_from_rows, wait_caught_up
from service_support import inventory, log_in, rpc_error, start_server


@pytest.fixture
def pair_of_replicas(tmp_path, database_url):
    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=64, memory_gib=129)
    with (
        start_server(tmp_path, spec, database_url=database_url) as a,
        start_server(tmp_path, None, database_url=database_url) as b,
    ):
        yield a, b


def test_each_replica_follows_the_others_creates_and_destroys(pair_of_replicas):
    a, b = pair_of_replicas
    client_a, client_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
    names = Names(a)
    created = [client_a.create(**basic(names, name=f"on-a-{i}")) for i in range(5)]
    created += [client_b.create(**basic(names, name=f"on-b-{i}")) for i in range(5)]
    wait_caught_up(a, b)
    assert memory_of(a.running) == memory_of(b.running) == memory_rebuilt_from_rows(a.running)
    # a group created on one replica is destroyed on the other: both give it back
    for reply in created[:3] + created[5:8]:
        client_b.vm.DestroyVmInstance(
            pb.DestroyVmInstanceRequest(uuid=reply.fault_tolerance_vm_group_inventory.uuid), metadata=client_b.metadata
        )
    wait_caught_up(a, b)
    assert memory_of(a.running) == memory_of(b.running) == memory_rebuilt_from_rows(a.running)
    assert len(client_a.query("QueryFaultToleranceVm")) == 4


def test_replicas_hand_out_ports_and_internal_ids_from_their_own_ranges(pair_of_replicas):
    a, b = pair_of_replicas
    assert a.running.replication.ordinal != b.running.replication.ordinal
    client_a, client_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
    names = Names(a)
    host = names.host["host-1"]
    replies = [client.create(**basic(names, name="pinned", host_uuid=host)) for client in (client_a, client_b)]
    ports = a.running.store.read(lambda tx: tx.select("colo_ports", {"host_uuid": host}))
    by_group = collections.defaultdict(set)
    for p in ports:
        by_group[p["group_uuid"]].add(p["port"])
    first, second = (by_group[r.fault_tolerance_vm_group_inventory.uuid] for r in replies)
    assert first and second and not first & second
    internal_ids = [r.primary_vm_inventory.vm_nics[0].internal_name for r in replies]
    assert len(set(internal_ids)) == 2


def test_a_logout_on_one_replica_is_refused_by_every_replica(pair_of_replicas):
    a, b = pair_of_replicas
    session = log_in(grpc.insecure_channel(a.target))
    on_b = log_in(grpc.insecure_channel(b.target))
    on_b.session = session.session
    assert on_b.query("QueryZone")  # B has the session in its cache now
    session.account.LogOut(pb.LogOutRequest(session_uuid=session.session))
    wait_caught_up(a, b)
    code, error = rpc_error(lambda: on_b.query("QueryZone"))
    assert (code, error.code) == (grpc.StatusCode.UNAUTHENTICATED, "ID.1001")


def test_exhaustion_race_over_replicas_never_over_allocates(tmp_path, database_url):
    """Room for exactly K pairs; 20 x K creates spread over 3 replicas from 20 threads: exactly K succeed, the
    others get RESOURCE_EXHAUSTED (never SYS.1000), and no host, address, MAC or port is taken twice."""
    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=33, ip_count=200)
    k, threads = 16, 20
    with (
        start_server(tmp_path, spec, database_url=database_url) as a,
        start_server(tmp_path, None, database_url=database_url) as b,
        start_server(tmp_path, None, database_url=database_url) as c,
    ):
        replicas = (a, b, c)
        clients = [log_in(grpc.insecure_channel(r.target)) for r in replicas]
        names = Names(a)
        outcomes: list = []
        lock = threading.Lock()

        def worker(t: int) -> None:
            for i in range(20 * k // threads):
                client = clients[(t + i) % len(clients)]
                try:
                    result = ("ok", client.create(**basic(names, name=f"race-{t}-{i}")))
                except grpc.RpcError as e:
                    result = ("error", e)
                with lock:
                    outcomes.append(result)

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        replies = [r for kind, r in outcomes if kind == "ok"]
        codes = collections.Counter(e.code() for kind, e in outcomes if kind == "error")
        assert len(outcomes) == 20 * k
        assert len(replies) == k, codes
        assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED: 19 * k}

        def db_facts(tx):
            usage = tx.host_usage(list(names.hosts))
            return (
                {h: (u.vm_count, u.memory_used) for h, u in usage.items()},
                tx.select("used_ips"),
                tx.select("mac_allocations"),
                tx.select("colo_ports"),
                tx.select("vm_instances"),
            )

        usage, ips, macs, ports, vms = a.running.store.read(db_facts)
        assert all(count <= 8 and memory <= 32 << 30 for count, memory in usage.values())
        assert len(ips) == len({(i["l3_network_uuid"], i["ip"]) for i in ips}) == k
        assert len(macs) == len({m["mac"] for m in macs}) == k
        assert len(ports) == len({(p["host_uuid"], p["port"]) for p in ports})
        assert len({v["internal_id"] for v in vms}) == len(vms) == 2 * k
        for reply in replies:
            assert reply.primary_vm_inventory.host_uuid != reply.secondary_vm_inventory.host_uuid
        wait_caught_up(*replicas)
        rebuilt = memory_rebuilt_from_rows(a.running)
        assert all(memory_of(r.running) == rebuilt for r in replicas)


def _stale_replica(server) -> None:
    """The replica stops following the feed on its own: it catches up only when a commit tells it to."""
    server.call(server.running.replication.stop)


def test_a_stale_replica_that_loses_the_capacity_race_catches_up_and_places_again(tmp_path, database_url):
    # 4 hosts with room for one small VM each (5 GiB - 1 GiB reserved = 4 GiB): room for exactly 2 pairs.
    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=5)
    with (
        start_server(tmp_path, spec, database_url=database_url) as a,
        start_server(tmp_path, None, database_url=database_url) as b,
    ):
        client_a, client_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
        names = Names(a)
        _stale_replica(b)
        first = client_a.create(**basic(names, name="first"))
        # B's memory still shows all four hosts free and picks A's two; the commit refuses, B catches up and
        # places the pair on the other two
        second = client_b.create(**basic(names, name="second"))
        hosts = {
            first.primary_vm_inventory.host_uuid,
            first.secondary_vm_inventory.host_uuid,
            second.primary_vm_inventory.host_uuid,
            second.secondary_vm_inventory.host_uuid,
        }
        assert len(hosts) == 4
        assert b.running.replication.status()["stale_retries"] == 1
        assert memory_of(b.running) == memory_rebuilt_from_rows(b.running)


def test_a_stale_replica_that_loses_an_address_race_catches_up_and_takes_another(tmp_path, database_url):
    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=129)
    spec["zones"][0]["l2Networks"][0]["l3Networks"][0]["ipAllocationStrategy"] = "FirstAvailable"
    with (
        start_server(tmp_path, spec, database_url=database_url) as a,
        start_server(tmp_path, None, database_url=database_url) as b,
    ):
        client_a, client_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
        names = Names(a)
        _stale_replica(b)
        first = client_a.create(**basic(names, name="first"))
        second = client_b.create(**basic(names, name="second"))  # B takes the first free address too: refused
        assert first.primary_vm_inventory.vm_nics[0].ip == "172.16.0.2"
        assert second.primary_vm_inventory.vm_nics[0].ip == "172.16.0.3"
        assert b.running.replication.status()["stale_retries"] == 1


def test_a_replica_that_missed_entries_the_retention_deleted_reloads_from_the_rows(pair_of_replicas):
    a, b = pair_of_replicas
    client_a, client_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
    names = Names(a)
    _stale_replica(b)
    for i in range(4):
        client_a.create(**basic(names, name=f"missed-{i}"))
    a.running.store.write(lambda tx: tx.delete_below("change_feed", "seq", tx.feed_head()))  # all but the last
    b.call(b.running.replication.catch_up)
    assert b.running.replication.stats.reloads == 1
    assert b.running.domain.feed.seq == a.running.store.read(lambda tx: tx.feed_head())
    assert memory_of(b.running) == memory_rebuilt_from_rows(b.running)
    assert client_b.create(**basic(names, name="after-reload")).success


def test_the_feed_keeps_only_entries_some_replica_may_still_need(pair_of_replicas, monkeypatch):
    """Entries every replica has applied (as their heartbeats published) go at the next sweep, not after an hour;
    a replica that published an older position, or none yet, keeps what it still needs."""
    a, b = pair_of_replicas
    monkeypatch.setattr(replication, "FEED_KEEP_BEHIND", 2)
    client_a = log_in(grpc.insecure_channel(a.target))
    names = Names(a)
    for i in range(10):
        client_a.create(**basic(names, name=f"applied-{i}"))
    wait_caught_up(a, b)
    store = a.running.store

    def sweep_and_first_seq(*published: int | None) -> int:
        """The sweep with a and b beside replicas that published these positions; the first entry it keeps."""
        rows = [
            dict(
                ordinal=40 + i,
                replica_id=f"published-{i}",
                started=0,
                heartbeat=a.running.domain.clock(),
                stats=None if seq is None else json.dumps({"feed_seq": seq}),
            )
            for i, seq in enumerate(published)
        ]

        def op(tx):
            tx.insert("replicas", rows)
            tx.update(
                "replicas",
                {"replica_id": a.running.replication.replica_id},
                {"stats": json.dumps(a.running.replication.status())},
            )
            tx.update(
                "replicas",
                {"replica_id": b.running.replication.replica_id},
                {"stats": json.dumps(b.running.replication.status())},
            )
            a.running.replication.retention_sweep(tx)
            for row in rows:
                tx.delete("replicas", {"replica_id": row["replica_id"]})
            return min(e["seq"] for e in tx.select("change_feed"))

        return store.write(op)

    head = store.read(lambda tx: tx.feed_head())
    assert head >= 10
    assert sweep_and_first_seq(None) == 1  # a replica that has not published yet: nothing goes
    assert sweep_and_first_seq(head - 3) == head - 5  # a lagging replica keeps its entries (and 2 behind)
    assert sweep_and_first_seq() == head - 2  # everyone at the head: all but the last 2 go
    client_a.create(**basic(names, name="after-the-sweep"))
    wait_caught_up(a, b)
    assert b.running.replication.stats.reloads == 0  # b never missed an entry it needed
    assert memory_of(b.running) == memory_rebuilt_from_rows(b.running)


def test_query_management_node_shows_every_replica_with_its_figures(pair_of_replicas):
    a, b = pair_of_replicas
    client_a, client_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
    names = Names(a)
    for i in range(3):
        client_a.create(**basic(names, name=f"seen-{i}"))
    wait_caught_up(a, b)
    b.running.store.write(b.running.replication._beat)  # publish now rather than at the next heartbeat
    nodes = {n.uuid: n for n in client_a.query("QueryManagementNode")}
    assert set(nodes) == {a.running.replication.replica_id, b.running.replication.replica_id}
    on_b = nodes[b.running.replication.replica_id]
    assert on_b.ordinal == b.running.replication.ordinal and on_b.grpc_address == b.target
    assert on_b.applied_entries >= 3 and on_b.feed_seq == a.running.store.read(lambda tx: tx.feed_head())
    assert on_b.HasField("feed_lag_p99_ms") and on_b.feed_lag_p99_ms >= 0
    assert [n.uuid for n in client_b.query("QueryManagementNode", f"ordinal={a.running.replication.ordinal}")] == [
        a.running.replication.replica_id
    ]


def test_admin_writes_on_one_replica_apply_on_every_replica(pair_of_replicas):
    """Inventory, state changes and global config made on A: B places by them within the feed's lag."""
    a, b = pair_of_replicas
    client_a, client_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
    names = Names(a)
    cluster = names.cluster["z0-c0"]
    host = client_a.inventory.AddKVMHost(
        pb.AddKVMHostRequest(
            cluster_uuid=cluster,
            name="late-host",
            management_ip="192.168.77.1",
            cpu_num=64,
            memory_size=129 << 30,
            ft_network_address="10.99.77.1",
        ),
        metadata=client_a.metadata,
    ).inventory
    image = client_a.inventory.AddImage(
        pb.AddImageRequest(name="late-image", url="http://images/late.qcow2", size=1 << 30), metadata=client_a.metadata
    ).inventory
    for h in names.host.values():  # every other host out: B can only place on the new one ... and one more
        client_a.inventory.ChangeHostState(
            pb.ChangeHostStateRequest(uuid=h, change_host_state=pb.ChangeHostStateParams(state_event="disable")),
            metadata=client_a.metadata,
        )
    client_a.inventory.ChangeHostState(
        pb.ChangeHostStateRequest(
            uuid=names.host["host-1"], change_host_state=pb.ChangeHostStateParams(state_event="enable")
        ),
        metadata=client_a.metadata,
    )
    wait_caught_up(a, b)
    reply = client_b.create(**basic(names, name="on-new", image_uuid=image.uuid))
    assert {reply.primary_vm_inventory.host_uuid, reply.secondary_vm_inventory.host_uuid} == {
        host.uuid,
        names.host["host-1"],
    }
    # a config value the engine is built with: B reloads and places by it
    client_a.inventory.UpdateGlobalConfig(
        pb.UpdateGlobalConfigRequest(
            category="ft",
            name="fault.tolerance.network.cidr",
            update_global_config=pb.UpdateGlobalConfigParams(value="10.98.0.0/16"),
        ),
        metadata=client_a.metadata,
    )
    wait_caught_up(a, b)
    assert str(b.running.domain.catalog.ft_network) == "10.98.0.0/16"
    code, error = rpc_error(lambda: client_b.create(**basic(names, name="no-ft-hosts")))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.cause.code == "HOST_ALLOCATION.1000"
    assert b.running.replication.stats.reloads == 1
    assert memory_of(b.running) == memory_rebuilt_from_rows(b.running) == memory_of(a.running)


def test_replicas_ride_out_postgresql_going_away_under_load(tmp_path, request):
    """PostgreSQL cuts every connection and refuses new ones for a while, with creates in flight on two replicas:
    while it is away, calls answer UNAVAILABLE with SYS.1006 (never SYS.1000); once it is back the same replicas
    serve again, without a restart, and nothing is over-allocated or out of step."""
    cluster = request.getfixturevalue("postgres_cluster")
    url = cluster.create_database()
    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=64, memory_gib=1025, ip_count=2000)
    with start_server(tmp_path, spec, database_url=url) as a, start_server(tmp_path, None, database_url=url) as b:
        clients = [log_in(grpc.insecure_channel(r.target)) for r in (a, b)]
        names = Names(a)
        outcomes: list = []
        lock = threading.Lock()
        stop = threading.Event()

        def worker(t: int) -> None:
            i = 0
            while not stop.is_set():
                try:
                    result = ("ok", clients[t % 2].create(**basic(names, name=f"load-{t}-{i}")))
                except grpc.RpcError as e:
                    result = ("error", e)
                with lock:
                    outcomes.append(result)
                i += 1

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for t in pool:
            t.start()
        time.sleep(0.5)
        with cluster.refusing_connections(url):
            time.sleep(2.0)
        time.sleep(1.5)
        stop.set()
        for t in pool:
            t.join()
        errors = [e for kind, e in outcomes if kind == "error"]
        assert errors, "the outage was not seen"
        for e in errors:
            code, error = rpc_error(lambda e=e: (_ for _ in ()).throw(e))
            assert (code, error.code) == (grpc.StatusCode.UNAVAILABLE, "SYS.1006"), (code, error)
            assert "the database is unavailable" in error.details
        after = [kind for kind, _ in outcomes[-8:]]
        assert "ok" in after  # serving again without a restart
        for client in clients:  # both replicas, both directions
            assert client.create(**basic(names, name="after-outage")).success
        wait_caught_up(a, b)
        rebuilt = memory_rebuilt_from_rows(a.running)
        assert memory_of(a.running) == rebuilt == memory_of(b.running)
        usage = a.running.store.read(lambda tx: tx.host_usage(list(names.hosts)))
        assert all(u.memory_used <= 1024 << 30 for u in usage.values())


def test_replicas_starting_together_on_an_empty_database_load_the_inventory_once(tmp_path, database_url):
    """Each replica's first start finds no zone and loads the file; the one that commits second is refused. No uuid
    seed and no hosts here: nothing unique in the rows themselves would stop a second copy of the inventory."""
    (tmp_path / "data").mkdir()
    spec = inventory(hosts_per_cluster=0, clusters=1)
    stores = [open_store(database_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def load(store) -> None:
        parsed = inventory_file.validate_inventory(spec)
        barrier.wait()
        try:
            inventory_file.load_into(store, parsed)
            outcomes.append("loaded")
        except inventory_file.InventoryFileError:
            outcomes.append("refused")

    loaders = [threading.Thread(target=load, args=(store,)) for store in stores]
    for t in loaders:
        t.start()
    for t in loaders:
        t.join()
    try:
        assert sorted(outcomes) == ["loaded"] + ["refused"] * (len(stores) - 1)
        assert len(stores[0].read(lambda tx: tx.select("zones"))) == 1
    finally:
        for store in stores:
            store.close()
