"""PostgreSQL store: what several replicas (processes) share. The same semantics as the SQLite store (store/sql.py
holds what they share): group commits on the caller's thread over one dedicated write connection (READ COMMITTED,
durable commits), reads in one REPEATABLE READ READ ONLY snapshot each on up to 8 connections, the change feed
woken by LISTEN/NOTIFY.

Writes run on the caller's thread (the event loop) for the reason the SQLite store's do: a writer thread would fight
the loop for the GIL after every round trip. A batch's INSERTs go out in one round trip (pipeline mode); a read in
the batch waits for its answer. Timeouts are short, so that a database that went away blocks the loop for seconds
at most; it is then `StoreUnavailable` (from begin_batch, commit, read and query) and the next batch reconnects.

Isolation: the usage counters are updated by triggers with INSERT ... ON CONFLICT DO UPDATE, which row-locks the
counter row until commit; under READ COMMITTED the create's re-check that follows reads the counter with every
committed update plus its own, so two replicas never both fit a create into the last room. The triggers first take
one advisory lock (schema.py), so usage changes of different replicas queue instead of deadlocking. A replica's
batch that waits for another's lock waits on its event loop, for the other's batch and commit (milliseconds)."""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row

from . import Condition, Conflict, Row, StoreUnavailable
from .schema import migrations
from .sql import GroupCommitStore, PendingBatch, SqlTx

T = TypeVar("T")
log = logging.getLogger(__name__)

FEED_CHANNEL = "ftvm_feed"
CONNECT_TIMEOUT_SECONDS = 3
TCP_USER_TIMEOUT_MS = 5000  # unacknowledged data: the server's host is gone
KEEPALIVE = dict(keepalives=1, keepalives_idle=5, keepalives_interval=1, keepalives_count=3)  # a silent peer: ~8 s
WRITE_STATEMENT_TIMEOUT_MS = 10_000  # the writer runs on the event loop: never blocked long by another's lock
IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000  # a replica stuck mid-transaction loses its locks to the others
READ_STATEMENT_TIMEOUT_MS = 120_000  # reads run off the loop; start-up reads every row
RECONNECT_PAUSE_SECONDS = 1.0  # after a failed connect, batches fail at once for this long (the loop stays free)
READ_CONNECTIONS = 8  # reads at a time (each on its own connection); more wait for one
READ_WAIT_SECONDS = 5.0  # a read waiting longer for a connection is StoreUnavailable
FEED_WAKE_SECONDS = 0.1  # how soon the feed watcher notices close()
MIGRATION_LOCK = 0x6674766D_6D696772  # pg_advisory_xact_lock key: replicas starting together migrate once

_BEGIN_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_COMPARE = {"=": "=", "!=": "<>", ">": ">", "<": "<", ">=": ">=", "<=": "<="}
# SQLite's comparison of a number with a text that is no number: every number is smaller than every text.
_NUMBER_VS_TEXT = {"=": False, "!=": True, "<": True, "<=": True, ">": False, ">=": False}
_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_REAL_TEXT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_NOT_A_NUMBER = object()
_BROKEN_BY_ANOTHER_TRANSACTION = {"40001", "40P01"}  # serialization failure, deadlock


def _translate(error: psycopg.Error, table: str | None) -> Exception:
    """The store's exception for a driver error: constraint violations and transactions another replica's
    transaction broke (deadlock, serialization) are `Conflict`; a lost or overloaded database, or a timeout, is
    `StoreUnavailable`. Anything else (a bug) stays what it is."""
    if isinstance(error, psycopg.IntegrityError) or error.sqlstate in _BROKEN_BY_ANOTHER_TRANSACTION:
        return Conflict(error.diag.table_name or table or "?", str(error))
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return StoreUnavailable(str(error).strip() or type(error).__name__)
    return error


def _statement(
    conn: psycopg.Connection[DictRow], sql: str, params: Sequence[Any] = (), table: str | None = None
) -> Any:
    try:
        return conn.execute(sql, params)
    except psycopg.Error as e:
        raise _translate(e, table) from e


