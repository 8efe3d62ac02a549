"""InventoryService over real gRPC (ftvm.server on a background thread, a fresh SQLite database per test): creates
round-trip through their queries, bad input is a typed error that leaves no rows, admin-only writes, ZStack query
semantics, and the placement engine kept in step (state changes, global config rebuilds)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm._proto.zstack.ft.v1 import services_pb2_grpc as pb_grpc
from ftvm._proto.zstack.ft.v1 import types_pb2
from ftvm.api.errors import error_from_status_details
from ftvm.domain.accounts import Accounts
from ftvm.domain.catalog import GLOBAL_CONFIG_DEFAULTS
from ftvm.domain.common import Domain
from ftvm.domain.errors import FtError
from ftvm.domain.inventory import InventoryAdmin
from ftvm.domain.query import DEFAULT_LIMIT, check_page, parse_conditions, parse_sort
from ftvm.placement import NoHostAvailable, Request
from ftvm.server import ServerConfig, ServerThread
from ftvm.store import Condition

GIB = 1 << 30
ADMIN_PASSWORD = "inventory-test-password"
FT_CIDR = "10.99.0.0/16"


def sha512(password: str) -> str:
    return hashlib.sha512(password.encode()).hexdigest()


class Api:
    """One logged-in session: `api("CreateZone", name="z")` sends CreateZoneRequest(name="z")."""

    def __init__(self, channel: grpc.Channel, account_name: str, password: str) -> None:
        login = pb_grpc.AccountServiceStub(channel).LogInByAccount(
            pb.LogInByAccountRequest(
                log_in_by_account=pb.LogInByAccountParams(account_name=account_name, password=sha512(password))
            )
        )
        self.metadata = (("authorization", f"OAuth {login.inventory.uuid}"),)
        self.inventory = pb_grpc.InventoryServiceStub(channel)
        self.vm = pb_grpc.VmServiceStub(channel)

    def __call__(self, rpc: str, **fields: Any) -> Any:
        return getattr(self.inventory, rpc)(getattr(pb, f"{rpc}Request")(**fields), metadata=self.metadata)

    def query(self, rpc: str, *q: str, **fields: Any) -> list:
        return list(self(rpc, q=list(q), **fields).inventories)

    def one(self, rpc: str, uuid: str) -> Any:
        (found,) = self.query(rpc, f"uuid={uuid}")
        return found


def failure(call: Callable[[], Any]) -> tuple[grpc.StatusCode, types_pb2.ErrorCode]:
    """(gRPC status, ZStack ErrorCode from the rich status details) of a call that must fail."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    details = dict(info.value.trailing_metadata())["grpc-status-details-bin"]
    return info.value.code(), error_from_status_details(details)


@pytest.fixture
def server(tmp_path):
    config = ServerConfig(data_dir=str(tmp_path / "data"), grpc_port=0, admin_password=ADMIN_PASSWORD, with_demo=False)
    with ServerThread(config) as running:
        yield running


@pytest.fixture
def channel(server):
    with grpc.insecure_channel(server.target) as ch:
        yield ch


@pytest.fixture
def api(channel) -> Api:
    return Api(channel, "admin", ADMIN_PASSWORD)


def on_loop(server: ServerThread, fn: Callable[[Domain], Any]) -> Any:
    """Runs `fn(domain)` on the server's event loop, where the domain's catalog and engine live."""

    async def run():
        result = fn(server.running.domain)
        return await result if asyncio.iscoroutine(result) else result

    return server.call(run)


def rows(server: ServerThread, table: str) -> list[dict]:
    return server.running.store.read(lambda tx: tx.select(table))


def build_site(api: Api, hosts: int = 2, cpu: int = 8, memory: int = 16 * GIB, storage: str = "nfs") -> dict:
    """A zone with one cluster of `hosts` FT-capable hosts, a primary storage and an L3 with a range, all attached;
    FT enabled. Returns the uuids."""
    api(
        "UpdateGlobalConfig",
        category="ft",
        name="enable",
        update_global_config=pb.UpdateGlobalConfigParams(value="true"),
    )
    api(
        "UpdateGlobalConfig",
        category="ft",
        name="fault.tolerance.network.cidr",
        update_global_config=pb.UpdateGlobalConfigParams(value=FT_CIDR),
    )
    zone = api("CreateZone", name="zone").inventory.uuid
    cluster = api("CreateCluster", zone_uuid=zone, name="cluster").inventory.uuid
    host_uuids = [
        api(
            "AddKVMHost",
            cluster_uuid=cluster,
            name=f"host-{i}",
            management_ip=f"192.168.0.{i}",
            cpu_num=cpu,
            memory_size=memory,
            ft_network_address=f"10.99.0.{i}",
            failure_domain=f"rack-{i}",
            local_storage_capacity=100 * GIB,
        ).inventory.uuid
        for i in range(1, hosts + 1)
    ]
    if storage == "nfs":
        ps = api(
            "AddNfsPrimaryStorage", zone_uuid=zone, name="nfs", url="nfs-server:/ps", total_capacity=10 * 1024 * GIB
        ).inventory.uuid
    else:
        ps = api("AddLocalPrimaryStorage", zone_uuid=zone, name="local", url="/zstack_ps").inventory.uuid
    api("AttachPrimaryStorageToCluster", cluster_uuid=cluster, primary_storage_uuid=ps)
    l2 = api("CreateL2NoVlanNetwork", zone_uuid=zone, name="l2", physical_interface="eth0").inventory.uuid
    api("AttachL2NetworkToCluster", l2_network_uuid=l2, cluster_uuid=cluster)
    l3 = api("CreateL3Network", l2_network_uuid=l2, name="l3").inventory.uuid
    api(
        "AddIpRange",
        l3_network_uuid=l3,
        name="range",
        start_ip="172.16.0.10",
        end_ip="172.16.0.200",
        netmask="255.255.255.0",
        gateway="172.16.0.1",
    )
    return dict(zone=zone, cluster=cluster, hosts=host_uuids, ps=ps, l2=l2, l3=l3)


