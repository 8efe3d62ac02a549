"""What a replica holds in memory, loaded from ONE snapshot of the rows: the catalog (inventory and base usage),
the address allocator, and the change feed position they reflect. Loading them from separate reads could miss, or
count twice, a commit that landed in between."""

from __future__ import annotations

from dataclasses import dataclass

from ftvm.store import Store, Tx

from .catalog import Catalog, catalog_from_rows, read_catalog_rows
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
