"""Shared by the replica tests: several real servers on one database, and what a replica holds in memory compared
with what one rebuilt from the rows would hold."""

from __future__ import annotations

import time
from typing import Any

from ftvm.domain.catalog import build_engine
from ftvm.domain.memory import load_memory


def memory_of(running) -> dict[str, Any]:
    """What the replica's memory says about usage and addresses (engine per host and storage, the allocator)."""
    domain = running.domain
    catalog, engine = domain.catalog, domain.engine
    storages = {}
    for uuid in catalog.storages:
        if catalog.is_local(uuid):
            storages[uuid] = {h: engine.storage_available(uuid, h) for h in catalog.local_hosts(uuid)}
        else:
            storages[uuid] = engine.storage_available(uuid)
    return dict(
        hosts={u: engine.host_usage(u) for u in catalog.hosts}, storages=storages, network=domain.network.snapshot()
    )


def memory_rebuilt_from_rows(running) -> dict[str, Any]:
    """The same figures for a replica that would start now: loaded from the rows."""
    fresh = load_memory(running.store)
    engine = build_engine(fresh.catalog, running.domain.engine.name)
    catalog = fresh.catalog
    storages = {}
    for uuid in catalog.storages:
        if catalog.is_local(uuid):
            storages[uuid] = {h: engine.storage_available(uuid, h) for h in catalog.local_hosts(uuid)}
        else:
            storages[uuid] = engine.storage_available(uuid)
    return dict(
        hosts={u: engine.host_usage(u) for u in catalog.hosts}, storages=storages, network=fresh.network.snapshot()
    )


def feed_head(running) -> int:
    return running.store.read(lambda tx: tx.feed_head())


def wait_caught_up(*servers, timeout: float = 10.0) -> None:
    """Until every server's memory follows the change feed to its head."""
    deadline = time.monotonic() + timeout
    while True:
        head = feed_head(servers[0].running)
        if all(s.running.domain.feed.seq >= head for s in servers):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"replicas did not catch up with feed head {head}: {[s.running.domain.feed.seq for s in servers]}"
            )
        time.sleep(0.01)
