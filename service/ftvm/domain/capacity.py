"""The capacity figures the inventory queries answer (QueryHost, QueryPrimaryStorage), as plain numbers.

- host: total CPU = cpuNum x CPU over-provisioning ratio; available CPU = total minus use; available memory = the
  host's memory minus `kvm.reservedMemory` minus use;
- primary storage: available = total minus use; a local storage's total is the sum of its hosts' own disks, with
  one figure per host.

Use comes from the placement engine when it knows the resource (it includes reservations of creates in flight),
else from the rows (a resource committed a moment before the engine took it has no reservation yet). Every figure
is whole, floored at 0 and clamped at 2^63-1: ratios up to 1000 and sizes up to 2^62 can take a product or a sum
past what an int64 field holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftvm.placement import UnknownResource
from ftvm.store import Row

from .common import Domain

INT64_MAX = (1 << 63) - 1


def int64(value: float) -> int:
    """Whole, floored at 0 and clamped at INT64_MAX."""
    return min(INT64_MAX, max(0, int(value)))


@dataclass(frozen=True, slots=True)
class HostCapacity:
    total_cpu: int
    available_cpu: int
    available_memory: int


@dataclass(frozen=True, slots=True)
class DiskCapacity:
    """One host's own disk in a local storage."""

    host_uuid: str
    total: int
    available: int


@dataclass(frozen=True, slots=True)
class StorageCapacity:
    total: int
    available: int
    disks: tuple[DiskCapacity, ...] = ()  # a local storage's hosts; empty for shared storage


def host_capacity(domain: Domain, row: Row) -> HostCapacity:
    """`row`: a hosts row, or a host_inventory row (which also has the committed use)."""
    config = domain.catalog.placement_config()
    try:
        usage = domain.engine.host_usage(row["uuid"])
        cpu_used, memory_used = usage["cpu_used"], usage["memory_used"]
    except UnknownResource:
        cpu_used, memory_used = row["cpu_used"], row["memory_used"]
    total_cpu = int64(row["cpu_num"] * config.cpu_overprovisioning_ratio)
    return HostCapacity(
        total_cpu=total_cpu,
        available_cpu=int64(total_cpu - cpu_used),
        available_memory=int64(row["total_memory_capacity"] - config.reserved_memory - memory_used),
    )


def _available(domain: Domain, storage_uuid: str, host_uuid: str | None, from_rows: int) -> int:
    try:
        return int64(domain.engine.storage_available(storage_uuid, host_uuid))
    except UnknownResource:
        return int64(from_rows)


def storage_capacity(domain: Domain, row: Row) -> StorageCapacity:
    """`row`: a primary_storages row, or a primary_storage_inventory row (which also has the committed use)."""
    catalog = domain.catalog
    uuid = row["uuid"]
    if row["type"] != "LocalStorage":
        return StorageCapacity(
            total=row["total_capacity"],
            available=_available(domain, uuid, None, row["total_capacity"] - row.get("used_capacity", 0)),
        )
    disks = []
    for host_uuid in catalog.local_hosts(uuid):
        total = catalog.hosts[host_uuid]["local_storage_capacity"]
        used = catalog.local_base.get((uuid, host_uuid), 0)
        disks.append(DiskCapacity(host_uuid, total, _available(domain, uuid, host_uuid, total - used)))
    return StorageCapacity(
        total=int64(sum(d.total for d in disks)), available=int64(sum(d.available for d in disks)), disks=tuple(disks)
    )
