"""The stores on their own, SQLite and PostgreSQL alike: migrations, group commit isolation, typed conflicts,
durable reopen, the change feed and its watcher, replicas sharing a database, and the same query answers. Then what
only a database server does: connections lost and refused (StoreUnavailable, reconnects, a commit of unknown
outcome)."""

from __future__ import annotations

import itertools
import queue
import sqlite3
import threading
import time

import psycopg
import pytest

from ftvm.store import Condition, Conflict, HostUsage, StoreUnavailable, open_store
from ftvm.store.postgres import RECONNECT_PAUSE_SECONDS
from ftvm.store.schema import SCHEMA_VERSION, migrations
from ftvm.store.sqlite import CHECKPOINT_SECONDS, SqliteStore

WAIT = 30  # seconds a test waits for something that happens within milliseconds


class Raw:
    """A plain driver connection to a store's database, for what the store does not do (old schemas, tampering)."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite:///")
        if self.sqlite:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        else:
            self.conn = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, params=()):
        return self.conn.execute(sql if self.sqlite else sql.replace("?", "%s"), params)

    def close(self) -> None:
        self.conn.close()


def _zone(uuid: str) -> dict:
    return dict(
        uuid=uuid, name=f"zone-{uuid[:4]}", description=None, state="Enabled", type=None, create_date=1, last_op_date=1
    )


def _host_rows(tx, hosts=("h1", "h2")) -> None:
    """A zone, a cluster, an account and hosts: what vm_instances rows refer to."""
    tx.insert("zones", [_zone("z")])
    tx.insert(
        "clusters",
        [
            dict(
                uuid="c", name="c", zone_uuid="z", state="Enabled", hypervisor_type="KVM", create_date=1, last_op_date=1
            )
        ],
    )
    tx.insert(
        "accounts", [dict(uuid="a", name="admin", type="SystemAdmin", password_hash="x", create_date=1, last_op_date=1)]
    )
    tx.insert(
        "hosts",
        [
            dict(
                uuid=h,
                name=h,
                zone_uuid="z",
                cluster_uuid="c",
                management_ip=f"10.0.0.{i}",
                hypervisor_type="KVM",
                state="Enabled",
                status="Connected",
                cpu_num=8,
                total_memory_capacity=1 << 30,
                create_date=1,
                last_op_date=1,
            )
            for i, h in enumerate(hosts)
        ],
    )


def _vm(uuid: str, host: str | None, cpu: int, memory: int, internal_id: int) -> dict:
    return dict(
        uuid=uuid,
        name="vm",
        image_uuid="img",
        host_uuid=host,
        type="UserVm",
        memory_size=memory,
        cpu_num=cpu,
        create_date=1,
        last_op_date=1,
        state="Running",
        role="Primary",
        group_uuid="g",
        account_uuid="a",
        internal_id=internal_id,
        allocated_memory=memory,
    )


@pytest.fixture
def store(database_url):
    s = open_store(database_url)
    yield s
    s.close()


def test_fresh_database_is_at_the_latest_schema_version(database_url):
    open_store(database_url).close()
    raw = Raw(database_url)
    assert raw.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    if raw.sqlite:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_both_backends_migrate_to_the_same_tables_and_columns(request, tmp_path):
    from conftest import new_database

    columns = {}
    for backend in ("sqlite", "postgresql"):
        store = open_store(new_database(request, backend, tmp_path))
        columns[backend] = {t: store.columns(t) for t in store._columns}
        store.close()
    assert columns["sqlite"] == columns["postgresql"]
    assert {"host_usage", "storage_usage", "change_feed", "host_inventory", "volume_inventory"} <= set(
        columns["sqlite"]
    )


def test_migration_2_backfills_usage_counters_from_existing_rows(database_url, tmp_path):
    (tmp_path / "data").mkdir()
    raw = Raw(database_url)
    raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in migrations("sqlite" if raw.sqlite else "postgresql")[0]:
        raw.execute(statement)
    raw.execute("INSERT INTO schema_version VALUES (1)")
    raw.execute("INSERT INTO zones VALUES ('z', 'z', NULL, 'Enabled', NULL, 1, 1)")
    raw.execute("INSERT INTO clusters VALUES ('c', 'c', NULL, 'z', 'Enabled', 'KVM', NULL, 1, 1)")
    raw.execute("INSERT INTO accounts VALUES ('a', 'admin', 'SystemAdmin', 'x', 1, 1)")
    for i, host in enumerate(["h1", "h2"]):
        raw.execute(
            "INSERT INTO hosts (uuid, name, zone_uuid, cluster_uuid, management_ip, hypervisor_type, state,"
            " status, cpu_num, total_memory_capacity, create_date, last_op_date)"
            " VALUES (?, ?, 'z', 'c', ?, 'KVM', 'Enabled', 'Connected', 8, 1, 1, 1)",
            (host, host, f"10.0.0.{i}"),
        )
    volumes = [("ps1", None, 10), ("ps1", None, 5), ("ps2", "h1", 7), ("ps2", "h2", 1)]
    for i, (storage, host, size) in enumerate(volumes):
        raw.execute(
            "INSERT INTO volumes (uuid, name, primary_storage_uuid, type, size, create_date, last_op_date,"
            " group_uuid, host_uuid, allocated_size) VALUES (?, 'v', ?, 'Root', ?, 1, 1, 'g', ?, ?)",
            (f"v{i}", storage, size, host, size),
        )
    for i, (host, cpu, memory) in enumerate([("h1", 2, 100), ("h1", 4, 50), ("h2", 1, 10), (None, 8, 80)]):
        raw.execute(
            "INSERT INTO vm_instances (uuid, name, image_uuid, host_uuid, type, memory_size, cpu_num,"
            " create_date, last_op_date, state, role, group_uuid, account_uuid, internal_id,"
            " allocated_memory) VALUES (?, 'vm', 'img', ?, 'UserVm', ?, ?, 1, 1, 'Running', 'Primary',"
            " 'g', 'a', ?, ?)",
            (f"vm{i}", host, memory, cpu, i, memory),
        )
    raw.close()
    store = open_store(database_url)
    used = store.read(lambda tx: (tx.storage_used("ps1"), tx.storage_used("ps2", "h1"), tx.storage_used("ps2", "h2")))
    assert used == (15, 7, 1)
    usage = store.read(lambda tx: tx.host_usage(["h1", "h2", "h3"]))
    assert [(u.cpu_used, u.memory_used, u.vm_count) for u in usage.values()] == [(6, 150, 2), (1, 10, 1), (0, 0, 0)]
    assert store.read(lambda tx: tx.select("counters")) == [dict(name="vm_internal_id", value=3)]
    store.write(lambda tx: tx.delete("vm_instances", {"uuid": "vm0"}))
    assert store.read(lambda tx: tx.host_usage(["h1"]))["h1"].vm_count == 1
    # the triggers keep the counters in step from now on
    store.write(lambda tx: tx.delete("volumes", {"uuid": "v0"}))
    assert store.read(lambda tx: tx.storage_used("ps1")) == 5
    store.write(lambda tx: tx.insert("vm_instances", [_vm("vm9", "h2", 3, 30, 9)]))
    assert store.read(lambda tx: tx.host_usage(["h2"]))["h2"] == HostUsage(4, 40, 2)
    store.close()


def test_a_database_newer_than_the_build_is_refused(database_url):
    open_store(database_url).close()
    raw = Raw(database_url)
    raw.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    raw.close()
    with pytest.raises(RuntimeError, match="newer than this build"):
        open_store(database_url)


def test_replicas_starting_together_migrate_once(database_url, tmp_path):
    (tmp_path / "data").mkdir()
    opened, errors = [], []

    def open_one() -> None:
        try:
            opened.append(open_store(database_url))
        except Exception as e:  # noqa: BLE001 -- collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(opened) == 3
    raw = Raw(database_url)
    assert [r[0] for r in raw.execute("SELECT version FROM schema_version ORDER BY version")] == list(
        range(1, SCHEMA_VERSION + 1)
    )
    raw.close()
    for s in opened:
        s.close()


def test_a_failing_op_rolls_back_alone_in_its_group_commit(store):
    def half_then_fail(tx):
        tx.insert("zones", [_zone("b" * 32)])
        tx.emit({"t": "half"})
        raise ValueError("refused")

    def emitting(uuid):
        def run(tx):
            tx.insert("zones", [_zone(uuid)])
            tx.emit({"t": uuid[0]})

        return run

    batch = store.begin_batch([emitting("a" * 32), half_then_fail, emitting("c" * 32)])
    batch.commit()
    outcomes = batch.outcomes
    assert [error is None for _, error in outcomes] == [True, False, True]
    assert str(outcomes[1][1]) == "refused"
    assert sorted(r["uuid"][0] for r in store.read(lambda tx: tx.select("zones"))) == ["a", "c"]
    # the failed op's emitted change went with it: one feed entry, with the others' changes
    (entry,) = store.read(lambda tx: tx.feed_after(0, 10))
    assert (entry.seq, entry.origin, entry.changes) == (batch.feed_seq, store.origin, [{"t": "a"}, {"t": "c"}])


def test_merged_batch_reads_its_own_writes_and_checks_after_all_writes(store):
    seen = []

    def op(uuid):
        def run(tx):
            tx.insert("zones", [_zone(uuid)])
            tx.after_writes(lambda tx: seen.append(len(tx.select("zones"))))
            return len(tx.select("zones", {"uuid": uuid}))

        return run

    batch = store.begin_batch([op("a" * 32), op("b" * 32), op("c" * 32)])
    assert store.read(lambda tx: tx.select("zones")) == []  # not visible to readers before the commit
    batch.commit()
    assert batch.outcomes == [(1, None), (1, None), (1, None)]
    assert batch.committed and batch.feed_seq is None  # nothing emitted: no feed entry
    assert len(store.read(lambda tx: tx.select("zones"))) == 3
    assert seen == [3, 3, 3]  # merged fast path: every check sees the whole batch's rows


def test_unique_violation_is_a_typed_conflict_and_data_survives_reopen(database_url):
    store = open_store(database_url)
    store.write(lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:00", group_uuid="g1")]))
    with pytest.raises(Conflict) as caught:
        store.write(lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:00", group_uuid="g2")]))
    assert caught.value.table == "mac_allocations"
    store.close()
    reopened = open_store(database_url)
    assert reopened.read(lambda tx: tx.select("mac_allocations")) == [dict(mac="fa:00:00:00:00:00", group_uuid="g1")]
    with pytest.raises(ValueError, match="unknown columns"):
        reopened.write(lambda tx: tx.insert("zones", [dict(uuid="x", bogus=1)]))
    reopened.close()


def test_a_conflicting_op_leaves_nothing_for_the_next_op_of_its_batch(store):
    store.write(lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:01", group_uuid="g0")]))
    batch = store.begin_batch(
        [
            lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:01", group_uuid="g1")]),  # taken
            lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:02", group_uuid="g2")]),
        ]
    )
    batch.commit()
    assert isinstance(batch.outcomes[0][1], Conflict) and batch.outcomes[1] == (None, None)
    assert sorted(r["mac"] for r in store.read(lambda tx: tx.select("mac_allocations"))) == [
        "fa:00:00:00:00:01",
        "fa:00:00:00:00:02",
    ]


def test_counters_hand_out_disjoint_blocks(store):
    first = store.write(lambda tx: tx.take_counter("vm_internal_id", 100))
    second = store.write(lambda tx: tx.take_counter("vm_internal_id", 100))
    assert (first, second) == (100, 200)


def test_another_replica_sees_the_feed_move_and_reads_the_entries(database_url):
    writer, follower = open_store(database_url), open_store(database_url)
    heads: queue.Queue = queue.Queue()
    follower.watch_feed(heads.put)
    assert heads.get(timeout=WAIT) == 0  # the head as the watcher starts
    for n in range(1, 4):
        writer.write(lambda tx, n=n: (tx.insert("zones", [_zone(f"{n}" * 32)]), tx.emit({"t": "zone+", "n": n})))
        while (head := heads.get(timeout=WAIT)) < n:
            pass
        assert head == n
    entries = follower.read(lambda tx: tx.feed_after(1, 10))
    assert [(e.seq, e.origin, e.changes) for e in entries] == [
        (2, writer.origin, [{"t": "zone+", "n": 2}]),
        (3, writer.origin, [{"t": "zone+", "n": 3}]),
    ]
    assert follower.read(lambda tx: tx.feed_head()) == 3
    writer.close()
    follower.close()


def test_sqlite_wal_starts_over_under_commits_that_never_pause(tmp_path):
    """Commits back to back, each read by the feed watcher (it reads after every commit, as in the service): passive
    checkpoints alone never found the WAL both copied back and unread, so it kept every frame written and its file
    never shrank (the soak benchmark: 1.4 GB in a minute). Past its restart size the checkpointer restarts it between
    two commits and the next commit truncates the file: over ten checkpoint rounds it shrinks again and again,
    however fast the machine commits."""
    limit = 64 << 10
    store = SqliteStore(str(tmp_path / "ftvm.db"), wal_restart_bytes=limit)
    heads: queue.Queue = queue.Queue()
    store.watch_feed(heads.put)
    wal = tmp_path / "ftvm.db-wal"
    pad = "x" * 16_000  # ~5 pages a commit: over the limit within a round
    sizes = [0]
    rounds_end = time.monotonic() + 10 * CHECKPOINT_SECONDS
    try:
        while time.monotonic() < rounds_end:
            n = len(sizes)
            store.write(
                lambda tx, n=n: (tx.emit({"t": "pad", "pad": pad}), tx.delete_below("change_feed", "seq", n - 5))
            )
            sizes.append(wal.stat().st_size)
    finally:
        store.close()
    assert heads.qsize() > 1  # the watcher read along
    shrinks = sum(later < earlier for earlier, later in itertools.pairwise(sizes))
    assert shrinks >= 3, f"the WAL shrank {shrinks} times in {len(sizes) - 1} commits, up to {max(sizes):,} bytes"


def test_a_replicas_usage_recheck_waits_for_and_counts_a_concurrent_commit(database_url):
    """The create's commit-time re-check: a replica whose batch adds a VM to a host while another replica's
    uncommitted batch did too waits for it, then reads the counter with both VMs (never a stale count)."""
    first, second = open_store(database_url), open_store(database_url)
    first.write(_host_rows)
    pending = first.begin_batch([lambda tx: tx.insert("vm_instances", [_vm("vm1", "h1", 2, 100, 1)])])
    seen: queue.Queue = queue.Queue()

    def add_and_recheck(tx):
        tx.insert("vm_instances", [_vm("vm2", "h1", 4, 50, 2)])
        return tx.host_usage(["h1"])["h1"]

    racer = threading.Thread(target=lambda: seen.put(second.write(add_and_recheck)))
    racer.start()
    racer.join(0.3)
    assert racer.is_alive()  # waiting for the first replica's transaction
    pending.commit()
    assert pending.committed
    usage = seen.get(timeout=WAIT)
    assert (usage.cpu_used, usage.memory_used, usage.vm_count) == (6, 150, 2)
    first.close()
    second.close()


def test_replicas_changing_usage_in_opposite_orders_never_deadlock(postgres_cluster):
    """One replica's batch adds a VM on h1, then one on h2; meanwhile another's adds one on h2 and one on h1 (a pair
    placed the other way round). Row locks on the counters alone would deadlock (PostgreSQL then aborts one after a
    second, with the event loop blocked); the usage lock serializes them instead."""
    url = postgres_cluster.create_database()
    first, second = open_store(url), open_store(url)
    first.write(_host_rows)
    first_holds_h1, results = threading.Event(), queue.Queue()

    def h1_then_h2(tx):
        tx.insert("vm_instances", [_vm("vm1", "h1", 1, 1, 1)])
        tx.host_usage(["h1"])  # a read: the insert is written now
        first_holds_h1.set()
        time.sleep(0.5)  # the other replica's insert is waiting meanwhile
        tx.insert("vm_instances", [_vm("vm3", "h2", 1, 1, 3)])
        return tx.host_usage(["h1", "h2"])

    racer = threading.Thread(target=lambda: results.put(first.write(h1_then_h2)))
    racer.start()
    assert first_holds_h1.wait(WAIT)
    second.write(lambda tx: tx.insert("vm_instances", [_vm("vm2", "h2", 1, 1, 2), _vm("vm4", "h1", 1, 1, 4)]))
    racer.join()
    assert {h: u.vm_count for h, u in results.get(timeout=WAIT).items()} == {"h1": 1, "h2": 1}  # before the other
    assert {h: u.vm_count for h, u in first.read(lambda tx: tx.host_usage(["h1", "h2"])).items()} == {"h1": 2, "h2": 2}
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone() == (
            0,
        )
    first.close()
    second.close()


# -- queries: the same answers on both backends ----------------------------------------------------------------------
_IMAGES = [  # name, description, size, system
    ("Alpha", "first", 10, False),
    ("alpha", None, 20, True),
    ("beta", "b_2", 5, False),
    ("Äpfel", "äpfel", 7, True),
    ("äpfel", None, 1 << 40, False),
    ("4", "4%", 4, False),
    ("a_b", "a\\_b", 0, True),
    ("zeta", "Zeta", -3, False),
]
_CONDITIONS = [
    ("name", "=", "Alpha"),
    ("name", "!=", "alpha"),
    ("name", ">", "B"),
    ("name", "<", "b"),
    ("name", ">=", "äpfel"),
    ("name", "=", 4),
    ("name", "in", [4, "beta", "nope"]),
    ("name", "not-in", ["Alpha", "zeta"]),
    ("name", "like", "a%"),
    ("name", "like", "ALPHA"),
    ("name", "like", "ä%"),
    ("name", "like", "Ä%"),
    ("name", "like", "a\\_b"),
    ("name", "like", "_"),
    ("name", "not-like", "%a%"),
    ("description", "is-null", None),
    ("description", "not-null", None),
    ("description", "=", "first"),
    ("description", "!=", "first"),
    ("description", "like", "%\\_%"),
    ("description", "like", "4%"),
    ("size", "=", 10),
    ("size", "=", "10"),
    ("size", "=", " 10 "),
    ("size", "=", "10.0"),
    ("size", "=", "1e1"),
    ("size", ">", "4.5"),
    ("size", "<", "-2.5"),
    ("size", "=", "abc"),
    ("size", "!=", "abc"),
    ("size", "<", "abc"),
    ("size", ">=", "abc"),
    ("size", "in", ["abc"]),
    ("size", "not-in", ["abc"]),
    ("size", "in", ["abc", 5, "7"]),
    ("size", "not-in", [5, "x"]),
    ("size", "like", "1%"),
    ("size", "like", "-%"),
    ("size", ">", 1 << 39),
    ("system", "=", 1),
    ("system", "=", 0),
    ("system", "!=", 1),
    ("system", "=", "true"),
    ("system", "like", "1"),
    ("system", "in", [0, 1]),
    ("system", ">", 0),
    ("system", "<", "x"),
    # a NUL, which no stored text has (PostgreSQL cannot store one)
    ("name", "=", "Alpha\0x"),
    ("name", "!=", "\0"),
    ("name", "<", "alpha\0"),
    ("name", "<=", "alpha\0z"),
    ("name", ">", "alpha\0"),
    ("name", ">=", "b\0"),
    ("name", "in", ["beta\0", "zeta"]),
    ("name", "not-in", ["zeta\0"]),
    ("name", "like", "a\0%"),
    ("name", "not-like", "Al\0pha"),
    ("size", "=", "10\0"),
]


@pytest.fixture(scope="module")
def both_stores(request, tmp_path_factory):
    """The same images in a SQLite and a PostgreSQL store."""
    from conftest import new_database

    stores = [
        open_store(new_database(request, backend, tmp_path_factory.mktemp(backend)))
        for backend in ("sqlite", "postgresql")
    ]
    rows = [
        dict(
            uuid=f"{i:032x}",
            name=name,
            description=description,
            state="Enabled",
            status="Ready",
            size=size,
            actual_size=size,
            url="http://x",
            media_type="RootVolumeTemplate",
            guest_os_type=None,
            platform="Linux",
            architecture="x86_64",
            format="qcow2",
            system=system,
            create_date=i,
            last_op_date=i,
        )
        for i, (name, description, size, system) in enumerate(_IMAGES)
    ]
    for s in stores:
        s.write(lambda tx: tx.insert("images", rows))
    yield stores
    for s in stores:
        s.close()


@pytest.mark.parametrize("condition", _CONDITIONS, ids=lambda c: f"{c[0]}{c[1]}{c[2]!r}")
def test_a_query_condition_matches_the_same_rows_on_both_backends(both_stores, condition):
    answers = [s.query("images", [Condition(*condition)], ("uuid", True), None, 0, True) for s in both_stores]
    names = [[r["name"] for r in rows] for rows, _ in answers]
    assert names[0] == names[1] and answers[0][1] == answers[1][1] == len(names[0])


def test_a_lookup_by_a_value_with_a_nul_finds_nothing(store):
    store.write(lambda tx: tx.insert("zones", [_zone("a" * 32)]))
    assert store.read(lambda tx: (tx.select("zones", {"uuid": "a\0"}), tx.select_in("zones", "uuid", ["a\0"]))) == (
        [],
        [],
    )
    assert store.write(lambda tx: tx.delete("zones", {"uuid": "a" * 32 + "\0"})) == 0


@pytest.mark.parametrize("column", ["name", "description", "size", "system"])
@pytest.mark.parametrize("ascending", [True, False])
def test_sorting_and_paging_give_the_same_order_on_both_backends(both_stores, column, ascending):
    for limit, start in ((None, 0), (3, 2)):
        pages = [
            [r[column] for r in s.query("images", [], (column, ascending), limit, start, False)[0]] for s in both_stores
        ]
        assert pages[0] == pages[1]  # NULLs first ascending, binary text order, booleans as 0/1
    assert [r["system"] for r in both_stores[1].query("images", [], ("uuid", True), 2, 0, False)[0]] == [False, True]


# -- PostgreSQL: the server goes away ---------------------------------------------------------------------------------
def _terminate(cluster, store, role: str) -> None:
    """Cuts the store's connection(s) of `role` (writer, read, feed) the way a server restart does."""
    assert cluster.terminate(f"ftvm {store.origin} {role}"), f"no {role} connection"


