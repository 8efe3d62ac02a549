"""Inventory files: a user's whole inventory (zones .. offerings, global config) in one YAML or JSON file.

`ftvm serve --inventory FILE` loads such a file into an empty database on first start; without `--inventory` the
first start loads the demo inventory shipped with the package (`demo_inventory.yaml`). The format is described in
docs/inventory-file.md, its JSON Schema is docs/inventory-file.schema.json (`schema_text()`). In short: camelCase
keys as on the REST API, networks and storages nested under their zone, hosts under their cluster, attachments by
cluster *name*, sizes as bytes or `512M` / `4G` / `2T`.

    spec = read_inventory_file("inventory.yaml")   # parse + validate: an InventoryFile (or InventoryFileError)
    rows = inventory_rows(spec, now_ms())          # table -> rows, exactly the schema's columns (pure)
    counts = load_into(store, spec)                # one store transaction; refuses a database that has zones

The document is `InventoryFile`: the inventory model's specs (inventory_model.py, the admin API's too) nested by
zone, with the rules between them. Every problem carries its path, e.g. `zones[0].clusters[1].hosts[3].cpuNum:
must be >= 1`. One validation reports every problem of every value, and the problems between resources (names,
uuids, addresses, attachments, overlapping ranges) of each part whose values are all valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid as uuid_module
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources
from ipaddress import IPv4Network
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import Field, PlainValidator, ValidationError, WithJsonSchema, create_model, model_validator

from ftvm.store import Conflict, Row, Store, Tx

from .catalog import GLOBAL_CONFIG_DEFAULTS, validate_global_config
from .common import new_uuid, now_ms
from .inventory_model import (
    CephStorageSpec,
    ClusterSpec,
    Count,
    Cpus,
    DiskOfferingSpec,
    ImageSpec,
    InstanceOfferingSpec,
    IpRangeSpec,
    KvmHostSpec,
    L2NetworkSpec,
    L3NetworkSpec,
    Loc,
    LocalStorageSpec,
    Name,
    NfsStorageSpec,
    PositiveSize,
    Problem,
    Resource,
    Size,
    Spec,
    ZoneSpec,
    attachment_problem,
    fail,
    host_address_problems,
    overlapping_range,
    path_of,
    problems_of,
    raise_problems,
    shown,
    type_name,
)

__all__ = [
    "DEMO_INVENTORY_PATH",
    "InventoryFile",
    "InventoryFileError",
    "TABLES",
    "demo_inventory",
    "inventory_rows",
    "load_into",
    "parse_inventory_text",
    "read_inventory_file",
    "schema_text",
    "validate_inventory",
]

DEMO_INVENTORY_PATH = resources.files("ftvm") / "demo_inventory.yaml"

# Tables an inventory fills, in insertion (foreign key) order.
TABLES = (
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

# The namespace of seeded (deterministic) uuids: uuid5(_SEED_NAMESPACE, "<seed>|<kind>|<name path>").
_SEED_NAMESPACE = uuid_module.UUID("5d0c6f4e-3b1a-4c8e-9f2d-7a6b5c4d3e2f").bytes
_UUID5_MASK = ~(0xF000 << 64 | 0xC000 << 48) & ((1 << 128) - 1)
_UUID5_BITS = 5 << 76 | 0x8000 << 48  # version 5, variant RFC 4122


def seeded_uuid(name: str) -> str:
    """uuid.uuid5(_SEED_NAMESPACE, name).hex, computed without UUID objects (3x faster for 100,000 hosts)."""
    digest = int.from_bytes(hashlib.sha1(_SEED_NAMESPACE + name.encode()).digest()[:16], "big")
    return f"{digest & _UUID5_MASK | _UUID5_BITS:032x}"


class InventoryFileError(ValueError):
    """An inventory file (or spec) that cannot be loaded. `problems` lists every problem (str: `path: message`)."""

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = f"{where}invalid inventory: {self.problems[0]}"
        else:
            text = f"{where}invalid inventory ({len(self.problems)} errors):\n" + "\n".join(
                f"  {p}" for p in self.problems
            )
        super().__init__(text)


# -- the document ---------------------------------------------------------------------------------------------------


def _config_value(category: str, name: str) -> Callable[[Any], str]:
    """ZStack keeps config values as strings: YAML/JSON booleans and numbers are written as text."""

    def check(value: Any) -> str:
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float, str)):
            text = str(value).strip()
        else:
            raise fail("type", f"must be a string, number or boolean, got {type_name(value)}")
        try:
            validate_global_config(category, name, text)
        except ValueError as e:
            raise fail("value", f"invalid value {shown(text)}: {e}") from None
        return text

    return check


class _GlobalConfigs(Spec):
    """`"<category>.<name>": value` for any of the known keys; the others keep their defaults."""

    def given(self) -> dict[tuple[str, str], str]:
        given: dict[tuple[str, str], str] = {}
        for name, f in type(self).model_fields.items():
            value = getattr(self, name)
            if value is not None and f.alias is not None:
                category, _, key = f.alias.partition(".")
                given[(category, key)] = value
        return given

    @property
    def ft_network(self) -> IPv4Network | None:
        cidr = self.given().get(("ft", "fault.tolerance.network.cidr"))
        return IPv4Network(cidr, strict=False) if cidr else None


if TYPE_CHECKING:  # the generated model is a _GlobalConfigs with one optional field per known key
    GlobalConfigs = _GlobalConfigs
else:
    GlobalConfigs = create_model(
        "GlobalConfigs",
        __base__=_GlobalConfigs,
        **{
            f"{category}_{name}".replace(".", "_"): (
                Annotated[
                    str | None,
                    PlainValidator(_config_value(category, name)),
                    WithJsonSchema({"type": ["string", "number", "boolean"], "default": default}),
                ],
                Field(None, alias=f"{category}.{name}", description=description),
            )
            for (category, name), (default, description) in GLOBAL_CONFIG_DEFAULTS.items()
        },
    )


class HostDefaults(Spec):
    """What a cluster's hosts take when they do not set it themselves."""

    cpu_num: Cpus | None = None
    memory_size: PositiveSize | None = None
    failure_domain: Name | None = None
    local_storage_capacity: Size | None = None
    max_ft_vms: Count | None = None
    max_ft_vcpus: Count | None = None