def state(event: str, kind: str = "host") -> dict:
    params = {
        "host": pb.ChangeHostStateParams,
        "primary_storage": pb.ChangePrimaryStorageStateParams,
        "zone": pb.ChangeZoneStateParams,
        "cluster": pb.ChangeClusterStateParams,
    }[kind]
    return {f"change_{kind}_state": params(state_event=event)}


# -- creates round-trip ----------------------------------------------------------------------------------------------


def test_every_create_answers_the_inventory_its_query_returns(api):
    zone = api("CreateZone", name=" zone-1 ", description="first").inventory
    assert (zone.name, zone.description, zone.state, zone.type) == ("zone-1", "first", "Enabled", "zstack")
    assert zone.create_date.seconds > 0 and zone == api.one("QueryZone", zone.uuid)

    cluster = api("CreateCluster", zone_uuid=zone.uuid, name="cluster-1").inventory
    assert (cluster.zone_uuid, cluster.hypervisor_type, cluster.state) == (zone.uuid, "KVM", "Enabled")
    assert cluster == api.one("QueryCluster", cluster.uuid)

    local = api("AddLocalPrimaryStorage", zone_uuid=zone.uuid, name="local", url="/zstack_ps").inventory
    local = api("AttachPrimaryStorageToCluster", cluster_uuid=cluster.uuid, primary_storage_uuid=local.uuid).inventory
    assert list(local.attached_cluster_uuids) == [cluster.uuid]
    assert (local.type, local.total_capacity, list(local.local_storage_host_refs)) == ("LocalStorage", 0, [])

    host = api(
        "AddKVMHost",
        cluster_uuid=cluster.uuid,
        name="host-1",
        management_ip="192.168.0.1",
        cpu_num=8,
        memory_size=16 * GIB,
        ft_network_address="10.99.0.1",
        failure_domain="rack-1",
        max_ft_vms=4,
        local_storage_capacity=200 * GIB,
    ).inventory
    assert (host.zone_uuid, host.cluster_uuid, host.hypervisor_type, host.state, host.status) == (
        zone.uuid,
        cluster.uuid,
        "KVM",
        "Enabled",
        "Connected",
    )
    # Default ratios: 10 vCPUs per CPU; 1 GiB of memory kept by the host.
    assert (host.total_cpu_capacity, host.available_cpu_capacity) == (80, 80)
    assert (host.total_memory_capacity, host.available_memory_capacity) == (16 * GIB, 15 * GIB)
    assert (host.failure_domain, host.max_ft_vms, host.max_ft_vcpus) == ("rack-1", 4, 0)
    assert host == api.one("QueryHost", host.uuid)

    # The host joined the cluster after the local storage was attached: its disk is now part of the storage.
    local = api.one("QueryPrimaryStorage", local.uuid)
    assert (local.total_capacity, local.available_capacity) == (200 * GIB, 200 * GIB)
    assert [(r.host_uuid, r.total_capacity, r.available_capacity) for r in local.local_storage_host_refs] == [
        (host.uuid, 200 * GIB, 200 * GIB)
    ]

    nfs = api(
        "AddNfsPrimaryStorage",
        zone_uuid=zone.uuid,
        name="nfs",
        url="10.0.0.5:/exports/ps",
        total_capacity=5 * 1024 * GIB,
    ).inventory
    assert (nfs.type, nfs.state, nfs.status, nfs.available_capacity) == ("NFS", "Enabled", "Connected", 5 * 1024 * GIB)
    assert nfs == api.one("QueryPrimaryStorage", nfs.uuid)
    ceph = api(
        "AddCephPrimaryStorage", zone_uuid=zone.uuid, name="ceph", mon_urls=["root:pw@10.0.0.7:22"], total_capacity=GIB
    ).inventory
    assert (ceph.type, ceph.url) == ("Ceph", f"ceph://pri-v-r-{ceph.uuid}")
    assert "pw" not in ceph.url and ceph == api.one("QueryPrimaryStorage", ceph.uuid)

    l2 = api("CreateL2NoVlanNetwork", zone_uuid=zone.uuid, name="l2", physical_interface="eth1").inventory
    assert (l2.type, l2.physical_interface, list(l2.attached_cluster_uuids)) == ("L2NoVlanNetwork", "eth1", [])
    l2 = api("AttachL2NetworkToCluster", l2_network_uuid=l2.uuid, cluster_uuid=cluster.uuid).inventory
    assert list(l2.attached_cluster_uuids) == [cluster.uuid] and l2 == api.one("QueryL2Network", l2.uuid)

    l3 = api("CreateL3Network", l2_network_uuid=l2.uuid, name="l3").inventory
    assert (l3.zone_uuid, l3.type, l3.category, l3.ip_allocation_strategy, l3.system, l3.state) == (
        zone.uuid,
        "L3BasicNetwork",
        "Private",
        "Random",
        False,
        "Enabled",
    )
    ip_range = api(
        "AddIpRange",
        l3_network_uuid=l3.uuid,
        name="r",
        start_ip="172.16.0.10",
        end_ip="172.16.0.20",
        netmask="255.255.255.0",
        gateway="172.16.0.1",
    ).inventory
    assert (ip_range.l3_network_uuid, ip_range.ip_version) == (l3.uuid, 4)
    assert ip_range == api.one("QueryIpRange", ip_range.uuid)
    assert list(api.one("QueryL3Network", l3.uuid).ip_ranges) == [ip_range]

    image = api("AddImage", name="centos", url="http://images/centos.qcow2", size=10 * GIB).inventory
    assert (
        image.state,
        image.status,
        image.media_type,
        image.format,
        image.platform,
        image.architecture,
        image.size,
        image.actual_size,
        image.system,
    ) == ("Enabled", "Ready", "RootVolumeTemplate", "qcow2", "Linux", "x86_64", 10 * GIB, 10 * GIB, False)
    assert image == api.one("QueryImage", image.uuid)
    iso = api("AddImage", name="installer", url="http://images/i.iso", size=GIB, media_type="ISO").inventory
    assert iso.format == "iso"

    offering = api("CreateInstanceOffering", name="small", cpu_num=2, memory_size=4 * GIB).inventory
    assert (offering.type, offering.allocator_strategy, offering.state, offering.cpu_speed) == (
        "UserVm",
        "LeastVmPreferredHostAllocatorStrategy",
        "Enabled",
        0,
    )
    assert offering == api.one("QueryInstanceOffering", offering.uuid)

    disk = api("CreateDiskOffering", name="data", disk_size=20 * GIB).inventory
    assert (disk.type, disk.state, disk.disk_size) == ("DefaultDiskOfferingType", "Enabled", 20 * GIB)
    assert disk == api.one("QueryDiskOffering", disk.uuid)


