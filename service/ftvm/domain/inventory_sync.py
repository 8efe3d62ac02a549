"""How an inventory row reaches what a replica holds in memory: the catalog and the placement engine.

One path for both: the admin write that stored the row applies it here at once, and the other replicas apply it
when the change feed brings the write's change (`{"t": "row", "table", "uuid"}`, `{"t": "ref", ...}` or
`{"t": "config", ...}`): they read the row as it is *now* and apply that, so entries applied in any order still end
at the row's latest state. A global config value the engine is built with makes a replica reload its memory.
Callers hold the engine gate shared (an engine rebuild never lands between a catalog change and its engine change).
"""

from __future__ import annotations

from typing import Any

from ftvm.store import Row, Tx

from .common import Domain

# Rows the catalog holds, by table: the attribute of Catalog keyed by uuid.
CATALOG_TABLES = {
    "zones": "zones",
    "clusters": "clusters",
    "hosts": "hosts",
    "primary_storages": "storages",
    "l2_networks": "l2_networks",
    "l3_networks": "l3_networks",
    "images": "images",
    "instance_offerings": "instance_offerings",
    "disk_offerings": "disk_offerings",
}
REF_TABLES = {
    "ps_cluster_refs": ("primary_storage_uuid", "storage_clusters"),
    "l2_cluster_refs": ("l2_network_uuid", "l2_clusters"),
}


def row_change(table: str, uuid: str) -> dict[str, Any]:
    return {"t": "row", "table": table, "uuid": uuid}


def ref_change(table: str, owner_uuid: str) -> dict[str, Any]:
    """An attachment of a storage or L2 network (`owner_uuid`) to a cluster."""
    return {"t": "ref", "table": table, "uuid": owner_uuid}


def config_change(category: str, name: str) -> dict[str, Any]:
    """A global config value changed: one the engine is built with makes the other replicas reload."""
    return {"t": "config", "category": category, "name": name}


def apply_row(domain: Domain, table: str, row: Row) -> None:
    cat, engine = domain.catalog, domain.engine
    uuid = row["uuid"]
    if table in ("zones", "clusters", "hosts", "primary_storages"):
        domain.capacity_generation += 1
    if table == "ip_ranges":
        ranges = [r for r in cat.ip_ranges.get(row["l3_network_uuid"], []) if r["uuid"] != uuid]
        cat.ip_ranges[row["l3_network_uuid"]] = ranges + [row]
        return
    getattr(cat, CATALOG_TABLES[table])[uuid] = row
    if table in ("zones", "clusters"):  # a disabled zone or cluster takes its hosts out of placement
        column = "zone_uuid" if table == "zones" else "cluster_uuid"
        hosts = [h for h, r in cat.hosts.items() if r[column] == uuid]
        if hosts:
            engine.upsert_hosts([cat.host_spec(h) for h in hosts])
    elif table == "hosts":
        engine.upsert_host(cat.host_spec(uuid))
        for storage_uuid, clusters in cat.storage_clusters.items():  # its disk joins the local storage of its cluster
            if row["cluster_uuid"] in clusters and cat.is_local(storage_uuid):
                engine.upsert_storage(cat.storage_spec(storage_uuid))
    elif table == "primary_storages":
        engine.upsert_storage(cat.storage_spec(uuid))
    elif table == "l3_networks":
        engine.set_l3(uuid, row["l2_network_uuid"])


def apply_refs(domain: Domain, table: str, owner_uuid: str, clusters: set[str]) -> None:
    """The clusters a storage or L2 network is attached to (attachments are only ever added)."""
    cat, engine = domain.catalog, domain.engine
    attribute = REF_TABLES[table][1]
    known = getattr(cat, attribute).setdefault(owner_uuid, set())
    added = clusters - known
    known |= clusters
    if table == "ps_cluster_refs":
        engine.upsert_storage(cat.storage_spec(owner_uuid))
    else:
        for cluster in added:
            engine.attach_l2(cluster, owner_uuid)


def read_change(tx: Tx, change: dict[str, Any]) -> Any:
    """What a remote change needs from the rows (read in one snapshot, off the event loop)."""
    if change["t"] == "config":
        rows = tx.select("global_configs", {"category": change["category"], "name": change["name"]})
        return rows[0]["value"] if rows else None
    table, uuid = change["table"], change["uuid"]
    if change["t"] == "row":
        rows = tx.select(table, {"uuid": uuid})
        return rows[0] if rows else None
    owner_column = REF_TABLES[table][0]
    return {r["cluster_uuid"] for r in tx.select(table, {owner_column: uuid})}


def apply_change(domain: Domain, change: dict[str, Any], read: Any) -> None:
    if change["t"] == "row":
        if read is not None:
            apply_row(domain, change["table"], read)
    elif change["t"] == "ref":
        apply_refs(domain, change["table"], change["uuid"], read)
    elif read is not None:  # a config value the engine is not built with (those reload everything)
        domain.catalog.global_configs[(change["category"], change["name"])] = read