class HostEntry(KvmHostSpec):
    """A host: cpuNum and memorySize are required, on the host or in its cluster's hostDefaults."""

    cpu_num: Cpus | None = None  # type: ignore[assignment]  # optional here: the cluster's hostDefaults fill it
    memory_size: PositiveSize | None = None  # type: ignore[assignment]


class ClusterEntry(ClusterSpec):
    host_defaults: HostDefaults | None = None
    hosts: list[HostEntry] = []

    @model_validator(mode="after")
    def _take_host_defaults(self) -> ClusterEntry:
        defaults = self.host_defaults
        given = defaults.model_fields_set if defaults is not None else set()
        problems = []
        for i, host in enumerate(self.hosts):
            for key in given - host.model_fields_set:
                # Straight into __dict__: pydantic's __setattr__ costs ~1 us, 100,000 hosts notice; the value is
                # valid, hostDefaults has the host's types.
                host.__dict__[key] = getattr(defaults, key)
            for key, alias in (("cpu_num", "cpuNum"), ("memory_size", "memorySize")):
                if host.__dict__[key] is None:
                    problems.append(
                        Problem(
                            ("hosts", i, alias), "missing", "is required (on the host or in its cluster's hostDefaults)"
                        )
                    )
        raise_problems(problems)
        return self


ClusterNames = list[Name]  # clusters of the same zone, by name


class LocalStorageEntry(LocalStorageSpec):
    clusters: ClusterNames = []


class NfsStorageEntry(NfsStorageSpec):
    clusters: ClusterNames = []


class CephStorageEntry(CephStorageSpec):
    clusters: ClusterNames = []


StorageEntry = Annotated[LocalStorageEntry | NfsStorageEntry | CephStorageEntry, Field(discriminator="type")]


class L3Entry(L3NetworkSpec):
    ip_ranges: list[IpRangeSpec] = []

    @model_validator(mode="after")
    def _ranges_apart(self) -> L3Entry:
        for i, r in enumerate(self.ip_ranges):
            if r.name is None:
                r.name = f"{self.name}-range-{i + 1}"
        problems = _unique_names(((("ipRanges", i), r.name) for i, r in enumerate(self.ip_ranges)), "in this l3Network")
        for i, r in enumerate(self.ip_ranges):
            earlier = ((e.start_ip, e.end_ip, f"ipRanges[{j}]") for j, e in enumerate(self.ip_ranges[:i]))
            overlap = overlapping_range(r, earlier)
            if overlap is not None:
                problems.append(overlap.at("ipRanges", i))
        raise_problems(problems)
        return self