def test_state_changes_round_trip_for_every_kind(api):
    site = build_site(api, hosts=1)
    image = api("AddImage", name="img", url="http://i", size=GIB).inventory.uuid
    offering = api("CreateInstanceOffering", name="o", cpu_num=1, memory_size=GIB).inventory.uuid
    disk = api("CreateDiskOffering", name="d", disk_size=GIB).inventory.uuid
    cases = [
        ("ChangeZoneState", "change_zone_state", pb.ChangeZoneStateParams, "QueryZone", site["zone"]),
        ("ChangeClusterState", "change_cluster_state", pb.ChangeClusterStateParams, "QueryCluster", site["cluster"]),
        (
            "ChangeL3NetworkState",
            "change_l3_network_state",
            pb.ChangeL3NetworkStateParams,
            "QueryL3Network",
            site["l3"],
        ),
        ("ChangeImageState", "change_image_state", pb.ChangeImageStateParams, "QueryImage", image),
        (
            "ChangeInstanceOfferingState",
            "change_instance_offering_state",
            pb.ChangeInstanceOfferingStateParams,
            "QueryInstanceOffering",
            offering,
        ),
        (
            "ChangeDiskOfferingState",
            "change_disk_offering_state",
            pb.ChangeDiskOfferingStateParams,
            "QueryDiskOffering",
            disk,
        ),
        (
            "ChangePrimaryStorageState",
            "change_primary_storage_state",
            pb.ChangePrimaryStorageStateParams,
            "QueryPrimaryStorage",
            site["ps"],
        ),
        ("ChangeHostState", "change_host_state", pb.ChangeHostStateParams, "QueryHost", site["hosts"][0]),
    ]
    for rpc, params_field, params, query, uuid in cases:
        disabled = api(rpc, uuid=uuid, **{params_field: params(state_event="disable")}).inventory
        assert disabled.state == "Disabled" and disabled == api.one(query, uuid), rpc
        assert api(rpc, uuid=uuid, **{params_field: params(state_event="enable")}).inventory.state == "Enabled"
        assert api.one(query, uuid).state == "Enabled", rpc
    assert api("ChangeHostState", uuid=site["hosts"][0], **state("maintain")).inventory.state == "Maintenance"


# -- typed errors, nothing half-written ----------------------------------------------------------------------------

NOT_A_UUID = "f" * 32


def field_of(details: str) -> str | None:
    """The request field an error names (`field[cpuNum] of message[...]`, `invalid field[zoneUuid], ...`)."""
    found = re.search(r"field\[(.+?)\](?: of message|,)", details)
    return found.group(1) if found else None


