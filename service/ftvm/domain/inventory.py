"""Admin writes of the inventory placement draws on: zones, clusters, hosts, primary storage, networks, images,
offerings, state changes and global config.

Every operation validates first (ZStack's messages; unknown referenced uuids are SYS.1003), then commits ONE store
write, then updates the catalog, then keeps the placement engine in step, so the engine never knows a resource the
database does not. Each holds the engine gate shared, and a global config change that the engine is built with
(over-provisioning ratios, reserved memory/capacity, the FT CIDR) holds it exclusively while the catalog is
reloaded from the rows and the engine rebuilt: no create, destroy or other admin write is half-applied meanwhile.

Zone and cluster state: the engine has no notion of them, so disabling a zone or cluster leaves its hosts as they
are in the engine. The create flow rejects a pin on a disabled zone or cluster (SYS.1006) in its validation.

Tags: user tags are stored (table `tags`); no system tag is defined for inventory resources, so any system tag is
SYS.1007 (`no system tag matches`), as ZStack answers an unknown one.

Size limits (`limits.py`) are checked before any message echoes a value: names and descriptions (`check_name`,
`check_description`), referenced uuids, enumerated values, addresses, tags, Ceph monitor urls, config values.
"""

from __future__ import annotations

import asyncio
import ipaddress
from contextlib import asynccontextmanager
from typing import AsyncIterator, Sequence

from ftvm.placement import DEFAULT_STRATEGY, STRATEGIES
from ftvm.store import Row, Tx

from .catalog import GLOBAL_CONFIG_DEFAULTS, Catalog, build_engine, validate_global_config
from .common import Domain, check_description, check_name, check_resource_uuid, insert_unique, new_uuid
from .errors import FtError, invalid, mandatory, not_found
from .memory import load_memory, replace_memory
from .limits import (
    MAX_CONFIG_VALUE_LENGTH,
    MAX_KEYWORD_LENGTH,
    MAX_MON_URLS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_UUID_LENGTH,
    check_text,
    check_list,
)

HYPERVISOR_TYPES = ("KVM",)
STORAGE_TYPES = {"local": "LocalStorage", "nfs": "NFS", "ceph": "Ceph"}
L3_TYPES = ("L3BasicNetwork",)
L3_CATEGORIES = ("Private", "Public", "System")
IP_ALLOCATION_STRATEGIES = ("Random", "FirstAvailable")
MEDIA_TYPES = ("RootVolumeTemplate", "DataVolumeTemplate", "ISO")
IMAGE_FORMATS = ("qcow2", "raw", "iso", "vmdk")
PLATFORMS = ("Linux", "Windows", "WindowsVirtio", "Paravirtualization", "Other")
ARCHITECTURES = ("x86_64", "aarch64", "mips64el", "loongarch64")
INSTANCE_OFFERING_TYPES = ("UserVm",)
DISK_OFFERING_TYPE = "DefaultDiskOfferingType"  # what ZStack's DiskOfferingInventory.type says
DISK_ALLOCATOR_STRATEGIES = ("DefaultPrimaryStorageAllocationStrategy",)
STATE_EVENTS = {"enable": "Enabled", "disable": "Disabled"}
HOST_STATE_EVENTS = {**STATE_EVENTS, "maintain": "Maintenance"}
MAX_URL = 2048
INT32_MAX = (1 << 31) - 1

# The global config keys the placement engine is built with: changing one rebuilds the engine.
PLACEMENT_CONFIG_KEYS = frozenset({
    ("host", "cpu.overProvisioning.ratio"),
    ("mevoco", "overProvisioning.memory"),
    ("kvm", "reservedMemory"),
    ("mevoco", "overProvisioning.primaryStorage"),
    ("primaryStorage", "reservedCapacity"),
    ("ft", "fault.tolerance.network.cidr"),
})


# -- field checks (ZStack's wording) ---------------------------------------------------------------------------------
def _one_of(value: str | None, default: str | None, valid: Sequence[str], field: str, message: str) -> str:
    if value is None:
        if default is None:
            raise mandatory(field, message)
        return default
    check_text(value, field, message, MAX_KEYWORD_LENGTH)
    if value not in valid:
        raise invalid(f"valid value for field[{field}] of message[{message}] are {list(valid)}, "
                      f"but {value} found")
    return value


