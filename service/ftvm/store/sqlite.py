"""SQLite store: WAL mode, durable commits (synchronous=FULL), one group-committing writer thread, a read
connection per thread. Every write transaction starts with BEGIN IMMEDIATE."""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
from concurrent.futures import Future
from typing import Any, Callable, Mapping, Sequence, TypeVar

from . import Condition, Conflict, HostUsage, Row
from .schema import MIGRATIONS

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_BATCH = 256  # ops per group commit
_STOP = object()
_OPS = {"=": "=", "!=": "<>", ">": ">", "<": "<", ">=": ">=", "<=": "<=", "like": "LIKE", "not-like": "NOT LIKE"}


def _dict_rows(cursor: sqlite3.Cursor, row: tuple) -> Row:
    return dict(zip([d[0] for d in cursor.description], row))


class _SqliteTx:
    """Table-level operations on one connection. Table and column names come from the schema (checked against
    it), values are always bound parameters."""

    def __init__(self, conn: sqlite3.Connection, columns: dict[str, frozenset[str]]) -> None:
        self._conn = conn
        self._columns = columns
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}

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
        sql = self._insert_sql.get((table, names))
        if sql is None:
            self._check(table, names)
            sql = self._insert_sql[(table, names)] = \
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
        try:
            self._conn.executemany(sql, rows)  # rows are mappings: sqlite binds :name from them in C
        except sqlite3.IntegrityError as e:
            raise Conflict(table, str(e)) from e

    def update(self, table: str, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        self._check(table, list(values))
        clause, params = self._where(table, where)
        sql = f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in values)}{clause}"
        try:
            return self._conn.execute(sql, [*values.values(), *params]).rowcount
        except sqlite3.IntegrityError as e:
            raise Conflict(table, str(e)) from e

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        clause, params = self._where(table, where)
        return self._conn.execute(f"DELETE FROM {table}{clause}", params).rowcount

    def select(self, table: str, where: Mapping[str, Any] | None = None) -> list[Row]:
        clause, params = self._where(table, where)
        return self._conn.execute(f"SELECT * FROM {table}{clause}", params).fetchall()

    def select_in(self, table: str, column: str, values: Sequence[Any]) -> list[Row]:
        self._check(table, [column])
        if not values:
            return []
        marks = ", ".join("?" * len(values))
        return self._conn.execute(f"SELECT * FROM {table} WHERE {column} IN ({marks})", list(values)).fetchall()

    def host_usage(self, host_uuids: Sequence[str]) -> dict[str, HostUsage]:
        marks = ", ".join("?" * len(host_uuids))
        rows = self._conn.execute(
            "SELECT host_uuid, COALESCE(SUM(cpu_num), 0) AS c, COALESCE(SUM(allocated_memory), 0) AS m, COUNT(*) AS n"
            f" FROM vm_instances WHERE host_uuid IN ({marks}) GROUP BY host_uuid", list(host_uuids)).fetchall()
        usage = {u: HostUsage(0, 0, 0) for u in host_uuids}
        usage.update({r["host_uuid"]: HostUsage(r["c"], r["m"], r["n"]) for r in rows})
        return usage

    def storage_used(self, storage_uuid: str, host_uuid: str | None = None) -> int:
        row = self._conn.execute("SELECT used FROM storage_usage WHERE primary_storage_uuid = ? AND host_uuid = ?",
                                 [storage_uuid, host_uuid or ""]).fetchone()
        return row["used"] if row else 0


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._writer_conn = self._connect()
        self._migrate(self._writer_conn)
        self._columns = self._load_columns(self._writer_conn)
        self._local = threading.local()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="ftvm-store-writer", daemon=True)
        self._writer.start()

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
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
        current = row["v"] or 0
        if current > len(MIGRATIONS):
            raise RuntimeError(f"database schema version {current} is newer than this build ({len(MIGRATIONS)})")
        for version in range(current + 1, len(MIGRATIONS) + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[version - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            log.info("database migrated to schema version %d", version)

    @staticmethod
    def _load_columns(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
        names = [r["name"] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'")]
        return {n: frozenset(r["name"] for r in conn.execute(f"PRAGMA table_info({n})")) for n in names}

    def columns(self, view: str) -> frozenset[str]:
        return self._columns[view]

    # -- writes ------------------------------------------------------------------------------------------------
    def write(self, op: Callable[[_SqliteTx], T]) -> "Future[T]":
        future: Future = Future()
        if self._closed:
            future.set_exception(RuntimeError("store is closed"))
        else:
            self._queue.put((op, future))
        return future

    def _write_loop(self) -> None:
        conn = self._writer_conn
        tx = _SqliteTx(conn, self._columns)
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit_batch(conn, tx, batch)
        conn.close()

    @staticmethod
    def _commit_batch(conn: sqlite3.Connection, tx: _SqliteTx, batch: list) -> None:
        outcomes: list[tuple[Future, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in batch:
                if not future.set_running_or_notify_cancel():
                    continue
                conn.execute("SAVEPOINT op")
                try:
                    result = op(tx)
                except BaseException as e:  # noqa: BLE001 -- the op's own failure, handed to its caller
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((future, None, e))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((future, result, None))
            conn.execute("COMMIT")
        except BaseException as e:  # noqa: BLE001 -- the commit failed: every op of the batch failed with it
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.exception("group commit of %d ops failed", len(batch))
            done = {id(f) for f, _, _ in outcomes}
            outcomes = [(f, None, e) for f, _, _ in outcomes]
            outcomes += [(f, None, e) for _, f in batch if id(f) not in done and f.running()]
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

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

    def close(self) -> None:
        """Finishes queued writes, then closes the writer (reader connections close with their threads)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join()
