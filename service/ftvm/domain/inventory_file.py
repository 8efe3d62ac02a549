"""Inventory files: a user's whole inventory (zones .. offerings, global config) in one YAML or JSON file.

`ftvm serve --inventory FILE` loads such a file into an empty database on first start; without `--inventory` the
first start loads the demo inventory shipped with the package (`demo_inventory.yaml`). The format is described in
docs/inventory-file.md. In short: camelCase keys as on the REST API, networks and storages nested under their zone,
hosts under their cluster, attachments by cluster *name*, sizes as bytes or `512M` / `4G` / `2T`.

    spec = read_inventory_file("inventory.yaml")   # parse + validate (InventoryFileError lists every problem)
    rows = inventory_rows(spec, now_ms())          # table -> rows, exactly the schema's columns (pure)
    counts = load_into(store, spec)                # one store transaction; refuses a database that has zones

Every error carries the path of the offending value, e.g. `zones[0].clusters[1].hosts[3].cpuNum: must be > 0`.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import uuid as uuid_module
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Iterable, Mapping

import yaml

from ftvm.placement import DEFAULT_STRATEGY, STRATEGIES
from ftvm.store import Conflict, Store, Tx

from .catalog import GLOBAL_CONFIG_DEFAULTS, MAX_SIZE, parse_size, validate_global_config
from .common import MAX_DESCRIPTION, MAX_NAME, check_resource_uuid, new_uuid, now_ms
from .errors import FtError
# The values the admin APIs accept are the values a file may use.
from .inventory import (
    ARCHITECTURES,
    DISK_ALLOCATOR_STRATEGIES,
    IMAGE_FORMATS,
    IP_ALLOCATION_STRATEGIES,
    MEDIA_TYPES,
    PLATFORMS,
)

__all__ = [
    "DEMO_INVENTORY_PATH", "InventoryFileError", "TABLES", "demo_inventory", "inventory_rows", "ip_range_problems",
    "load_into", "parse_inventory_text", "read_inventory_file",
]

DEMO_INVENTORY_PATH = resources.files("ftvm") / "demo_inventory.yaml"

# Tables an inventory fills, in insertion (foreign key) order.
TABLES = ("zones", "clusters", "hosts", "primary_storages", "ps_cluster_refs", "l2_networks", "l2_cluster_refs",
          "l3_networks", "ip_ranges", "images", "instance_offerings", "disk_offerings", "global_configs")

# The namespace of seeded (deterministic) uuids: uuid5(_SEED_NAMESPACE, "<seed>|<kind>|<name path>").
_SEED_NAMESPACE = uuid_module.UUID("5d0c6f4e-3b1a-4c8e-9f2d-7a6b5c4d3e2f")

STORAGE_TYPES = ("NFS", "Ceph", "LocalStorage")
LOCAL_STORAGE_DEFAULT_URL = "/zstack_ps"

_COMMON = ("name", "uuid", "description")
ROOT_KEYS = ("uuidSeed", "globalConfigs", "zones", "images", "instanceOfferings", "diskOfferings")
ZONE_KEYS = _COMMON + ("clusters", "primaryStorages", "l2Networks")
CLUSTER_KEYS = _COMMON + ("hostDefaults", "hosts")
HOST_DEFAULT_KEYS = ("cpuNum", "memorySize", "failureDomain", "localStorageCapacity", "maxFtVms", "maxFtVcpus")
HOST_KEYS = _COMMON + ("managementIp", "ftNetworkAddress") + HOST_DEFAULT_KEYS
STORAGE_KEYS = _COMMON + ("type", "url", "totalCapacity", "clusters")
L2_KEYS = _COMMON + ("physicalInterface", "clusters", "l3Networks")
L3_KEYS = _COMMON + ("ipAllocationStrategy", "system", "ipRanges")
RANGE_KEYS = _COMMON + ("startIp", "endIp", "netmask", "gateway")
IMAGE_KEYS = _COMMON + ("url", "size", "mediaType", "format", "platform", "guestOsType", "architecture", "system")
INSTANCE_OFFERING_KEYS = _COMMON + ("cpuNum", "memorySize", "cpuSpeed", "allocatorStrategy", "sortKey")
DISK_OFFERING_KEYS = _COMMON + ("diskSize", "allocatorStrategy", "sortKey")


class InventoryFileError(ValueError):
    """An inventory file (or spec) that cannot be loaded. `errors` lists every problem as `path: message`."""

    def __init__(self, errors: Iterable[str], source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.errors) == 1:
            text = f"{where}invalid inventory: {self.errors[0]}"
        else:
            text = f"{where}invalid inventory ({len(self.errors)} errors):\n" + "\n".join(
                f"  {e}" for e in self.errors)
        super().__init__(text)


# -- reading ----------------------------------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (plain YAML keeps the last one silently).
    Keys brought in by a merge (`<<: *defaults`) may be overridden, as YAML intends."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key; construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                    f"found duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_inventory_text(text: str, source: str = "<inventory>", *, is_json: bool = False) -> dict:
    """Parses (YAML, or JSON when `is_json`) and validates; returns the spec. Raises InventoryFileError."""
    try:
        data = json.loads(text, object_pairs_hook=_json_object) if is_json else yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, ValueError) as e:
        raise InventoryFileError([f"not valid {'JSON' if is_json else 'YAML'}: {e}"], source) from e
    if not isinstance(data, dict):
        raise InventoryFileError([f"(root): must be a mapping, got {_type_name(data)}"], source)
    try:
        inventory_rows(data, 0)  # validation only; load_into makes the rows it writes
    except InventoryFileError as e:
        raise InventoryFileError(e.errors, source) from None
    return data


def read_inventory_file(path: str | os.PathLike) -> dict:
    """Reads and validates an inventory file (`.json` as JSON, anything else as YAML, which also reads JSON)."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_inventory_text(text, path, is_json=path.lower().endswith(".json"))


