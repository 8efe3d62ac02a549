"""Admin writes of the inventory placement draws on: zones, clusters, hosts, primary storage, networks, images,
offerings, state changes and global config.

Every create validates its fields as the inventory model's spec of the resource (inventory_model.py: the rules an
inventory file follows too), looks up the resources it names (an unknown uuid is SYS.1003), then commits ONE store
write (which checks the rules between resources against the database: writes are serial, so what it finds is
authoritative), then updates the catalog, then keeps the placement engine in step, so the engine never knows a
resource the database does not. A problem with a field is SYS.1007 naming it: `field[<path>] of message[<msg>]`.
Each write holds the engine gate shared, and a global config change that the engine is built with
(over-provisioning ratios, reserved memory/capacity, the FT CIDR) holds it exclusively while the catalog is
reloaded from the rows and the engine rebuilt: no create, destroy or other admin write is half-applied meanwhile.

Zone and cluster state: the engine has no notion of them, so disabling a zone or cluster leaves its hosts as they
are in the engine. The create flow rejects a pin on a disabled zone or cluster (SYS.1006) in its validation.

Tags: user tags are stored (table `tags`); no system tag is defined for inventory resources, so any system tag is
SYS.1007 (`no system tag matches`), as ZStack answers an unknown one.

Size limits (`limits.py`, and the model's types) are checked before any message echoes a value.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from ipaddress import IPv4Address
from typing import Any, TypeVar

from pydantic import ValidationError

from ftvm.store import Row, Tx

from .catalog import GLOBAL_CONFIG_DEFAULTS, PLACEMENT_CONFIG_KEYS, Catalog, build_engine, validate_global_config
from .common import Domain, check_name, insert_unique, new_uuid
from .errors import FtError, invalid, mandatory, not_found
from .inventory_model import (
    STORAGE_TYPES,
    CephStorageSpec,
    ClusterSpec,
    DiskOfferingSpec,
    ImageSpec,
    InstanceOfferingSpec,
    IpRangeSpec,
    KvmHostSpec,
    L2NetworkSpec,
    L3NetworkSpec,
    LocalStorageSpec,
    NfsStorageSpec,
    Problem,
    Resource,
    ZoneSpec,
    attachment_problem,
    host_address_problems,
    overlapping_range,
    problems_of,
)
from .inventory_sync import apply_refs, apply_row, config_change, ref_change, row_change
from .limits import (
    MAX_CONFIG_VALUE_LENGTH,
    MAX_KEYWORD_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_UUID_LENGTH,
    check_list,
    check_text,
)
from .memory import load_memory, replace_memory

S = TypeVar("S", bound=Resource)

STATE_EVENTS = {"enable": "Enabled", "disable": "Disabled"}
HOST_STATE_EVENTS = {**STATE_EVENTS, "maintain": "Maintenance"}

# The request's name of a model field where the two differ.
_REQUEST_FIELDS = {"uuid": "resourceUuid"}


# -- checks (ZStack's wording) ----------------------------------------------------------------------------------------
def request_error(problem: Problem, message: str) -> FtError:
    """A problem with a request's field as ZStack answers it: SYS.1007 naming the field (`field[monUrls][0]`)."""
    if not problem.loc:
        return invalid(f"{problem.message} (message[{message}])")
    head, *rest = problem.loc
    field = _REQUEST_FIELDS.get(str(head), str(head)) + "".join(f"][{part}" for part in rest)
    if problem.kind == "missing":
        return mandatory(field, message)
    return invalid(f"field[{field}] of message[{message}] {problem.message}")


def _spec(model: type[S], message: str, fields: dict[str, Any]) -> S:
    """The request's fields (keyed as ZStack names them; None = not given) as the model's spec."""
    try:
        return model.model_validate({key: value for key, value in fields.items() if value is not None})
    except ValidationError as e:
        raise request_error(problems_of(e, model)[0], message) from None


def _event_state(event: str | None, events: dict[str, str], message: str) -> str:
    if event is None:
        raise mandatory("stateEvent", message)
    check_text(event, "stateEvent", message, MAX_KEYWORD_LENGTH)
    if event not in events:
        raise invalid(f"valid value for field[stateEvent] of message[{message}] are {list(events)}, but {event} found")
    return events[event]


