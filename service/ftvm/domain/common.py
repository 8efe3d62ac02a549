"""Small helpers every domain module uses: ids, clocks, field checks, and the domain context."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from ftvm.observability import metrics
from ftvm.placement import PlacementEngine
from ftvm.store import Conflict, PendingBatch, Store, Tx

from .catalog import Catalog
from .errors import FtError, already_exists, invalid, mandatory
from .limits import check_text, text_problem
from .network import NetworkAllocator

T = TypeVar("T")

MAX_NAME = 255
MAX_DESCRIPTION = 2048
RESOURCE_UUID = re.compile(r"^[0-9a-f]{12}[1-5][0-9a-f]{3}[89ab][0-9a-f]{15}$")


# Resource uuids need to be unique, not secret (sessions use `secrets`): a PRNG seeded from the OS is ~40x
# cheaper than os.urandom per call here (a getrandom syscall of ~8 us on this VM), and a create takes a dozen.
_uuid_random = random.Random(os.urandom(32))
_VERSION_4 = 0x4000 << 64 | 0x8000 << 48
_VERSION_MASK = ~(0xF000 << 64 | 0xC000 << 48) & ((1 << 128) - 1)


def new_uuid() -> str:
    """A random version-4 UUID as 32 lowercase hex digits, ZStack's form."""
    return f"{_uuid_random.getrandbits(128) & _VERSION_MASK | _VERSION_4:032x}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def check_name(value: str | None, field_name: str, message: str, max_length: int = MAX_NAME) -> str:
    """Mandatory, no control characters, trimmed, 1..max_length chars (ZStack's name rule; other required texts use
    it too, and so does the inventory model's `Name`)."""
    if value is None or not value.strip():
        raise mandatory(field_name, message)
    problem = text_problem(value, max_length, trim=True)
    if problem is not None:
        raise invalid(f"field[{field_name}] of message[{message}] {problem}")
    return value.strip()


def check_description(value: str | None, message: str) -> str | None:
    check_text(value, "description", message, MAX_DESCRIPTION)
    return value


def check_resource_uuid(value: str | None) -> str | None:
    """A client-chosen uuid: 32 lowercase hex, version nibble 1-5, variant 8/9/a/b."""
    if value is None:
        return None
    if not RESOURCE_UUID.match(value):
        raise invalid(
            f"invalid resourceUuid[{value}]: a resourceUuid must be 32 lowercase hex characters of a "
            "UUID (version 1-5, variant 8, 9, a or b)"
        )
    return value


@dataclass
class EngineGate:
    """Creates hold the gate shared from placement until commit; an engine rebuild (a new over-provisioning ratio
    or FT CIDR) holds it exclusively, so no reservation is in flight while the engine is replaced."""

    _shared: int = 0
    _exclusive: bool = False
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def acquire_shared(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._exclusive)
            self._shared += 1

    async def release_shared(self) -> None:
        async with self._changed:
            self._shared -= 1
            self._changed.notify_all()

    async def acquire_exclusive(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._exclusive)
            self._exclusive = True
            await self._changed.wait_for(lambda: self._shared == 0)

    async def release_exclusive(self) -> None:
        async with self._changed:
            self._exclusive = False
            self._changed.notify_all()


@dataclass
class FeedCursor:
    """How far this process's memory follows the change feed: every entry up to `seq` is applied (or was this
    process's own). `uncertain`: own entries whose commit failed without telling whether it landed; if the feed
    shows them, they landed, and are applied like another replica's (the flow had undone them in memory)."""

    seq: int = 0
    uncertain: set[int] = field(default_factory=set)

    def committed(self, seq: int) -> None:
        """An own entry committed: nothing to apply from it, so the cursor passes it when it is the next one."""
        if self.seq == seq - 1:
            self.seq = seq


@dataclass
class Domain:
    """What every domain operation works on. All methods run on the server's event loop thread, so the catalog,
    the engine and the allocators need no locks; the store's writer thread only ever sees rows."""

    store: Store
    catalog: Catalog
    engine: PlacementEngine
    network: NetworkAllocator
    gate: EngineGate = field(default_factory=EngineGate)
    clock: Callable[[], int] = now_ms
    internal_id_refill: asyncio.Lock = field(default_factory=asyncio.Lock)
    feed: FeedCursor = field(default_factory=FeedCursor)
    # Moves whenever capacity may have appeared (a host or storage changed, a group gave its usage back): FT groups
    # left Unprotected for want of room are tried again when it moved.
    capacity_generation: int = 0

    _pending_writes: list = field(default_factory=list, repr=False)
    _committing: bool = field(default=False, repr=False)
    _commit_thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="ftvm-commit"), repr=False
    )

    async def write(self, op: Callable[[Tx], T]) -> T:
        """Runs `op` in the next group commit and waits until it is durable.

        Group commit: the ops run on the event loop (SQLite's work per op is ~0.2 ms, and a writer thread would
        fight the loop for the GIL after every statement), the commit's fsync runs on a thread, and the ops that
        arrive meanwhile form the next batch."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending_writes.append((op, future))
        if len(self._pending_writes) == 1 and not self._committing:
            loop.call_soon(self._flush_writes)
        return await future

    def _flush_writes(self) -> None:
        batch, self._pending_writes = self._pending_writes, []
        if not batch:
            return
        try:
            pending = self.store.begin_batch([op for op, _ in batch])
        except Exception as e:  # noqa: BLE001 -- the store is unusable (closed): every op fails with it
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        self._committing = True
        metrics.STORE_BATCH_SIZE.observe(len(batch))
        loop = asyncio.get_running_loop()
        loop.run_in_executor(self._commit_thread, _timed_commit, pending).add_done_callback(
            lambda done: self._committed(batch, pending, done)
        )

    def _committed(self, batch: list, pending, done: asyncio.Future) -> None:
        self._committing = False
        # commit() turns a failed COMMIT into outcomes; anything else (or a cancelled commit) fails the batch
        failure = asyncio.CancelledError("commit cancelled") if done.cancelled() else done.exception()
        outcomes = pending.outcomes if failure is None else [(None, failure)] * len(batch)
        if pending.feed_seq is not None:
            if failure is None and pending.committed:
                self.feed.committed(pending.feed_seq)
            elif failure is not None or pending.outcome_unknown:
                self.feed.uncertain.add(pending.feed_seq)
        for (_, future), (result, error) in zip(batch, outcomes):
            if future.done():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
        if self._pending_writes:
            self._flush_writes()

    def close(self) -> None:
        self._commit_thread.shutdown(wait=True)

    async def read(self, op: Callable[[Tx], T]) -> T:
        """A consistent read off the event loop (reads can be long; the loop keeps serving)."""
        return await asyncio.to_thread(self.store.read, op)


def _timed_commit(pending: PendingBatch) -> None:
    started = time.perf_counter()
    pending.commit()
    metrics.STORE_COMMIT_SECONDS.observe(time.perf_counter() - started)


def insert_unique(tx: Tx, table: str, row: dict, kind: str) -> None:
    """Inserts one inventory row; a taken uuid is the typed ALREADY_EXISTS error, never a database error."""
    if tx.select(table, {"uuid": row["uuid"]}):
        raise already_exists(kind, row["uuid"])
    try:
        tx.insert(table, [row])
    except Conflict as e:
        raise FtError("SYS.1007", f"{kind} conflicts with an existing record: {e.detail}") from e
