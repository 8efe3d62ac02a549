"""Request size limits over real gRPC: every limit of `ftvm.domain.limits` (and the name/description rules) is a
typed SYS.1007 that writes nothing, the largest valid request still succeeds, an error never carries an
oversized value back (it would not fit gRPC's trailers), a message over gRPC's 4 MiB cap is refused by gRPC
itself, and the server keeps serving throughout."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from test_create_service import Names, basic
from test_create_validation import ROW_TABLES

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm.domain.limits import (
    MAX_CONDITION_LENGTH,
    MAX_CONDITIONS,
    MAX_DATA_DISKS,
    MAX_IN_VALUES,
    MAX_L3_NETWORKS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_UUID_LENGTH,
)
from ftvm.server import MAX_MESSAGE_BYTES
from service_support import inventory, log_in, rpc_error, start_server

INVALID = grpc.StatusCode.INVALID_ARGUMENT
SERVICES = pb.DESCRIPTOR.services_by_name
# Big enough that echoing it would overflow gRPC's 16 KiB trailer limit (the client would get no ErrorCode).
HUGE = 100_000


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    spec = inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=129)
    l3s = spec["zones"][0]["l2Networks"][0]["l3Networks"]
    for i in range(1, MAX_L3_NETWORKS):  # 16 L3s in all, for a create at the NIC limit
        l3s.append(
            {
                "name": f"l3-extra-{i}",
                "ipRanges": [
                    {
                        "name": "r",
                        "startIp": f"172.{100 + i}.0.2",
                        "endIp": f"172.{100 + i}.0.50",
                        "netmask": "255.255.0.0",
                        "gateway": f"172.{100 + i}.0.1",
                    }
                ],
            }
        )
    with start_server(tmp_path_factory.mktemp("limits"), spec) as server:
        channel = grpc.insecure_channel(server.target)
        yield server, log_in(channel), Names(server)
        channel.close()


def row_counts(server) -> dict[str, int]:
    tables = ROW_TABLES + (
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
        "accounts",
    )
    return server.running.store.read(lambda tx: {t: len(tx.select(t)) for t in tables})


def assert_serving(server, client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert client.query("QueryZone")  # and a real RPC still answers


def call(client, rpc: str, **fields):
    """Any RPC of any service, as the logged-in client."""
    for service, stub in (
        ("AccountService", client.account),
        ("VmService", client.vm),
        ("InventoryService", client.inventory),
    ):
        if rpc in SERVICES[service].methods_by_name:
            method = SERVICES[service].methods_by_name[rpc]
            request = getattr(pb, method.input_type.name)(**fields)
            return getattr(stub, rpc)(request, metadata=client.metadata)
    raise KeyError(rpc)


def refused(env, rpc: str, *texts: str, **fields) -> None:
    """A typed SYS.1007 whose details hold every one of `texts`, no row written, the server still serving."""
    server, client, _ = env
    before = row_counts(server)
    code, error = rpc_error(lambda: call(client, rpc, **fields))
    assert error is not None, f"{rpc}: {code} without an ErrorCode in the trailers"
    assert (code, error.code) == (INVALID, "SYS.1007"), (rpc, error)
    assert all(text in error.details for text in texts), (rpc, error.details)
    assert len(error.details) < 1000, "an error must not echo an oversized value"
    assert row_counts(server) == before
    assert_serving(server, client)


# -- CreateFaultToleranceVmInstance ---------------------------------------------------------------------------


def _uuids(n: int) -> list[str]:
    return [f"{i:032x}" for i in range(n)]


CREATE_LIMITS = [
    ("l3_network_uuids", _uuids(MAX_L3_NETWORKS + 1), "field[l3NetworkUuids]", "has 17 entries; at most 16"),
    ("l3_network_uuids", ["a" * (MAX_UUID_LENGTH + 1)], "field[l3NetworkUuids][0]", "string[64]"),
    ("data_disk_offering_uuids", _uuids(MAX_DATA_DISKS + 1), "field[dataDiskOfferingUuids]", "at most 24"),
    ("data_disk_offering_uuids", ["a" * HUGE], "field[dataDiskOfferingUuids][0]", "string[64]"),
    ("system_tags", ["hostname::h"] * (MAX_TAGS + 1), "field[systemTags]", "at most 64"),
    ("system_tags", ["hostname::" + "h" * HUGE], "field[systemTags][0]", "string[1024]"),
    ("user_tags", ["t"] * (MAX_TAGS + 1), "field[userTags]", "at most 64"),
    ("user_tags", ["t" * (MAX_TAG_LENGTH + 1)], "field[userTags][0]", "string[1024]"),
    ("root_volume_system_tags", ["t"] * (MAX_TAGS + 1), "field[rootVolumeSystemTags]", "at most 64"),
    ("root_volume_system_tags", ["t" * HUGE], "field[rootVolumeSystemTags][0]", "string[1024]"),
    ("data_volume_system_tags", ["t"] * (MAX_TAGS + 1), "field[dataVolumeSystemTags]", "at most 64"),
    ("data_volume_system_tags", ["t" * HUGE], "field[dataVolumeSystemTags][0]", "string[1024]"),
    ("tag_uuids", _uuids(MAX_TAGS + 1), "field[tagUuids]", "at most 64"),
    ("tag_uuids", ["a" * HUGE], "field[tagUuids][0]", "string[64]"),
    ("name", "n" * HUGE, "field[name]", "string[255]"),
    ("description", "d" * HUGE, "field[description]", "string[2048]"),
    ("strategy", "s" * HUGE, "field[strategy]", "string[255]"),
    ("type", "t" * HUGE, "field[type]", "string[255]"),
] + [
    (field, "a" * HUGE, f"field[{camel}]", "string[64]")
    for field, camel in (
        ("instance_offering_uuid", "instanceOfferingUuid"),
        ("image_uuid", "imageUuid"),
        ("default_l3_network_uuid", "defaultL3NetworkUuid"),
        ("zone_uuid", "zoneUuid"),
        ("cluster_uuid", "clusterUuid"),
        ("host_uuid", "hostUuid"),
        ("primary_storage_uuid_for_root_volume", "primaryStorageUuidForRootVolume"),
        ("resource_uuid", "resourceUuid"),
    )
]


@pytest.mark.parametrize(
    "field, value, field_text, limit_text", CREATE_LIMITS, ids=[f"{c[0]}-{c[3]}" for c in CREATE_LIMITS]
)
def test_create_over_a_limit_is_invalid_argument(env, field, value, field_text, limit_text):
    fields = basic(env[2], **{field: value})
    if field == "l3_network_uuids":
        fields["default_l3_network_uuid"] = value[0][:MAX_UUID_LENGTH]
    refused(env, "CreateFaultToleranceVmInstance", field_text, limit_text, **fields)


# A valid system tag is far shorter than MAX_TAG_LENGTH: the longest is a hostname of 253 characters (RFC 1123).
LONGEST_HOSTNAME = ".".join(["h" * 63] * 3 + ["h" * 61])


def test_a_create_at_every_limit_succeeds(env):
    server, client, names = env
    l3s = list(names.l3.values())
    assert len(l3s) == MAX_L3_NETWORKS
    tag = "t" * MAX_TAG_LENGTH
    reply = client.create(
        **basic(
            names,
            name="n" * 255,
            description="d" * 2048,
            l3_network_uuids=l3s,
            default_l3_network_uuid=l3s[3],
            data_disk_offering_uuids=[names.disk["data-20g"]] * MAX_DATA_DISKS,
            system_tags=[f"hostname::{LONGEST_HOSTNAME}"] * MAX_TAGS,
            user_tags=[tag] * MAX_TAGS,
            root_volume_system_tags=[tag] * MAX_TAGS,
            data_volume_system_tags=[tag] * MAX_TAGS,
            tag_uuids=_uuids(MAX_TAGS),
        )
    )
    primary = reply.primary_vm_inventory
    assert len(primary.vm_nics) == MAX_L3_NETWORKS and len(primary.all_volumes) == 1 + MAX_DATA_DISKS
    assert len(reply.secondary_vm_inventory.all_volumes) == 3 * (1 + MAX_DATA_DISKS)  # copies + 2 caches each
    client.vm.DestroyVmInstance(
        pb.DestroyVmInstanceRequest(uuid=reply.fault_tolerance_vm_group_inventory.uuid), metadata=client.metadata
    )


# -- queries ----------------------------------------------------------------------------------------------------

QUERY_RPCS = sorted(m.name for s in SERVICES.values() for m in s.methods if m.name.startswith("Query"))


# A text column of each queried view (every view but the management nodes' has a name).
TEXT_COLUMN = {"QueryManagementNode": "hostName"}


def test_every_query_rpc_is_covered():
    assert len(QUERY_RPCS) == 15, QUERY_RPCS


@pytest.mark.parametrize("rpc", QUERY_RPCS)
def test_query_limits(env, rpc):
    server, client, _ = env
    column = TEXT_COLUMN.get(rpc, "name")
    # at each limit: answered
    call(client, rpc, q=[f"{column}!=n{i}" for i in range(MAX_CONDITIONS)])
    call(client, rpc, q=[f"{column}=" + "x" * (MAX_CONDITION_LENGTH - len(column) - 1)])
    call(client, rpc, q=[f"{column}?=" + ",".join(["n"] * MAX_IN_VALUES)])
    # over: typed, short errors
    refused(env, rpc, f"at most {MAX_CONDITIONS} are allowed", q=[f"{column}!=n{i}" for i in range(MAX_CONDITIONS + 1)])
    refused(
        env,
        rpc,
        f"longer than {MAX_CONDITION_LENGTH} characters",
        q=[f"{column}=" + "x" * (MAX_CONDITION_LENGTH - len(column))],
    )
    refused(env, rpc, f"at most {MAX_IN_VALUES} are allowed", q=[f"{column}?=" + ",".join(["n"] * (MAX_IN_VALUES + 1))])
    refused(env, rpc, "invalid sort: longer than 255", sort="+" + "n" * HUGE)


# -- names and descriptions of every create ---------------------------------------------------------------------

NAMED_RPCS = sorted(
    m.name for s in SERVICES.values() for m in s.methods if {"name", "description"} <= set(m.input_type.fields_by_name)
)


def test_every_named_create_is_covered():
    assert len(NAMED_RPCS) == 14, NAMED_RPCS  # 12 inventory creates, CreateAccount, CreateFaultToleranceVmInstance


@pytest.mark.parametrize("rpc", NAMED_RPCS)
def test_names_and_descriptions_follow_zstacks_rules(env, rpc):
    refused(env, rpc, "field[name]", name="")
    refused(env, rpc, "field[name]", name="   ")
    refused(env, rpc, "exceeds max length of string[255]", name="n" * 256)
    refused(env, rpc, "exceeds max length of string[255]", name="n" * HUGE)
    refused(env, rpc, "field[description]", name="ok", description="d" * 2049)
    refused(env, rpc, "field[description]", name="ok", description="d" * HUGE)


# -- inventory admin writes -----------------------------------------------------------------------------------------


def _inventory_limits(names: Names) -> list[tuple[str, dict, str]]:
    zone, cluster = next(iter(names.zone.values())), next(iter(names.cluster.values()))
    host, l3 = next(iter(names.host.values())), next(iter(names.l3.values()))
    ceph = dict(zone_uuid=zone, name="ceph", total_capacity=1 << 40)
    ip_range = dict(
        l3_network_uuid=l3,
        name="r",
        start_ip="172.16.9.10",
        end_ip="172.16.9.20",
        netmask="255.255.0.0",
        gateway="172.16.0.1",
    )
    host_fields = dict(cluster_uuid=cluster, name="h", management_ip="192.168.77.1", cpu_num=4, memory_size=1 << 30)
    return [
        ("CreateZone", dict(name="z", resource_uuid="a" * HUGE), "field[resourceUuid]"),
        ("CreateZone", dict(name="z", user_tags=["t"] * (MAX_TAGS + 1)), "field[userTags] of message"),
        ("CreateZone", dict(name="z", user_tags=["t" * (MAX_TAG_LENGTH + 1)]), "field[userTags][0]"),
        ("CreateZone", dict(name="z", system_tags=["s" * HUGE]), "field[systemTags][0]"),
        ("CreateCluster", dict(zone_uuid="z" * HUGE, name="c"), "field[zoneUuid]"),
        ("CreateCluster", dict(zone_uuid=zone, name="c", hypervisor_type="K" * HUGE), "field[hypervisorType]"),
        ("AddKVMHost", dict(host_fields, cluster_uuid="c" * HUGE), "field[clusterUuid]"),
        ("AddKVMHost", dict(host_fields, management_ip="1" * HUGE), "field[managementIp]"),
        ("AddKVMHost", dict(host_fields, ft_network_address="1" * HUGE), "field[ftNetworkAddress]"),
        ("AddKVMHost", dict(host_fields, failure_domain="r" * HUGE), "field[failureDomain]"),
        (
            "AddNfsPrimaryStorage",
            dict(zone_uuid=zone, name="n", url="s:/" + "p" * HUGE, total_capacity=1 << 40),
            "field[url]",
        ),
        ("AddCephPrimaryStorage", dict(ceph, mon_urls=["mon"] * 17), "field[monUrls] of message"),
        ("AddCephPrimaryStorage", dict(ceph, mon_urls=["m" * HUGE]), "field[monUrls][0]"),
        (
            "CreateL2NoVlanNetwork",
            dict(zone_uuid=zone, name="l2", physical_interface="e" * HUGE),
            "field[physicalInterface]",
        ),
        ("AddIpRange", dict(ip_range, start_ip="1" * HUGE), "field[startIp]"),
        ("AddIpRange", dict(ip_range, netmask="2" * HUGE), "field[netmask]"),
        ("AddImage", dict(name="i", url="http://i", size=1 << 30, media_type="M" * HUGE), "field[mediaType]"),
        ("AddImage", dict(name="i", url="http://i", size=1 << 30, guest_os_type="g" * HUGE), "field[guestOsType]"),
        (
            "CreateInstanceOffering",
            dict(name="o", cpu_num=1, memory_size=1 << 30, allocator_strategy="a" * HUGE),
            "field[allocatorStrategy]",
        ),
        (
            "ChangeHostState",
            dict(uuid="h" * HUGE, change_host_state=pb.ChangeHostStateParams(state_event="enable")),
            "field[uuid]",
        ),
        (
            "ChangeHostState",
            dict(uuid=host, change_host_state=pb.ChangeHostStateParams(state_event="e" * HUGE)),
            "field[stateEvent]",
        ),
        (
            "UpdateGlobalConfig",
            dict(category="ft", name="enable", update_global_config=pb.UpdateGlobalConfigParams(value="v" * HUGE)),
            "field[value]",
        ),
        (
            "UpdateGlobalConfig",
            dict(category="c" * HUGE, name="enable", update_global_config=pb.UpdateGlobalConfigParams(value="true")),
            "field[category]",
        ),
    ]


def test_inventory_writes_over_a_limit_are_invalid_argument(env):
    for rpc, fields, text in _inventory_limits(env[2]):
        refused(env, rpc, text, **fields)


# -- transport limits -----------------------------------------------------------------------------------------------


def test_a_message_over_4_mib_is_refused_by_grpc_and_the_server_keeps_serving(env):
    server, client, names = env
    before = row_counts(server)
    over = basic(names, description="d" * MAX_MESSAGE_BYTES)
    code, error = rpc_error(lambda: client.create(**over))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and error is None  # gRPC's own refusal: no ErrorCode
    # just under the cap the service itself answers, with its typed error
    under = basic(names, description="d" * (MAX_MESSAGE_BYTES - 1024))
    code, error = rpc_error(lambda: client.create(**under))
    assert (code, error.code) == (INVALID, "SYS.1007") and "field[description]" in error.details
    assert row_counts(server) == before
    assert_serving(server, client)
    reply = client.create(**basic(names, name="after-the-big-ones"))
    assert reply.success


def test_an_oversized_session_header_is_a_short_id_1001(env):
    server, client, _ = env
    code, error = rpc_error(
        lambda: client.inventory.QueryZone(pb.QueryZoneRequest(), metadata=(("authorization", "OAuth " + "s" * 6000),))
    )
    assert (code, error.code) == (grpc.StatusCode.UNAUTHENTICATED, "ID.1001")
    assert len(error.details) < 200
    assert_serving(server, client)