def _bad_requests(site: dict) -> list[tuple[str, dict, grpc.StatusCode, str | None]]:
    """(rpc, fields, expected status, the field the error names: None for a problem of the whole request)."""
    invalid, missing = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    host = dict(cluster_uuid=site["cluster"], name="h", management_ip="192.168.9.9", cpu_num=4, memory_size=GIB)
    ip_range = dict(
        l3_network_uuid=site["l3"],
        name="r",
        start_ip="172.16.1.10",
        end_ip="172.16.1.20",
        netmask="255.255.0.0",
        gateway="172.16.0.1",
    )
    return [
        ("CreateZone", dict(name="  "), invalid, "name"),
        ("CreateZone", dict(name="z" * 256), invalid, "name"),
        ("CreateZone", dict(name="z", description="d" * 2049), invalid, "description"),
        ("CreateZone", dict(name="z", resource_uuid=NOT_A_UUID), invalid, "resourceUuid"),
        ("CreateZone", dict(name="z", system_tags=["foo::bar"]), invalid, None),
        ("CreateCluster", dict(zone_uuid=NOT_A_UUID, name="c"), missing, "zoneUuid"),
        ("CreateCluster", dict(zone_uuid=site["zone"], name="c", hypervisor_type="ESX"), invalid, "hypervisorType"),
        ("AddKVMHost", dict(host, cpu_num=0), invalid, "cpuNum"),
        ("AddKVMHost", dict(host, memory_size=-1), invalid, "memorySize"),
        ("AddKVMHost", dict(host, memory_size=(1 << 62) + 1), invalid, "memorySize"),
        ("AddKVMHost", dict(host, management_ip="192.168.0.1"), invalid, "managementIp"),  # host-1's
        ("AddKVMHost", dict(host, ft_network_address="10.99.0"), invalid, "ftNetworkAddress"),
        ("AddKVMHost", dict(host, failure_domain="rack\n1"), invalid, "failureDomain"),
        ("AddKVMHost", dict(host, max_ft_vms=-1), invalid, "maxFtVms"),
        ("AddKVMHost", dict(host, cluster_uuid=NOT_A_UUID), missing, "clusterUuid"),
        ("AddLocalPrimaryStorage", dict(zone_uuid=site["zone"], name="l", url="relative/path"), invalid, "url"),
        (
            "AddNfsPrimaryStorage",
            dict(zone_uuid=site["zone"], name="n", url="server:/ps", total_capacity=0),
            invalid,
            "totalCapacity",
        ),
        (
            "AddNfsPrimaryStorage",
            dict(zone_uuid=site["zone"], name="n", url="just-a-name", total_capacity=GIB),
            invalid,
            "url",
        ),
        ("AddCephPrimaryStorage", dict(zone_uuid=site["zone"], name="c", total_capacity=GIB), invalid, "monUrls"),
        (
            "AddCephPrimaryStorage",
            dict(zone_uuid=site["zone"], name="c", total_capacity=GIB, mon_urls=["mon-1", "root:pw@:22"]),
            invalid,
            "monUrls][1",
        ),
        ("CreateL2NoVlanNetwork", dict(zone_uuid=site["zone"], name="l2"), invalid, "physicalInterface"),
        ("CreateL3Network", dict(l2_network_uuid=NOT_A_UUID, name="l3"), missing, "l2NetworkUuid"),
        ("CreateL3Network", dict(l2_network_uuid=site["l2"], name="l3", category="Other"), invalid, "category"),
        (
            "CreateL3Network",
            dict(l2_network_uuid=site["l2"], name="l3", ip_allocation_strategy="Lowest"),
            invalid,
            "ipAllocationStrategy",
        ),
        ("AddIpRange", dict(ip_range, start_ip="172.16.1.30"), invalid, "endIp"),  # the end is below the start
        ("AddIpRange", dict(ip_range, netmask="255.0.255.0"), invalid, "netmask"),
        ("AddIpRange", dict(ip_range, gateway="172.16.1.15"), invalid, "gateway"),
        ("AddIpRange", dict(ip_range, netmask="255.255.255.0"), invalid, "startIp"),  # not in the gateway's /24
        ("AddIpRange", dict(ip_range, start_ip="fd00::1"), invalid, "startIp"),
        ("AddIpRange", dict(ip_range, start_ip="172.16.0.100"), invalid, None),  # overlaps the site's range
        ("AddIpRange", dict(ip_range, l3_network_uuid=NOT_A_UUID), missing, "l3NetworkUuid"),
        ("AddImage", dict(name="i", url="http://i"), invalid, "size"),
        ("AddImage", dict(name="i", url="http://i", size=GIB, media_type="Floppy"), invalid, "mediaType"),
        ("AddImage", dict(name="i", size=GIB), invalid, "url"),
        (
            "CreateInstanceOffering",
            dict(name="o", cpu_num=1, memory_size=GIB, allocator_strategy="Random"),
            invalid,
            "allocatorStrategy",
        ),
        ("CreateInstanceOffering", dict(name="o", cpu_num=0, memory_size=GIB), invalid, "cpuNum"),
        ("CreateDiskOffering", dict(name="d", disk_size=0), invalid, "diskSize"),
    ]


def test_bad_input_is_a_typed_error_naming_the_field_and_writes_nothing(api, server):
    site = build_site(api, hosts=1)
    tables = (
        "zones",
        "clusters",
        "hosts",
        "primary_storages",
        "l2_networks",
        "l3_networks",
        "ip_ranges",
        "images",
        "instance_offerings",
        "disk_offerings",
        "tags",
    )
    before = {t: rows(server, t) for t in tables}
    for rpc, fields, status, field in _bad_requests(site):
        code, error = failure(lambda: api(rpc, **fields))
        assert code == status, (rpc, fields, error)
        assert error.code == ("SYS.1007" if status == grpc.StatusCode.INVALID_ARGUMENT else "SYS.1003"), rpc
        assert field_of(error.details) == field, (rpc, fields, error.details)
    assert {t: rows(server, t) for t in tables} == before
    assert len(api.query("QueryIpRange")) == 1  # the overlap was refused inside the write: no row, no tag