@pytest.fixture
def pg_store(postgres_cluster):
    s = open_store(postgres_cluster.create_database())
    s.write(lambda tx: tx.insert("zones", [_zone("a" * 32)]))
    yield s
    s.close()


def _zone_letters(store) -> list[str]:
    return sorted(r["uuid"][0] for r in store.read(lambda tx: tx.select("zones")))


def test_postgres_writer_reconnects_when_its_connection_was_lost(postgres_cluster, pg_store):
    _terminate(postgres_cluster, pg_store, "writer")
    pg_store.write(lambda tx: tx.insert("zones", [_zone("b" * 32)]))  # the lost connection is replaced at once
    assert _zone_letters(pg_store) == ["a", "b"]


def test_postgres_reads_survive_losing_their_kept_connection(postgres_cluster, pg_store):
    assert _zone_letters(pg_store) == ["a"]  # the read connection is kept for the next read
    _terminate(postgres_cluster, pg_store, "read")
    assert _zone_letters(pg_store) == ["a"]
    assert pg_store.query("zones", [], None, None, 0, True)[1] == 1


def test_postgres_down_is_store_unavailable_and_service_resumes_when_it_is_back(postgres_cluster, pg_store):
    with postgres_cluster.refusing_connections(pg_store.url):
        with pytest.raises(StoreUnavailable):
            pg_store.write(lambda tx: tx.insert("zones", [_zone("b" * 32)]))
        with pytest.raises(StoreUnavailable):
            pg_store.begin_batch([lambda tx: tx.insert("zones", [_zone("b" * 32)])])  # fails at once: no connect
        with pytest.raises(StoreUnavailable):
            pg_store.read(lambda tx: tx.select("zones"))  # queries read the same way
    assert _zone_letters(pg_store) == ["a"]  # reads connect again at once
    time.sleep(RECONNECT_PAUSE_SECONDS)  # the writer connects again after this pause (batches fail fast meanwhile)
    pg_store.write(lambda tx: tx.insert("zones", [_zone("c" * 32)]))
    assert _zone_letters(pg_store) == ["a", "c"]


