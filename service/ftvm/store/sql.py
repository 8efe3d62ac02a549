"""What the SQL backends share, so they behave the same: the table-level `Tx` (names checked against the schema,
values always bound, inserts merged into multi-row statements in a group commit) and the group commit itself (the
merged fast path, the replay with one savepoint per op, the change feed entry, the commit).

A backend supplies how a statement runs (its errors translated into `Conflict` / `StoreUnavailable`), the change
feed entry, and its transaction control."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from . import FeedEntry, HostUsage, Row, StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


class SqlTx:
    """Table-level operations on one connection. Table and column names come from the schema (checked against it),
    values are always bound parameters."""

    MARK: str  # the driver's placeholder
    MAX_VARIABLES: int  # bound parameters per statement

    def __init__(self, conn: Any, columns: dict[str, frozenset[str]], merged: bool = False) -> None:
        self._conn = conn
        self._columns = columns
        # merged: inserts are buffered per table and written as multi-row INSERTs before the next read or at the
        # end of the batch, and after_writes checks run then. Fewer statements: fewer round trips, and fewer GIL
        # hand-overs for the event loop that runs the batch.
        self._merged = merged
        self._pending: dict[tuple[str, tuple[str, ...]], list[Mapping[str, Any]]] = {}
        self._checked: set[tuple[str, tuple[str, ...]]] = set()  # (table, columns) already checked
        self._checks: list[Callable[[SqlTx], None]] = []
        self.changes: list[Mapping[str, Any]] = []  # emitted by the batch's ops, for the change feed

    # -- the backend's part --------------------------------------------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] = (), table: str | None = None) -> Any:
        """Runs one statement; answers the driver's cursor (rows as dicts). A constraint violation is raised as
        `Conflict` (naming `table` when the driver does not), a lost database as `StoreUnavailable`."""
        raise NotImplementedError

    def _insert_all(self, statements: list[tuple[str, list[Any], str]]) -> None:
        """Runs a flush's INSERTs (sql, params, table)."""
        for sql, params, table in statements:
            self._execute(sql, params, table)

    def write_feed_entry(self, origin: str, now: int) -> int | None:
        """The batch's changes as the next change feed entry (None when it emitted none). Incrementing the head
        takes the write lock of its row: the numbers are gapless and in commit order, across processes too."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------------------------
    def _check(self, table: str, names: Sequence[str]) -> None:
        known = self._columns.get(table)
        if known is None:
            raise ValueError(f"unknown table {table!r}")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown columns {unknown} of {table}")

    def _marks(self, count: int) -> str:
        return ", ".join([self.MARK] * count)

    def _where(self, table: str, where: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        if not where:
            return "", []
        self._check(table, list(where))
        return " WHERE " + " AND ".join(f"{c} = {self.MARK}" for c in where), list(where.values())

    def _changes_json(self) -> str:
        return json.dumps(self.changes, separators=(",", ":"))

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
        return self._execute("SELECT seq FROM feed_head WHERE id = 1").fetchone()["seq"]

    def feed_after(self, seq: int, limit: int) -> list[FeedEntry]:
        self._flush()
        rows = self._execute(
            f"SELECT * FROM change_feed WHERE seq > {self.MARK} ORDER BY seq LIMIT {self.MARK}", (seq, limit)
        ).fetchall()
        return [FeedEntry(r["seq"], r["origin"], r["create_date"], json.loads(r["changes"])) for r in rows]

    def take_counter(self, name: str, step: int) -> int:
        self._flush()
        return self._execute(
            f"UPDATE counters SET value = value + {self.MARK} WHERE name = {self.MARK} RETURNING value",
            (step, name),
            "counters",
        ).fetchone()["value"]

    def after_writes(self, check: Callable[[SqlTx], None]) -> None:
        if self._merged:
            self._checks.append(check)
        else:
            check(self)

    def _flush(self) -> None:
        if not self._pending:
            return
        # Taken out first: rows of a failed flush belong to the op that failed, never to the next one.
        pending, self._pending = self._pending, {}
        statements = []
        for (table, names), rows in pending.items():
            width = len(names)
            row_sql = f"({self._marks(width)})"
            per_statement = max(1, self.MAX_VARIABLES // width)
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([row_sql] * len(chunk))}"
                statements.append((sql, [r[n] for r in chunk for n in names], table))
        self._insert_all(statements)

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
        sql = f"UPDATE {table} SET {', '.join(f'{c} = {self.MARK}' for c in values)}{clause}"
        return self._execute(sql, [*values.values(), *params], table).rowcount

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        self._flush()
        clause, params = self._where(table, where)
        return self._execute(f"DELETE FROM {table}{clause}", params, table).rowcount

    def delete_below(self, table: str, column: str, value: Any) -> int:
        self._flush()
        self._check(table, [column])
        return self._execute(f"DELETE FROM {table} WHERE {column} < {self.MARK}", [value], table).rowcount

    def select(self, table: str, where: Mapping[str, Any] | None = None) -> list[Row]:
        self._flush()
        clause, params = self._where(table, where)
        return self._execute(f"SELECT * FROM {table}{clause}", params).fetchall()

    def select_in(self, table: str, column: str, values: Sequence[Any]) -> list[Row]:
        self._flush()
        self._check(table, [column])
        if not values:
            return []
        return self._execute(
            f"SELECT * FROM {table} WHERE {column} IN ({self._marks(len(values))})", list(values)
        ).fetchall()

    def max_value(self, table: str, column: str) -> Any:
        """The column's largest value (None for an empty table)."""
        self._flush()
        self._check(table, [column])
        return self._execute(f"SELECT MAX({column}) AS m FROM {table}").fetchone()["m"]

    def host_usage(self, host_uuids: Sequence[str]) -> dict[str, HostUsage]:
        self._flush()
        usage = {u: HostUsage(0, 0, 0) for u in host_uuids}
        if host_uuids:
            rows = self._execute(
                f"SELECT * FROM host_usage WHERE host_uuid IN ({self._marks(len(host_uuids))})", list(host_uuids)
            ).fetchall()
            usage.update({r["host_uuid"]: HostUsage(r["cpu_used"], r["memory_used"], r["vm_count"]) for r in rows})
        return usage

    def storage_used(self, storage_uuid: str, host_uuid: str | None = None) -> int:
        self._flush()
        row = self._execute(
            f"SELECT used FROM storage_usage WHERE primary_storage_uuid = {self.MARK} AND host_uuid = {self.MARK}",
            [storage_uuid, host_uuid or ""],
        ).fetchone()
        return row["used"] if row else 0