# Rules the inventory file had and the admin API lacked (one model now): each request was accepted before.
FILE_RULES = [
    ("AddKVMHost", dict(ft_network_address="10.99.0.1"), "ftNetworkAddress"),  # host-1's FT address
    ("AddKVMHost", dict(ft_network_address="10.98.0.9"), "ftNetworkAddress"),  # outside the FT network: never placed
    ("AddKVMHost", dict(management_ip="host-9.example"), "managementIp"),  # not an IPv4 address
    ("AddImage", dict(media_type="ISO", format="qcow2"), "format"),
    ("CreateInstanceOffering", dict(sort_key=-1), "sortKey"),
]


@pytest.mark.parametrize("rpc, fields, field", FILE_RULES, ids=[f"{r}-{f}" for r, _, f in FILE_RULES])
def test_admin_writes_follow_the_inventory_file_rules(api, server, rpc, fields, field):
    site = build_site(api, hosts=1)
    valid = {
        "AddKVMHost": dict(
            cluster_uuid=site["cluster"],
            name="h",
            management_ip="192.168.9.9",
            cpu_num=4,
            memory_size=GIB,
            ft_network_address="10.99.9.9",
        ),
        "AddImage": dict(name="i", url="http://i", size=GIB),
        "CreateInstanceOffering": dict(name="o", cpu_num=1, memory_size=GIB),
    }[rpc]
    table = {"AddKVMHost": "hosts", "AddImage": "images", "CreateInstanceOffering": "instance_offerings"}[rpc]
    before = rows(server, table)
    code, error = failure(lambda: api(rpc, **{**valid, **fields}))
    assert (code, error.code, field_of(error.details)) == (grpc.StatusCode.INVALID_ARGUMENT, "SYS.1007", field)
    assert rows(server, table) == before
    api(rpc, **valid)  # the same request without the broken field is fine
    assert len(rows(server, table)) == len(before) + 1


def test_bad_attachments_state_events_and_global_configs_are_refused(api, server):
    site = build_site(api, hosts=1, storage="local")
    other_zone = api("CreateZone", name="other").inventory.uuid
    foreign_ps = api("AddNfsPrimaryStorage", zone_uuid=other_zone, name="n", url="s:/p", total_capacity=GIB)
    second_local = api("AddLocalPrimaryStorage", zone_uuid=site["zone"], name="local-2", url="/ps2").inventory.uuid
    foreign_l2 = api("CreateL2NoVlanNetwork", zone_uuid=other_zone, name="l2", physical_interface="eth0")
    refs = rows(server, "ps_cluster_refs"), rows(server, "l2_cluster_refs")
    invalid, missing = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    config = dict(update_global_config=pb.UpdateGlobalConfigParams(value="-2"))
    for rpc, fields, status, field in [
        (
            "AttachPrimaryStorageToCluster",
            dict(cluster_uuid=site["cluster"], primary_storage_uuid=foreign_ps.inventory.uuid),
            invalid,
            "clusterUuid",
        ),
        (
            "AttachPrimaryStorageToCluster",
            dict(cluster_uuid=site["cluster"], primary_storage_uuid=site["ps"]),
            invalid,
            "clusterUuid",
        ),  # attached already
        (
            "AttachPrimaryStorageToCluster",
            dict(cluster_uuid=site["cluster"], primary_storage_uuid=second_local),
            invalid,
            "clusterUuid",
        ),  # a second local storage
        (
            "AttachPrimaryStorageToCluster",
            dict(cluster_uuid=site["cluster"], primary_storage_uuid=NOT_A_UUID),
            missing,
            "primaryStorageUuid",
        ),
        (
            "AttachL2NetworkToCluster",
            dict(cluster_uuid=site["cluster"], l2_network_uuid=foreign_l2.inventory.uuid),
            invalid,
            "clusterUuid",
        ),
        (
            "AttachL2NetworkToCluster",
            dict(cluster_uuid=site["cluster"], l2_network_uuid=site["l2"]),
            invalid,
            "clusterUuid",
        ),  # attached already
        ("ChangeHostState", dict(uuid=site["hosts"][0], **state("reboot")), invalid, "stateEvent"),
        ("ChangeHostState", dict(uuid=site["hosts"][0]), invalid, "stateEvent"),
        ("ChangeZoneState", dict(uuid=site["zone"], **state("maintain", "zone")), invalid, "stateEvent"),
        ("ChangeHostState", dict(uuid=NOT_A_UUID, **state("disable")), missing, "uuid"),
        ("UpdateGlobalConfig", dict(category="host", name="cpu.overProvisioning.ratio", **config), invalid, None),
        (
            "UpdateGlobalConfig",
            dict(
                category="ft",
                name="fault.tolerance.network.cidr",
                update_global_config=pb.UpdateGlobalConfigParams(value="10.0.0.0/33"),
            ),
            invalid,
            None,
        ),
        ("UpdateGlobalConfig", dict(category="host", name="no.such.key", **config), missing, None),
    ]:
        code, error = failure(lambda: api(rpc, **fields))
        assert code == status and field_of(error.details) == field, (rpc, code, error.details)
    assert (rows(server, "ps_cluster_refs"), rows(server, "l2_cluster_refs")) == refs
    assert api.one("QueryHost", site["hosts"][0]).state == "Enabled"
    ratio = api.query("QueryGlobalConfig", "name=cpu.overProvisioning.ratio")
    assert [c.value for c in ratio] == ["10"]


