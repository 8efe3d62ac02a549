"""Every request rule of spec §2 (and the FT prerequisites of §6), each with its code, over real gRPC.
A refused create leaves nothing behind."""

from __future__ import annotations

import grpc
import pytest
from test_create_service import Names, basic

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from service_support import inventory, log_in, rpc_error, start_server

ROW_TABLES = (
    "ft_groups",
    "vm_instances",
    "vm_nics",
    "used_ips",
    "mac_allocations",
    "volumes",
    "vm_cdroms",
    "colo_ports",
    "tags",
)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    spec = inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=129)
    spec["zones"][0]["l2Networks"][0]["l3Networks"].append(
        {
            "name": "l3-system",
            "system": True,
            "ipRanges": [
                {
                    "name": "s",
                    "startIp": "172.30.0.2",
                    "endIp": "172.30.0.9",
                    "netmask": "255.255.0.0",
                    "gateway": "172.30.0.1",
                }
            ],
        }
    )
    spec["zones"][0]["l2Networks"][0]["l3Networks"].append(
        {
            "name": "l3-second",
            "ipRanges": [
                {
                    "name": "t",
                    "startIp": "172.31.0.2",
                    "endIp": "172.31.0.99",
                    "netmask": "255.255.0.0",
                    "gateway": "172.31.0.1",
                }
            ],
        }
    )
    spec["images"].append({"name": "system-image", "url": "http://images/vr.qcow2", "size": "1G", "system": True})
    spec["images"].append({"name": "raw-image", "url": "http://images/raw.img", "size": "1G", "format": "raw"})
    with start_server(tmp_path_factory.mktemp("validation"), spec) as server:
        client = log_in(grpc.insecure_channel(server.target))
        yield server, client, Names(server)


def _rows(server) -> dict[str, int]:
    return server.running.store.read(lambda tx: {t: len(tx.select(t)) for t in ROW_TABLES})


def refused(env, expected_code: str, status: grpc.StatusCode, text: str, **fields):
    server, client, names = env
    before = _rows(server)
    reservations = server.running.domain.engine.reservation_count()
    code, error = rpc_error(lambda: client.create(**fields))
    assert (error.code, code) == (expected_code, status), error
    assert text in error.details, error.details
    assert _rows(server) == before and server.running.domain.engine.reservation_count() == reservations
    return error


INVALID, MISSING = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
FAILED = grpc.StatusCode.FAILED_PRECONDITION
UNKNOWN = "0123456789ab4def8123456789abcdef"


def test_name_rules(env):
    names = env[2]
    refused(env, "SYS.1007", INVALID, "field[name]", **basic(names, name=""))
    refused(env, "SYS.1007", INVALID, "field[name]", **basic(names, name="   "))
    refused(env, "SYS.1007", INVALID, "exceeds max length of string[255]", **basic(names, name="n" * 256))
    refused(env, "SYS.1007", INVALID, "field[description]", **basic(names, description="d" * 2049))


def test_capacity_fields(env):
    names = env[2]
    no_offering = basic(names)
    del no_offering["instance_offering_uuid"]
    refused(env, "SYS.1007", INVALID, "field[cpuNum]", **no_offering)
    refused(env, "SYS.1007", INVALID, "field[memorySize]", **dict(no_offering, cpu_num=1))
    refused(env, "SYS.1007", INVALID, "field[cpuNum]", **dict(no_offering, cpu_num=0, memory_size=1 << 30))
    refused(env, "SYS.1007", INVALID, "field[memorySize]", **dict(no_offering, cpu_num=1, memory_size=-1))
    refused(
        env,
        "SYS.1007",
        INVALID,
        "reservedMemorySize",
        **dict(no_offering, cpu_num=1, memory_size=1 << 30, reserved_memory_size=2 << 30),
    )
    refused(env, "SYS.1003", MISSING, "instanceOfferingUuid", **basic(names, instance_offering_uuid=UNKNOWN))