def _lookup(rows: dict[str, Row], uuid: str | None, field: str, kind: str, message: str) -> Row:
    """The catalog row a request names; an unknown uuid is SYS.1003."""
    if not uuid:
        raise mandatory(field, message)
    check_text(uuid, field, message, MAX_UUID_LENGTH)
    row = rows.get(uuid)
    if row is None:
        raise not_found(field, uuid, kind)
    return row


def _host_having(tx: Tx, column: str) -> Callable[[str], str | None]:
    """The host that has an address (management IP, FT address), by the database."""

    def owner(address: str) -> str | None:
        found = tx.select("hosts", {column: address})
        return f"host[uuid:{found[0]['uuid']}]" if found else None

    return owner


def tag_rows(
    resource_uuid: str, kind: str, system_tags: Sequence[str], user_tags: Sequence[str], now: int, message: str
) -> list[Row]:
    """The user tags' rows; any system tag is refused (none is defined for `kind`)."""
    check_list(system_tags, "systemTags", message, MAX_TAGS, MAX_TAG_LENGTH)
    check_list(user_tags, "userTags", message, MAX_TAGS, MAX_TAG_LENGTH)
    if system_tags:
        raise invalid(f"no system tag matches[{system_tags[0]}] for resourceType[{kind}]")
    for tag in user_tags:
        if not tag.strip():
            raise invalid(f"invalid user tag[{tag}]: a tag is 1..{MAX_TAG_LENGTH} characters")
    return [
        dict(
            uuid=new_uuid(),
            resource_uuid=resource_uuid,
            resource_type=kind,
            tag=tag,
            type="User",
            group_uuid=None,
            create_date=now,
        )
        for tag in user_tags
    ]