@pytest.mark.parametrize("same", ["management_ip", "ft_network_address"])
def test_an_address_two_racing_adds_share_is_refused_by_the_write(server, api, same):
    """Two adds with one management IP (or FT address), concurrently: the write checks the database (writes are
    serial), refuses the second, and the refused one leaves no host and no tag."""
    site = build_site(api, hosts=0)

    async def add_twice(domain: Domain):
        admin = InventoryAdmin(domain)
        addresses = [
            dict(management_ip=f"192.168.5.{i + 1}", ft_network_address=f"10.99.5.{i + 1}")
            | {same: {"management_ip": "192.168.5.5", "ft_network_address": "10.99.5.5"}[same]}
            for i in range(2)
        ]
        adds = [
            admin.add_kvm_host(
                cluster_uuid=site["cluster"],
                name=f"h{i}",
                cpu_num=4,
                memory_size=8 * GIB,
                user_tags=[f"tag-{i}"],
                **addresses[i],
            )
            for i in range(2)
        ]
        return await asyncio.gather(*adds, return_exceptions=True)

    outcomes = on_loop(server, add_twice)
    errors = [o for o in outcomes if isinstance(o, FtError)]
    added = [o for o in outcomes if isinstance(o, dict)]
    assert len(errors) == 1 and len(added) == 1
    field = {"management_ip": "managementIp", "ft_network_address": "ftNetworkAddress"}[same]
    assert (errors[0].code, field_of(errors[0].details)) == ("SYS.1007", field)
    assert [h["uuid"] for h in rows(server, "hosts")] == [added[0]["uuid"]]
    assert [t["resource_uuid"] for t in rows(server, "tags")] == [added[0]["uuid"]]
    assert [h.uuid for h in api.query("QueryHost")] == [added[0]["uuid"]]


def test_taken_resource_uuid_is_already_exists(api):
    chosen = "3f2a6d1c9b8e4f0a8c7d6e5f4a3b2c1d"
    assert api("CreateZone", name="z", resource_uuid=chosen).inventory.uuid == chosen
    code, error = failure(lambda: api("CreateZone", name="again", resource_uuid=chosen))
    assert code == grpc.StatusCode.ALREADY_EXISTS and error.code == "SYS.1007"
    assert "already exists" in error.details
    assert [z.name for z in api.query("QueryZone")] == ["z"]
    image = api("AddImage", name="i", url="http://i", size=GIB, resource_uuid=chosen.replace("3f", "4f")).inventory
    code, _ = failure(lambda: api("AddImage", name="i2", url="http://i", size=GIB, resource_uuid=image.uuid))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert len(api.query("QueryImage")) == 1


# -- who may call -------------------------------------------------------------------------------------------------


def test_normal_account_may_query_but_not_write(server, channel, api):
    site = build_site(api, hosts=1)
    on_loop(server, lambda domain: Accounts(domain).create_account("alice", sha512("alice-pw")))
    alice = Api(channel, "alice", "alice-pw")
    assert [z.uuid for z in alice.query("QueryZone")] == [site["zone"]]
    assert len(alice.query("QueryGlobalConfig")) == len(GLOBAL_CONFIG_DEFAULTS)
    for rpc, fields in [
        ("CreateZone", dict(name="mine")),
        ("ChangeHostState", dict(uuid=site["hosts"][0], **state("disable"))),
        (
            "UpdateGlobalConfig",
            dict(category="ft", name="enable", update_global_config=pb.UpdateGlobalConfigParams(value="false")),
        ),
    ]:
        code, error = failure(lambda: alice(rpc, **fields))
        assert (code, error.code) == (grpc.StatusCode.PERMISSION_DENIED, "ID.1002"), rpc
    assert len(api.query("QueryZone")) == 1
    assert api.one("QueryHost", site["hosts"][0]).state == "Enabled"
    assert api.query("QueryGlobalConfig", "category=ft", "name=enable")[0].value == "true"
    code, _ = failure(lambda: api.inventory.QueryZone(pb.QueryZoneRequest()))  # no session at all
    assert code == grpc.StatusCode.UNAUTHENTICATED


# -- query semantics ----------------------------------------------------------------------------------------------


def test_query_conditions(api):
    for i in range(5):
        api("CreateZone", name=f"z{i}", description=None if i % 2 else f"even {i}")
    names = lambda *q: sorted(z.name for z in api.query("QueryZone", *q))  # noqa: E731
    assert names("name=z1") == ["z1"]
    assert names("name!=z1") == ["z0", "z2", "z3", "z4"]
    assert names("name?=z1,z3,nope") == ["z1", "z3"]
    assert names("name!?=z1,z3") == ["z0", "z2", "z4"]
    assert names("description~=even%") == ["z0", "z2", "z4"]
    assert names("description!~=%4") == ["z0", "z2"]
    assert names("description=null") == ["z1", "z3"]
    assert names("description!=null") == ["z0", "z2", "z4"]
    assert names("name>=z3") == ["z3", "z4"] and names("name<z1") == ["z0"]
    assert names("name>z0", "name<=z2") == ["z1", "z2"]  # every condition must hold
    assert names("description=even 2") == ["z2"]  # the value is everything after the operator
    assert names("create_date>0", "lastOpDate>0") == ["z0", "z1", "z2", "z3", "z4"]  # snake or camel case