class L2Entry(L2NetworkSpec):
    clusters: ClusterNames = []
    l3_networks: list[L3Entry] = []


class ZoneEntry(ZoneSpec):
    clusters: list[ClusterEntry] = []
    primary_storages: list[StorageEntry] = []
    l2_networks: list[L2Entry] = []

    @model_validator(mode="after")
    def _references(self) -> ZoneEntry:
        scope = f"in zone {self.name!r}"
        problems = _unique_names(((("clusters", i), c.name) for i, c in enumerate(self.clusters)), scope)
        problems += _unique_names(
            ((("clusters", i, "hosts", j), h.name) for i, c in enumerate(self.clusters) for j, h in enumerate(c.hosts)),
            scope,
        )
        problems += _unique_names(
            ((("primaryStorages", i), s.name) for i, s in enumerate(self.primary_storages)), scope
        )
        problems += _unique_names(((("l2Networks", i), n.name) for i, n in enumerate(self.l2_networks)), scope)
        problems += _unique_names(
            (
                (("l2Networks", i, "l3Networks", j), n.name)
                for i, l2 in enumerate(self.l2_networks)
                for j, n in enumerate(l2.l3_networks)
            ),
            scope,
        )
        clusters = {c.name: c for c in self.clusters}
        local_of: dict[str, str] = {}  # cluster name -> path of its LocalStorage
        for i, storage in enumerate(self.primary_storages):
            local = isinstance(storage, LocalStorageSpec)
            attached = self._attach(problems, ("primaryStorages", i), storage.clusters, clusters, local_of, local)
            if (
                local
                and attached is not None
                and not any(h.local_storage_capacity for c in attached for h in clusters[c].hosts)
            ):
                problems.append(
                    Problem(
                        ("primaryStorages", i, "clusters"),
                        "value",
                        "no host of the attached clusters has localStorageCapacity > 0",
                    )
                )
        for i, l2 in enumerate(self.l2_networks):
            self._attach(problems, ("l2Networks", i), l2.clusters, clusters, local_of, False)
        raise_problems(problems)
        return self

    def _attach(
        self,
        problems: list[Problem],
        loc: Loc,
        names: list[str],
        clusters: Mapping[str, ClusterEntry],
        local_of: dict[str, str],
        local: bool,
    ) -> list[str] | None:
        """The clusters a storage or L2 network names, None if one is wrong (the problems say why)."""
        attached: list[str] = []
        for j, name in enumerate(names):
            problem: Problem | None
            if name not in clusters:
                problem = Problem((), "reference", f"unknown cluster {name!r} in zone {self.name!r}")
            else:
                problem = attachment_problem(name, attached, local_of.get(name) if local else None)
            if problem is not None:
                problems.append(problem.at(*loc, "clusters", j))
                continue
            attached.append(name)
            if local:
                local_of[name] = path_of(loc)
        return attached if len(attached) == len(names) else None