class PendingBatch:
    """A group commit whose ops have run: `outcomes` is (result, None) or (None, error) per op, final once
    `commit()` returned (a failed commit turns every outcome into its error)."""

    def __init__(
        self, store: GroupCommitStore, conn: Any, outcomes: list[tuple[Any, BaseException | None]], feed_seq: int | None
    ) -> None:
        self._store = store
        self._conn = conn
        self.outcomes = outcomes
        self.feed_seq = feed_seq
        self.committed = False
        self.outcome_unknown = False

    def commit(self) -> None:
        self._store._finish(self, self._conn)


class GroupCommitStore:
    """The write half of a SQL store: group commits on one connection, serialized by a lock that `begin_batch`
    takes and `commit()` releases."""

    origin: str
    _columns: dict[str, frozenset[str]]
    _tx_class: type[SqlTx]

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._closed = False

    # -- the backend's part --------------------------------------------------------------------------------------
    def _begin(self, conn: Any) -> None:
        raise NotImplementedError

    def _rollback(self, conn: Any) -> None:
        """Ends a failed transaction (nothing to do when the connection is gone with it)."""
        raise NotImplementedError

    def _commit(self, conn: Any) -> None:
        raise NotImplementedError

    def _commit_failed(self, conn: Any, error: Exception) -> tuple[BaseException, bool]:
        """What a failed COMMIT means: (the error each op fails with, whether the commit may have landed)."""
        raise NotImplementedError

    def _batch(self, ops: Sequence[Callable[[SqlTx], Any]]) -> PendingBatch:
        """Runs the ops (under the write lock) on the write connection."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------------------------
    def columns(self, view: str) -> frozenset[str]:
        return self._columns[view]

    def write(self, op: Callable[[SqlTx], T]) -> T:
        """One op in its own transaction; its exception (or a commit failure) is raised here."""
        batch = self.begin_batch([op])
        batch.commit()
        ((result, error),) = batch.outcomes
        if error is not None:
            raise error
        return result

    def begin_batch(self, ops: Sequence[Callable[[SqlTx], Any]]) -> PendingBatch:
        """Runs the ops of a group commit in one open transaction on the caller's thread. The caller then calls
        `commit()` (which may run on another thread: it waits for the disk); no other write starts before it."""
        self._write_lock.acquire()
        try:
            if self._closed:
                raise RuntimeError("store is closed")
            return self._batch(ops)
        except BaseException:
            self._write_lock.release()
            raise

    def _run_batch(self, conn: Any, ops: Sequence[Callable[[SqlTx], Any]]) -> PendingBatch:
        done = self._run_merged(conn, ops)
        if done is None:
            done = self._run_one_by_one(conn, ops)
        outcomes, tx = done
        try:
            feed_seq = tx.write_feed_entry(self.origin, time.time_ns() // 1_000_000)
        except BaseException:
            self._rollback(conn)
            raise
        return PendingBatch(self, conn, outcomes, feed_seq)

    def _finish(self, batch: PendingBatch, conn: Any) -> None:
        try:
            self._commit(conn)
            batch.committed = True
        except Exception as e:  # the commit failed: every op of the batch failed with it
            error, batch.outcome_unknown = self._commit_failed(conn, e)
            log.exception(
                "group commit of %d ops failed%s",
                len(batch.outcomes),
                " (it may have landed)" if batch.outcome_unknown else "",
            )
            batch.outcomes = [(None, error)] * len(batch.outcomes)
        finally:
            self._write_lock.release()

    def _run_merged(self, conn: Any, ops: Sequence[Callable]) -> tuple[list, SqlTx] | None:
        """Fast path: every op in one transaction with merged inserts (a single op too: a create's inserts are one
        statement per table, and one round trip to PostgreSQL). None if an op failed (the batch is rolled back, to be
        replayed one by one so that only the failing op fails, with its own error); a lost database fails the
        batch."""
        try:
            self._begin(conn)
            tx = self._tx_class(conn, self._columns, merged=True)
            results = [op(tx) for op in ops]
            tx.finish()
        except StoreUnavailable:
            self._rollback(conn)
            raise
        except Exception:  # noqa: BLE001 -- replayed below, where the failing op gets its own error
            self._rollback(conn)
            return None
        return [(result, None) for result in results], tx

    def _run_one_by_one(self, conn: Any, ops: Sequence[Callable]) -> tuple[list, SqlTx]:
        """Each op in its own savepoint of one transaction: a failing op rolls back alone, with its changes."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        tx = self._tx_class(conn, self._columns)
        try:
            self._begin(conn)
            for op in ops:
                tx._execute("SAVEPOINT op")
                emitted = len(tx.changes)
                try:
                    result = op(tx)
                except StoreUnavailable:
                    raise
                except Exception as e:  # noqa: BLE001 -- the op's own failure, handed to its caller
                    tx._execute("ROLLBACK TO op")
                    tx._execute("RELEASE op")
                    del tx.changes[emitted:]
                    outcomes.append((None, e))
                else:
                    tx._execute("RELEASE op")
                    outcomes.append((result, None))
        except Exception:
            self._rollback(conn)
            raise
        return outcomes, tx