def test_query_numbers_and_booleans_compare_as_numbers(api):
    site = build_site(api, hosts=0)
    for cpu in (4, 8, 16):
        api(
            "AddKVMHost",
            cluster_uuid=site["cluster"],
            name=f"h{cpu}",
            management_ip=f"10.0.0.{cpu}",
            cpu_num=cpu,
            memory_size=8 * GIB,
        )
    assert sorted(h.cpu_num for h in api.query("QueryHost", "cpuNum>4")) == [8, 16]
    assert sorted(h.cpu_num for h in api.query("QueryHost", "cpuNum?=4,16")) == [4, 16]
    huge = "9" * 20  # beyond 64 bits: compared as the number it reads as
    assert len(api.query("QueryHost", f"cpuNum<{huge}")) == 3 and api.query("QueryHost", f"cpuNum={huge}") == []
    # cpu_used is computed by the view (no type affinity): only an int literal matches it.
    assert len(api.query("QueryHost", "cpuUsed=0")) == 3
    assert len(api.query("QueryL3Network", "system=false")) == 1
    assert api.query("QueryL3Network", "system=true") == []


def test_query_sort_paging_and_count(api):
    for name in ("b", "d", "a", "e", "c"):
        api("CreateZone", name=name)
    page = api("QueryZone", sort="+name", limit=2, start=1, reply_with_count=True)
    assert [z.name for z in page.inventories] == ["b", "c"] and page.total == 5
    assert [z.name for z in api.query("QueryZone", sort="-name")] == ["e", "d", "c", "b", "a"]
    assert [z.name for z in api.query("QueryZone", sort="name")] == ["a", "b", "c", "d", "e"]
    assert [z.name for z in api.query("QueryZone", sort=" name")] == ["a", "b", "c", "d", "e"]  # URL-decoded `+`
    count_only = api("QueryZone", q=["name!=a"], limit=0, reply_with_count=True)
    assert list(count_only.inventories) == [] and count_only.total == 4
    assert not api("QueryZone").HasField("total")  # no count unless asked
    assert len(api.query("QueryZone", start=4)) == 1


def test_bad_query_arguments_are_invalid_argument(api):
    for fields, fragment in [
        (dict(q=["noSuchField=1"]), "invalid query field[noSuchField]"),
        (dict(q=["vmNics.ip=1"]), "invalid query condition"),
        (dict(q=["name"]), "invalid query condition[name]"),
        (dict(sort="-passwordHash"), "invalid query field[passwordHash]"),
        (dict(limit=1001), "invalid limit[1001]"),
        (dict(limit=-1), "invalid limit[-1]"),
        (dict(start=-1), "invalid start[-1]"),
    ]:
        code, error = failure(lambda: api("QueryZone", **fields))
        assert (code, error.code) == (grpc.StatusCode.INVALID_ARGUMENT, "SYS.1007"), fields
        assert fragment in error.details, (fields, error.details)


def test_query_parsing_units():
    columns = frozenset({"l3_network_uuid", "name", "cpu_num", "system", "value"})
    assert parse_conditions(
        ["l3NetworkUuid!?=a,b", "name~=x%", "cpuNum>=007", "system=true", "value=true", "name=a=b", "name!=null"],
        columns,
    ) == [
        Condition("l3_network_uuid", "not-in", ["a", "b"]),
        Condition("name", "like", "x%"),
        Condition("cpu_num", ">=", "007"),  # not a canonical integer: left as text
        Condition("system", "=", 1),
        Condition("value", "=", "true"),  # booleans only on boolean columns
        Condition("name", "=", "a=b"),
        Condition("name", "not-null"),
    ]
    assert parse_conditions(["cpuNum<-3"], columns) == [Condition("cpu_num", "<", -3)]
    assert parse_sort("-cpuNum", columns) == ("cpu_num", False)
    assert parse_sort(None, columns) is None and parse_sort("", columns) is None
    assert check_page(None, None) == (DEFAULT_LIMIT, 0) and check_page(0, 7) == (0, 7)


def test_global_config_query_lists_every_known_key_with_its_current_value(api):
    configs = {(c.category, c.name): c for c in api.query("QueryGlobalConfig")}
    assert set(configs) == set(GLOBAL_CONFIG_DEFAULTS)
    for key, (default, description) in GLOBAL_CONFIG_DEFAULTS.items():
        assert (configs[key].default_value, configs[key].value, configs[key].description) == (
            default,
            default,
            description,
        )
    updated = api(
        "UpdateGlobalConfig",
        category="kvm",
        name="reservedMemory",
        update_global_config=pb.UpdateGlobalConfigParams(value="2G"),
    ).inventory
    assert (updated.value, updated.default_value) == ("2G", "1G")
    assert [c.value for c in api.query("QueryGlobalConfig", "category=kvm")] == ["2G"]
    page = api("QueryGlobalConfig", sort="+name", limit=3, reply_with_count=True)
    assert page.total == len(GLOBAL_CONFIG_DEFAULTS) and len(page.inventories) == 3
    assert [c.name for c in page.inventories] == sorted(n for _, n in GLOBAL_CONFIG_DEFAULTS)[:3]


# -- the placement engine kept in step ------------------------------------------------------------------------------


def _place(server: ServerThread, l3: str, **request: Any):
    """engine.place on the server's loop: the Placement, or the NoHostAvailable it raised."""

    def run(domain: Domain):
        try:
            return domain.engine.place(Request(l3_uuids=(l3,), **request))
        except NoHostAvailable as e:
            return e

    return on_loop(server, run)


