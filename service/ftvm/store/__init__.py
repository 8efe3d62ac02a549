"""The store: every row the service keeps, in SQLite (one process) or PostgreSQL (replicas sharing it), behind one
interface with the same semantics (store/sql.py holds what the two share).

The domain never writes SQL. It reads and writes through `Tx` (table-level insert/update/delete/select by equality,
plus the two usage sums the create flow re-checks) and `Store.query` (the ZStack query API over an inventory view).
A write op may `emit` changes: they go to the change feed in the same transaction, which is how the other
replicas (processes sharing the database) learn what to change in their memory.
Writes are group-committed: `Store.begin_batch(ops)` runs many ops in one transaction on the caller's thread, and
its `commit()` (the fsync) may run on another thread while the caller goes on; no write starts before it ends.
The fast path merges the ops' inserts into multi-row statements; if any op fails, the batch is rolled back and
replayed with one savepoint per op, so only the failing op fails. `Store.write(op)` is a batch of one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = dict[str, Any]


class Conflict(Exception):
    """A UNIQUE or PRIMARY KEY constraint refused a write (the last line of defence against double allocation)."""

    def __init__(self, table: str, detail: str) -> None:
        super().__init__(f"{table}: {detail}")
        self.table = table
        self.detail = detail


class StoreUnavailable(Exception):
    """The database cannot be reached (down, restarting, the connection broke, or a statement timed out). Nothing of
    the failed write landed, unless its batch says `outcome_unknown`; the next call tries again."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One ZStack query condition on a view column: op is one of = != > < >= <= in not-in like not-like is-null
    not-null; value is a string (a list for in/not-in) compared as the column's type."""

    column: str
    op: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One group commit's changes, as the other replicas read them from the change feed."""

    seq: int
    origin: str  # the Store.origin of the replica that wrote it
    create_date: int  # ms, the writer's clock
    changes: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class HostUsage:
    cpu_used: int
    memory_used: int
    vm_count: int


class Tx(Protocol):
    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None: ...
    def after_writes(self, check: Callable[[Tx], None]) -> None:
        """Runs `check` once this op's writes (and, in a group commit, the other ops' too) are in the
        transaction; an exception fails the op."""

    def emit(self, change: Mapping[str, Any]) -> None:
        """Records a change the other replicas must apply to what they hold in memory (JSON-able): written to
        the change feed in this transaction, and dropped with the op if the op fails."""

    def feed_head(self) -> int:
        """The sequence number of the last change feed entry committed."""

    def feed_after(self, seq: int, limit: int) -> list[FeedEntry]: ...
    def take_counter(self, name: str, step: int) -> int:
        """Adds `step` to the named counter and answers the new value: [value - step + 1, value] is the caller's."""

    def update(self, table: str, where: Mapping[str, Any], values: Mapping[str, Any]) -> int: ...
    def delete(self, table: str, where: Mapping[str, Any]) -> int: ...
    def delete_below(self, table: str, column: str, value: Any) -> int:
        """Deletes the rows whose `column` is below `value` (retention)."""

    def select(self, table: str, where: Mapping[str, Any] | None = None) -> list[Row]: ...
    def select_in(self, table: str, column: str, values: Sequence[Any]) -> list[Row]: ...
    def max_value(self, table: str, column: str) -> Any: ...
    def host_usage(self, host_uuids: Sequence[str]) -> dict[str, HostUsage]: ...
    def storage_used(self, storage_uuid: str, host_uuid: str | None = None) -> int: ...


class PendingBatch(Protocol):
    outcomes: list[tuple[Any, BaseException | None]]
    feed_seq: int | None  # the change feed entry the batch wrote, if it emitted changes
    committed: bool  # after commit(): the transaction is durable
    outcome_unknown: bool  # after commit(): the commit failed in a way that leaves it unknown whether it landed

    def commit(self) -> None: ...


class Store(Protocol):
    origin: str  # this process's id in the change feed

    def write(self, op: Callable[[Tx], T]) -> T: ...
    def begin_batch(self, ops: Sequence[Callable[[Tx], Any]]) -> PendingBatch: ...
    def read(self, op: Callable[[Tx], T]) -> T: ...
    def query(
        self,
        view: str,
        conditions: Sequence[Condition],
        sort: tuple[str, bool] | None,
        limit: int | None,
        start: int,
        count: bool,
    ) -> tuple[list[Row], int | None]: ...
    def columns(self, view: str) -> frozenset[str]: ...
    def watch_feed(self, head_moved: Callable[[int], None]) -> None:
        """Calls `head_moved(head)` (from any thread) soon after the change feed's head moves, until close()."""

    def close(self) -> None: ...


_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*(@)|([?&]password=)[^&]*")


def shown_url(url: str) -> str:
    """The database URL without its password, for banners and logs."""
    return _URL_PASSWORD.sub(lambda m: f"{m[1]}***{m[2]}" if m[1] else f"{m[3]}***", url)


def open_store(url: str) -> Store:
    """`sqlite:///path/to/file.db` (the embedded default) or `postgresql://user:password@host:port/database` (also
    `postgres://`; libpq's URL, query parameters included: several replicas share one)."""
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported database url {url!r} (expected sqlite:///PATH or postgresql://...)")
