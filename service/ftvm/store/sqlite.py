"""SQLite store: WAL mode, durable commits (synchronous=FULL), group commits on the caller's thread, a read
connection per thread. Every write transaction starts with BEGIN IMMEDIATE.

Writes run on the caller's thread on purpose: the server calls `write_batch` from its event loop. A separate
writer thread would have to win the GIL back from the busy loop after every SQLite call, and measured 40x slower
per create under load (the GIL convoy), while SQLite's own work for a batch is a few hundred microseconds."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from typing import Any, Callable, Mapping, Sequence, TypeVar

from . import Condition, Conflict, FeedEntry, HostUsage, Row
from .schema import MIGRATIONS

T = TypeVar("T")
log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.5
FEED_POLL_SECONDS = 0.002
_MAX_VARIABLES = 32766  # SQLite's bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32)
_OPS = {"=": "=", "!=": "<>", ">": ">", "<": "<", ">=": ">=", "<=": "<=", "like": "LIKE", "not-like": "NOT LIKE"}


def _dict_rows(cursor: sqlite3.Cursor, row: tuple) -> Row:
    return dict(zip([d[0] for d in cursor.description], row))


class _SqliteTx:
    """Table-level operations on one connection. Table and column names come from the schema (checked against
    it), values are always bound parameters."""

    def __init__(self, conn: sqlite3.Connection, columns: dict[str, frozenset[str]], merged: bool = False) -> None:
        self._conn = conn
        self._columns = columns
        # merged: inserts are buffered per table and written as multi-row INSERTs before the next read or at the
        # end of the batch, and after_writes checks run then. Fewer statements mean fewer GIL round trips for
        # the writer thread, which is what limits it while the event loop keeps the GIL busy.
        self._merged = merged
        self._pending: dict[tuple[str, tuple[str, ...]], list[Mapping[str, Any]]] = {}
        self._checked: set[tuple[str, tuple[str, ...]]] = set()  # (table, columns) already checked
        self._checks: list[Callable[["_SqliteTx"], None]] = []
        self.changes: list[Mapping[str, Any]] = []  # emitted by the batch's ops, for the change feed

    def _check(self, table: str, names: Sequence[str]) -> None:
        known = self._columns.get(table)
        if known is None:
            raise ValueError(f"unknown table {table!r}")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown columns {unknown} of {table}")

    def _where(self, table: str, where: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        if not where:
            return "", []
        self._check(table, list(where))
        return " WHERE " + " AND ".join(f"{c} = ?" for c in where), list(where.values())

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        names = tuple(rows[0])
        key = (table, names)
        if key not in self._checked:
            self._check(table, names)
            self._checked.add(key)
        self._pending.setdefault(key, []).extend(rows)
        if not self._merged:
            self._flush()

    def emit(self, change: Mapping[str, Any]) -> None:
        self.changes.append(change)

    def feed_head(self) -> int:
        self._flush()
        return self._conn.execute("SELECT seq FROM feed_head WHERE id = 1").fetchone()["seq"]

    def feed_after(self, seq: int, limit: int) -> list[FeedEntry]:
        self._flush()
        rows = self._conn.execute("SELECT * FROM change_feed WHERE seq > ? ORDER BY seq LIMIT ?",
                                  (seq, limit)).fetchall()
        return [FeedEntry(r["seq"], r["origin"], r["create_date"], json.loads(r["changes"])) for r in rows]

    def take_counter(self, name: str, step: int) -> int:
        self._flush()
        return self._conn.execute("UPDATE counters SET value = value + ? WHERE name = ? RETURNING value",
                                  (step, name)).fetchone()["value"]

    def write_feed_entry(self, origin: str, now: int) -> int | None:
        """The batch's changes as the next change feed entry (None when it emitted none). Incrementing the head
        takes the write lock of its row: the numbers are gapless and in commit order, across processes too."""
        if not self.changes:
            return None
        seq = self._conn.execute("UPDATE feed_head SET seq = seq + 1 WHERE id = 1 RETURNING seq").fetchone()["seq"]
        self._conn.execute("INSERT INTO change_feed (seq, origin, create_date, changes) VALUES (?, ?, ?, ?)",
                           (seq, origin, now, json.dumps(self.changes, separators=(",", ":"))))
        return seq

    def after_writes(self, check: Callable[["_SqliteTx"], None]) -> None:
        if self._merged:
            self._checks.append(check)
        else:
            check(self)

    def _flush(self) -> None:
        # Taken out first: rows of a failed flush belong to the op that failed, never to the next one.
        pending, self._pending = self._pending, {}
        for (table, names), rows in pending.items():
            width = len(names)
            row_sql = f"({', '.join('?' * width)})"
            per_statement = max(1, _MAX_VARIABLES // width)
            for start in range(0, len(rows), per_statement):
                chunk = rows[start:start + per_statement]
                sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([row_sql] * len(chunk))}"
                try:
                    self._conn.execute(sql, [r[n] for r in chunk for n in names])
                except sqlite3.IntegrityError as e:
                    raise Conflict(table, str(e)) from e

    def finish(self) -> None:
        """End of a merged batch: write what is buffered, then run the deferred checks."""
        self._flush()
        checks, self._checks = self._checks, []
        for check in checks:
            check(self)

    def update(self, table: str, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        self._flush()
        self._check(table, list(values))
        clause, params = self._where(table, where)
        sql = f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in values)}{clause}"
        try:
            return self._conn.execute(sql, [*values.values(), *params]).rowcount
        except sqlite3.IntegrityError as e:
            raise Conflict(table, str(e)) from e

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        self._flush()
        clause, params = self._where(table, where)
        return self._conn.execute(f"DELETE FROM {table}{clause}", params).rowcount

    def delete_below(self, table: str, column: str, value: Any) -> int:
        self._flush()
        self._check(table, [column])
        return self._conn.execute(f"DELETE FROM {table} WHERE {column} < ?", (value,)).rowcount

    def select(self, table: str, where: Mapping[str, Any] | None = None) -> list[Row]:
        self._flush()
        clause, params = self._where(table, where)
        return self._conn.execute(f"SELECT * FROM {table}{clause}", params).fetchall()

    def select_in(self, table: str, column: str, values: Sequence[Any]) -> list[Row]:
        self._flush()
        self._check(table, [column])
        if not values:
            return []
        marks = ", ".join("?" * len(values))
        return self._conn.execute(f"SELECT * FROM {table} WHERE {column} IN ({marks})", list(values)).fetchall()

    def max_value(self, table: str, column: str) -> Any:
        """The column's largest value (None for an empty table)."""
        self._flush()
        self._check(table, [column])
        return self._conn.execute(f"SELECT MAX({column}) AS m FROM {table}").fetchone()["m"]

    def host_usage(self, host_uuids: Sequence[str]) -> dict[str, HostUsage]:
        self._flush()
        marks = ", ".join("?" * len(host_uuids))
        rows = self._conn.execute(f"SELECT * FROM host_usage WHERE host_uuid IN ({marks})", list(host_uuids)).fetchall()
        usage = {u: HostUsage(0, 0, 0) for u in host_uuids}
        usage.update({r["host_uuid"]: HostUsage(r["cpu_used"], r["memory_used"], r["vm_count"]) for r in rows})
        return usage

    def storage_used(self, storage_uuid: str, host_uuid: str | None = None) -> int:
        self._flush()
        row = self._conn.execute("SELECT used FROM storage_usage WHERE primary_storage_uuid = ? AND host_uuid = ?",
                                 [storage_uuid, host_uuid or ""]).fetchone()
        return row["used"] if row else 0