def _in_range(value: int | None, low: int, high: int, field: str, message: str) -> int:
    if value is None:
        raise mandatory(field, message)
    if not low <= value <= high:
        raise invalid(f"field[{field}] of message[{message}] must be in range of [{low}, {high}], "
                      f"but {value} found")
    return value


def _ipv4(value: str | None, field: str, message: str) -> ipaddress.IPv4Address:
    if not value:
        raise mandatory(field, message)
    check_text(value, field, message, MAX_KEYWORD_LENGTH)
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise invalid(f"field[{field}] of message[{message}] is not a valid IPv4 address: {value}") from None


def _netmask_prefix(value: str | None, message: str) -> int:
    """The prefix length of a dotted netmask: contiguous ones (`255.255.0.255` is no netmask), /1 to /30 (a
    smaller subnet has no room for a gateway beside a range)."""
    mask = int(_ipv4(value, "netmask", message))
    prefix = bin(mask).count("1")
    if not 1 <= prefix <= 30 or mask != (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF:
        raise invalid(f"netmask[{value}] of message[{message}] is not a valid netmask (contiguous, /1 to /30)")
    return prefix


def _event_state(event: str | None, events: dict[str, str], message: str) -> str:
    return events[_one_of(event, None, list(events), "stateEvent", message)]


def _lookup(rows: dict[str, Row], uuid: str | None, field: str, kind: str, message: str) -> Row:
    """The catalog row a request names; an unknown uuid is SYS.1003."""
    if not uuid:
        raise mandatory(field, message)
    check_text(uuid, field, message, MAX_UUID_LENGTH)
    row = rows.get(uuid)
    if row is None:
        raise not_found(field, uuid, kind)
    return row


def tag_rows(resource_uuid: str, kind: str, system_tags: Sequence[str], user_tags: Sequence[str],
             now: int, message: str) -> list[Row]:
    """The user tags' rows; any system tag is refused (none is defined for `kind`)."""
    check_list(system_tags, "systemTags", message, MAX_TAGS, MAX_TAG_LENGTH)
    check_list(user_tags, "userTags", message, MAX_TAGS, MAX_TAG_LENGTH)
    if system_tags:
        raise invalid(f"no system tag matches[{system_tags[0]}] for resourceType[{kind}]")
    for tag in user_tags:
        if not tag.strip():
            raise invalid(f"invalid user tag[{tag}]: a tag is 1..{MAX_TAG_LENGTH} characters")
    return [dict(uuid=new_uuid(), resource_uuid=resource_uuid, resource_type=kind, tag=tag, type="User",
                 group_uuid=None, create_date=now) for tag in user_tags]


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

    def _new_row(self, resource_uuid: str | None, name: str | None, description: str | None, message: str) -> Row:
        """uuid, name, description and both dates: the columns every inventory row starts with."""
        now = self._domain.clock()
        check_text(resource_uuid, "resourceUuid", message, MAX_UUID_LENGTH)
        return dict(uuid=check_resource_uuid(resource_uuid) or new_uuid(), name=check_name(name, "name", message),
                    description=check_description(description, message), create_date=now, last_op_date=now)

    async def _create(self, table: str, kind: str, row: Row, tags: list[Row]) -> None:
        """One write: the row and its tags."""
        def op(tx: Tx) -> None:
            insert_unique(tx, table, row, kind)
            tx.insert("tags", tags)

        await self._domain.write(op)

    # -- zones and clusters ------------------------------------------------------------------------------------
    async def create_zone(self, *, name: str | None, description: str | None = None,
                          resource_uuid: str | None = None, system_tags: Sequence[str] = (),
                          user_tags: Sequence[str] = ()) -> Row:
        message = "APICreateZoneMsg"
        row = self._new_row(resource_uuid, name, description, message)
        row.update(state="Enabled", type="zstack")
        tags = tag_rows(row["uuid"], "ZoneVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("zones", "ZoneVO", row, tags)
            self._catalog.zones[row["uuid"]] = row
        return row

    async def create_cluster(self, *, zone_uuid: str | None, name: str | None, description: str | None = None,
                             hypervisor_type: str | None = None, resource_uuid: str | None = None,
                             system_tags: Sequence[str] = (), user_tags: Sequence[str] = ()) -> Row:
        message = "APICreateClusterMsg"
        row = self._new_row(resource_uuid, name, description, message)
        zone = _lookup(self._catalog.zones, zone_uuid, "zoneUuid", "ZoneVO", message)
        row.update(zone_uuid=zone["uuid"], state="Enabled", type="zstack",
                   hypervisor_type=_one_of(hypervisor_type, "KVM", HYPERVISOR_TYPES, "hypervisorType", message))
        tags = tag_rows(row["uuid"], "ClusterVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("clusters", "ClusterVO", row, tags)
            self._catalog.clusters[row["uuid"]] = row
        return row

    # -- hosts -------------------------------------------------------------------------------------------------
    async def add_kvm_host(self, *, cluster_uuid: str | None, name: str | None, management_ip: str | None,
                           cpu_num: int | None, memory_size: int | None, description: str | None = None,
                           ft_network_address: str | None = None, failure_domain: str | None = None,
                           max_ft_vms: int | None = None, max_ft_vcpus: int | None = None,
                           local_storage_capacity: int | None = None, resource_uuid: str | None = None,
                           system_tags: Sequence[str] = (), user_tags: Sequence[str] = ()) -> Row:
        """A host as a real agent would report it (the simulated hypervisor takes the capacity from here): state
        Enabled, status Connected, hypervisor KVM. Username, password and ssh port are a real agent's business."""
        message = "APIAddKVMHostMsg"
        row = self._new_row(resource_uuid, name, description, message)
        cluster = _lookup(self._catalog.clusters, cluster_uuid, "clusterUuid", "ClusterVO", message)
        ip = check_name(management_ip, "managementIp", message)
        duplicate_ip = invalid(f"there has been a host having managementIp[{ip}]")
        if any(h["management_ip"] == ip for h in self._catalog.hosts.values()):
            raise duplicate_ip
        if ft_network_address:
            _ipv4(ft_network_address, "ftNetworkAddress", message)
        check_text(failure_domain, "failureDomain", message, MAX_KEYWORD_LENGTH)
        row.update(
            zone_uuid=cluster["zone_uuid"], cluster_uuid=cluster["uuid"], management_ip=ip, hypervisor_type="KVM",
            state="Enabled", status="Connected",
            cpu_num=_in_range(cpu_num, 1, INT32_MAX, "cpuNum", message),
            total_memory_capacity=_in_range(memory_size, 1, 1 << 62, "memorySize", message),
            ft_network_address=ft_network_address or None, failure_domain=failure_domain or None,
            max_ft_vms=_in_range(max_ft_vms or 0, 0, INT32_MAX, "maxFtVms", message),
            max_ft_vcpus=_in_range(max_ft_vcpus or 0, 0, INT32_MAX, "maxFtVcpus", message),
            local_storage_capacity=_in_range(local_storage_capacity or 0, 0, 1 << 62, "localStorageCapacity",
                                             message))
        tags = tag_rows(row["uuid"], "HostVO", system_tags, user_tags, row["create_date"], message)

        def op(tx: Tx) -> None:
            if tx.select("hosts", {"management_ip": ip}):  # the authoritative check: writes are serial
                raise duplicate_ip
            insert_unique(tx, "hosts", row, "HostVO")
            tx.insert("tags", tags)

        async with self._shared_gate():
            await self._domain.write(op)
            self._catalog.hosts[row["uuid"]] = row
            self._domain.engine.upsert_host(self._catalog.host_spec(row["uuid"]))
            # A local storage spans the disks of its clusters' hosts: this host's disk joins it.
            for storage_uuid, clusters in self._catalog.storage_clusters.items():
                if cluster["uuid"] in clusters and self._catalog.is_local(storage_uuid):
                    self._domain.engine.upsert_storage(self._catalog.storage_spec(storage_uuid))
        return row

    # -- primary storage ---------------------------------------------------------------------------------------
    async def _add_storage(self, message: str, kind: str, zone_uuid: str | None, url: str, total_capacity: int,
                           row: Row, system_tags: Sequence[str], user_tags: Sequence[str]) -> Row:
        zone = _lookup(self._catalog.zones, zone_uuid, "zoneUuid", "ZoneVO", message)
        row.update(zone_uuid=zone["uuid"], url=url, type=kind, state="Enabled", status="Connected",
                   total_capacity=total_capacity)
        tags = tag_rows(row["uuid"], "PrimaryStorageVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("primary_storages", "PrimaryStorageVO", row, tags)
            self._catalog.storages[row["uuid"]] = row
            self._domain.engine.upsert_storage(self._catalog.storage_spec(row["uuid"]))
        return row

    async def add_local_primary_storage(self, *, zone_uuid: str | None, name: str | None, url: str | None,
                                        description: str | None = None, resource_uuid: str | None = None,
                                        system_tags: Sequence[str] = (), user_tags: Sequence[str] = ()) -> Row:
        """Capacity is the hosts' own disks (their `local_storage_capacity`), so the row's total stays 0 and the
        inventory sums the hosts of the attached clusters."""
        message = "APIAddLocalPrimaryStorageMsg"
        row = self._new_row(resource_uuid, name, description, message)
        path = check_name(url, "url", message, MAX_URL)
        if not path.startswith("/"):
            raise invalid(f"the url[{path}] of local primary storage must be an absolute path")
        return await self._add_storage(message, STORAGE_TYPES["local"], zone_uuid, path, 0, row, system_tags,
                                       user_tags)

    async def add_nfs_primary_storage(self, *, zone_uuid: str | None, name: str | None, url: str | None,
                                      total_capacity: int | None, description: str | None = None,
                                      resource_uuid: str | None = None, system_tags: Sequence[str] = (),
                                      user_tags: Sequence[str] = ()) -> Row:
        message = "APIAddNfsPrimaryStorageMsg"
        row = self._new_row(resource_uuid, name, description, message)
        export = check_name(url, "url", message, MAX_URL)
        server, _, path = export.partition(":")
        if not server or not path.startswith("/"):
            raise invalid(f"the url[{export}] of NFS primary storage must be in format of nfs_server_ip:/path")
        capacity = _in_range(total_capacity, 1, 1 << 62, "totalCapacity", message)
        return await self._add_storage(message, STORAGE_TYPES["nfs"], zone_uuid, export, capacity, row, system_tags,
                                       user_tags)

    async def add_ceph_primary_storage(self, *, zone_uuid: str | None, name: str | None, mon_urls: Sequence[str],
                                       total_capacity: int | None, description: str | None = None,
                                       resource_uuid: str | None = None, system_tags: Sequence[str] = (),
                                       user_tags: Sequence[str] = ()) -> Row:
        """The url names ZStack's root-volume pool (`ceph://pri-v-r-<uuid>`); the monitor urls (which carry
        credentials) are checked but not kept: the simulated storage never talks to monitors."""
        message = "APIAddCephPrimaryStorageMsg"
        row = self._new_row(resource_uuid, name, description, message)
        if not mon_urls:
            raise invalid(f"field[monUrls] of message[{message}] must be a nonempty list")
        check_list(mon_urls, "monUrls", message, MAX_MON_URLS, MAX_URL)
        for mon in mon_urls:
            host = mon.rpartition("@")[2].partition(":")[0]
            if not host.strip():
                raise invalid(f"invalid monUrl[{mon}]: the format is [sshUsername:sshPassword@]hostname[:sshPort]")
        capacity = _in_range(total_capacity, 1, 1 << 62, "totalCapacity", message)
        return await self._add_storage(message, STORAGE_TYPES["ceph"], zone_uuid, f"ceph://pri-v-r-{row['uuid']}",
                                       capacity, row, system_tags, user_tags)

    async def attach_primary_storage_to_cluster(self, *, cluster_uuid: str | None,
                                                primary_storage_uuid: str | None) -> Row:
        """Same zone only; at most one local storage per cluster (two would each count the hosts' whole disk)."""
        message = "APIAttachPrimaryStorageToClusterMsg"
        catalog = self._catalog
        cluster = _lookup(catalog.clusters, cluster_uuid, "clusterUuid", "ClusterVO", message)
        storage = _lookup(catalog.storages, primary_storage_uuid, "primaryStorageUuid", "PrimaryStorageVO",
                               message)
        cluster_uuid, storage_uuid = cluster["uuid"], storage["uuid"]
        if cluster["zone_uuid"] != storage["zone_uuid"]:
            raise invalid(f"primary storage[uuid:{storage_uuid}] and cluster[uuid:{cluster_uuid}] are not in the "
                          "same zone")
        if cluster_uuid in catalog.storage_clusters.get(storage_uuid, ()):
            raise invalid(f"primary storage[uuid:{storage_uuid}] has been attached to cluster[uuid:{cluster_uuid}]")
        if catalog.is_local(storage_uuid):
            for other, clusters in catalog.storage_clusters.items():
                if cluster_uuid in clusters and catalog.is_local(other):
                    raise invalid(f"cluster[uuid:{cluster_uuid}] already has local primary storage[uuid:{other}] "
                                  "attached; a cluster can have only one local primary storage")
        ref = dict(primary_storage_uuid=storage_uuid, cluster_uuid=cluster_uuid)
        async with self._shared_gate():
            await self._domain.write(lambda tx: tx.insert("ps_cluster_refs", [ref]))
            catalog.storage_clusters.setdefault(storage_uuid, set()).add(cluster_uuid)
            self._domain.engine.upsert_storage(catalog.storage_spec(storage_uuid))
        return storage

    # -- networks ----------------------------------------------------------------------------------------------
    async def create_l2_no_vlan_network(self, *, zone_uuid: str | None, name: str | None,
                                        physical_interface: str | None, description: str | None = None,
                                        resource_uuid: str | None = None, system_tags: Sequence[str] = (),
                                        user_tags: Sequence[str] = ()) -> Row:
        message = "APICreateL2NoVlanNetworkMsg"
        row = self._new_row(resource_uuid, name, description, message)
        zone = _lookup(self._catalog.zones, zone_uuid, "zoneUuid", "ZoneVO", message)
        row.update(zone_uuid=zone["uuid"], type="L2NoVlanNetwork",
                   physical_interface=check_name(physical_interface, "physicalInterface", message))
        tags = tag_rows(row["uuid"], "L2NetworkVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("l2_networks", "L2NetworkVO", row, tags)
            self._catalog.l2_networks[row["uuid"]] = row
        return row

    async def attach_l2_network_to_cluster(self, *, l2_network_uuid: str | None, cluster_uuid: str | None) -> Row:
        message = "APIAttachL2NetworkToClusterMsg"
        catalog = self._catalog
        l2 = _lookup(catalog.l2_networks, l2_network_uuid, "l2NetworkUuid", "L2NetworkVO", message)
        cluster = _lookup(catalog.clusters, cluster_uuid, "clusterUuid", "ClusterVO", message)
        l2_uuid, cluster_uuid = l2["uuid"], cluster["uuid"]
        if l2["zone_uuid"] != cluster["zone_uuid"]:
            raise invalid(f"l2Network[uuid:{l2_uuid}] and cluster[uuid:{cluster_uuid}] are not in the same zone")
        if cluster_uuid in catalog.l2_clusters.get(l2_uuid, ()):
            raise invalid(f"l2Network[uuid:{l2_uuid}] has been attached to cluster[uuid:{cluster_uuid}]")
        ref = dict(l2_network_uuid=l2_uuid, cluster_uuid=cluster_uuid)
        async with self._shared_gate():
            await self._domain.write(lambda tx: tx.insert("l2_cluster_refs", [ref]))
            catalog.l2_clusters.setdefault(l2_uuid, set()).add(cluster_uuid)
            self._domain.engine.attach_l2(cluster_uuid, l2_uuid)
        return l2

    async def create_l3_network(self, *, l2_network_uuid: str | None, name: str | None,
                                description: str | None = None, network_type: str | None = None,
                                system: bool | None = None, category: str | None = None,
                                ip_allocation_strategy: str | None = None, resource_uuid: str | None = None,
                                system_tags: Sequence[str] = (), user_tags: Sequence[str] = ()) -> Row:
        message = "APICreateL3NetworkMsg"
        row = self._new_row(resource_uuid, name, description, message)
        l2 = _lookup(self._catalog.l2_networks, l2_network_uuid, "l2NetworkUuid", "L2NetworkVO", message)
        row.update(
            zone_uuid=l2["zone_uuid"], l2_network_uuid=l2["uuid"], state="Enabled", system=bool(system),
            type=_one_of(network_type, "L3BasicNetwork", L3_TYPES, "type", message),
            category=_one_of(category, "Private", L3_CATEGORIES, "category", message),
            ip_allocation_strategy=_one_of(ip_allocation_strategy, "Random", IP_ALLOCATION_STRATEGIES,
                                           "ipAllocationStrategy", message))
        tags = tag_rows(row["uuid"], "L3NetworkVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("l3_networks", "L3NetworkVO", row, tags)
            self._catalog.l3_networks[row["uuid"]] = row
            self._domain.engine.set_l3(row["uuid"], l2["uuid"])
        return row

    async def add_ip_range(self, *, l3_network_uuid: str | None, name: str | None, start_ip: str | None,
                           end_ip: str | None, netmask: str | None, gateway: str | None,
                           description: str | None = None, resource_uuid: str | None = None,
                           system_tags: Sequence[str] = (), user_tags: Sequence[str] = ()) -> Row:
        """IPv4 only. The range and the gateway lie in one subnet and are not its network or broadcast address;
        the gateway is outside the range; the range overlaps no other range of the same L3."""
        message = "APIAddIpRangeMsg"
        row = self._new_row(resource_uuid, name, description, message)
        l3 = _lookup(self._catalog.l3_networks, l3_network_uuid, "l3NetworkUuid", "L3NetworkVO", message)
        first, last = _ipv4(start_ip, "startIp", message), _ipv4(end_ip, "endIp", message)
        gateway_ip = _ipv4(gateway, "gateway", message)
        prefix = _netmask_prefix(netmask, message)
        if first > last:
            raise invalid(f"start ip[{first}] is behind end ip[{last}]")
        subnet = ipaddress.IPv4Network((gateway_ip, prefix), strict=False)
        if first not in subnet or last not in subnet:
            raise invalid(f"ip range[{first}, {last}] is not in the subnet[{subnet}] of gateway[{gateway_ip}]")
        for address in (first, last, gateway_ip):
            if address in (subnet.network_address, subnet.broadcast_address):
                raise invalid(f"{address} is the network or broadcast address of subnet[{subnet}]")
        if first <= gateway_ip <= last:
            raise invalid(f"gateway[{gateway_ip}] can not be part of range[{first}, {last}]")
        row.update(l3_network_uuid=l3["uuid"], start_ip=str(first), end_ip=str(last), netmask=str(subnet.netmask),
                   gateway=str(gateway_ip), ip_version=4)
        tags = tag_rows(row["uuid"], "IpRangeVO", system_tags, user_tags, row["create_date"], message)

        def op(tx: Tx) -> None:
            for other in tx.select("ip_ranges", {"l3_network_uuid": l3["uuid"]}):
                if first <= ipaddress.IPv4Address(other["end_ip"]) and ipaddress.IPv4Address(other["start_ip"]) <= last:
                    raise invalid(f"new ip range[{first}, {last}] overlaps with existing ip range"
                                  f"[uuid:{other['uuid']}, {other['start_ip']}, {other['end_ip']}] of "
                                  f"l3Network[uuid:{l3['uuid']}]")
            insert_unique(tx, "ip_ranges", row, "IpRangeVO")
            tx.insert("tags", tags)

        async with self._shared_gate():
            await self._domain.write(op)
            self._catalog.ip_ranges.setdefault(l3["uuid"], []).append(row)
        return row

    # -- images and offerings ----------------------------------------------------------------------------------
    async def add_image(self, *, name: str | None, url: str | None, size: int | None,
                        description: str | None = None, media_type: str | None = None,
                        guest_os_type: str | None = None, platform: str | None = None,
                        architecture: str | None = None, image_format: str | None = None,
                        system: bool | None = None, resource_uuid: str | None = None,
                        system_tags: Sequence[str] = (), user_tags: Sequence[str] = ()) -> Row:
        """Ready at once (nothing is downloaded): state Enabled, status Ready, actual size = size (bytes). An ISO's
        format defaults to iso, any other image's to qcow2."""
        message = "APIAddImageMsg"
        row = self._new_row(resource_uuid, name, description, message)
        media = _one_of(media_type, "RootVolumeTemplate", MEDIA_TYPES, "mediaType", message)
        image_size = _in_range(size, 1, 1 << 62, "size", message)
        check_text(guest_os_type, "guestOsType", message, MAX_KEYWORD_LENGTH)
        row.update(
            state="Enabled", status="Ready", size=image_size, actual_size=image_size,
            url=check_name(url, "url", message, MAX_URL), media_type=media, guest_os_type=guest_os_type,
            platform=_one_of(platform, "Linux", PLATFORMS, "platform", message),
            architecture=_one_of(architecture, "x86_64", ARCHITECTURES, "architecture", message),
            format=_one_of(image_format, "iso" if media == "ISO" else "qcow2", IMAGE_FORMATS, "format", message),
            system=bool(system))
        tags = tag_rows(row["uuid"], "ImageVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("images", "ImageVO", row, tags)
            self._catalog.images[row["uuid"]] = row
        return row

    async def create_instance_offering(self, *, name: str | None, cpu_num: int | None, memory_size: int | None,
                                       description: str | None = None, cpu_speed: int | None = None,
                                       offering_type: str | None = None, allocator_strategy: str | None = None,
                                       sort_key: int | None = None,
                                       resource_uuid: str | None = None, system_tags: Sequence[str] = (),
                                       user_tags: Sequence[str] = ()) -> Row:
        message = "APICreateInstanceOfferingMsg"
        row = self._new_row(resource_uuid, name, description, message)
        row.update(
            cpu_num=_in_range(cpu_num, 1, INT32_MAX, "cpuNum", message),
            memory_size=_in_range(memory_size, 1, 1 << 62, "memorySize", message),
            cpu_speed=_in_range(cpu_speed or 0, 0, 1 << 62, "cpuSpeed", message),
            type=_one_of(offering_type, "UserVm", INSTANCE_OFFERING_TYPES, "type", message),
            allocator_strategy=_one_of(allocator_strategy, DEFAULT_STRATEGY, STRATEGIES, "allocatorStrategy",
                                       message),
            state="Enabled", sort_key=sort_key or 0)
        tags = tag_rows(row["uuid"], "InstanceOfferingVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("instance_offerings", "InstanceOfferingVO", row, tags)
            self._catalog.instance_offerings[row["uuid"]] = row
        return row

    async def create_disk_offering(self, *, name: str | None, disk_size: int | None, description: str | None = None,
                                   allocator_strategy: str | None = None, sort_key: int | None = None,
                                   resource_uuid: str | None = None, system_tags: Sequence[str] = (),
                                   user_tags: Sequence[str] = ()) -> Row:
        message = "APICreateDiskOfferingMsg"
        row = self._new_row(resource_uuid, name, description, message)
        row.update(
            disk_size=_in_range(disk_size, 1, 1 << 62, "diskSize", message), type=DISK_OFFERING_TYPE,
            state="Enabled", sort_key=sort_key or 0,
            allocator_strategy=_one_of(allocator_strategy, DISK_ALLOCATOR_STRATEGIES[0], DISK_ALLOCATOR_STRATEGIES,
                                       "allocatorStrategy", message))
        tags = tag_rows(row["uuid"], "DiskOfferingVO", system_tags, user_tags, row["create_date"], message)
        async with self._shared_gate():
            await self._create("disk_offerings", "DiskOfferingVO", row, tags)
            self._catalog.disk_offerings[row["uuid"]] = row
        return row

    # -- state changes -----------------------------------------------------------------------------------------
    async def _change_state(self, table: str, rows: dict[str, Row], kind: str, message: str, uuid: str | None,
                            state_event: str | None, events: dict[str, str]) -> Row:
        """Updates the row and replaces the catalog's copy (readers holding the old row see a consistent one)."""
        row = _lookup(rows, uuid, "uuid", kind, message)
        state = _event_state(state_event, events, message)
        now = self._domain.clock()
        await self._domain.write(lambda tx: tx.update(table, {"uuid": row["uuid"]},
                                                      {"state": state, "last_op_date": now}))
        updated = {**row, "state": state, "last_op_date": now}
        rows[row["uuid"]] = updated
        return updated

    async def change_host_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        """enable | disable | maintain -> Enabled | Disabled | Maintenance; the engine places only on Enabled."""
        async with self._shared_gate():
            row = await self._change_state("hosts", self._catalog.hosts, "HostVO", "APIChangeHostStateMsg", uuid,
                                           state_event, HOST_STATE_EVENTS)
            self._domain.engine.upsert_host(self._catalog.host_spec(row["uuid"]))
        return row

    async def change_primary_storage_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            row = await self._change_state("primary_storages", self._catalog.storages, "PrimaryStorageVO",
                                           "APIChangePrimaryStorageStateMsg", uuid, state_event, STATE_EVENTS)
            self._domain.engine.upsert_storage(self._catalog.storage_spec(row["uuid"]))
        return row

    async def change_zone_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        """A disabled zone takes its hosts out of placement (the engine sees them as Disabled)."""
        async with self._shared_gate():
            row = await self._change_state("zones", self._catalog.zones, "ZoneVO", "APIChangeZoneStateMsg", uuid,
                                           state_event, STATE_EVENTS)
            self._resync_hosts("zone_uuid", row["uuid"])
        return row

    async def change_cluster_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        """A disabled cluster takes its hosts out of placement (the engine sees them as Disabled)."""
        async with self._shared_gate():
            row = await self._change_state("clusters", self._catalog.clusters, "ClusterVO",
                                           "APIChangeClusterStateMsg", uuid, state_event, STATE_EVENTS)
            self._resync_hosts("cluster_uuid", row["uuid"])
        return row

    def _resync_hosts(self, column: str, uuid: str) -> None:
        hosts = [h for h, r in self._catalog.hosts.items() if r[column] == uuid]
        if hosts:
            self._domain.engine.upsert_hosts([self._catalog.host_spec(h) for h in hosts])

    async def change_l3_network_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state("l3_networks", self._catalog.l3_networks, "L3NetworkVO",
                                            "APIChangeL3NetworkStateMsg", uuid, state_event, STATE_EVENTS)

    async def change_image_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state("images", self._catalog.images, "ImageVO", "APIChangeImageStateMsg",
                                            uuid, state_event, STATE_EVENTS)

    async def change_instance_offering_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state("instance_offerings", self._catalog.instance_offerings,
                                            "InstanceOfferingVO", "APIChangeInstanceOfferingStateMsg", uuid,
                                            state_event, STATE_EVENTS)

    async def change_disk_offering_state(self, *, uuid: str | None, state_event: str | None) -> Row:
        async with self._shared_gate():
            return await self._change_state("disk_offerings", self._catalog.disk_offerings, "DiskOfferingVO",
                                            "APIChangeDiskOfferingStateMsg", uuid, state_event, STATE_EVENTS)

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
                raise invalid(f"invalid value[{value}] of GlobalConfig[category:{category}, name:{name}]: the "
                              f"placement engine refuses it ({e})") from None
            await self._domain.write(op)
            replace_memory(self._domain, fresh, engine)
        finally:
            await gate.release_exclusive()
        return row
