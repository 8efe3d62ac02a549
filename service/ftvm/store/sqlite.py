"""SQLite store: WAL mode, durable commits (synchronous=FULL), group commits on the caller's thread, a read
connection per thread. Every write transaction starts with BEGIN IMMEDIATE.

Writes run on the caller's thread on purpose: the server calls `write_batch` from its event loop. A separate
writer thread would have to win the GIL back from the busy loop after every SQLite call, and measured 40x slower
per create under load (the GIL convoy), while SQLite's own work for a batch is a few hundred microseconds."""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from . import Condition, Conflict, Row
from .schema import migrations
from .sql import GroupCommitStore, PendingBatch, SqlTx

T = TypeVar("T")
log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.5
# The WAL starts over only when a commit finds every frame copied back and no reader in it. Under a steady stream of
# commits (and the feed watcher reading after each) passive checkpoints never catch up: the soak benchmark saw the
# file grow by ~30 MiB/s to 1.4 GB before a chance restart. Past this size the checkpointer forces the restart: a
# RESTART checkpoint between two group commits (it holds the next one back while it copies the few frames the passive
# pass left and waits, at most RESTART_BUSY_MS, for readers to leave the log); the next commit starts the log over and
# truncates the file to this size.
WAL_RESTART_BYTES = 64 << 20
RESTART_BUSY_MS = 100
FEED_POLL_SECONDS = 0.002
_OPS = {"=": "=", "!=": "<>", ">": ">", "<": "<", ">=": ">=", "<=": "<=", "like": "LIKE", "not-like": "NOT LIKE"}


def _dict_rows(cursor: sqlite3.Cursor, row: tuple) -> Row:
    return dict(zip([d[0] for d in cursor.description], row))


class _SqliteTx(SqlTx):
    MARK = "?"
    MAX_VARIABLES = 32766  # SQLITE_MAX_VARIABLE_NUMBER since 3.32

    def _execute(self, sql: str, params: Sequence[Any] = (), table: str | None = None) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as e:
            raise Conflict(table or "?", str(e)) from e

    def write_feed_entry(self, origin: str, now: int) -> int | None:
        if not self.changes:
            return None
        seq = self._conn.execute("UPDATE feed_head SET seq = seq + 1 WHERE id = 1 RETURNING seq").fetchone()["seq"]
        self._conn.execute(
            "INSERT INTO change_feed (seq, origin, create_date, changes) VALUES (?, ?, ?, ?)",
            (seq, origin, now, self._changes_json()),
        )
        return seq


class SqliteStore(GroupCommitStore):
    _tx_class = _SqliteTx

    def __init__(self, path: str, wal_restart_bytes: int = WAL_RESTART_BYTES) -> None:
        super().__init__()
        self.path = path
        self._wal_restart_bytes = wal_restart_bytes
        self.origin = secrets.token_hex(8)
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._writer_conn = self._connect()
        self._migrate(self._writer_conn)
        self._columns = self._load_columns(self._writer_conn)
        self._local = threading.local()
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
        conn.execute("PRAGMA busy_timeout=10000")  # first: switching a new file to WAL waits for the others too
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # durable: a commit is on disk before its reply
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache per connection
        conn.execute(f"PRAGMA journal_size_limit={self._wal_restart_bytes}")  # the WAL left after a restart
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Every migration not applied yet, in one write transaction (processes starting together migrate once)."""
        steps = migrations("sqlite")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()["v"] or 0
            if current > len(steps):
                raise RuntimeError(f"database schema version {current} is newer than this build ({len(steps)})")
            for version in range(current + 1, len(steps) + 1):
                for statement in steps[version - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                log.info("database migrated to schema version %d", version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _load_columns(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
        names = [
            r["name"]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: frozenset(r["name"] for r in conn.execute(f"PRAGMA table_info({n})")) for n in names}

    # -- writes ------------------------------------------------------------------------------------------------
    def _batch(self, ops: Sequence[Callable[[SqlTx], Any]]) -> PendingBatch:
        return self._run_batch(self._writer_conn, ops)

    def _begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")

    def _commit_failed(self, conn: sqlite3.Connection, error: Exception) -> tuple[BaseException, bool]:
        self._rollback(conn)
        return error, False  # a failed COMMIT of a local file is rolled back: never unknown

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

    def query(
        self,
        view: str,
        conditions: Sequence[Condition],
        sort: tuple[str, bool] | None,
        limit: int | None,
        start: int,
        count: bool,
    ) -> tuple[list[Row], int | None]:
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
        conn.execute(f"PRAGMA busy_timeout={RESTART_BUSY_MS}")  # a RESTART that waits longer gives up until next time
        page_size = conn.execute("PRAGMA page_size").fetchone()["page_size"]
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                wal = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if wal["log"] * page_size > self._wal_restart_bytes:
                    with self._write_lock:  # between two group commits: back to back, they never leave a gap
                        conn.execute("PRAGMA wal_checkpoint(RESTART)")
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