def test_postgres_connection_lost_at_commit_leaves_the_outcome_unknown(postgres_cluster, pg_store):
    batch = pg_store.begin_batch([lambda tx: (tx.insert("zones", [_zone("b" * 32)]), tx.emit({"t": "zone+"}))])
    assert batch.feed_seq == 1
    _terminate(postgres_cluster, pg_store, "writer")
    batch.commit()
    assert batch.outcome_unknown and not batch.committed
    assert isinstance(batch.outcomes[0][1], StoreUnavailable)
    pg_store.write(lambda tx: tx.insert("zones", [_zone("c" * 32)]))  # the next batch reconnects
    assert _zone_letters(pg_store) == ["a", "c"]  # (here the server never saw the COMMIT)


def test_postgres_feed_watcher_reconnects_and_reports_the_head(postgres_cluster, pg_store):
    heads: queue.Queue = queue.Queue()
    pg_store.watch_feed(heads.put)
    assert heads.get(timeout=WAIT) == 0
    _terminate(postgres_cluster, pg_store, "feed")
    pg_store.write(lambda tx: tx.emit({"t": "x"}))  # while the watcher may be away: reported once it is back
    while (head := heads.get(timeout=WAIT)) < 1:
        pass
    assert head == 1
    pg_store.write(lambda tx: tx.emit({"t": "y"}))
    while (head := heads.get(timeout=WAIT)) < 2:
        pass
    assert head == 2
