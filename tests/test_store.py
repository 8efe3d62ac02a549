"""The SQLite store on its own: migrations, group commit isolation, typed conflicts, durable reopen."""

from __future__ import annotations

import sqlite3

import pytest

from ftvm.store import Conflict, open_store
from ftvm.store.schema import SCHEMA_VERSION, migrations
from ftvm.store.sqlite import SqliteStore


def _zone(uuid: str) -> dict:
    return dict(uuid=uuid, name=f"zone-{uuid[:4]}", description=None, state="Enabled", type=None, create_date=1,
                last_op_date=1)


def test_fresh_database_is_at_the_latest_schema_version(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/a.db")
    store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migration_2_backfills_usage_counters_from_existing_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in migrations("sqlite")[0]:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    for i, (storage, host, size) in enumerate([("ps1", None, 10), ("ps1", None, 5), ("ps2", "h1", 7), ("ps2", "h2", 1)]):
        conn.execute("INSERT INTO volumes (uuid, name, primary_storage_uuid, type, size, create_date, last_op_date,"
                     " group_uuid, host_uuid, allocated_size) VALUES (?, 'v', ?, 'Root', ?, 1, 1, 'g', ?, ?)",
                     (f"v{i}", storage, size, host, size))
    for i, (host, cpu, memory) in enumerate([("h1", 2, 100), ("h1", 4, 50), ("h2", 1, 10), (None, 8, 80)]):
        conn.execute("INSERT INTO vm_instances (uuid, name, image_uuid, host_uuid, type, memory_size, cpu_num,"
                     " create_date, last_op_date, state, role, group_uuid, account_uuid, internal_id,"
                     " allocated_memory) VALUES (?, 'vm', 'img', ?, 'UserVm', ?, ?, 1, 1, 'Running', 'Primary',"
                     " 'g', 'a', ?, ?)", (f"vm{i}", host, memory, cpu, i, memory))
    conn.close()
    store = open_store(f"sqlite:///{path}")
    used = store.read(lambda tx: (tx.storage_used("ps1"), tx.storage_used("ps2", "h1"), tx.storage_used("ps2", "h2")))
    assert used == (15, 7, 1)
    usage = store.read(lambda tx: tx.host_usage(["h1", "h2", "h3"]))
    assert [(u.cpu_used, u.memory_used, u.vm_count) for u in usage.values()] == [(6, 150, 2), (1, 10, 1), (0, 0, 0)]
    store.write(lambda tx: tx.delete("vm_instances", {"uuid": "vm0"}))
    assert store.read(lambda tx: tx.host_usage(["h1"]))["h1"].vm_count == 1
    # the triggers keep the counters in step from now on
    store.write(lambda tx: tx.delete("volumes", {"uuid": "v0"}))
    assert store.read(lambda tx: tx.storage_used("ps1")) == 5
    store.close()


def test_a_database_newer_than_the_build_is_refused(tmp_path):
    path = tmp_path / "future.db"
    open_store(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this build"):
        SqliteStore(str(path))


def test_a_failing_op_rolls_back_alone_in_its_group_commit(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/g.db")

    def half_then_fail(tx):
        tx.insert("zones", [_zone("b" * 32)])
        raise ValueError("refused")

    batch = store.begin_batch([lambda tx: tx.insert("zones", [_zone("a" * 32)]), half_then_fail,
                               lambda tx: tx.insert("zones", [_zone("c" * 32)])])
    batch.commit()
    outcomes = batch.outcomes
    assert [error is None for _, error in outcomes] == [True, False, True]
    assert str(outcomes[1][1]) == "refused"
    assert sorted(r["uuid"][0] for r in store.read(lambda tx: tx.select("zones"))) == ["a", "c"]
    store.close()


def test_merged_batch_reads_its_own_writes_and_checks_after_all_writes(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/m.db")
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
    assert len(store.read(lambda tx: tx.select("zones"))) == 3
    assert seen == [3, 3, 3]  # merged fast path: every check sees the whole batch's rows
    store.close()


def test_unique_violation_is_a_typed_conflict_and_data_survives_reopen(tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    store = open_store(url)
    store.write(lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:00", group_uuid="g1")]))
    with pytest.raises(Conflict) as caught:
        store.write(lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:00", group_uuid="g2")]))
    assert caught.value.table == "mac_allocations"
    store.close()
    reopened = open_store(url)
    assert reopened.read(lambda tx: tx.select("mac_allocations")) == [dict(mac="fa:00:00:00:00:00", group_uuid="g1")]
    with pytest.raises(ValueError, match="unknown columns"):
        reopened.write(lambda tx: tx.insert("zones", [dict(uuid="x", bogus=1)]))
    reopened.close()


def test_a_conflicting_op_leaves_nothing_for_the_next_op_of_its_batch(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    store.write(lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:01", group_uuid="g0")]))
    batch = store.begin_batch([
        lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:01", group_uuid="g1")]),  # taken
        lambda tx: tx.insert("mac_allocations", [dict(mac="fa:00:00:00:00:02", group_uuid="g2")])])
    batch.commit()
    assert isinstance(batch.outcomes[0][1], Conflict) and batch.outcomes[1] == (None, None)
    assert sorted(r["mac"] for r in store.read(lambda tx: tx.select("mac_allocations"))) == [
        "fa:00:00:00:00:01", "fa:00:00:00:00:02"]
    store.close()