def _has_nul(value: Any) -> bool:
    return isinstance(value, str) and "\0" in value


class _PgTx(SqlTx):
    """PostgreSQL's texts cannot hold NUL, so no row has a value containing one: a lookup by such a value finds
    nothing (as in SQLite, whose rows have none either: the domain refuses control characters)."""

    MARK = "%s"
    MAX_VARIABLES = 65535  # the protocol's bound parameters per statement

    def _where(self, table: str, where: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        clause, params = super()._where(table, where)
        return (" WHERE FALSE", []) if any(map(_has_nul, params)) else (clause, params)

    def select_in(self, table: str, column: str, values: Sequence[Any]) -> list[Row]:
        return super().select_in(table, column, [v for v in values if not _has_nul(v)])

    def _execute(self, sql: str, params: Sequence[Any] = (), table: str | None = None) -> Any:
        return _statement(self._conn, sql, params, table)

    def _insert_all(self, statements: list[tuple[str, list[Any], str]]) -> None:
        # Pipeline mode: every INSERT is sent before any answer is read, so a flush costs one round trip.
        try:
            with self._conn.pipeline():
                for sql, params, _ in statements:
                    self._conn.execute(sql, params)
        except psycopg.Error as e:
            raise _translate(e, None) from e

    def write_feed_entry(self, origin: str, now: int) -> int | None:
        if not self.changes:
            return None
        # One round trip: the head's row lock (held until commit) numbers the entries; NOTIFY is sent at commit.
        return self._execute(
            "WITH head AS (UPDATE feed_head SET seq = seq + 1 WHERE id = 1 RETURNING seq), "
            "entry AS (INSERT INTO change_feed (seq, origin, create_date, changes) "
            "SELECT seq, %s, %s, %s FROM head RETURNING seq) "
            f"SELECT seq, pg_notify('{FEED_CHANNEL}', seq::text) FROM entry",
            (origin, now, self._changes_json()),
            "change_feed",
        ).fetchone()["seq"]


class PostgresStore(GroupCommitStore):
    _tx_class = _PgTx

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.origin = secrets.token_hex(8)
        self._closing = threading.Event()
        self._watchers: list[threading.Thread] = []
        self._writer_conn: psycopg.Connection[DictRow] | None = None
        self._connect_again_at = 0.0
        self._connect_error = ""
        conn = self._writer()
        try:
            self._migrate(conn)
            self._columns, self._kinds = self._load_columns(conn)
        except BaseException:
            conn.close()
            raise
        self._readers = _ReadConnections(
            lambda: self._connect(self._conninfo("read", READ_STATEMENT_TIMEOUT_MS)), READ_CONNECTIONS
        )

    def _conninfo(self, role: str, statement_timeout_ms: int, *options: str) -> str:
        """The URL's parameters, with the store's timeouts unless the URL sets them."""
        params: dict[str, Any] = conninfo_to_dict(self.url)
        for name, value in dict(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            tcp_user_timeout=TCP_USER_TIMEOUT_MS,
            application_name=f"ftvm {self.origin} {role}",
            **KEEPALIVE,
        ).items():
            params.setdefault(name, value)
        settings = [f"-c statement_timeout={statement_timeout_ms}", *options]
        params["options"] = " ".join(filter(None, [params.get("options", ""), *settings]))
        return make_conninfo(**params)

    def _connect(self, conninfo: str) -> psycopg.Connection[DictRow]:
        try:
            return psycopg.connect(conninfo, autocommit=True, row_factory=dict_row)
        except psycopg.Error as e:
            raise _translate(e, None) from e

    @staticmethod
    def _migrate(conn: psycopg.Connection[DictRow]) -> None:
        """Every migration not applied yet, in one transaction under an advisory lock (replicas starting together
        migrate once; the others wait and find nothing left to do)."""
        steps = migrations("postgresql")
        _statement(conn, "BEGIN")
        try:
            _statement(conn, "SET LOCAL statement_timeout = 0")  # a migration may rewrite big tables
            _statement(conn, "SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            _statement(conn, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = _statement(conn, "SELECT MAX(version) AS v FROM schema_version").fetchone()["v"] or 0
            if current > len(steps):
                raise RuntimeError(f"database schema version {current} is newer than this build ({len(steps)})")
            for version in range(current + 1, len(steps) + 1):
                for sql in steps[version - 1]:
                    _statement(conn, sql)
                _statement(conn, "INSERT INTO schema_version (version) VALUES (%s)", (version,))
                log.info("database migrated to schema version %d", version)
            _statement(conn, "COMMIT")
        except BaseException:
            if not conn.closed:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _load_columns(conn: psycopg.Connection[DictRow]) -> tuple[dict[str, frozenset[str]], dict[str, dict[str, str]]]:
        """Column names per table and view, and each column's kind for queries: text, number or boolean."""
        kinds: dict[str, dict[str, str]] = {}
        for r in _statement(
            conn,
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema()",
        ):
            kind = {"text": "text", "character varying": "text", "boolean": "boolean"}.get(r["data_type"], "number")
            kinds.setdefault(r["table_name"], {})[r["column_name"]] = kind
        return {t: frozenset(c) for t, c in kinds.items()}, kinds

    # -- writes ------------------------------------------------------------------------------------------------
    def _writer(self) -> psycopg.Connection[DictRow]:
        """The write connection, connected again if it was lost (at most once per RECONNECT_PAUSE_SECONDS)."""
        conn = self._writer_conn
        if conn is not None and not conn.closed:
            return conn
        self._writer_conn = None
        if time.monotonic() < self._connect_again_at:
            raise StoreUnavailable(self._connect_error)
        try:
            self._writer_conn = self._connect(
                self._conninfo(
                    "writer",
                    WRITE_STATEMENT_TIMEOUT_MS,
                    "-c synchronous_commit=on",
                    f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}",
                )
            )
        except StoreUnavailable as e:
            self._connect_again_at = time.monotonic() + RECONNECT_PAUSE_SECONDS
            self._connect_error = str(e)
            raise
        return self._writer_conn

    def _batch(self, ops: Sequence[Callable[[SqlTx], Any]]) -> PendingBatch:
        fresh = self._writer_conn is None or self._writer_conn.closed
        conn = self._writer()
        try:
            return self._run_batch(conn, ops)
        except StoreUnavailable:
            if fresh or not conn.closed:
                raise  # a timeout, or a new connection lost at once: the database is away
        # The connection was lost before this batch (the server restarted): the transaction died with it, so the
        # batch runs once more on a new connection instead of failing.
        log.warning("the database connection was lost; reconnecting")
        return self._run_batch(self._writer(), ops)

    def _begin(self, conn: psycopg.Connection[DictRow]) -> None:
        _statement(conn, _BEGIN_WRITE)

    def _rollback(self, conn: psycopg.Connection[DictRow]) -> None:
        if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            _statement(conn, "ROLLBACK")

    def _commit(self, conn: psycopg.Connection[DictRow]) -> None:
        if conn.info.transaction_status == pq.TransactionStatus.INERROR:
            raise RuntimeError("the transaction failed before its commit")  # COMMIT would quietly roll back
        _statement(conn, "COMMIT")

    def _commit_failed(self, conn: psycopg.Connection[DictRow], error: Exception) -> tuple[BaseException, bool]:
        if conn.closed:  # lost while committing: the server may have committed before the connection broke
            return StoreUnavailable(f"the connection broke during the commit: {error}"), True
        self._rollback(conn)
        return error, False

    # -- reads -------------------------------------------------------------------------------------------------
    def _in_snapshot(self, work: Callable[[_PgTx], T]) -> T:
        """`work` in one REPEATABLE READ READ ONLY transaction on a read connection. A kept connection the server
        dropped meanwhile (a restart) fails the first try: the kept ones are then dropped and the read runs once more
        on a new connection."""
        for attempt in (1, 2):
            conn = None
            try:
                with self._readers.connection() as conn:
                    tx = _PgTx(conn, self._columns)
                    tx._execute(_BEGIN_READ)
                    try:
                        return work(tx)
                    finally:
                        if not conn.closed:
                            tx._execute("ROLLBACK")  # read only: nothing to commit
            except StoreUnavailable:
                if attempt == 2 or conn is None or not conn.closed:
                    raise
            self._readers.drop_idle()
        raise AssertionError("unreachable")

    def read(self, op: Callable[[_PgTx], T]) -> T:
        return self._in_snapshot(op)

    def query(
        self,
        view: str,
        conditions: Sequence[Condition],
        sort: tuple[str, bool] | None,
        limit: int | None,
        start: int,
        count: bool,
    ) -> tuple[list[Row], int | None]:
        """SQLite's semantics: values compared as the column's type (a number column against a text that is no
        number: numbers sort before texts), texts in binary order, LIKE case-insensitive for ASCII only and without
        an escape character, NULLs first in ascending order."""
        kinds = self._kinds[view]
        clauses: list[str] = []
        params: list[Any] = []
        for c in conditions:
            if c.column not in kinds:
                raise ValueError(f"unknown column {c.column!r} of {view}")
            clauses.append(_clause(c, kinds[c.column], params))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        order = ""
        if sort is not None:
            column, ascending = sort
            if column not in kinds:
                raise ValueError(f"unknown column {column!r} of {view}")
            collate = ' COLLATE "C"' if kinds[column] == "text" else ""
            order = f" ORDER BY {column}{collate} {'ASC NULLS FIRST' if ascending else 'DESC NULLS LAST'}"
        page = f" LIMIT {int(limit) if limit is not None else 'ALL'} OFFSET {int(start)}"

        def run(tx: _PgTx) -> tuple[list[Row], int | None]:
            rows = tx._execute(f"SELECT * FROM {view}{where}{order}{page}", params).fetchall()
            total = tx._execute(f"SELECT COUNT(*) AS n FROM {view}{where}", params).fetchone()["n"] if count else None
            return rows, total

        return self._in_snapshot(run)

    def watch_feed(self, head_moved: Callable[[int], None]) -> None:
        """A thread LISTENs for the feed's NOTIFY (sent at each commit with the new head) and reports each head. After
        connecting (first, or again after losing the server) it reports the current head once, so a commit made
        while it was away is not missed."""
        conninfo = self._conninfo("feed", WRITE_STATEMENT_TIMEOUT_MS)

        def watch() -> None:
            conn = None
            while not self._closing.is_set():
                try:
                    if conn is None:
                        conn = self._connect(conninfo)
                        _statement(conn, f"LISTEN {FEED_CHANNEL}")
                        head_moved(_statement(conn, "SELECT seq FROM feed_head WHERE id = 1").fetchone()["seq"])
                    for note in conn.notifies(timeout=FEED_WAKE_SECONDS):
                        head_moved(int(note.payload))
                except (psycopg.Error, StoreUnavailable) as e:
                    log.warning("change feed watcher: the database connection was lost (%s); reconnecting", e)
                    if conn is not None:
                        conn.close()
                        conn = None
                    self._closing.wait(RECONNECT_PAUSE_SECONDS)
            if conn is not None:
                conn.close()

        watcher = threading.Thread(target=watch, name="ftvm-feed-watch", daemon=True)
        watcher.start()
        self._watchers.append(watcher)

    def close(self) -> None:
        """Waits for a write in progress, then closes every connection."""
        self._closing.set()
        for watcher in self._watchers:
            watcher.join()
        with self._write_lock:
            if not self._closed:
                self._closed = True
                self._readers.close()
                if self._writer_conn is not None:
                    self._writer_conn.close()


class _ReadConnections:
    """At most `size` read connections in use at a time; idle ones are kept. A read takes an idle one or connects:
    with the database away it fails at once (no background reconnects), and it reconnects the moment the database
    is back (no back-off that outlives the outage)."""

    def __init__(self, connect: Callable[[], psycopg.Connection[DictRow]], size: int) -> None:
        self._connect = connect
        self._idle: list[psycopg.Connection[DictRow]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[DictRow]]:
        """Raises StoreUnavailable when no connection is free within READ_WAIT_SECONDS or connecting fails."""
        if not self._slots.acquire(timeout=READ_WAIT_SECONDS):
            raise StoreUnavailable(f"all {READ_CONNECTIONS} read connections stayed busy for {READ_WAIT_SECONDS:g} s")
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            try:
                yield conn
            finally:
                with self._lock:
                    keep = not self._closed and conn.info.transaction_status == pq.TransactionStatus.IDLE
                    if keep:
                        self._idle.append(conn)
                if not keep:
                    conn.close()
        finally:
            self._slots.release()

    def drop_idle(self) -> None:
        """Closes the idle connections (after one was found lost, the others most likely are too)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        """Closes the idle connections now, the busy ones when their read ends."""
        with self._lock:
            self._closed = True
        self.drop_idle()


def _as_number(value: Any) -> Any:
    """A query value as SQLite compares it with a number column: numbers as they are, a text that reads as a number
    as that number, any other text as _NOT_A_NUMBER."""
    if not isinstance(value, str):
        return int(value) if isinstance(value, bool) else value
    if _INTEGER_TEXT.match(value) and -(1 << 63) <= int(value) < 1 << 63:
        return int(value)
    if _REAL_TEXT.match(value):
        return float(value)
    return _NOT_A_NUMBER


def _clause(c: Condition, kind: str, params: list[Any]) -> str:
    """One condition in SQL, its values appended to `params`. Booleans compare as SQLite stores them (0 and 1)."""
    column = c.column
    if c.op in ("is-null", "not-null"):
        return f"{column} IS {'' if c.op == 'is-null' else 'NOT '}NULL"
    if c.op in ("like", "not-like"):
        text = {
            "text": column,
            "number": f"CAST({column} AS TEXT)",
            "boolean": f"CAST(CAST({column} AS INTEGER) AS TEXT)",
        }[kind]
        params.append(str(c.value).split("\0")[0])  # SQLite's LIKE reads its pattern up to a NUL
        return f"{text} COLLATE \"C\" {'ILIKE' if c.op == 'like' else 'NOT ILIKE'} %s ESCAPE ''"
    convert: Callable[[Any], Any]
    if kind == "text":
        expression, convert = f'{column} COLLATE "C"', str
    else:
        expression, convert = column if kind == "number" else f"CAST({column} AS INTEGER)", _as_number
    if c.op in ("in", "not-in"):
        values = [v for v in map(convert, c.value) if v is not _NOT_A_NUMBER and not _has_nul(v)]
        if not values:  # none can be equal
            return "FALSE" if c.op == "in" else f"{column} IS NOT NULL"
        params.extend(values)
        return f"{expression} {'IN' if c.op == 'in' else 'NOT IN'} ({', '.join(['%s'] * len(values))})"
    value = convert(c.value)
    if value is _NOT_A_NUMBER:
        return f"{column} IS NOT NULL" if _NUMBER_VS_TEXT[c.op] else "FALSE"
    if _has_nul(value):
        # No stored text has a NUL: in binary order, `prefix NUL rest` sorts right after `prefix` itself.
        if c.op in ("=", "!="):
            return "FALSE" if c.op == "=" else f"{column} IS NOT NULL"
        params.append(value.split("\0")[0])
        return f"{expression} {'<=' if c.op in ('<', '<=') else '>'} %s"
    params.append(value)
    return f"{expression} {_COMPARE[c.op]} %s"
