"""What a replica holds in memory, loaded from ONE snapshot of the rows: the catalog (inventory and base usage),
the address allocator, and the change feed position they reflect. Loading them from separate reads could miss, or
count twice, a commit that landed in between."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from ftvm.placement import PlacementEngine
from ftvm.store import Store, Tx

from .catalog import Catalog, build_engine, catalog_from_rows, read_catalog_rows
from .common import Domain
from .network import NetworkAllocator


@dataclass
class Memory:
    catalog: Catalog
    network: NetworkAllocator
    feed_seq: int


def load_memory(store: Store, port_stripe: int = 0) -> Memory:
    def read(tx: Tx):
        return read_catalog_rows(tx), NetworkAllocator.read_rows(tx), tx.feed_head()

    catalog_rows, network_rows, feed_seq = store.read(read)
    catalog = catalog_from_rows(catalog_rows)
    return Memory(catalog, NetworkAllocator.load(catalog, network_rows, port_stripe), feed_seq)


def replace_memory(domain: Domain, fresh: Memory, engine: PlacementEngine) -> None:
    """Moves what was loaded from one snapshot into the objects other code holds, with an engine built from it;
    the change feed is followed on from that snapshot. The caller holds the engine gate exclusively: no reservation
    is in flight, every one made since start is committed and in the fresh base usage."""
    for f in dataclasses.fields(Catalog):
        setattr(domain.catalog, f.name, getattr(fresh.catalog, f.name))
    domain.network.reset_from(fresh.network)
    domain.engine = engine
    domain.feed.seq = fresh.feed_seq


async def reload_memory(domain: Domain) -> None:
    """Everything this replica holds, loaded anew from the rows: when the change feed no longer has entries it
    missed (it was away for longer than their retention)."""
    await domain.gate.acquire_exclusive()
    try:
        fresh = await asyncio.to_thread(load_memory, domain.store)
        replace_memory(domain, fresh, build_engine(fresh.catalog, domain.engine.name))
    finally:
        await domain.gate.release_exclusive()
