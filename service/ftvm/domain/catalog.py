"""The inventory placement draws on, held in memory and kept in step with the store and the placement engine.

Rows are the store's rows (dicts keyed by column). Validation reads them here instead of querying per request.
Every inventory write goes store first, then `Catalog` (`put_*`), then the engine (`sync_*`), so the engine never
knows a resource the database does not.

Host and storage usage: the engine holds its own reservations (FT groups created since start); everything else
is *base* usage summed from the rows at start (`load`). Destroying a group created before the start gives its
usage back from the base (`give_back`); one created since is released from the engine.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field

from ftvm.placement import Config, HostSpec, PlacementEngine, StorageSpec, create_engine
from ftvm.store import Row, Store, Tx

GIB = 1 << 30
log = logging.getLogger(__name__)

# (category, name) -> (default value, description). Values are strings, as ZStack keeps them.
GLOBAL_CONFIG_DEFAULTS: dict[tuple[str, str], tuple[str, str]] = {
    ("ft", "enable"): ("false", "Whether fault-tolerant VMs may be created"),
    ("ft", "fault.tolerance.network.cidr"): ("", "CIDR of the FT network; a host needs an address inside it"),
    ("host", "cpu.overProvisioning.ratio"): ("10", "vCPUs a host offers per physical CPU"),
    ("mevoco", "overProvisioning.memory"): ("1.0", "Memory over-provisioning ratio"),
    ("kvm", "reservedMemory"): ("1G", "Memory each host keeps for itself"),
    ("mevoco", "overProvisioning.primaryStorage"): ("1.0", "Primary storage over-provisioning ratio"),
    ("primaryStorage", "reservedCapacity"): ("1G", "Capacity each primary storage keeps free"),
}

# The global config keys placement depends on, in Config's order.
_PLACEMENT_KEYS = (
    ("host", "cpu.overProvisioning.ratio"),
    ("mevoco", "overProvisioning.memory"),
    ("kvm", "reservedMemory"),
    ("mevoco", "overProvisioning.primaryStorage"),
    ("primaryStorage", "reservedCapacity"),
)
# The global config keys the placement engine is built with: changing one rebuilds the engine.
PLACEMENT_CONFIG_KEYS = frozenset(_PLACEMENT_KEYS) | {("ft", "fault.tolerance.network.cidr")}

_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"([0-9]+)([BKMGT]?)")
_RATIO = re.compile(r"[0-9]+(\.[0-9]+)?")
_CIDR = re.compile(r"[0-9.]+/[0-9]+")
# Sizes are bytes the engine holds as 64-bit integers; 2^62 (4 EiB) leaves room for sums of several.
MAX_SIZE = 1 << 62
# Over-provisioning ratios: below 0.01 a VM would take over 100x its size, above 1000 a host would offer more
# than a thousand vCPUs per core; neither is a configuration anyone means, and both push sizes past 64 bits.
MIN_RATIO, MAX_RATIO = 0.01, 1000.0


def parse_size(text: str) -> int:
    """ZStack size strings: `1G`, `512M`, `1073741824` (a whole number, at most MAX_SIZE bytes)."""
    match = _SIZE.fullmatch(text.strip().upper())
    if match is None:
        raise ValueError("not a size (use bytes, or a whole number with K/M/G/T such as 1G)")
    value = int(match[1]) * _SIZE_UNITS[match[2]]
    if value > MAX_SIZE:
        raise ValueError(f"larger than {MAX_SIZE} bytes")
    return value


def parse_ratio(text: str) -> float:
    """A decimal such as `10` or `1.5`, from MIN_RATIO to MAX_RATIO."""
    if _RATIO.fullmatch(text) is None:
        raise ValueError("not a decimal number such as 1.5")
    value = float(text)
    if not MIN_RATIO <= value <= MAX_RATIO:
        raise ValueError(f"a ratio must be from {MIN_RATIO} to {MAX_RATIO:g}")
    return value


def validate_global_config(category: str, name: str, value: str) -> None:
    """Raises ValueError when `value` is not valid for the key (unknown keys are KeyError)."""
    if (category, name) not in GLOBAL_CONFIG_DEFAULTS:
        raise KeyError((category, name))
    if name == "enable":
        if value not in ("true", "false"):
            raise ValueError("must be true or false")
    elif name == "fault.tolerance.network.cidr":
        if value:
            if _CIDR.fullmatch(value) is None:
                raise ValueError("must be an IPv4 CIDR such as 10.99.0.0/16")
            ipaddress.IPv4Network(value, strict=False)
    elif name in ("reservedMemory", "reservedCapacity"):
        parse_size(value)
    else:
        parse_ratio(value)


@dataclass(slots=True)
class Usage:
    cpu: int = 0
    memory: int = 0
    vms: int = 0


@dataclass
class Catalog:
    zones: dict[str, Row] = field(default_factory=dict)
    clusters: dict[str, Row] = field(default_factory=dict)
    hosts: dict[str, Row] = field(default_factory=dict)
    storages: dict[str, Row] = field(default_factory=dict)
    storage_clusters: dict[str, set[str]] = field(default_factory=dict)  # storage -> attached clusters
    l2_networks: dict[str, Row] = field(default_factory=dict)
    l2_clusters: dict[str, set[str]] = field(default_factory=dict)  # l2 -> attached clusters
    l3_networks: dict[str, Row] = field(default_factory=dict)
    ip_ranges: dict[str, list[Row]] = field(default_factory=dict)  # l3 -> ranges
    images: dict[str, Row] = field(default_factory=dict)
    instance_offerings: dict[str, Row] = field(default_factory=dict)
    disk_offerings: dict[str, Row] = field(default_factory=dict)
    global_configs: dict[tuple[str, str], str] = field(default_factory=dict)
    # Base usage (not held by engine reservations); see the module docstring.
    host_base: dict[str, Usage] = field(default_factory=dict)
    storage_base: dict[str, int] = field(default_factory=dict)  # shared storage -> bytes used
    local_base: dict[tuple[str, str], int] = field(default_factory=dict)  # (storage, host) -> bytes used
    _config_cache: tuple[tuple[str, ...], Config] | None = field(default=None, repr=False, compare=False)

    # -- global config -----------------------------------------------------------------------------------------
    def config(self, category: str, name: str) -> str:
        value = self.global_configs.get((category, name))
        return GLOBAL_CONFIG_DEFAULTS[(category, name)][0] if value is None else value

    @property
    def ft_enabled(self) -> bool:
        return self.config("ft", "enable") == "true"

    @property
    def ft_network(self) -> ipaddress.IPv4Network | None:
        cidr = self.config("ft", "fault.tolerance.network.cidr")
        return ipaddress.IPv4Network(cidr, strict=False) if cidr else None

    def placement_config(self) -> Config:
        raw = tuple(self.config(category, name) for category, name in _PLACEMENT_KEYS)
        cached = self._config_cache
        if cached is None or cached[0] != raw:
            cpu, memory, reserved_memory, storage, reserved_capacity = raw
            cached = self._config_cache = (
                raw,
                Config(
                    cpu_overprovisioning_ratio=parse_ratio(cpu),
                    memory_overprovisioning_ratio=parse_ratio(memory),
                    reserved_memory=parse_size(reserved_memory),
                    storage_overprovisioning_ratio=parse_ratio(storage),
                    storage_reserved_capacity=parse_size(reserved_capacity),
                ),
            )
        return cached[1]

    # -- engine specs ------------------------------------------------------------------------------------------
    def has_ft_address(self, host: Row) -> bool:
        network, address = self.ft_network, host.get("ft_network_address")
        if network is None or not address:
            return False
        try:
            return ipaddress.IPv4Address(address) in network
        except ValueError:
            return False

    def host_spec(self, uuid: str) -> HostSpec:
        h = self.hosts[uuid]
        base = self.host_base.get(uuid) or Usage()
        # A host in a disabled zone or cluster is out of placement like a disabled host.
        state = h["state"]
        if self.zones[h["zone_uuid"]]["state"] != "Enabled" or self.clusters[h["cluster_uuid"]]["state"] != "Enabled":
            state = "Disabled"
        return HostSpec(
            uuid=uuid,
            zone_uuid=h["zone_uuid"],
            cluster_uuid=h["cluster_uuid"],
            cpu_num=h["cpu_num"],
            memory_total=h["total_memory_capacity"],
            state=state,
            status=h["status"],
            hypervisor=h["hypervisor_type"],
            cpu_used=base.cpu,
            memory_used=base.memory,
            vm_count=base.vms,
            ft_vm_count=base.vms,
            ft_vcpu_count=base.cpu,
            max_ft_vms=h["max_ft_vms"],
            max_ft_vcpus=h["max_ft_vcpus"],
            failure_domain=h["failure_domain"] or "",
            ft_address=self.has_ft_address(h),
        )

    def add_storage_use(self, storage_uuid: str, host_uuid: str | None, delta: int) -> None:
        """Base usage of a storage (of one host's disk, for local storage) changes by `delta` bytes."""
        if storage_uuid not in self.storages:
            return
        if host_uuid is not None and self.is_local(storage_uuid):
            key = (storage_uuid, host_uuid)
            self.local_base[key] = self.local_base.get(key, 0) + delta
        else:
            self.storage_base[storage_uuid] = self.storage_base.get(storage_uuid, 0) + delta

    def is_local(self, storage_uuid: str) -> bool:
        return self.storages[storage_uuid]["type"] == "LocalStorage"

    def local_hosts(self, storage_uuid: str) -> list[str]:
        """Hosts whose own disk a local storage spans: the hosts of its attached clusters."""
        clusters = self.storage_clusters.get(storage_uuid, set())
        return [u for u, h in self.hosts.items() if h["cluster_uuid"] in clusters]

    def storage_spec(self, uuid: str) -> StorageSpec:
        s = self.storages[uuid]
        clusters = tuple(sorted(self.storage_clusters.get(uuid, ())))
        common = dict(uuid=uuid, zone_uuid=s["zone_uuid"], cluster_uuids=clusters, state=s["state"], status=s["status"])
        if s["type"] == "LocalStorage":
            available = {
                h: self.hosts[h]["local_storage_capacity"] - self.local_base.get((uuid, h), 0)
                for h in self.local_hosts(uuid)
            }
            return StorageSpec(kind="Local", host_available=available, **common)
        return StorageSpec(kind="Shared", available=s["total_capacity"] - self.storage_base.get(uuid, 0), **common)


_TABLES = (
    "zones",
    "clusters",
    "hosts",
    "primary_storages",
    "ps_cluster_refs",
    "l2_networks",
    "l2_cluster_refs",
    "l3_networks",
    "ip_ranges",
    "images",
    "instance_offerings",
    "disk_offerings",
    "global_configs",
)


CatalogRows = tuple[dict[str, list[Row]], dict[str, Usage], list[Row]]


def read_catalog_rows(tx: Tx) -> CatalogRows:
    """The inventory and its usage, read from the trigger-kept counters (not summed over VMs and volumes)."""
    rows = {t: tx.select(t) for t in _TABLES}
    host_usage = (
        {
            u: Usage(x.cpu_used, x.memory_used, x.vm_count)
            for u, x in tx.host_usage([h["uuid"] for h in rows["hosts"]]).items()
        }
        if rows["hosts"]
        else {}
    )
    return rows, host_usage, tx.select("storage_usage")


def _valid_global_configs(rows: list[Row]) -> dict[tuple[str, str], str]:
    """The stored values that are valid today. A row that is not (written by an older build, or by hand) must not
    keep the service from starting: its key runs on the default, and the row is named in an ERROR."""
    valid = {}
    for r in rows:
        key, value = (r["category"], r["name"]), r["value"]
        if value is None or key not in GLOBAL_CONFIG_DEFAULTS:
            continue
        try:
            validate_global_config(*key, value)
        except ValueError as e:
            log.error(
                "global config row [category:%s, name:%s] holds an invalid value %r (%s); using the default "
                "%r until it is updated",
                key[0],
                key[1],
                value[:64],
                e,
                GLOBAL_CONFIG_DEFAULTS[key][0],
            )
            continue
        valid[key] = value
    return valid


def load_catalog(store: Store) -> Catalog:
    return catalog_from_rows(store.read(read_catalog_rows))


def catalog_from_rows(read: CatalogRows) -> Catalog:
    rows, host_usage, storage_usage = read
    c = Catalog()
    c.zones = {r["uuid"]: r for r in rows["zones"]}
    c.clusters = {r["uuid"]: r for r in rows["clusters"]}
    c.hosts = {r["uuid"]: r for r in rows["hosts"]}
    c.storages = {r["uuid"]: r for r in rows["primary_storages"]}
    for r in rows["ps_cluster_refs"]:
        c.storage_clusters.setdefault(r["primary_storage_uuid"], set()).add(r["cluster_uuid"])
    c.l2_networks = {r["uuid"]: r for r in rows["l2_networks"]}
    for r in rows["l2_cluster_refs"]:
        c.l2_clusters.setdefault(r["l2_network_uuid"], set()).add(r["cluster_uuid"])
    c.l3_networks = {r["uuid"]: r for r in rows["l3_networks"]}
    for r in rows["ip_ranges"]:
        c.ip_ranges.setdefault(r["l3_network_uuid"], []).append(r)
    c.images = {r["uuid"]: r for r in rows["images"]}
    c.instance_offerings = {r["uuid"]: r for r in rows["instance_offerings"]}
    c.disk_offerings = {r["uuid"]: r for r in rows["disk_offerings"]}
    c.global_configs = _valid_global_configs(rows["global_configs"])
    c.host_base = host_usage
    for u in storage_usage:  # host_uuid is '' for shared storage
        c.add_storage_use(u["primary_storage_uuid"], u["host_uuid"] or None, u["used"])
    return c


def build_engine(catalog: Catalog, kind: str | None = None) -> PlacementEngine:
    """A fresh engine holding the catalog's hosts, storages and networks with base usage (no reservations)."""
    engine = create_engine(catalog.placement_config(), kind)
    engine.upsert_hosts([catalog.host_spec(u) for u in catalog.hosts])
    for uuid in catalog.storages:
        engine.upsert_storage(catalog.storage_spec(uuid))
    for l3 in catalog.l3_networks.values():
        engine.set_l3(l3["uuid"], l3["l2_network_uuid"])
    for l2, clusters in catalog.l2_clusters.items():
        for cluster in clusters:
            engine.attach_l2(cluster, l2)
    return engine
