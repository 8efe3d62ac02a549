"""Replicas: processes that share one database, each holding the inventory, the placement engine, the address
allocators and the session cache in memory, and each answering any call.

The database is the truth and the safety: the create's commit re-checks capacity against the rows and the UNIQUE
constraints refuse a second taker of an address or port (create.py). What keeps every replica's memory close to the
rows is the **change feed**: each group commit that changes what replicas hold writes one entry (table
`change_feed`, numbered gaplessly in commit order) in the same transaction as its rows. `Replication` follows it:
the store wakes it when the head moves (SQLite: a watcher polling the file's data version; PostgreSQL: LISTEN/NOTIFY),
and it also polls every POLL_SECONDS, so a lost wake-up never loses a change. Entries of this process's own commits
are skipped (their effect is in memory already), except those whose commit outcome was unknown.

Membership: each replica leases an ordinal in table `replicas` (its COLO ports come from that ordinal's stripe, so
replicas placing on one host never pick the same port) and renews it with a heartbeat that also publishes its
feed position, lag and conflict counts (QueryManagementNode shows them).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ftvm.observability import metrics
from ftvm.store import FeedEntry, Row, Tx

from .catalog import PLACEMENT_CONFIG_KEYS
from .common import Domain
from .holdings import Holdings, give_back, reshape_many, take
from .inventory_sync import apply_change, read_change
from .memory import reload_memory
from .network import PORT_STRIPES

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # the fallback when no wake-up came
FEED_PAGE = 500  # entries read at a time
HEARTBEAT_SECONDS = 2.0
LEASE_SECONDS = 15.0  # an ordinal whose heartbeat is older than this is free for a new replica
LAG_SAMPLES = 4096
CLEANUP_EVERY_BEATS = 5  # every 10 s: the feed grows ~1.5 MiB a second at 400 creates/s
FEED_RETENTION_MS = 3600 * 1000  # a replica away for longer reloads everything from the rows
# Entries kept behind the slowest replica's published position (older ones every replica has applied): ~10 s of
# group commits, room for a replica loading its memory right now (it reloads from the rows if it finds them gone).
FEED_KEEP_BEHIND = 1_000
CREATE_REQUEST_RETENTION_MS = 24 * 3600 * 1000  # how long a create's retry gets the original reply


@dataclass
class ReplicationStats:
    applied_entries: int = 0
    reloads: int = 0  # full reloads from the rows, after missing entries the retention had deleted
    lag_ms: deque = field(default_factory=lambda: deque(maxlen=LAG_SAMPLES))  # feed lag of applied entries

    def lag_percentile(self, q: float) -> float | None:
        if not self.lag_ms:
            return None
        ordered = sorted(self.lag_ms)
        return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


class Replication:
    def __init__(
        self, domain: Domain, forget_session: Callable[[str], None], stale_retries: Callable[[], int], address: str = ""
    ) -> None:
        """`forget_session` drops a session another replica logged out from the cache; `stale_retries` counts the
        creates placed again after a conflict (published with the heartbeat)."""
        self._domain = domain
        self._forget_session = forget_session
        self._stale_retries = stale_retries
        self._address = address
        self._wake = asyncio.Event()
        self._catching_up = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = ReplicationStats()
        self.ordinal: int | None = None
        self.replica_id = domain.store.origin

    # -- following the feed -------------------------------------------------------------------------------------
    async def catch_up(self) -> None:
        """Applies every entry committed after the cursor: the follower's work, and a create's refresh after a
        conflict (then it must see the commit that won)."""
        domain = self._domain
        async with self._catching_up:
            while True:
                after = domain.feed.seq
                entries = await domain.read(lambda tx: tx.feed_after(after, FEED_PAGE))
                if not entries:
                    return
                reload = entries[0].seq > after + 1
                if reload:
                    log.warning(
                        "change feed entries %d..%d are gone (retention): reloading from the rows",
                        after + 1,
                        entries[0].seq - 1,
                    )
                else:
                    reload = await self._apply_entries(entries)
                if reload:
                    await reload_memory(domain)  # from a snapshot that includes every entry seen so far
                    self.stats.reloads += 1
                    metrics.FEED_RELOADS.inc()
                elif len(entries) < FEED_PAGE:
                    return

    async def _apply_entries(self, entries: list[FeedEntry]) -> bool:
        """Applies entries in order; True (and stops) at one that needs the whole memory reloaded."""
        domain = self._domain
        await domain.gate.acquire_shared()  # never between an engine rebuild's read and its swap
        try:
            for entry in entries:
                if entry.seq <= domain.feed.seq:
                    continue  # passed meanwhile (own commit, or a reload)
                needs_applying = entry.origin != self.replica_id or entry.seq in domain.feed.uncertain
                if needs_applying and await self._apply(entry):
                    return True
                domain.feed.uncertain.discard(entry.seq)
                domain.feed.seq = entry.seq
        finally:
            await domain.gate.release_shared()
        return False

    async def _apply(self, entry: FeedEntry) -> bool:
        """Another replica's entry (or an own one whose commit outcome was unknown). True when it needs a reload."""
        for change in entry.changes:
            kind = change["t"]
            if kind == "group+":
                take(self._domain, Holdings.from_change(change))
            elif kind == "group-":
                give_back(self._domain, Holdings.from_change(change))
            elif kind == "group~":
                reshape_many(
                    self._domain, [(Holdings.from_change(change["before"]), Holdings.from_change(change["after"]))]
                )
            elif kind == "session-":
                self._forget_session(change["uuid"])
            elif kind == "config" and (change["category"], change["name"]) in PLACEMENT_CONFIG_KEYS:
                return True
            elif kind in ("row", "ref", "config"):
                read = await self._domain.read(functools.partial(read_change, change=change))
                apply_change(self._domain, change, read)
            else:
                log.error("change feed entry %d has a change of unknown type %r (a newer build's?)", entry.seq, kind)
        self.stats.applied_entries += 1
        lag_ms = max(0, self._domain.clock() - entry.create_date)
        self.stats.lag_ms.append(lag_ms)
        metrics.FEED_LAG_SECONDS.observe(lag_ms / 1000)
        return False

    def head_moved(self, head: int) -> None:
        """Called by the store's watcher (any thread) with the feed's head."""
        if head > self._domain.feed.seq and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _follow(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception as e:  # noqa: BLE001 -- the database is away: retried at the next wake-up or poll
                log.warning("change feed: cannot read (%s); retrying", e)

    # -- membership ----------------------------------------------------------------------------------------------
    async def join(self) -> int:
        """Leases the lowest free ordinal (one whose heartbeat lapsed counts as free) and stripes ports by it. A
        replica of this machine whose process is gone (killed, crashed) is dead at once: its row and its leases of
        one-replica work go (other machines' replicas only lapse)."""
        now = self._domain.clock()
        host_name = socket.gethostname()
        row = dict(
            replica_id=self.replica_id,
            host_name=host_name,
            grpc_address=self._address,
            pid=os.getpid(),
            started=now,
            heartbeat=now,
            stats=json.dumps(self.status()),
        )

        def lease(tx: Tx) -> int:
            taken = set()
            for r in tx.select("replicas"):
                dead_here = r["host_name"] == host_name and r["pid"] is not None and not _process_alive(r["pid"])
                if now - r["heartbeat"] > LEASE_SECONDS * 1000 or r["replica_id"] == self.replica_id or dead_here:
                    tx.delete("replicas", {"ordinal": r["ordinal"]})
                    if dead_here:
                        tx.delete("leases", {"holder": r["replica_id"]})
                else:
                    taken.add(r["ordinal"])
            free = [o for o in range(PORT_STRIPES) if o not in taken]
            if not free:
                raise RuntimeError(f"{PORT_STRIPES} replicas already run on this database; no ordinal is free")
            tx.insert("replicas", [dict(row, ordinal=free[0])])
            return free[0]

        self.ordinal = await self._domain.write(lease)
        self._domain.network.set_port_stripe(self.ordinal)
        return self.ordinal

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            beats += 1
            try:
                if not await self._domain.write(self._beat):
                    log.warning(
                        "replica ordinal %s was taken over after a lapsed heartbeat; leasing another", self.ordinal
                    )
                    await self.join()
                if beats % CLEANUP_EVERY_BEATS == 0:
                    await self._domain.write(self.retention_sweep)
            except Exception as e:  # noqa: BLE001 -- the database is away: the next beat retries
                log.warning("replica heartbeat failed (%s)", e)

    def _beat(self, tx: Tx) -> bool:
        """Renews the lease and publishes the figures; False when another replica took the ordinal over."""
        return (
            tx.update(
                "replicas",
                {"ordinal": self.ordinal, "replica_id": self.replica_id},
                {"heartbeat": self._domain.clock(), "stats": json.dumps(self.status())},
            )
            == 1
        )

    def retention_sweep(self, tx: Tx) -> None:
        """Retention (any replica may run it; running it twice deletes nothing more). Feed entries go after an hour,
        or sooner once every replica has applied them (at a steady 100 creates/s the feed grows ~20 MiB a minute)."""
        now = self._domain.clock()
        tx.delete_below("change_feed", "create_date", now - FEED_RETENTION_MS)
        published = [r["stats"] for r in tx.select("replicas")]
        if published and all(published):  # a replica that has not published its position yet holds them all
            slowest = min(json.loads(stats)["feed_seq"] for stats in published)
            tx.delete_below("change_feed", "seq", slowest - FEED_KEEP_BEHIND)
        tx.delete_below("create_requests", "create_date", now - CREATE_REQUEST_RETENTION_MS)

    def status(self) -> dict[str, Any]:
        """This replica's figures (QueryManagementNode shows them as its heartbeat published them)."""
        return dict(
            feed_seq=self._domain.feed.seq,
            applied_entries=self.stats.applied_entries,
            feed_lag_p50_ms=self.stats.lag_percentile(0.5),
            feed_lag_p99_ms=self.stats.lag_percentile(0.99),
            stale_retries=self._stale_retries(),
            reloads=self.stats.reloads,
        )

    # -- running -------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.join()
        self._domain.store.watch_feed(self.head_moved)
        self._tasks = [asyncio.ensure_future(self._follow()), asyncio.ensure_future(self._heartbeat())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            await self._domain.write(lambda tx: tx.delete("replicas", {"replica_id": self.replica_id}))
        except Exception as e:  # noqa: BLE001 -- the lease lapses on its own
            log.warning("could not leave the replicas table (%s)", e)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def management_node_view(row: Row) -> dict[str, Any]:
    """A `management_node_inventory` row with the figures its replica published."""
    view = {k: v for k, v in row.items() if k != "stats"}
    view.update(json.loads(row["stats"]) if row["stats"] else {})
    return view