class InventoryFile(Spec):
    """A whole inventory: zones (each with its clusters and hosts, primary storages and L2/L3 networks), images,
    offerings and global config (docs/inventory-file.md)."""

    uuid_seed: Name | None = None  # deterministic uuids: uuid5 of the seed, the kind and the names
    global_configs: GlobalConfigs = Field(default_factory=GlobalConfigs)
    zones: Annotated[list[ZoneEntry], Field(min_length=1)]
    images: list[ImageSpec] = []
    instance_offerings: list[InstanceOfferingSpec] = []
    disk_offerings: list[DiskOfferingSpec] = []

    def hosts(self) -> Iterator[tuple[Loc, HostEntry]]:
        for i, zone in enumerate(self.zones):
            for j, cluster in enumerate(zone.clusters):
                for k, host in enumerate(cluster.hosts):
                    yield ("zones", i, "clusters", j, "hosts", k), host

    def resources(self) -> Iterator[tuple[Loc, Resource]]:
        for i, zone in enumerate(self.zones):
            z = ("zones", i)
            yield z, zone
            for j, cluster in enumerate(zone.clusters):
                yield z + ("clusters", j), cluster
            for j, storage in enumerate(zone.primary_storages):
                yield z + ("primaryStorages", j), storage
            for j, l2 in enumerate(zone.l2_networks):
                yield z + ("l2Networks", j), l2
                for k, l3 in enumerate(l2.l3_networks):
                    yield z + ("l2Networks", j, "l3Networks", k), l3
                    for m, r in enumerate(l3.ip_ranges):
                        yield z + ("l2Networks", j, "l3Networks", k, "ipRanges", m), r
        yield from self.hosts()
        for key, items in (
            ("images", self.images),
            ("instanceOfferings", self.instance_offerings),
            ("diskOfferings", self.disk_offerings),
        ):
            for i, item in enumerate(items):
                yield (key, i), item

    @model_validator(mode="after")
    def _across_zones(self) -> InventoryFile:
        problems = _unique_names(((("zones", i), z.name) for i, z in enumerate(self.zones)), "among zones")
        for key, items in (
            ("images", self.images),
            ("instanceOfferings", self.instance_offerings),
            ("diskOfferings", self.disk_offerings),
        ):
            problems += _unique_names((((key, i), item.name) for i, item in enumerate(items)), f"among {key}")
        uuids: dict[str, Loc] = {}
        for loc, resource in self.resources():
            if resource.uuid is not None:
                first = uuids.setdefault(resource.uuid, loc)
                if first != loc:
                    problems.append(
                        Problem(
                            loc + ("uuid",), "duplicate", f"uuid {resource.uuid} is already used by {path_of(first)}"
                        )
                    )
        management_ips: dict[str, Loc] = {}
        ft_addresses: dict[str, Loc] = {}
        ft_network = self.global_configs.ft_network
        for loc, host in self.hosts():
            problems += [
                p.at(*loc)
                for p in host_address_problems(host, _owner(management_ips), _owner(ft_addresses), ft_network)
            ]
            management_ips.setdefault(str(host.management_ip), loc)
            if host.ft_network_address is not None:
                ft_addresses.setdefault(str(host.ft_network_address), loc)
        raise_problems(problems)
        return self


def _owner(taken: Mapping[str, Loc]) -> Callable[[str], str | None]:
    return lambda address: path_of(taken[address]) if address in taken else None


def _unique_names(named: Iterable[tuple[Loc, str | None]], scope: str) -> list[Problem]:
    first: dict[str, Loc] = {}
    problems = []
    for loc, name in named:
        if name is None:
            continue
        seen = first.setdefault(name, loc)
        if seen != loc:
            problems.append(
                Problem(loc + ("name",), "duplicate", f"name {name!r} is already used {scope} (by {path_of(seen)})")
            )
    return problems


def validate_inventory(data: Any, source: str | None = None) -> InventoryFile:
    """A parsed inventory file (mappings and lists) as a valid InventoryFile. Raises InventoryFileError."""
    try:
        return InventoryFile.model_validate(data)
    except ValidationError as e:
        raise InventoryFileError(problems_of(e, InventoryFile), source) from None


def schema_text() -> str:
    """The JSON Schema of inventory files (docs/inventory-file.schema.json is this text; a test checks it). It
    describes every key and value; the rules between resources (unique names, references, addresses) are checked
    by the loader only."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **InventoryFile.model_json_schema(by_alias=True),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


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
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
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


def parse_inventory_text(text: str, source: str = "<inventory>", *, is_json: bool = False) -> InventoryFile:
    """Parses (YAML, or JSON when `is_json`) and validates. Raises InventoryFileError."""
    try:
        data = json.loads(text, object_pairs_hook=_json_object) if is_json else yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, ValueError) as e:
        raise InventoryFileError(
            [Problem((), "syntax", f"not valid {'JSON' if is_json else 'YAML'}: {e}")], source
        ) from e
    return validate_inventory(data, source)


def read_inventory_file(path: str | os.PathLike) -> InventoryFile:
    """Reads and validates an inventory file (`.json` as JSON, anything else as YAML, which also reads JSON)."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_inventory_text(text, path, is_json=path.lower().endswith(".json"))


def demo_inventory() -> InventoryFile:
    """The demo inventory shipped with the package (validated)."""
    return parse_inventory_text(DEMO_INVENTORY_PATH.read_text(encoding="utf-8"), "demo_inventory.yaml")


# -- rows -------------------------------------------------------------------------------------------------------------


