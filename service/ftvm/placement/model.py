"""Plain data shared by every placement engine (Rust core, CP-SAT fallback, batch solver).

Units: memory and storage in bytes, CPU in vCPUs. Host usage fields are the usage *not* held by the engine's
own reservations (the engine adds those on top), so re-upserting a host never double counts a reservation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, get_args

GIB = 1 << 30

Strategy = Literal[
    "DefaultHostAllocatorStrategy",
    "LeastVmPreferredHostAllocatorStrategy",
    "MinimumCPUUsageHostAllocatorStrategy",
    "MinimumMemoryUsageHostAllocatorStrategy",
    "MaxInstancePerHostHostAllocatorStrategy",
]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
DEFAULT_STRATEGY: Strategy = "LeastVmPreferredHostAllocatorStrategy"

# Filter pipeline, in the order hosts are tested; a host is counted against the first rule that rejects it.
RULES = (
    "HostState",
    "HostStatus",
    "Hypervisor",
    "Location",
    "HostAntiAffinity",
    "L2Attachment",
    "FtNetwork",
    "FtLimits",
    "MaxInstancePerHost",
    "Cpu",
    "Memory",
    "PrimaryStorage",
)

# The secondary keeps its own copy of every volume plus COLO's active and hidden cache volumes of the same size.
SECONDARY_STORAGE_FACTOR = 3

_UUID_RE = re.compile(r"^[0-9a-fA-F]{32}$")


def uuid_order_key(uuid: str) -> int:
    """The 128-bit number ties are broken by (ascending); dashes are ignored. Raises ValueError if not a UUID."""
    digits = uuid.replace("-", "")
    if not _UUID_RE.match(digits):
        raise ValueError(f"not a UUID: {uuid!r}")
    return int(digits, 16)


@dataclass(frozen=True, slots=True)
class Config:
    """ZStack global config that placement depends on."""

    cpu_overprovisioning_ratio: float = 10.0
    memory_overprovisioning_ratio: float = 1.0
    reserved_memory: int = GIB  # kvm.reservedMemory, per host
    storage_overprovisioning_ratio: float = 1.0
    storage_reserved_capacity: int = GIB  # per primary storage (per host for local storage)


@dataclass(slots=True)
class HostSpec:
    uuid: str
    zone_uuid: str
    cluster_uuid: str
    cpu_num: int
    memory_total: int
    state: str = "Enabled"  # Enabled | Disabled | PreMaintenance | Maintenance
    status: str = "Connected"  # Connected | Disconnected | Connecting
    hypervisor: str = "KVM"
    cpu_used: int = 0  # vCPUs allocated
    memory_used: int = 0  # bytes allocated (already divided by the memory ratio)
    vm_count: int = 0
    ft_vm_count: int = 0
    ft_vcpu_count: int = 0
    max_ft_vms: int = 0  # 0 = unlimited
    max_ft_vcpus: int = 0  # 0 = unlimited
    failure_domain: str = ""
    ft_address: bool = True  # has an address inside the FT network CIDR


@dataclass(slots=True)
class StorageSpec:
    uuid: str
    zone_uuid: str
    cluster_uuids: tuple[str, ...]
    available: int = 0  # bytes, for shared storage
    kind: str = "Shared"  # Shared (NFS, Ceph, ...) | Local
    state: str = "Enabled"
    status: str = "Connected"
    # Local storage only: available bytes of each host's own disk.
    host_available: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    vcpus: int
    memory: int
    l3_uuids: tuple[str, ...]
    root_bytes: int = 0
    data_bytes: int = 0
    zone_uuid: str | None = None
    cluster_uuid: str | None = None
    host_uuid: str | None = None  # pins the primary only
    root_storage_uuid: str | None = None  # primaryStorageUuidForRootVolume (primary only)
    data_storage_uuid: str | None = None  # primaryStorageUuidForDataVolume (primary only)
    strategy: str = DEFAULT_STRATEGY
    max_instance_per_host: int = 0  # for MaxInstancePerHostHostAllocatorStrategy


@dataclass(frozen=True, slots=True)
class Placement:
    primary_host: str
    primary_storage: str  # root volume (and data volumes unless pinned elsewhere)
    primary_data_storage: str
    secondary_host: str
    secondary_storage: str  # every secondary volume and its cache volumes


@dataclass(slots=True)
class Inventory:
    """A consistent copy of an engine's state: hosts and storages with effective usage."""

    config: Config
    hosts: list[HostSpec]
    storages: list[StorageSpec]
    l3_to_l2: dict[str, str]
    cluster_l2: dict[str, list[str]]