class InventoryAdmin:
    """The InventoryService writes. Methods take plain values (None = not given) and return the stored row."""

    def __init__(self, domain: Domain) -> None:
        self._domain = domain

    @property
    def _catalog(self) -> Catalog:
        return self._domain.catalog

    # -- plumbing ----------------------------------------------------------------------------------------------
    @asynccontextmanager
    async def _shared_gate(self) -> AsyncIterator[None]:
        """Held from the write until the catalog and engine are in step, so an engine rebuild never reloads the
        catalog between the two."""
        await self._domain.gate.acquire_shared()
        try:
            yield
        finally:
            await self._domain.gate.release_shared()

    def _row(self, spec: Resource, *refs: str) -> Row:
        """The spec's row: its uuid (the resourceUuid given, else a new one), the uuids it refers to, now."""
        return spec.row(spec.uuid or new_uuid(), *refs, self._domain.clock())  # type: ignore[attr-defined]

    async def _create(self, table: str, kind: str, row: Row, tags: list[Row]) -> None:
        """One write: the row and its tags."""

        def op(tx: Tx) -> None:
            insert_unique(tx, table, row, kind)
            tx.insert("tags", tags)
            tx.emit(row_change(table, row["uuid"]))

        await self._domain.write(op)
        apply_row(self._domain, table, row)

    # -- zones and clusters ------------------------------------------------------------------------------------
    async def create_zone(
        self,
        *,
        name: str | None,
        description: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        message = "APICreateZoneMsg"
        row = self._row(_spec(ZoneSpec, message, {"uuid": resource_uuid, "name": name, "description": description}))
        tags = tag_rows(row["uuid"], "ZoneVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("zones", "ZoneVO", row, tags)
        return row

    async def create_cluster(
        self,
        *,
        zone_uuid: str | None,
        name: str | None,
        description: str | None = None,
        hypervisor_type: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        message = "APICreateClusterMsg"
        spec = _spec(
            ClusterSpec,
            message,
            {"uuid": resource_uuid, "name": name, "description": description, "hypervisorType": hypervisor_type},
        )
        zone = _lookup(self._catalog.zones, zone_uuid, "zoneUuid", "ZoneVO", message)
        row = self._row(spec, zone["uuid"])
        tags = tag_rows(row["uuid"], "ClusterVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("clusters", "ClusterVO", row, tags)
        return row

    # -- hosts -------------------------------------------------------------------------------------------------
    async def add_kvm_host(
        self,
        *,
        cluster_uuid: str | None,
        name: str | None,
        management_ip: str | None,
        cpu_num: int | None,
        memory_size: int | None,
        description: str | None = None,
        ft_network_address: str | None = None,
        failure_domain: str | None = None,
        max_ft_vms: int | None = None,
        max_ft_vcpus: int | None = None,
        local_storage_capacity: int | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        """A host as a real agent would report it (the simulated hypervisor takes the capacity from here). Username,
        password and ssh port are a real agent's business. Its management IP and FT address are unique, and the FT
        address lies in the FT network when one is set (else placement would never use the host)."""
        message = "APIAddKVMHostMsg"
        spec = _spec(
            KvmHostSpec,
            message,
            {
                "uuid": resource_uuid,
                "name": name,
                "description": description,
                "managementIp": management_ip,
                "ftNetworkAddress": ft_network_address,
                "cpuNum": cpu_num,
                "memorySize": memory_size,
                "failureDomain": failure_domain,
                "localStorageCapacity": local_storage_capacity,
                "maxFtVms": max_ft_vms,
                "maxFtVcpus": max_ft_vcpus,
            },
        )
        cluster = _lookup(self._catalog.clusters, cluster_uuid, "clusterUuid", "ClusterVO", message)
        row = self._row(spec, cluster["zone_uuid"], cluster["uuid"])
        tags = tag_rows(row["uuid"], "HostVO", system_tags, user_tags, row["create_date"], message)

        def op(tx: Tx) -> None:  # runs under the shared gate: the FT network cannot change meanwhile
            problems = host_address_problems(
                spec,
                _host_having(tx, "management_ip"),
                _host_having(tx, "ft_network_address"),
                self._catalog.ft_network,
            )
            if problems:
                raise request_error(problems[0], message)
            insert_unique(tx, "hosts", row, "HostVO")
            tx.insert("tags", tags)
            tx.emit(row_change("hosts", row["uuid"]))

        async with self._shared_gate():
            await self._domain.write(op)
            apply_row(self._domain, "hosts", row)
        return row

    # -- primary storage ---------------------------------------------------------------------------------------
    async def _add_storage(
        self,
        message: str,
        spec: LocalStorageSpec | NfsStorageSpec | CephStorageSpec,
        zone_uuid: str | None,
        system_tags: Sequence[str],
        user_tags: Sequence[str],
    ) -> Row:
        zone = _lookup(self._catalog.zones, zone_uuid, "zoneUuid", "ZoneVO", message)
        row = self._row(spec, zone["uuid"])
        tags = tag_rows(row["uuid"], "PrimaryStorageVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("primary_storages", "PrimaryStorageVO", row, tags)
        return row

    async def add_local_primary_storage(
        self,
        *,
        zone_uuid: str | None,
        name: str | None,
        url: str | None,
        description: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        """Capacity is the hosts' own disks (their `local_storage_capacity`), so the row's total stays 0 and the
        inventory sums the hosts of the attached clusters."""
        message = "APIAddLocalPrimaryStorageMsg"
        spec = _spec(
            LocalStorageSpec,
            message,
            {
                "type": STORAGE_TYPES["local"],
                "uuid": resource_uuid,
                "name": name,
                "description": description,
                "url": url,
            },
        )
        return await self._add_storage(message, spec, zone_uuid, system_tags, user_tags)

    async def add_nfs_primary_storage(
        self,
        *,
        zone_uuid: str | None,
        name: str | None,
        url: str | None,
        total_capacity: int | None,
        description: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        message = "APIAddNfsPrimaryStorageMsg"
        spec = _spec(
            NfsStorageSpec,
            message,
            {
                "type": STORAGE_TYPES["nfs"],
                "uuid": resource_uuid,
                "name": name,
                "description": description,
                "url": url,
                "totalCapacity": total_capacity,
            },
        )
        return await self._add_storage(message, spec, zone_uuid, system_tags, user_tags)

    async def add_ceph_primary_storage(
        self,
        *,
        zone_uuid: str | None,
        name: str | None,
        mon_urls: Sequence[str],
        total_capacity: int | None,
        description: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        """The url names ZStack's root-volume pool (`ceph://pri-v-r-<uuid>`)."""
        message = "APIAddCephPrimaryStorageMsg"
        spec = _spec(
            CephStorageSpec,
            message,
            {
                "type": STORAGE_TYPES["ceph"],
                "uuid": resource_uuid,
                "name": name,
                "description": description,
                "monUrls": list(mon_urls) or None,
                "totalCapacity": total_capacity,
            },
        )
        return await self._add_storage(message, spec, zone_uuid, system_tags, user_tags)

    async def attach_primary_storage_to_cluster(
        self, *, cluster_uuid: str | None, primary_storage_uuid: str | None
    ) -> Row:
        """Same zone only; once; at most one local storage per cluster."""
        message = "APIAttachPrimaryStorageToClusterMsg"
        catalog = self._catalog
        cluster = _lookup(catalog.clusters, cluster_uuid, "clusterUuid", "ClusterVO", message)
        storage = _lookup(catalog.storages, primary_storage_uuid, "primaryStorageUuid", "PrimaryStorageVO", message)
        cluster_uuid, storage_uuid = cluster["uuid"], storage["uuid"]
        if cluster["zone_uuid"] != storage["zone_uuid"]:
            raise request_error(
                Problem(
                    ("clusterUuid",),
                    "conflict",
                    f"cluster[uuid:{cluster_uuid}] and primary storage[uuid:{storage_uuid}] are not in the same zone",
                ),
                message,
            )
        other_local = None
        if catalog.is_local(storage_uuid):
            other_local = next(
                (
                    f"primary storage[uuid:{other}]"
                    for other, clusters in catalog.storage_clusters.items()
                    if cluster_uuid in clusters and catalog.is_local(other)
                ),
                None,
            )
        problem = attachment_problem(cluster_uuid, catalog.storage_clusters.get(storage_uuid, ()), other_local)
        if problem is not None:
            raise request_error(problem.at("clusterUuid"), message)
        ref = dict(primary_storage_uuid=storage_uuid, cluster_uuid=cluster_uuid)
        async with self._shared_gate():
            await self._domain.write(lambda tx: _add_ref(tx, "ps_cluster_refs", storage_uuid, ref))
            apply_refs(self._domain, "ps_cluster_refs", storage_uuid, {cluster_uuid})
        return storage

    # -- networks ----------------------------------------------------------------------------------------------
    async def create_l2_no_vlan_network(
        self,
        *,
        zone_uuid: str | None,
        name: str | None,
        physical_interface: str | None,
        description: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        message = "APICreateL2NoVlanNetworkMsg"
        spec = _spec(
            L2NetworkSpec,
            message,
            {"uuid": resource_uuid, "name": name, "description": description, "physicalInterface": physical_interface},
        )
        zone = _lookup(self._catalog.zones, zone_uuid, "zoneUuid", "ZoneVO", message)
        row = self._row(spec, zone["uuid"])
        tags = tag_rows(row["uuid"], "L2NetworkVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("l2_networks", "L2NetworkVO", row, tags)
        return row

    async def attach_l2_network_to_cluster(self, *, l2_network_uuid: str | None, cluster_uuid: str | None) -> Row:
        message = "APIAttachL2NetworkToClusterMsg"
        catalog = self._catalog
        l2 = _lookup(catalog.l2_networks, l2_network_uuid, "l2NetworkUuid", "L2NetworkVO", message)
        cluster = _lookup(catalog.clusters, cluster_uuid, "clusterUuid", "ClusterVO", message)
        l2_uuid, cluster_uuid = l2["uuid"], cluster["uuid"]
        if l2["zone_uuid"] != cluster["zone_uuid"]:
            raise request_error(
                Problem(
                    ("clusterUuid",),
                    "conflict",
                    f"cluster[uuid:{cluster_uuid}] and l2Network[uuid:{l2_uuid}] are not in the same zone",
                ),
                message,
            )
        problem = attachment_problem(cluster_uuid, catalog.l2_clusters.get(l2_uuid, ()))
        if problem is not None:
            raise request_error(problem.at("clusterUuid"), message)
        ref = dict(l2_network_uuid=l2_uuid, cluster_uuid=cluster_uuid)
        async with self._shared_gate():
            await self._domain.write(lambda tx: _add_ref(tx, "l2_cluster_refs", l2_uuid, ref))
            apply_refs(self._domain, "l2_cluster_refs", l2_uuid, {cluster_uuid})
        return l2

    async def create_l3_network(
        self,
        *,
        l2_network_uuid: str | None,
        name: str | None,
        description: str | None = None,
        network_type: str | None = None,
        system: bool | None = None,
        category: str | None = None,
        ip_allocation_strategy: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        message = "APICreateL3NetworkMsg"
        spec = _spec(
            L3NetworkSpec,
            message,
            {
                "uuid": resource_uuid,
                "name": name,
                "description": description,
                "type": network_type,
                "system": system,
                "category": category,
                "ipAllocationStrategy": ip_allocation_strategy,
            },
        )
        l2 = _lookup(self._catalog.l2_networks, l2_network_uuid, "l2NetworkUuid", "L2NetworkVO", message)
        row = self._row(spec, l2["zone_uuid"], l2["uuid"])
        tags = tag_rows(row["uuid"], "L3NetworkVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("l3_networks", "L3NetworkVO", row, tags)
        return row

    async def add_ip_range(
        self,
        *,
        l3_network_uuid: str | None,
        name: str | None,
        start_ip: str | None,
        end_ip: str | None,
        netmask: str | None,
        gateway: str | None,
        description: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        """The range overlaps no other range of the same L3 (checked in the write)."""
        message = "APIAddIpRangeMsg"
        spec = _spec(
            IpRangeSpec,
            message,
            {
                "uuid": resource_uuid,
                "name": name,
                "description": description,
                "startIp": start_ip,
                "endIp": end_ip,
                "netmask": netmask,
                "gateway": gateway,
            },
        )
        l3 = _lookup(self._catalog.l3_networks, l3_network_uuid, "l3NetworkUuid", "L3NetworkVO", message)
        row = self._row(spec, l3["uuid"])
        tags = tag_rows(row["uuid"], "IpRangeVO", system_tags, user_tags, row["create_date"], message)

        def op(tx: Tx) -> None:
            others = (
                (
                    IPv4Address(r["start_ip"]),
                    IPv4Address(r["end_ip"]),
                    f"ip range[uuid:{r['uuid']}, {r['start_ip']}, {r['end_ip']}] of l3Network[uuid:{l3['uuid']}]",
                )
                for r in tx.select("ip_ranges", {"l3_network_uuid": l3["uuid"]})
            )
            overlap = overlapping_range(spec, others)
            if overlap is not None:
                raise request_error(overlap, message)
            insert_unique(tx, "ip_ranges", row, "IpRangeVO")
            tx.insert("tags", tags)
            tx.emit(row_change("ip_ranges", row["uuid"]))

        async with self._shared_gate():
            await self._domain.write(op)
            apply_row(self._domain, "ip_ranges", row)
        return row

    # -- images and offerings ----------------------------------------------------------------------------------
    async def add_image(
        self,
        *,
        name: str | None,
        url: str | None,
        size: int | None,
        description: str | None = None,
        media_type: str | None = None,
        guest_os_type: str | None = None,
        platform: str | None = None,
        architecture: str | None = None,
        image_format: str | None = None,
        system: bool | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        message = "APIAddImageMsg"
        row = self._row(
            _spec(
                ImageSpec,
                message,
                {
                    "uuid": resource_uuid,
                    "name": name,
                    "description": description,
                    "url": url,
                    "size": size,
                    "mediaType": media_type,
                    "guestOsType": guest_os_type,
                    "platform": platform,
                    "architecture": architecture,
                    "format": image_format,
                    "system": system,
                },
            )
        )
        tags = tag_rows(row["uuid"], "ImageVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("images", "ImageVO", row, tags)
        return row

    async def create_instance_offering(
        self,
        *,
        name: str | None,
        cpu_num: int | None,
        memory_size: int | None,
        description: str | None = None,
        cpu_speed: int | None = None,
        offering_type: str | None = None,
        allocator_strategy: str | None = None,
        sort_key: int | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        message = "APICreateInstanceOfferingMsg"
        row = self._row(
            _spec(
                InstanceOfferingSpec,
                message,
                {
                    "uuid": resource_uuid,
                    "name": name,
                    "description": description,
                    "cpuNum": cpu_num,
                    "memorySize": memory_size,
                    "cpuSpeed": cpu_speed,
                    "type": offering_type,
                    "allocatorStrategy": allocator_strategy,
                    "sortKey": sort_key,
                },
            )
        )
        tags = tag_rows(row["uuid"], "InstanceOfferingVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("instance_offerings", "InstanceOfferingVO", row, tags)
        return row

    async def create_disk_offering(
        self,
        *,
        name: str | None,
        disk_size: int | None,
        description: str | None = None,
        allocator_strategy: str | None = None,
        sort_key: int | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        message = "APICreateDiskOfferingMsg"
        row = self._row(
            _spec(
                DiskOfferingSpec,
                message,
                {
                    "uuid": resource_uuid,
                    "name": name,
                    "description": description,
                    "diskSize": disk_size,
                    "allocatorStrategy": allocator_strategy,
                    "sortKey": sort_key,
                },
            )
        )
        tags = tag_rows(row["uuid"], "DiskOfferingVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("disk_offerings", "DiskOfferingVO", row, tags)
        return row

    # -- state changes -----------------------------------------------------------------------------------------
    async def _change_state(
        self,
        table: str,
        rows: dict[str, Row],
        kind: str,
        message: str,
        uuid: str | None,
        state_event: str | None,
        events: dict[str, str],
    ) -> Row:
        """Updates the row and replaces the catalog's copy (readers holding the old row see a consistent one), and
        the engine's view of what it changes."""
        row = _lookup(rows, uuid, "uuid", kind, message)
        state = _event_state(state_event, events, message)
        now = self._domain.clock()

        def op(tx: Tx) -> None:
            tx.update(table, {"uuid": row["uuid"]}, {"state": state, "last_op_date": now})
            tx.emit(row_change(table, row["uuid"]))

        await self._domain.write(op)
        updated = {**row, "state": state, "last_op_date": now}
        apply_row(self._domain, table, updated)
        return updated

    async def change_host_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        """enable | disable | maintain -> Enabled | Disabled | Maintenance; the engine places only on Enabled."""
        async with self._shared_gate():
            return await self._change_state(
                "hosts", self._catalog.hosts, "HostVO", "APIChangeHostStateMsg", uuid, state_event, HOST_STATE_EVENTS
            )

    async def change_primary_storage_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state(
                "primary_storages",
                self._catalog.storages,
                "PrimaryStorageVO",
                "APIChangePrimaryStorageStateMsg",
                uuid,
                state_event,
                STATE_EVENTS,
            )

    async def change_zone_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        """A disabled zone takes its hosts out of placement (the engine sees them as Disabled)."""
        async with self._shared_gate():
            return await self._change_state(
                "zones", self._catalog.zones, "ZoneVO", "APIChangeZoneStateMsg", uuid, state_event, STATE_EVENTS
            )

    async def change_cluster_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        """A disabled cluster takes its hosts out of placement (the engine sees them as Disabled)."""
        async with self._shared_gate():
            return await self._change_state(
                "clusters",
                self._catalog.clusters,
                "ClusterVO",
                "APIChangeClusterStateMsg",
                uuid,
                state_event,
                STATE_EVENTS,
            )

    async def change_l3_network_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state(
                "l3_networks",
                self._catalog.l3_networks,
                "L3NetworkVO",
                "APIChangeL3NetworkStateMsg",
                uuid,
                state_event,
                STATE_EVENTS,
            )

    async def change_image_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state(
                "images", self._catalog.images, "ImageVO", "APIChangeImageStateMsg", uuid, state_event, STATE_EVENTS
            )

    async def change_instance_offering_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state(
                "instance_offerings",
                self._catalog.instance_offerings,
                "InstanceOfferingVO",
                "APIChangeInstanceOfferingStateMsg",
                uuid,
                state_event,
                STATE_EVENTS,
            )

    async def change_disk_offering_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state(
                "disk_offerings",
                self._catalog.disk_offerings,
                "DiskOfferingVO",
                "APIChangeDiskOfferingStateMsg",
                uuid,
                state_event,
                STATE_EVENTS,
            )

    # -- global config -----------------------------------------------------------------------------------------
    @staticmethod
    def _global_config_row(key: tuple[str, str], value: str) -> Row:
        default, description = GLOBAL_CONFIG_DEFAULTS[key]
        return dict(category=key[0], name=key[1], description=description, default_value=default, value=value)

    async def ensure_global_configs(self) -> None:
        """Stores a row (at its default value) for every known key that has none, so queries see every key, as
        ZStack keeps every global config in its table. Cheap once done: the catalog says which keys have rows."""
        missing = [k for k in GLOBAL_CONFIG_DEFAULTS if k not in self._catalog.global_configs]
        if not missing:
            return

        def op(tx: Tx) -> list[Row]:
            stored = {(r["category"], r["name"]) for r in tx.select("global_configs")}
            rows = [self._global_config_row(k, GLOBAL_CONFIG_DEFAULTS[k][0]) for k in missing if k not in stored]
            tx.insert("global_configs", rows)
            return rows

        async with self._shared_gate():
            for row in await self._domain.write(op):
                self._catalog.global_configs[(row["category"], row["name"])] = row["value"]

    async def update_global_config(self, *, category: str | None, name: str | None, value: str | None) -> Row:
        """Stores the value; a key the engine is built with rebuilds the engine (see the module docstring)."""
        message = "APIUpdateGlobalConfigMsg"
        category = check_name(category, "category", message)
        name = check_name(name, "name", message)
        if value is None:
            raise mandatory("value", message)
        check_text(value, "value", message, MAX_CONFIG_VALUE_LENGTH)
        key = (category, name)
        if key not in GLOBAL_CONFIG_DEFAULTS:
            raise FtError("SYS.1003", f"unable to find GlobalConfig[category:{category}, name:{name}]")
        try:
            validate_global_config(category, name, value)
        except ValueError as e:
            raise invalid(f"invalid value[{value}] of GlobalConfig[category:{category}, name:{name}]: {e}") from None
        row = self._global_config_row(key, value)

        def op(tx: Tx) -> None:
            if not tx.update("global_configs", {"category": category, "name": name}, {"value": value}):
                tx.insert("global_configs", [row])
            tx.emit(config_change(category, name))

        if key not in PLACEMENT_CONFIG_KEYS:
            async with self._shared_gate():
                await self._domain.write(op)
                self._catalog.global_configs[key] = value
            return row
        gate = self._domain.gate
        await gate.acquire_exclusive()
        try:
            # The new engine is built before the value is stored: a value the engine refuses is never committed.
            fresh = await asyncio.to_thread(load_memory, self._domain.store)
            fresh.catalog.global_configs[key] = value
            try:
                engine = build_engine(fresh.catalog, self._domain.engine.name)
            except (ValueError, TypeError, OverflowError) as e:
                raise invalid(
                    f"invalid value[{value}] of GlobalConfig[category:{category}, name:{name}]: the "
                    f"placement engine refuses it ({e})"
                ) from None
            await self._domain.write(op)
            replace_memory(self._domain, fresh, engine)
        finally:
            await gate.release_exclusive()
        return row


def _add_ref(tx: Tx, table: str, owner_uuid: str, ref: dict[str, Any]) -> None:
    """An attachment row and its change-feed entry, in one transaction."""
    tx.insert(table, [ref])
    tx.emit(ref_change(table, owner_uuid))