def inventory_rows(
    spec: InventoryFile | Mapping[str, Any], now_ms: int, *, new_id: Callable[[], str] = new_uuid
) -> dict[str, list[Row]]:
    """The rows of an inventory (a parsed file is validated first), table -> rows, every row with exactly the
    table's columns. Dates are `now_ms`; uuids not given in the file come from `uuidSeed` (deterministic) or
    `new_id`."""
    if not isinstance(spec, InventoryFile):
        spec = validate_inventory(spec)
    seed = spec.uuid_seed

    def uuid_of(resource: Resource, kind: str, names: str) -> str:
        if resource.uuid is not None:
            return resource.uuid
        if seed is not None:
            return seeded_uuid(f"{seed}|{kind}|{names}")
        return new_id()

    rows: dict[str, list[Row]] = {t: [] for t in TABLES}
    for zone in spec.zones:
        zone_uuid = uuid_of(zone, "zone", zone.name)
        rows["zones"].append(zone.row(zone_uuid, now_ms))
        cluster_uuids = {}
        for cluster in zone.clusters:
            cluster_uuid = cluster_uuids[cluster.name] = uuid_of(cluster, "cluster", f"{zone.name}/{cluster.name}")
            rows["clusters"].append(cluster.row(cluster_uuid, zone_uuid, now_ms))
            rows["hosts"] += [
                host.row(uuid_of(host, "host", f"{zone.name}/{host.name}"), zone_uuid, cluster_uuid, now_ms)
                for host in cluster.hosts
            ]
        for storage in zone.primary_storages:
            storage_uuid = uuid_of(storage, "primaryStorage", f"{zone.name}/{storage.name}")
            rows["primary_storages"].append(storage.row(storage_uuid, zone_uuid, now_ms))
            rows["ps_cluster_refs"] += [
                {"primary_storage_uuid": storage_uuid, "cluster_uuid": cluster_uuids[c]} for c in storage.clusters
            ]
        for l2 in zone.l2_networks:
            l2_uuid = uuid_of(l2, "l2Network", f"{zone.name}/{l2.name}")
            rows["l2_networks"].append(l2.row(l2_uuid, zone_uuid, now_ms))
            rows["l2_cluster_refs"] += [
                {"l2_network_uuid": l2_uuid, "cluster_uuid": cluster_uuids[c]} for c in l2.clusters
            ]
            for l3 in l2.l3_networks:
                l3_uuid = uuid_of(l3, "l3Network", f"{zone.name}/{l3.name}")
                rows["l3_networks"].append(l3.row(l3_uuid, zone_uuid, l2_uuid, now_ms))
                rows["ip_ranges"] += [
                    r.row(uuid_of(r, "ipRange", f"{zone.name}/{l3.name}/{r.name}"), l3_uuid, now_ms)
                    for r in l3.ip_ranges
                ]
    for table, kind, items in (
        ("images", "image", spec.images),
        ("instance_offerings", "instanceOffering", spec.instance_offerings),
        ("disk_offerings", "diskOffering", spec.disk_offerings),
    ):
        rows[table] = [item.row(uuid_of(item, kind, item.name), now_ms) for item in items]
    given = spec.global_configs.given()
    rows["global_configs"] = [
        {
            "category": category,
            "name": name,
            "description": description,
            "default_value": default,
            "value": given.get((category, name), default),
        }
        for (category, name), (default, description) in GLOBAL_CONFIG_DEFAULTS.items()
    ]
    return rows


# -- loading ----------------------------------------------------------------------------------------------------------


def load_into(store: Store, spec: InventoryFile | Mapping[str, Any], *, now: int | None = None) -> dict[str, int]:
    """Writes the whole inventory in one store transaction and returns the rows written per table.

    Refuses (InventoryFileError, nothing written) when the database already has a zone: an inventory file seeds an
    empty database only. Global config rows that already exist keep their value unless the file sets the key."""
    if not isinstance(spec, InventoryFile):
        spec = validate_inventory(spec)
    rows_date = now_ms() if now is None else now
    rows = inventory_rows(spec, rows_date)
    explicit = spec.global_configs.given()

    def op(tx: Tx) -> dict[str, int]:
        try:  # replicas starting together on an empty database: the second waits for this row, then fails here
            tx.insert("counters", [{"name": "inventory_loaded", "value": rows_date}])
        except Conflict:
            raise InventoryFileError(
                [Problem((), "conflict", "another replica loaded the first inventory meanwhile")]
            ) from None
        existing = tx.select("zones")
        if existing:
            raise InventoryFileError(
                [
                    Problem(
                        (),
                        "conflict",
                        f"the database already has {len(existing)} zone(s); an "
                        "inventory file is loaded only into an empty database",
                    )
                ]
            )
        try:
            for table in TABLES:
                if table != "global_configs":
                    tx.insert(table, rows[table])
        except Conflict as e:
            raise InventoryFileError(
                [Problem((), "conflict", f"{e.table}: {e.detail} (is a uuid of the file already in the database?)")]
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