def test_disabled_or_maintained_hosts_are_refused_by_the_engine(server, api):
    site = build_site(api, hosts=2)
    assert not isinstance(_place(server, site["l3"], vcpus=1, memory=GIB), NoHostAvailable)
    api("ChangeHostState", uuid=site["hosts"][0], **state("disable"))
    api("ChangeHostState", uuid=site["hosts"][1], **state("maintain"))
    refused = _place(server, site["l3"], vcpus=1, memory=GIB)
    assert isinstance(refused, NoHostAvailable)
    assert (refused.phase, refused.rule, refused.removed["HostState"]) == ("primary", "HostState", 2)
    for host in site["hosts"]:
        api("ChangeHostState", uuid=host, **state("enable"))
    placed = _place(server, site["l3"], vcpus=1, memory=GIB)
    assert {placed.primary_host, placed.secondary_host} == set(site["hosts"])


def test_disabled_primary_storage_is_refused_by_the_engine(server, api):
    site = build_site(api, hosts=2)
    api("ChangePrimaryStorageState", uuid=site["ps"], **state("disable", "primary_storage"))
    refused = _place(server, site["l3"], vcpus=1, memory=GIB, root_bytes=GIB)
    assert isinstance(refused, NoHostAvailable) and refused.rule == "PrimaryStorage"
    api("ChangePrimaryStorageState", uuid=site["ps"], **state("enable", "primary_storage"))
    assert _place(server, site["l3"], vcpus=1, memory=GIB, root_bytes=GIB).primary_storage == site["ps"]


def test_local_storage_spans_hosts_added_after_it_was_attached(server, api):
    site = build_site(api, hosts=0, storage="local")
    hosts = [
        api(
            "AddKVMHost",
            cluster_uuid=site["cluster"],
            name=f"h{i}",
            management_ip=f"10.0.0.{i}",
            cpu_num=8,
            memory_size=8 * GIB,
            ft_network_address=f"10.99.0.{i}",
            local_storage_capacity=100 * GIB,
        ).inventory.uuid
        for i in (1, 2)
    ]
    # Each disk is 100 GiB with 1 GiB kept free; the secondary's disk takes 3x the root (copy + 2 COLO caches).
    assert _place(server, site["l3"], vcpus=1, memory=GIB, root_bytes=33 * GIB).primary_storage == site["ps"]
    refused = _place(server, site["l3"], vcpus=1, memory=GIB, root_bytes=34 * GIB)
    assert isinstance(refused, NoHostAvailable) and refused.rule == "PrimaryStorage"
    storage = api.one("QueryPrimaryStorage", site["ps"])
    assert (storage.total_capacity, storage.available_capacity) == (200 * GIB, 200 * GIB)
    assert sorted(r.host_uuid for r in storage.local_storage_host_refs) == sorted(hosts)


def test_cpu_ratio_change_rebuilds_the_engine_and_keeps_committed_usage(server, api):
    site = build_site(api, hosts=2, cpu=8)
    image = api("AddImage", name="img", url="http://img", size=GIB).inventory.uuid
    created = api.vm.CreateFaultToleranceVmInstance(
        pb.CreateFaultToleranceVmInstanceRequest(
            name="vm", cpu_num=4, memory_size=2 * GIB, image_uuid=image, l3_network_uuids=[site["l3"]]
        ),
        metadata=api.metadata,
    )
    primary_host = created.primary_vm_inventory.host_uuid
    assert api.one("QueryHost", primary_host).available_cpu_capacity == 80 - 4
    engine_before = on_loop(server, lambda domain: domain.engine)

    api(
        "UpdateGlobalConfig",
        category="host",
        name="cpu.overProvisioning.ratio",
        update_global_config=pb.UpdateGlobalConfigParams(value="2"),
    )
    assert on_loop(server, lambda domain: domain.engine) is not engine_before
    host = api.one("QueryHost", primary_host)
    # The VM's 4 vCPUs, committed before the rebuild, still count (reloaded from the rows as base usage).
    assert (host.total_cpu_capacity, host.available_cpu_capacity) == (16, 12)
    assert on_loop(server, lambda domain: domain.engine.host_usage(primary_host)["cpu_used"]) == 4
    refused = _place(server, site["l3"], vcpus=13, memory=GIB)
    assert isinstance(refused, NoHostAvailable) and refused.rule == "Cpu"
    assert not isinstance(_place(server, site["l3"], vcpus=12, memory=GIB), NoHostAvailable)


def test_reserved_memory_and_ft_cidr_changes_reach_the_engine(server, api):
    site = build_site(api, hosts=2, memory=16 * GIB)
    api(
        "UpdateGlobalConfig",
        category="kvm",
        name="reservedMemory",
        update_global_config=pb.UpdateGlobalConfigParams(value="4G"),
    )
    assert {h.available_memory_capacity for h in api.query("QueryHost")} == {12 * GIB}
    assert isinstance(_place(server, site["l3"], vcpus=1, memory=13 * GIB), NoHostAvailable)
    assert not isinstance(_place(server, site["l3"], vcpus=1, memory=12 * GIB), NoHostAvailable)

    api(
        "UpdateGlobalConfig",
        category="ft",
        name="fault.tolerance.network.cidr",
        update_global_config=pb.UpdateGlobalConfigParams(value="10.100.0.0/16"),
    )  # no host has an address in it
    refused = _place(server, site["l3"], vcpus=1, memory=GIB)
    assert isinstance(refused, NoHostAvailable) and refused.rule == "FtNetwork"