def demo_inventory() -> dict:
    """The demo inventory shipped with the package (validated)."""
    return parse_inventory_text(DEMO_INVENTORY_PATH.read_text(encoding="utf-8"), "demo_inventory.yaml")


# -- validation helpers -----------------------------------------------------------------------------------------------

_MISSING = object()


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@dataclass
class _Ctx:
    now: int
    new_id: Callable[[], str]
    errors: list[str] = field(default_factory=list)
    seed: str | None = None
    uuids: dict[str, str] = field(default_factory=dict)  # uuid -> path of the entity that has it
    management_ips: dict[str, str] = field(default_factory=dict)  # ip -> path
    ft_addresses: dict[str, str] = field(default_factory=dict)  # ip -> path
    ft_network: ipaddress.IPv4Network | None = None
    rows: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in TABLES})

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '(root)'}: {message}")

    # -- structure --
    def mapping(self, value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, got {_type_name(value)}")
            return None
        for key in value:
            if not isinstance(key, str):
                self.error(path, f"key {key!r} must be a string")
            elif key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(allowed)}"
                self.error(_at(path, key), f"unknown key ({hint})")
        for key in required:
            if value.get(key) is None:
                self.error(_at(path, key), "is required")
        return value

    def items(self, m: Mapping, key: str, path: str) -> list[tuple[str, Any]]:
        """(path, item) of the list m[key] (absent or null = empty)."""
        value = m.get(key)
        p = _at(path, key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(p, f"must be a list, got {_type_name(value)}")
            return []
        return [(_at(p, i), item) for i, item in enumerate(value)]

    # -- scalars (absent or null -> default; errors return the default) --
    def string(self, m: Mapping, key: str, path: str, default: Any = None, *, max_len: int = MAX_NAME) -> Any:
        value = m.get(key)
        if value is None:
            return default
        p = _at(path, key)
        if not isinstance(value, str):
            self.error(p, f"must be a string, got {_type_name(value)}" + (
                " (quote it)" if isinstance(value, (int, float, bool)) else ""))
            return default
        value = value.strip()
        if not value:
            self.error(p, "must not be empty")
            return default
        if len(value) > max_len:
            self.error(p, f"exceeds max length of string[{max_len}]")
            return default
        return value

    def name(self, m: Mapping, path: str, scope: dict[str, str], scope_label: str) -> str:
        name = self.string(m, "name", path)
        if name is None:
            return f"<unnamed {path}>"
        if name in scope:
            self.error(_at(path, "name"), f"duplicate name {name!r} {scope_label} (first at {scope[name]})")
        else:
            scope[name] = path
        return name

    def description(self, m: Mapping, path: str) -> str | None:
        value = m.get("description")
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(_at(path, "description"), f"must be a string, got {_type_name(value)}")
            return None
        if len(value) > MAX_DESCRIPTION:
            self.error(_at(path, "description"), f"exceeds max length of string[{MAX_DESCRIPTION}]")
            return None
        return value

    def uuid(self, m: Mapping, path: str, kind: str, name_path: str) -> str:
        value = m.get("uuid")
        if value is None:
            if self.seed is not None:
                value = uuid_module.uuid5(_SEED_NAMESPACE, f"{self.seed}|{kind}|{name_path}").hex
            else:
                return self.new_id()
        elif not isinstance(value, str):
            self.error(_at(path, "uuid"), f"must be a string, got {_type_name(value)} (quote it)")
            return self.new_id()
        else:
            try:
                check_resource_uuid(value)
            except FtError:
                self.error(_at(path, "uuid"), f"invalid uuid {value!r}: must be 32 lowercase hex characters of a "
                                              "UUID (version 1-5, variant 8, 9, a or b)")
                return self.new_id()
        first = self.uuids.get(value)
        if first is not None:
            self.error(_at(path, "uuid"), f"uuid {value} is already used by {first}")
        else:
            self.uuids[value] = path
        return value

    def integer(self, m: Mapping, key: str, path: str, default: Any = None, *, minimum: int = 1) -> Any:
        value = m.get(key)
        if value is None:
            return default
        p = _at(path, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(p, f"must be an integer, got {_type_name(value)}")
            return default
        if value < minimum:
            self.error(p, "must be > 0" if minimum == 1 else f"must be >= {minimum}")
            return default
        if value >= 1 << 31:
            self.error(p, "must be < 2^31")
            return default
        return value

    def size(self, m: Mapping, key: str, path: str, default: Any = None, *, positive: bool = True) -> Any:
        value = m.get(key)
        if value is None:
            return default
        p = _at(path, key)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            self.error(p, f"must be a size (bytes, or a number with K/M/G/T such as 4G), got {_type_name(value)}")
            return default
        if isinstance(value, str):
            try:
                value = parse_size(value)
            except ValueError as e:
                self.error(p, f"not a size: {value!r} ({e})")
                return default
        if value < 0 or (positive and value == 0):
            self.error(p, "must be > 0" if positive else "must be >= 0")
            return default
        if value > MAX_SIZE:
            self.error(p, f"too large (at most {MAX_SIZE} bytes)")
            return default
        return value

    def enum(self, m: Mapping, key: str, path: str, choices: tuple[str, ...], default: Any) -> Any:
        value = m.get(key)
        if value is None:
            return default
        if value not in choices:
            self.error(_at(path, key), f"{value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def boolean(self, m: Mapping, key: str, path: str, default: bool = False) -> bool:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(_at(path, key), f"must be true or false, got {_type_name(value)}")
            return default
        return value

    def ipv4(self, m: Mapping, key: str, path: str) -> ipaddress.IPv4Address | None:
        value = m.get(key)
        if value is None:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            return ipaddress.IPv4Address(value.strip())
        except ValueError:
            self.error(_at(path, key), f"not an IPv4 address: {value!r}")
            return None

    def cluster_refs(self, m: Mapping, path: str, clusters: Mapping[str, str], zone: str) -> list[str]:
        """Cluster names (of this zone) -> uuids, without repeats."""
        result: list[str] = []
        for p, name in self.items(m, "clusters", path):
            if not isinstance(name, str):
                self.error(p, f"must be a cluster name, got {_type_name(name)}")
            elif name not in clusters:
                self.error(p, f"unknown cluster {name!r} in zone {zone!r}")
            elif clusters[name] in result:
                self.error(p, f"cluster {name!r} is listed twice")
            else:
                result.append(clusters[name])
        return result

    def dates(self) -> dict[str, int]:
        return {"create_date": self.now, "last_op_date": self.now}


def ip_range_problems(start: ipaddress.IPv4Address, end: ipaddress.IPv4Address, netmask: str,
                      gateway: ipaddress.IPv4Address) -> list[tuple[str, str]]:
    """What is wrong with an IPv4 range, as (field, message) pairs (field is startIp/endIp/netmask/gateway).

    The netmask must be contiguous with a prefix of 1..30; start <= end; start, end and gateway in one subnet; none of
    them the subnet's network or broadcast address; the gateway outside the range."""
    try:
        mask = int(ipaddress.IPv4Address(netmask))
    except ValueError:
        return [("netmask", f"not a netmask: {netmask!r}")]
    inverted = ~mask & 0xFFFFFFFF
    prefix = 32 - inverted.bit_length()
    if inverted & (inverted + 1) or not 1 <= prefix <= 30:
        return [("netmask", f"not a valid netmask (contiguous, /1../30): {netmask}")]
    network = ipaddress.IPv4Network((int(gateway) & mask, prefix))
    problems: list[tuple[str, str]] = []
    if start > end:
        problems.append(("endIp", f"{end} is below startIp {start}"))
    for key, address in (("startIp", start), ("endIp", end), ("gateway", gateway)):
        if address not in network:
            problems.append((key, f"{address} is not in the gateway's subnet {network}"))
        elif address == network.network_address:
            problems.append((key, f"{address} is the network address of {network}"))
        elif address == network.broadcast_address:
            problems.append((key, f"{address} is the broadcast address of {network}"))
    if start <= gateway <= end:
        problems.append(("gateway", f"{gateway} is inside the range {start}-{end}"))
    return problems


# -- the inventory ----------------------------------------------------------------------------------------------------

def inventory_rows(spec: Mapping[str, Any], now_ms: int, *, new_id: Callable[[], str] = new_uuid
                   ) -> dict[str, list[dict]]:
    """Validates `spec` (a parsed inventory file) and returns its rows, table -> rows, every row with exactly the
    table's columns. Dates are `now_ms`; uuids not given in the file come from `uuidSeed` (deterministic) or
    `new_id`. Raises InventoryFileError listing every problem."""
    ctx = _Ctx(now=now_ms, new_id=new_id)
    root = ctx.mapping(spec, "", ROOT_KEYS, ("zones",))
    if root is None:
        raise InventoryFileError(ctx.errors)
    ctx.seed = ctx.string(root, "uuidSeed", "")
    explicit = _global_configs(ctx, root.get("globalConfigs"))
    for (category, name), (default, description) in GLOBAL_CONFIG_DEFAULTS.items():
        ctx.rows["global_configs"].append({"category": category, "name": name, "description": description,
                                           "default_value": default,
                                           "value": explicit.get((category, name), default)})

    zones: dict[str, str] = {}
    zone_items = ctx.items(root, "zones", "")
    if root.get("zones") is not None and not zone_items and isinstance(root.get("zones"), list):
        ctx.error("zones", "must list at least one zone")
    for path, zone in zone_items:
        _zone(ctx, zone, path, zones)

    images: dict[str, str] = {}
    for path, image in ctx.items(root, "images", ""):
        _image(ctx, image, path, images)
    offerings: dict[str, str] = {}
    for path, offering in ctx.items(root, "instanceOfferings", ""):
        _instance_offering(ctx, offering, path, offerings)
    disk_offerings: dict[str, str] = {}
    for path, offering in ctx.items(root, "diskOfferings", ""):
        _disk_offering(ctx, offering, path, disk_offerings)

    if ctx.errors:
        raise InventoryFileError(ctx.errors)
    return ctx.rows


def _global_configs(ctx: _Ctx, value: Any) -> dict[tuple[str, str], str]:
    """`"<category>.<name>": value` -> {(category, name): value as ZStack's string}; also sets ctx.ft_network."""
    explicit: dict[tuple[str, str], str] = {}
    if value is None:
        return explicit
    if not isinstance(value, dict):
        ctx.error("globalConfigs", f"must be a mapping of \"<category>.<name>\": value, got {_type_name(value)}")
        return explicit
    known = [f"{c}.{n}" for c, n in GLOBAL_CONFIG_DEFAULTS]
    for key, raw in value.items():
        path = f"globalConfigs[{key}]"
        if not isinstance(key, str) or "." not in key:
            ctx.error(path, "key must be \"<category>.<name>\", e.g. ft.enable")
            continue
        category, name = key.split(".", 1)
        if (category, name) not in GLOBAL_CONFIG_DEFAULTS:
            close = difflib.get_close_matches(key, known, n=1)
            ctx.error(path, "unknown global config" + (f" (did you mean {close[0]!r}?)" if close else
                                                      f" (known: {', '.join(known)})"))
            continue
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, (int, float, str)):
            text = str(raw).strip()
        else:
            ctx.error(path, f"must be a string, number or boolean, got {_type_name(raw)}")
            continue
        try:
            validate_global_config(category, name, text)
        except ValueError as e:
            ctx.error(path, f"invalid value {text!r}: {e}")
            continue
        explicit[(category, name)] = text
    cidr = explicit.get(("ft", "fault.tolerance.network.cidr"))
    if cidr:
        ctx.ft_network = ipaddress.IPv4Network(cidr, strict=False)
    return explicit


def _zone(ctx: _Ctx, value: Any, path: str, zones: dict[str, str]) -> None:
    m = ctx.mapping(value, path, ZONE_KEYS, ("name",))
    if m is None:
        return
    name = ctx.name(m, path, zones, "among zones")
    zone_uuid = ctx.uuid(m, path, "zone", name)
    ctx.rows["zones"].append({"uuid": zone_uuid, "name": name, "description": ctx.description(m, path),
                              "state": "Enabled", "type": "zstack", **ctx.dates()})
    scope = f"in zone {name!r}"
    clusters: dict[str, str] = {}  # name -> uuid
    cluster_names: dict[str, str] = {}  # name -> path
    host_names: dict[str, str] = {}
    local_capacity: dict[str, int] = {}  # cluster uuid -> sum of its hosts' localStorageCapacity
    for cpath, cluster in ctx.items(m, "clusters", path):
        _cluster(ctx, cluster, cpath, name, zone_uuid, cluster_names, clusters, host_names, local_capacity, scope)

    storage_names: dict[str, str] = {}
    local_of_cluster: dict[str, str] = {}  # cluster uuid -> path of the LocalStorage attached to it
    for spath, storage in ctx.items(m, "primaryStorages", path):
        _storage(ctx, storage, spath, name, zone_uuid, clusters, storage_names, local_capacity, local_of_cluster,
                 scope)

    l2_names: dict[str, str] = {}
    l3_names: dict[str, str] = {}
    for lpath, l2 in ctx.items(m, "l2Networks", path):
        _l2(ctx, l2, lpath, name, zone_uuid, clusters, l2_names, l3_names, scope)


def _cluster(ctx: _Ctx, value: Any, path: str, zone: str, zone_uuid: str, names: dict[str, str],
             clusters: dict[str, str], host_names: dict[str, str], local_capacity: dict[str, int], scope: str) -> None:
    m = ctx.mapping(value, path, CLUSTER_KEYS, ("name",))
    if m is None:
        return
    name = ctx.name(m, path, names, scope)
    cluster_uuid = ctx.uuid(m, path, "cluster", f"{zone}/{name}")
    clusters.setdefault(name, cluster_uuid)
    ctx.rows["clusters"].append({"uuid": cluster_uuid, "name": name, "description": ctx.description(m, path),
                                 "zone_uuid": zone_uuid, "state": "Enabled", "hypervisor_type": "KVM",
                                 "type": "zstack", **ctx.dates()})
    dpath = _at(path, "hostDefaults")
    defaults: dict = {}
    given: set[str] = set()  # keys hostDefaults gives (valid or not: an invalid one is reported there)
    if m.get("hostDefaults") is not None:
        d = ctx.mapping(m["hostDefaults"], dpath, HOST_DEFAULT_KEYS)
        if d is not None:
            defaults = _host_capacity(ctx, d, dpath)
            given = {k for k, v in d.items() if v is not None}
    local_capacity[cluster_uuid] = 0
    for hpath, host in ctx.items(m, "hosts", path):
        _host(ctx, host, hpath, zone, zone_uuid, cluster_uuid, defaults, given, host_names, local_capacity, scope)


def _host_capacity(ctx: _Ctx, m: Mapping, path: str) -> dict:
    """The host keys a cluster's hostDefaults may also give; only the keys present (and valid) are returned."""
    values = {
        "cpuNum": ctx.integer(m, "cpuNum", path, _MISSING),
        "memorySize": ctx.size(m, "memorySize", path, _MISSING),
        "failureDomain": ctx.string(m, "failureDomain", path, _MISSING),
        "localStorageCapacity": ctx.size(m, "localStorageCapacity", path, _MISSING, positive=False),
        "maxFtVms": ctx.integer(m, "maxFtVms", path, _MISSING, minimum=0),
        "maxFtVcpus": ctx.integer(m, "maxFtVcpus", path, _MISSING, minimum=0),
    }
    return {k: v for k, v in values.items() if v is not _MISSING}


def _host(ctx: _Ctx, value: Any, path: str, zone: str, zone_uuid: str, cluster_uuid: str, defaults: dict,
          given: set[str], names: dict[str, str], local_capacity: dict[str, int], scope: str) -> None:
    m = ctx.mapping(value, path, HOST_KEYS, ("name", "managementIp"))
    if m is None:
        return
    name = ctx.name(m, path, names, scope)
    host_uuid = ctx.uuid(m, path, "host", f"{zone}/{name}")
    own = {k: m[k] for k in HOST_DEFAULT_KEYS if m.get(k) is not None}
    capacity = {**defaults, **_host_capacity(ctx, own, path)}
    for key in ("cpuNum", "memorySize"):
        if key not in own and key not in given:
            ctx.error(_at(path, key), "is required (on the host or in its cluster's hostDefaults)")

    management_ip = ctx.ipv4(m, "managementIp", path)
    if management_ip is not None:
        first = ctx.management_ips.setdefault(str(management_ip), path)
        if first != path:
            ctx.error(_at(path, "managementIp"), f"{management_ip} is already the management IP of {first}")
    ft_address = ctx.ipv4(m, "ftNetworkAddress", path)
    if ft_address is not None:
        first = ctx.ft_addresses.setdefault(str(ft_address), path)
        if first != path:
            ctx.error(_at(path, "ftNetworkAddress"), f"{ft_address} is already the FT address of {first}")
        elif ctx.ft_network is not None and ft_address not in ctx.ft_network:
            ctx.error(_at(path, "ftNetworkAddress"),
                      f"{ft_address} is outside the FT network {ctx.ft_network} (globalConfigs"
                      "[ft.fault.tolerance.network.cidr]); leave it out for a host without an FT address")
    local = capacity.get("localStorageCapacity", 0)
    local_capacity[cluster_uuid] = local_capacity.get(cluster_uuid, 0) + local
    ctx.rows["hosts"].append({
        "uuid": host_uuid, "name": name, "description": ctx.description(m, path), "zone_uuid": zone_uuid,
        "cluster_uuid": cluster_uuid, "management_ip": str(management_ip) if management_ip else None,
        "hypervisor_type": "KVM", "state": "Enabled", "status": "Connected", "cpu_num": capacity.get("cpuNum"),
        "total_memory_capacity": capacity.get("memorySize"),
        "ft_network_address": str(ft_address) if ft_address else None,
        "failure_domain": capacity.get("failureDomain"), "max_ft_vms": capacity.get("maxFtVms", 0),
        "max_ft_vcpus": capacity.get("maxFtVcpus", 0), "local_storage_capacity": local, **ctx.dates()})


def _storage(ctx: _Ctx, value: Any, path: str, zone: str, zone_uuid: str, clusters: dict[str, str],
             names: dict[str, str], local_capacity: dict[str, int], local_of_cluster: dict[str, str],
             scope: str) -> None:
    m = ctx.mapping(value, path, STORAGE_KEYS, ("name", "type"))
    if m is None:
        return
    name = ctx.name(m, path, names, scope)
    storage_uuid = ctx.uuid(m, path, "primaryStorage", f"{zone}/{name}")
    kind = ctx.enum(m, "type", path, STORAGE_TYPES, None)
    errors_before = len(ctx.errors)
    attached = ctx.cluster_refs(m, path, clusters, zone)
    refs_ok = len(ctx.errors) == errors_before
    if kind == "LocalStorage":
        url = ctx.string(m, "url", path, LOCAL_STORAGE_DEFAULT_URL, max_len=2048)
        if m.get("totalCapacity") is not None:
            ctx.error(_at(path, "totalCapacity"), "a LocalStorage's capacity is the sum of its hosts' "
                                                  "localStorageCapacity; leave totalCapacity out")
        total = 0  # as the admin API stores it: the capacity is the hosts' disks, summed when queried
        for cluster_uuid in attached:
            first = local_of_cluster.setdefault(cluster_uuid, path)
            if first != path:
                cname = next(n for n, u in clusters.items() if u == cluster_uuid)
                ctx.error(_at(path, "clusters"), f"cluster {cname!r} already has a LocalStorage ({first})")
        if refs_ok and not any(local_capacity.get(c, 0) for c in attached):
            ctx.error(_at(path, "clusters"), "no host of the attached clusters has localStorageCapacity > 0")
    else:
        url = ctx.string(m, "url", path, max_len=2048)
        if m.get("url") is None:
            ctx.error(_at(path, "url"), "is required")
        total = ctx.size(m, "totalCapacity", path)
        if m.get("totalCapacity") is None:
            ctx.error(_at(path, "totalCapacity"), "is required")
    ctx.rows["primary_storages"].append({
        "uuid": storage_uuid, "name": name, "description": ctx.description(m, path), "zone_uuid": zone_uuid,
        "url": url, "type": kind, "state": "Enabled", "status": "Connected", "total_capacity": total,
        **ctx.dates()})
    ctx.rows["ps_cluster_refs"] += [{"primary_storage_uuid": storage_uuid, "cluster_uuid": c} for c in attached]


def _l2(ctx: _Ctx, value: Any, path: str, zone: str, zone_uuid: str, clusters: dict[str, str],
        names: dict[str, str], l3_names: dict[str, str], scope: str) -> None:
    m = ctx.mapping(value, path, L2_KEYS, ("name", "physicalInterface"))
    if m is None:
        return
    name = ctx.name(m, path, names, scope)
    l2_uuid = ctx.uuid(m, path, "l2Network", f"{zone}/{name}")
    ctx.rows["l2_networks"].append({
        "uuid": l2_uuid, "name": name, "description": ctx.description(m, path), "zone_uuid": zone_uuid,
        "physical_interface": ctx.string(m, "physicalInterface", path), "type": "L2NoVlanNetwork", **ctx.dates()})
    ctx.rows["l2_cluster_refs"] += [{"l2_network_uuid": l2_uuid, "cluster_uuid": c}
                                    for c in ctx.cluster_refs(m, path, clusters, zone)]
    for l3path, l3 in ctx.items(m, "l3Networks", path):
        _l3(ctx, l3, l3path, zone, zone_uuid, l2_uuid, l3_names, scope)


def _l3(ctx: _Ctx, value: Any, path: str, zone: str, zone_uuid: str, l2_uuid: str, names: dict[str, str],
        scope: str) -> None:
    m = ctx.mapping(value, path, L3_KEYS, ("name",))
    if m is None:
        return
    name = ctx.name(m, path, names, scope)
    l3_uuid = ctx.uuid(m, path, "l3Network", f"{zone}/{name}")
    ctx.rows["l3_networks"].append({
        "uuid": l3_uuid, "name": name, "description": ctx.description(m, path), "zone_uuid": zone_uuid,
        "l2_network_uuid": l2_uuid, "type": "L3BasicNetwork", "state": "Enabled",
        "system": ctx.boolean(m, "system", path), "category": "Private",
        "ip_allocation_strategy": ctx.enum(m, "ipAllocationStrategy", path, IP_ALLOCATION_STRATEGIES, "Random"),
        **ctx.dates()})
    range_names: dict[str, str] = {}
    spans: list[tuple[int, int, str]] = []  # (start, end, path) of the valid ranges
    for i, (rpath, r) in enumerate(ctx.items(m, "ipRanges", path)):
        rm = ctx.mapping(r, rpath, RANGE_KEYS, ("startIp", "endIp", "netmask", "gateway"))
        if rm is None:
            continue
        rname = ctx.name(rm, rpath, range_names, f"in l3Network {name!r}") if rm.get("name") is not None \
            else f"{name}-range-{i + 1}"
        range_uuid = ctx.uuid(rm, rpath, "ipRange", f"{zone}/{name}/{rname}")
        start, end, gateway = (ctx.ipv4(rm, k, rpath) for k in ("startIp", "endIp", "gateway"))
        netmask = rm.get("netmask")
        if netmask is not None and not isinstance(netmask, str):
            ctx.error(_at(rpath, "netmask"), f"not a netmask: {netmask!r}")
        elif None not in (start, end, gateway, netmask):
            problems = ip_range_problems(start, end, netmask.strip(), gateway)
            for key, message in problems:
                ctx.error(_at(rpath, key), message)
            if not problems:
                netmask = str(ipaddress.IPv4Address(netmask.strip()))
                spans.append((int(start), int(end), rpath))
        ctx.rows["ip_ranges"].append({
            "uuid": range_uuid, "l3_network_uuid": l3_uuid, "name": rname, "description": ctx.description(rm, rpath),
            "start_ip": str(start) if start else None, "end_ip": str(end) if end else None, "netmask": netmask,
            "gateway": str(gateway) if gateway else None, "ip_version": 4, **ctx.dates()})
    spans.sort()
    reach, reach_path = -1, ""  # the highest end so far and its range
    for start_int, end_int, rpath in spans:
        if start_int <= reach:
            ctx.error(rpath, f"overlaps {reach_path} (both hold {ipaddress.IPv4Address(start_int)}"
                             f"-{ipaddress.IPv4Address(min(reach, end_int))})")
        if end_int > reach:
            reach, reach_path = end_int, rpath


def _image(ctx: _Ctx, value: Any, path: str, names: dict[str, str]) -> None:
    m = ctx.mapping(value, path, IMAGE_KEYS, ("name", "url", "size"))
    if m is None:
        return
    name = ctx.name(m, path, names, "among images")
    media_type = ctx.enum(m, "mediaType", path, MEDIA_TYPES, "RootVolumeTemplate")
    image_format = ctx.enum(m, "format", path, IMAGE_FORMATS, "iso" if media_type == "ISO" else "qcow2")
    both_valid = m.get("mediaType") in (None, *MEDIA_TYPES) and m.get("format") in (None, *IMAGE_FORMATS)
    if both_valid and (media_type == "ISO") != (image_format == "iso"):
        ctx.error(_at(path, "format" if m.get("format") is not None else "mediaType"),
                  f"mediaType ISO needs format iso, not {image_format}" if media_type == "ISO"
                  else f"format iso needs mediaType ISO, not {media_type}")
    size = ctx.size(m, "size", path)
    ctx.rows["images"].append({
        "uuid": ctx.uuid(m, path, "image", name), "name": name, "description": ctx.description(m, path),
        "state": "Enabled", "status": "Ready", "size": size, "actual_size": size,
        "url": ctx.string(m, "url", path, max_len=2048), "media_type": media_type,
        "guest_os_type": ctx.string(m, "guestOsType", path),
        "platform": ctx.enum(m, "platform", path, PLATFORMS, "Linux"),
        "architecture": ctx.enum(m, "architecture", path, ARCHITECTURES, "x86_64"), "format": image_format,
        "system": ctx.boolean(m, "system", path), **ctx.dates()})


def _instance_offering(ctx: _Ctx, value: Any, path: str, names: dict[str, str]) -> None:
    m = ctx.mapping(value, path, INSTANCE_OFFERING_KEYS, ("name", "cpuNum", "memorySize"))
    if m is None:
        return
    name = ctx.name(m, path, names, "among instanceOfferings")
    ctx.rows["instance_offerings"].append({
        "uuid": ctx.uuid(m, path, "instanceOffering", name), "name": name, "description": ctx.description(m, path),
        "cpu_num": ctx.integer(m, "cpuNum", path), "cpu_speed": ctx.integer(m, "cpuSpeed", path, 0, minimum=0),
        "memory_size": ctx.size(m, "memorySize", path), "type": "UserVm",
        "allocator_strategy": ctx.enum(m, "allocatorStrategy", path, STRATEGIES, DEFAULT_STRATEGY),
        "state": "Enabled", "sort_key": ctx.integer(m, "sortKey", path, 0, minimum=0), **ctx.dates()})


def _disk_offering(ctx: _Ctx, value: Any, path: str, names: dict[str, str]) -> None:
    m = ctx.mapping(value, path, DISK_OFFERING_KEYS, ("name", "diskSize"))
    if m is None:
        return
    name = ctx.name(m, path, names, "among diskOfferings")
    ctx.rows["disk_offerings"].append({
        "uuid": ctx.uuid(m, path, "diskOffering", name), "name": name, "description": ctx.description(m, path),
        "disk_size": ctx.size(m, "diskSize", path), "type": "Default", "state": "Enabled",
        "allocator_strategy": ctx.string(m, "allocatorStrategy", path, DISK_ALLOCATOR_STRATEGIES[0]),
        "sort_key": ctx.integer(m, "sortKey", path, 0, minimum=0), **ctx.dates()})


# -- loading ----------------------------------------------------------------------------------------------------------

def _explicit_config_keys(spec: Mapping[str, Any]) -> set[tuple[str, str]]:
    configs = spec.get("globalConfigs") or {}
    return {tuple(k.split(".", 1)) for k in configs}  # type: ignore[misc]


def load_into(store: Store, spec: Mapping[str, Any], *, now: int | None = None) -> dict[str, int]:
    """Writes the whole inventory in one store transaction and returns the rows written per table.

    Refuses (InventoryFileError, nothing written) when the database already has a zone: an inventory file seeds an
    empty database only. Global config rows that already exist keep their value unless the file sets the key."""
    rows = inventory_rows(spec, now_ms() if now is None else now)
    explicit = _explicit_config_keys(spec)

    def op(tx: Tx) -> dict[str, int]:
        existing = tx.select("zones")
        if existing:
            raise InventoryFileError([f"the database already has {len(existing)} zone(s); an inventory file is "
                                      "loaded only into an empty database"])
        try:
            for table in TABLES:
                if table != "global_configs":
                    tx.insert(table, rows[table])
        except Conflict as e:
            raise InventoryFileError([f"{e.table}: {e.detail} (is a uuid of the file already in the database?)"]
                                     ) from e
        for row in rows["global_configs"]:
            key = {"category": row["category"], "name": row["name"]}
            if tx.select("global_configs", key):
                values = {"description": row["description"], "default_value": row["default_value"]}
                if (row["category"], row["name"]) in explicit:
                    values["value"] = row["value"]
                tx.update("global_configs", key, values)
            else:
                tx.insert("global_configs", [row])
        return {table: len(rows[table]) for table in TABLES}

    return store.write(op)
