"""Small helpers to build placement inventories in tests (deterministic uuids, one-line hosts and storages)."""

from __future__ import annotations

import hashlib

from ftvm.placement import Config, HostSpec, Inventory, Request, StorageSpec

GIB = 1 << 30


def U(name: str) -> str:
    """A stable 32-hex uuid for a readable name (ordering between names is arbitrary but fixed)."""
    return hashlib.md5(name.encode()).hexdigest()


def O(n: int) -> str:  # noqa: E743 -- pairs with U(): one-letter builders keep the host tables short
    """A uuid whose uuid_order_key is ``n`` (for tests about tie-breaking order)."""
    return f"{n:032x}"


ZONE, CLUSTER, L2, L3 = U("zone"), U("cluster"), U("l2"), U("l3")


def host(name: str, **kw) -> HostSpec:
    d = dict(
        uuid=U(name) if "uuid" not in kw else kw.pop("uuid"),
        zone_uuid=ZONE,
        cluster_uuid=CLUSTER,
        cpu_num=8,
        memory_total=32 * GIB,
    )
    d.update(kw)
    return HostSpec(**d)


def shared(name: str, available: int = 1000 * GIB, clusters=(CLUSTER,), **kw) -> StorageSpec:
    return StorageSpec(uuid=U(name), zone_uuid=ZONE, cluster_uuids=tuple(clusters), available=available, **kw)


def local(name: str, host_available: dict[str, int], clusters=(CLUSTER,), **kw) -> StorageSpec:
    return StorageSpec(
        uuid=U(name),
        zone_uuid=ZONE,
        cluster_uuids=tuple(clusters),
        kind="Local",
        host_available=dict(host_available),
        **kw,
    )


def req(**kw) -> Request:
    d = dict(vcpus=2, memory=4 * GIB, l3_uuids=(L3,), root_bytes=10 * GIB)
    d.update(kw)
    return Request(**d)


def load(engine, hosts=(), storages=(), l3_to_l2=None, cluster_l2=None):
    """Fill an engine; by default L3 -> L2 attached to every host's cluster."""
    engine.upsert_hosts(list(hosts))
    for s in storages:
        engine.upsert_storage(s)
    for l3, l2 in ({L3: L2} if l3_to_l2 is None else l3_to_l2).items():
        engine.set_l3(l3, l2)
    if cluster_l2 is None:
        cluster_l2 = {c: [L2] for c in {h.cluster_uuid for h in hosts}}
    for c, l2s in cluster_l2.items():
        for l2 in l2s:
            engine.attach_l2(c, l2)
    return engine


def load_inventory(engine, inv: Inventory):
    return load(engine, inv.hosts, inv.storages, inv.l3_to_l2, inv.cluster_l2)


def config(**kw) -> Config:
    return Config(**kw)