def test_offering_wins_over_cpu_and_memory(env):
    server, client, names = env
    reply = client.create(**basic(names, cpu_num=32, memory_size=64 << 30))
    assert (reply.primary_vm_inventory.cpu_num, reply.primary_vm_inventory.memory_size) == (2, 4 << 30)
    reply = client.create(
        **{k: v for k, v in basic(names, cpu_num=3, memory_size=3 << 30).items() if k != "instance_offering_uuid"}
    )
    assert (reply.primary_vm_inventory.cpu_num, reply.primary_vm_inventory.memory_size) == (3, 3 << 30)


def test_image_rules(env):
    names = env[2]
    refused(env, "SYS.1007", INVALID, "field[imageUuid]", **basic(names, image_uuid=""))
    refused(env, "SYS.1003", MISSING, "imageUuid", **basic(names, image_uuid=UNKNOWN))
    refused(env, "SYS.1007", INVALID, "ISO", **basic(names, image_uuid=names.image["installer"]))
    refused(env, "SYS.1007", INVALID, "system image", **basic(names, image_uuid=names.image["system-image"]))
    refused(env, "SYS.1006", FAILED, "qcow2", **basic(names, image_uuid=names.image["raw-image"]))


def test_l3_rules(env):
    names = env[2]
    l3, second = names.l3["l3-0"], names.l3["l3-second"]
    refused(env, "SYS.1007", INVALID, "must be a nonempty list", **basic(names, l3_network_uuids=[]))
    refused(env, "SYS.1007", INVALID, "duplicate", **basic(names, l3_network_uuids=[l3, l3]))
    refused(env, "SYS.1003", MISSING, "l3NetworkUuids", **basic(names, l3_network_uuids=[UNKNOWN]))
    refused(env, "SYS.1007", INVALID, "system network", **basic(names, l3_network_uuids=[names.l3["l3-system"]]))
    refused(env, "SYS.1007", INVALID, "defaultL3NetworkUuid is required", **basic(names, l3_network_uuids=[l3, second]))
    refused(
        env,
        "SYS.1007",
        INVALID,
        "is not in l3NetworkUuids",
        **basic(names, l3_network_uuids=[l3], default_l3_network_uuid=second),
    )


def test_two_l3s_give_two_nics_in_request_order(env):
    server, client, names = env
    l3, second = names.l3["l3-0"], names.l3["l3-second"]
    reply = client.create(**basic(names, l3_network_uuids=[second, l3], default_l3_network_uuid=l3))
    nics = reply.primary_vm_inventory.vm_nics
    assert [(n.l3_network_uuid, n.device_id) for n in nics] == [(second, 0), (l3, 1)]
    assert nics[1].mac.endswith(":01") and reply.primary_vm_inventory.default_l3_network_uuid == l3


def test_references_not_found(env):
    names = env[2]
    refused(env, "SYS.1003", MISSING, "dataDiskOfferingUuids", **basic(names, data_disk_offering_uuids=[UNKNOWN]))
    refused(env, "SYS.1003", MISSING, "zoneUuid", **basic(names, zone_uuid=UNKNOWN))
    refused(env, "SYS.1003", MISSING, "clusterUuid", **basic(names, cluster_uuid=UNKNOWN))
    refused(env, "SYS.1003", MISSING, "hostUuid", **basic(names, host_uuid=UNKNOWN))
    refused(
        env,
        "SYS.1003",
        MISSING,
        "primaryStorageUuidForRootVolume",
        **basic(names, primary_storage_uuid_for_root_volume=UNKNOWN),
    )


@pytest.mark.parametrize(
    "value",
    [
        "0123456789AB4DEF8123456789ABCDEF",
        "0123456789ab6def8123456789abcdef",
        "0123456789ab4def7123456789abcdef",
        "0123456789ab4def8123456789abcde",
        "0123456789ab-4def-8123-456789abcdef",
    ],
)
def test_bad_resource_uuid(env, value):
    refused(env, "SYS.1007", INVALID, "resourceUuid", **basic(env[2], resource_uuid=value))