class PendingBatch:
    """A group commit whose ops have run: `outcomes` is (result, None) or (None, error) per op, final once
    `commit()` returned (a failed commit turns every outcome into its error)."""

    def __init__(self, store: "SqliteStore", outcomes: list[tuple[Any, BaseException | None]],
                 feed_seq: int | None) -> None:
        self._store = store
        self.outcomes = outcomes
        self.feed_seq = feed_seq
        self.committed = False
        self.outcome_unknown = False  # a failed COMMIT of a local file is rolled back: never unknown

    def commit(self) -> None:
        self._store._finish(self)


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.origin = secrets.token_hex(8)
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._writer_conn = self._connect()
        self._migrate(self._writer_conn)
        self._columns = self._load_columns(self._writer_conn)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._closed = False
        # Commits never checkpoint (a checkpoint inside a commit stalls every create queued behind it); a thread
        # copies the WAL back into the database every half second instead, without blocking the writer.
        self._writer_conn.execute("PRAGMA wal_autocheckpoint=0")
        self._closing = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="ftvm-wal-checkpoint", daemon=True)
        self._checkpointer.start()
        self._watchers: list[threading.Thread] = []

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = _dict_rows
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # durable: a commit is on disk before its reply
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache per connection
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Every migration not applied yet, in one write transaction (processes starting together migrate once)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()["v"] or 0
            if current > len(MIGRATIONS):
                raise RuntimeError(f"database schema version {current} is newer than this build ({len(MIGRATIONS)})")
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                log.info("database migrated to schema version %d", version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _load_columns(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
        names = [r["name"] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'")]
        return {n: frozenset(r["name"] for r in conn.execute(f"PRAGMA table_info({n})")) for n in names}

    def columns(self, view: str) -> frozenset[str]:
        return self._columns[view]

    # -- writes ------------------------------------------------------------------------------------------------
    def write(self, op: Callable[[_SqliteTx], T]) -> T:
        """One op in its own transaction; its exception (or a commit failure) is raised here."""
        batch = self.begin_batch([op])
        batch.commit()
        ((result, error),) = batch.outcomes
        if error is not None:
            raise error
        return result

    def begin_batch(self, ops: Sequence[Callable[[_SqliteTx], Any]]) -> "PendingBatch":
        """Runs the ops of a group commit in one open transaction on the caller's thread. The caller then calls
        `commit()` (which may run on another thread: it is the fsync); no other write starts before it."""
        self._write_lock.acquire()
        try:
            if self._closed:
                raise RuntimeError("store is closed")
            conn = self._writer_conn
            done = self._run_merged(conn, ops) if len(ops) > 1 else None
            if done is None:
                done = self._run_one_by_one(conn, ops)
            outcomes, tx = done
            try:
                feed_seq = tx.write_feed_entry(self.origin, time.time_ns() // 1_000_000)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException:
            self._write_lock.release()
            raise
        return PendingBatch(self, outcomes, feed_seq)

    def _finish(self, batch: "PendingBatch") -> None:
        conn = self._writer_conn
        try:
            conn.execute("COMMIT")
            batch.committed = True
        except Exception as e:  # noqa: BLE001 -- the commit failed: every op of the batch failed with it
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.exception("group commit of %d ops failed", len(batch.outcomes))
            batch.outcomes = [(None, e)] * len(batch.outcomes)
        finally:
            self._write_lock.release()

    def _run_merged(self, conn: sqlite3.Connection, ops: Sequence[Callable]) -> tuple[list, _SqliteTx] | None:
        """Fast path: every op in one transaction with merged inserts. None if anything failed (the batch is
        rolled back, to be replayed one by one so that only the failing op fails)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            tx = _SqliteTx(conn, self._columns, merged=True)
            results = [op(tx) for op in ops]
            tx.finish()
        except Exception:  # noqa: BLE001 -- replayed below, where the failing op gets its own error
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return None
        return [(result, None) for result in results], tx

    def _run_one_by_one(self, conn: sqlite3.Connection, ops: Sequence[Callable]) -> tuple[list, _SqliteTx]:
        """Each op in its own savepoint of one transaction: a failing op rolls back alone, with its changes."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        tx = _SqliteTx(conn, self._columns)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                conn.execute("SAVEPOINT op")
                emitted = len(tx.changes)
                try:
                    result = op(tx)
                except Exception as e:  # noqa: BLE001 -- the op's own failure, handed to its caller
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    del tx.changes[emitted:]
                    outcomes.append((None, e))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((result, None))
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes, tx

    # -- reads -------------------------------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    def read(self, op: Callable[[_SqliteTx], T]) -> T:
        conn = self._reader()
        conn.execute("BEGIN")  # one snapshot for the whole op
        try:
            return op(_SqliteTx(conn, self._columns))
        finally:
            conn.execute("COMMIT")

    def query(self, view: str, conditions: Sequence[Condition], sort: tuple[str, bool] | None, limit: int | None,
              start: int, count: bool) -> tuple[list[Row], int | None]:
        known = self._columns[view]
        clauses, params = [], []
        for c in conditions:
            if c.column not in known:
                raise ValueError(f"unknown column {c.column!r} of {view}")
            if c.op in ("is-null", "not-null"):
                clauses.append(f"{c.column} IS {'' if c.op == 'is-null' else 'NOT '}NULL")
            elif c.op in ("in", "not-in"):
                marks = ", ".join("?" * len(c.value))
                clauses.append(f"{c.column} {'IN' if c.op == 'in' else 'NOT IN'} ({marks})")
                params += list(c.value)
            else:
                clauses.append(f"{c.column} {_OPS[c.op]} ?")
                params.append(c.value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        order = ""
        if sort is not None:
            column, ascending = sort
            if column not in known:
                raise ValueError(f"unknown column {column!r} of {view}")
            order = f" ORDER BY {column} {'ASC' if ascending else 'DESC'}"
        page = f" LIMIT {int(limit) if limit is not None else -1} OFFSET {int(start)}"
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            rows = conn.execute(f"SELECT * FROM {view}{where}{order}{page}", params).fetchall()
            total = conn.execute(f"SELECT COUNT(*) AS n FROM {view}{where}", params).fetchone()["n"] if count else None
        finally:
            conn.execute("COMMIT")
        return rows, total

    def watch_feed(self, head_moved: Callable[[int], None]) -> None:
        """A thread polls the file's data version (cheap: no transaction) every FEED_POLL_SECONDS; when another
        connection committed, it reads the feed's head and reports it."""
        def watch() -> None:
            conn = self._connect()
            try:
                version = None
                while not self._closing.wait(FEED_POLL_SECONDS):
                    current = conn.execute("PRAGMA data_version").fetchone()["data_version"]
                    if current != version:
                        version = current
                        head_moved(conn.execute("SELECT seq FROM feed_head WHERE id = 1").fetchone()["seq"])
            finally:
                conn.close()

        watcher = threading.Thread(target=watch, name="ftvm-feed-watch", daemon=True)
        watcher.start()
        self._watchers.append(watcher)

    def _checkpoint_loop(self) -> None:
        conn = self._connect()
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def close(self) -> None:
        """Waits for a write in progress, then closes the write connection (reader connections close with their
        threads)."""
        self._closing.set()
        self._checkpointer.join()
        for watcher in self._watchers:
            watcher.join()
        with self._write_lock:
            if not self._closed:
                self._closed = True
                self._writer_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # leave a small WAL behind
                self._writer_conn.close()