def test_tags_strategy_and_type(env):
    names = env[2]
    refused(
        env,
        "SYS.1007",
        INVALID,
        "no system tag matches[bogus::1] for resourceType",
        **basic(names, system_tags=["bogus::1"]),
    )
    refused(env, "SYS.1007", INVALID, "field[strategy]", **basic(names, strategy="StartLater"))
    refused(env, "SYS.1007", INVALID, "field[type]", **basic(names, type="UserVm"))


def test_first_rule_in_contract_order_wins(env):
    names = env[2]
    refused(
        env,
        "SYS.1007",
        INVALID,
        "field[name]",
        **basic(names, name="", image_uuid=UNKNOWN, strategy="Nope", l3_network_uuids=[]),
    )
    refused(env, "SYS.1003", MISSING, "imageUuid", **basic(names, image_uuid=UNKNOWN, host_uuid=UNKNOWN))


def _admin_state(client, rpc: str, uuid: str, event: str) -> None:
    params = getattr(pb, f"{rpc}Params")(state_event=event)
    field = rpc[0].lower() + "".join("_" + c.lower() if c.isupper() else c for c in rpc[1:])
    request = getattr(pb, f"{rpc}Request")(uuid=uuid, **{field: params})
    getattr(client.inventory, rpc)(request, metadata=client.metadata)


@pytest.mark.parametrize(
    "rpc, kind, field",
    [
        ("ChangeImageState", "image", "image_uuid"),
        ("ChangeInstanceOfferingState", "offering", "instance_offering_uuid"),
        ("ChangeL3NetworkState", "l3", None),
        ("ChangeHostState", "host", "host_uuid"),
        ("ChangeClusterState", "cluster", "cluster_uuid"),
        ("ChangeZoneState", "zone", "zone_uuid"),
    ],
)
def test_disabled_resources_are_sys_1006(env, rpc, kind, field):
    server, client, names = env
    uuid = {
        "image": names.image.get("centos"),
        "offering": names.offering.get("small"),
        "l3": names.l3["l3-0"],
        "host": names.host.get("host-1"),
        "cluster": names.cluster.get("z0-c0"),
        "zone": names.zone.get("zone-0"),
    }[kind]
    fields = basic(names) if field is None else basic(names, **{field: uuid})
    _admin_state(client, rpc, uuid, "disable")
    try:
        refused(env, "SYS.1006", FAILED, "not Enabled", **fields)
    finally:
        _admin_state(client, rpc, uuid, "enable")
    client.create(**fields)


def _global(client, category: str, name: str, value: str) -> None:
    client.inventory.UpdateGlobalConfig(
        pb.UpdateGlobalConfigRequest(
            category=category, name=name, update_global_config=pb.UpdateGlobalConfigParams(value=value)
        ),
        metadata=client.metadata,
    )


def test_ft_prerequisites(env):
    server, client, names = env
    _global(client, "ft", "enable", "false")
    try:
        refused(env, "SYS.1006", FAILED, "Failed to create ft vm, please enable ft in GlobalConfig", **basic(names))
    finally:
        _global(client, "ft", "enable", "true")
    _global(client, "ft", "fault.tolerance.network.cidr", "")
    try:
        refused(env, "SYS.1006", FAILED, "Ft network is not set", **basic(names))
    finally:
        _global(client, "ft", "fault.tolerance.network.cidr", "10.99.0.0/16")
    # a CIDR no host is inside: every host loses its FT address
    _global(client, "ft", "fault.tolerance.network.cidr", "10.100.0.0/16")
    try:
        error = refused(env, "SYS.1006", grpc.StatusCode.RESOURCE_EXHAUSTED, "failed to place", **basic(names))
        assert "FtNetwork" in error.cause.details
    finally:
        _global(client, "ft", "fault.tolerance.network.cidr", "10.99.0.0/16")
    client.create(**basic(names))
