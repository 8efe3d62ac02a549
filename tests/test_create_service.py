"""CreateFaultToleranceVmInstance end to end over real gRPC against a real server (Rust core), on SQLite and on
PostgreSQL (conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from conftest import new_database

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from service_support import G, inventory, log_in, rpc_error, start_server

CONTRACT = Path(__file__).resolve().parent / "contract"  # copies of ../shared/spec files


class Names:
    """name -> uuid of the server's inventory (read from its catalog)."""

    def __init__(self, server) -> None:
        cat = server.running.domain.catalog
        self.image = {r["name"]: u for u, r in cat.images.items()}
        self.offering = {r["name"]: u for u, r in cat.instance_offerings.items()}
        self.disk = {r["name"]: u for u, r in cat.disk_offerings.items()}
        self.l3 = {r["name"]: u for u, r in cat.l3_networks.items()}
        self.host = {r["name"]: u for u, r in cat.hosts.items()}
        self.cluster = {r["name"]: u for u, r in cat.clusters.items()}
        self.zone = {r["name"]: u for u, r in cat.zones.items()}
        self.storage = {r["name"]: u for u, r in cat.storages.items()}
        self.hosts = cat.hosts


@pytest.fixture(scope="module")
def roomy(request, tmp_path_factory, backend):
    spec = inventory(
        hosts_per_cluster=4,
        clusters=2,
        cpu=64,
        memory_gib=257,
        zones=2,
        extra_hosts=[
            {
                "name": "no-ft-address",
                "managementIp": "192.168.9.9",
                "cpuNum": 512,
                "memorySize": "4T",
                "failureDomain": "rack-0",
            }
        ],
    )
    folder = tmp_path_factory.mktemp("roomy")
    with start_server(folder, spec, database_url=new_database(request, backend, folder)) as server:
        channel = grpc.insecure_channel(server.target)
        yield server, log_in(channel), Names(server)
        channel.close()


def basic(names: Names, **extra) -> dict:
    fields = dict(
        name="web-1",
        image_uuid=names.image["centos"],
        l3_network_uuids=[names.l3["l3-0"]],
        instance_offering_uuid=names.offering["small"],
    )
    fields.update(extra)
    return fields


# -- the reply ---------------------------------------------------------------------------------------------------
# Fields the reference doc lists that legitimately have no value in a successful create (REST prints them as null).
EMPTY_ON_SUCCESS = {
    "error",
    "description",
    "metaData",
    "volumeQos",
    "lastDetachDate",
    "lastVmInstanceUuid",
    "isoUuid",
    "isoInstallPath",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _field(message_descriptor, camel: str):
    for f in message_descriptor.fields:
        if _camel(f.name) == camel:
            return f
    return None


def test_reply_has_every_seed_field(roomy):
    server, client, names = roomy
    reply = client.create(**basic(names, description=None, data_disk_offering_uuids=[names.disk["data-20g"]]))
    paths = [f["path"] for f in json.loads((CONTRACT / "seed-fields.json").read_text())["response_fields"]]
    assert len(paths) == 183
    missing_from_schema, unset = [], []
    for path in paths:
        # Walk the path through every element of nested lists; a path is filled when any element has a value.
        message, descriptor = [reply], reply.DESCRIPTOR
        for part in path.split("."):
            f = _field(descriptor, part)
            if f is None:
                missing_from_schema.append(path)
                break
            values = []
            for m in message:
                if f.is_repeated:
                    values += list(getattr(m, f.name))
                elif (f.message_type is None and not f.has_presence) or m.HasField(f.name):
                    values.append(getattr(m, f.name))
            if not values:
                if part not in EMPTY_ON_SUCCESS:
                    unset.append(path)
                break
            message, descriptor = values, f.message_type
            if descriptor is None:
                break
    assert missing_from_schema == []
    assert unset == []
    assert reply.success is True


def test_records_are_filled_as_the_contract_says(roomy):
    server, client, names = roomy
    reply = client.create(**basic(names, name="  db-1  ", data_disk_offering_uuids=[names.disk["data-20g"]] * 2))
    p, s, g = reply.primary_vm_inventory, reply.secondary_vm_inventory, reply.fault_tolerance_vm_group_inventory
    assert (p.name, s.name, g.name) == ("db-1", "db-1-svm", "db-1")
    assert p.state == s.state == "Running" and g.status == s.status == "Protected"
    assert g.type == "FaultToleranceVmGroup" and p.type == s.type == "UserVm"
    assert g.primary_vm_instance_uuid == s.primary_vm_instance_uuid == p.uuid
    assert g.secondary_vm_instance_uuid == s.secondary_vm_instance_uuid == s.uuid
    assert p.host_uuid == p.last_host_uuid == g.host_uuid and p.host_uuid != s.host_uuid
    host = names.hosts[p.host_uuid]
    assert (p.zone_uuid, p.cluster_uuid, p.hypervisor_type) == (host["zone_uuid"], host["cluster_uuid"], "KVM")
    assert (p.cpu_num, p.memory_size) == (2, 4 * G)
    # volumes: root + 2 data on the primary; the secondary has copies plus two cache volumes per disk
    assert [v.type for v in p.all_volumes] == ["Root", "Data", "Data"]
    assert [v.device_id for v in p.all_volumes] == [0, 1, 2]
    root = p.all_volumes[0]
    assert root.name == "ROOT-for-db-1" and root.size == 10 * G and root.root_image_uuid == names.image["centos"]
    assert root.install_path.endswith(f"/vol-{root.uuid}/{root.uuid}.qcow2")
    assert "/rootVolumes/acct-" in root.install_path
    assert p.root_volume_uuid == root.uuid and p.all_volumes[1].name == "DATA-for-db-1"
    assert sorted(v.type for v in s.all_volumes) == ["Cache"] * 6 + ["Data"] * 2 + ["Root"]
    assert sum(v.size for v in s.all_volumes) == 3 * sum(v.size for v in p.all_volumes)
    # NICs: the secondary reuses the primary's IP and MAC; one usedIp record
    (pn,), (sn,) = p.vm_nics, s.vm_nics
    assert (pn.ip, pn.mac) == (sn.ip, sn.mac) and pn.uuid != sn.uuid
    assert pn.mac.startswith("fa:") and pn.mac.endswith(":00") and len(pn.mac) == 17
    assert pn.internal_name.startswith("vnic") and pn.internal_name.endswith(".0")
    assert (pn.type, pn.driver_type, pn.state, pn.ip_version) == ("VNIC", "virtio", "enable", 4)
    (used,) = pn.used_ips
    assert used.ip == pn.ip and used.vm_nic_uuid == pn.uuid and used.gateway == "172.16.0.1"
    assert [c.name for c in p.vm_cd_roms] == [f"vm-{p.uuid}-cdRom"]
    assert len(g.vm_nics) == 1 and len(g.all_volumes) == 3


def test_resource_uuid_names_the_group_and_a_taken_one_is_already_exists(roomy):
    """A retry of the same request gets the original reply; another request under the taken uuid is refused."""
    server, client, names = roomy
    uuid = "7d2a6a1d3e7b4c1f9a0b1c2d3e4f5a6b"
    reply = client.create(**basic(names, resource_uuid=uuid))
    assert reply.fault_tolerance_vm_group_inventory.uuid == uuid
    assert client.create(**basic(names, resource_uuid=uuid)) == reply
    code, error = rpc_error(lambda: client.create(**basic(names, name="another", resource_uuid=uuid)))
    assert code == grpc.StatusCode.ALREADY_EXISTS and error.code == "SYS.1007" and uuid in error.details


def test_strategies(roomy):
    server, client, names = roomy
    stopped = client.create(**basic(names, strategy="CreateStopped"))
    assert stopped.primary_vm_inventory.state == stopped.secondary_vm_inventory.state == "Stopped"
    assert stopped.fault_tolerance_vm_group_inventory.status == "Unprotected"
    assert stopped.primary_vm_inventory.host_uuid and stopped.primary_vm_inventory.vm_nics[0].ip
    before = server.running.domain.engine.reservation_count()
    just = client.create(**basic(names, strategy="JustCreate"))
    p = just.primary_vm_inventory
    assert p.state == "Created" and not p.HasField("host_uuid")
    assert not p.vm_nics[0].HasField("ip") and list(p.vm_nics[0].used_ips) == []
    assert all(not v.HasField("primary_storage_uuid") for v in p.all_volumes)
    assert server.running.domain.engine.reservation_count() == before  # nothing placed or reserved


def test_system_tags(roomy):
    server, client, names = roomy
    l3 = names.l3["l3-0"]
    taken = {n.ip for v in client.query("QueryVmInstance") for n in v.vm_nics}  # addresses are random: avoid them
    ip = next(f"172.16.0.{i}" for i in range(77, 202) if f"172.16.0.{i}" not in taken)
    reply = client.create(
        **basic(
            names,
            system_tags=[f"staticIp::{l3}::{ip}", f"customMac::{l3}::fa:01:02:03:04:00", "createWithoutCdRom::true"],
        )
    )
    nic = reply.primary_vm_inventory.vm_nics[0]
    assert (nic.ip, nic.mac) == (ip, "fa:01:02:03:04:00")
    assert list(reply.primary_vm_inventory.vm_cd_roms) == []
    code, error = rpc_error(lambda: client.create(**basic(names, system_tags=[f"staticIp::{l3}::{ip}"])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "already in use" in error.details


# -- placement rules at service level --------------------------------------------------------------------------------
def test_anti_affinity_and_failure_domain(roomy):
    server, client, names = roomy
    for i in range(6):
        reply = client.create(**basic(names, name=f"aa-{i}"))
        p, s = reply.primary_vm_inventory, reply.secondary_vm_inventory
        assert p.host_uuid != s.host_uuid
        assert names.hosts[p.host_uuid]["failure_domain"] != names.hosts[s.host_uuid]["failure_domain"]
        assert p.zone_uuid == s.zone_uuid


def test_location_pins(roomy):
    server, client, names = roomy
    host = names.host["host-3"]
    reply = client.create(**basic(names, host_uuid=host, cluster_uuid=names.cluster["z1-c0"]))  # host wins
    assert reply.primary_vm_inventory.host_uuid == host
    cluster = names.cluster["z0-c1"]
    reply = client.create(**basic(names, cluster_uuid=cluster, zone_uuid=names.zone["zone-1"]))  # cluster wins
    assert reply.primary_vm_inventory.cluster_uuid == reply.secondary_vm_inventory.cluster_uuid == cluster
    zone = names.zone["zone-1"]
    reply = client.create(**basic(names, zone_uuid=zone, l3_network_uuids=[names.l3["l3-1"]]))
    assert reply.primary_vm_inventory.zone_uuid == reply.secondary_vm_inventory.zone_uuid == zone


def test_hosts_without_ft_address_are_never_chosen(roomy):
    server, client, names = roomy
    no_ft = names.host["no-ft-address"]
    for i in range(8):
        reply = client.create(**basic(names, name=f"ft-{i}", instance_offering_uuid=names.offering["large"]))
        assert no_ft not in (reply.primary_vm_inventory.host_uuid, reply.secondary_vm_inventory.host_uuid)
    code, error = rpc_error(lambda: client.create(**basic(names, host_uuid=no_ft)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.code == "SYS.1006" and error.cause.code == "HOST_ALLOCATION.1000"
    assert "FtNetwork" in error.cause.details


def test_auth(roomy):
    server, client, names = roomy
    code, error = rpc_error(
        lambda: client.vm.CreateFaultToleranceVmInstance(pb.CreateFaultToleranceVmInstanceRequest(**basic(names)))
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED and error.code == "ID.1001"
    code, error = rpc_error(
        lambda: client.vm.QueryVmInstance(
            pb.QueryVmInstanceRequest(), metadata=(("authorization", "OAuth 0123456789abcdef0123456789abcdef"),)
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED and error.code == "ID.1001"
    code, error = rpc_error(lambda: log_in(client.channel, password="wrong"))
    assert code == grpc.StatusCode.UNAUTHENTICATED and error.code == "ID.1000"
    other = log_in(client.channel)
    client.account.LogOut(pb.LogOutRequest(session_uuid=other.session))
    code, error = rpc_error(lambda: other.query("QueryVmInstance"))
    assert error.code == "ID.1001"


def test_destroy_releases_everything_and_is_idempotent(roomy):
    server, client, names = roomy
    engine = server.running.domain.engine
    host = names.host["host-5"]
    usage_before = engine.host_usage(host)
    reply = client.create(**basic(names, host_uuid=host))
    group = reply.fault_tolerance_vm_group_inventory.uuid
    ip = reply.primary_vm_inventory.vm_nics[0].ip
    assert engine.host_usage(host) != usage_before
    pair = client.vm.GetFaultToleranceVms(
        pb.GetFaultToleranceVmsRequest(fault_tolerance_vm_uuid=group), metadata=client.metadata
    )
    assert pair.primary_vm_inventory.uuid == reply.primary_vm_inventory.uuid
    assert pair.secondary_vm_inventory.vm_nics[0].ip == ip
    client.vm.DestroyVmInstance(
        pb.DestroyVmInstanceRequest(uuid=reply.secondary_vm_inventory.uuid), metadata=client.metadata
    )  # either VM names the group
    assert engine.host_usage(host) == usage_before
    assert client.query("QueryVmInstance", f"groupUuid={group}") == []
    assert client.query("QueryVolume", f"groupUuid={group}") == []
    client.vm.DestroyVmInstance(pb.DestroyVmInstanceRequest(uuid=group), metadata=client.metadata)  # idempotent
    code, error = rpc_error(
        lambda: client.vm.GetFaultToleranceVms(
            pb.GetFaultToleranceVmsRequest(fault_tolerance_vm_uuid=group), metadata=client.metadata
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND and error.code == "SYS.1003"
    # the address can be taken again
    l3 = names.l3["l3-0"]
    again = client.create(**basic(names, system_tags=[f"staticIp::{l3}::{ip}"]))
    assert again.primary_vm_inventory.vm_nics[0].ip == ip


# -- exhaustion ------------------------------------------------------------------------------------------------------
def test_capacity_exhaustion_names_the_rule(tmp_path, database_url):
    # 2 hosts x 33 GiB (32 usable): 8 small VMs each, so 8 pairs (every pair takes one VM on each host).
    with start_server(
        tmp_path, inventory(hosts_per_cluster=2, clusters=1, cpu=64, memory_gib=33), database_url=database_url
    ) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        for i in range(8):
            client.create(**basic(names, name=f"vm-{i}"))
        code, error = rpc_error(lambda: client.create(**basic(names, name="one-too-many")))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.code == "SYS.1006" and error.cause.code == "HOST_ALLOCATION.1000"
        assert "rule Memory" in error.cause.details
        removed = dict(error.cause.opaque["hostsRemovedByRule"])
        assert removed == {"Memory": 2.0}


def test_ip_exhaustion_is_l3_1000(tmp_path, database_url):
    with start_server(
        tmp_path,
        inventory(hosts_per_cluster=2, clusters=1, cpu=64, memory_gib=257, ip_count=3),
        database_url=database_url,
    ) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        ips = {client.create(**basic(names, name=f"vm-{i}")).primary_vm_inventory.vm_nics[0].ip for i in range(3)}
        assert ips == {"172.16.0.2", "172.16.0.3", "172.16.0.4"}
        code, error = rpc_error(lambda: client.create(**basic(names, name="no-ip")))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.code == "L3.1000"
        assert server.running.domain.engine.reservation_count() == 3  # the failed create released its hosts


def test_disabled_cluster_is_out_of_unpinned_placement(roomy):
    server, client, names = roomy
    cluster = names.cluster["z0-c0"]

    def cluster_state(event: str) -> None:
        change = pb.ChangeClusterStateParams(state_event=event)
        client.inventory.ChangeClusterState(
            pb.ChangeClusterStateRequest(uuid=cluster, change_cluster_state=change), metadata=client.metadata
        )

    cluster_state("disable")
    try:
        for i in range(4):
            reply = client.create(**basic(names, name=f"not-in-c0-{i}"))
            assert cluster not in (reply.primary_vm_inventory.cluster_uuid, reply.secondary_vm_inventory.cluster_uuid)
    finally:
        cluster_state("enable")
    reply = client.create(**basic(names, cluster_uuid=cluster))
    assert reply.primary_vm_inventory.cluster_uuid == cluster


def test_the_reference_docs_request_with_placeholders_filled_in(roomy):
    """seed-request.json (the doc's curl body) parses into our request message field for field and creates."""
    from google.protobuf import json_format

    server, client, names = roomy
    host = names.host["host-4"]
    cluster = names.hosts[host]["cluster_uuid"]
    fill = {
        "<name>": "seed-vm",
        "<instanceOfferingUuid>": names.offering["small"],
        "<imageUuid>": names.image["centos"],
        "<l3NetworkUuids>": names.l3["l3-0"],
        "<dataDiskOfferingUuids>": names.disk["data-20g"],
        "<zoneUuid>": names.hosts[host]["zone_uuid"],
        "<clusterUuid>": cluster,
        "<hostUuid>": host,
        "<primaryStorageUuidForRootVolume>": names.storage["nfs-0"],
        "<description>": "from the reference doc",
        "<defaultL3NetworkUuid>": names.l3["l3-0"],
        "<rootVolumeSystemTags>": "ephemeral::false",
        "<dataVolumeSystemTags>": "ephemeral::false",
        "<resourceUuid>": "5f0a1b2c3d4e4f5a8b6c7d8e9f0a1b2c",
        "<tagUuids>": "6f0a1b2c3d4e4f5a8b6c7d8e9f0a1b2c",
        "<systemTags>": "hostname::seed-vm",
        "<userTags>": "team::web",
        "<strategy>": "InstantStart",
        "<type>": "FaultToleranceVmGroup",
    }
    text = (CONTRACT / "seed-request.json").read_text()
    for placeholder, value in fill.items():
        text = text.replace(placeholder, value)
    body = json.loads(text)
    request = json_format.ParseDict(body, pb.CreateFaultToleranceVmInstanceRequest())  # unknown names would fail
    reply = client.vm.CreateFaultToleranceVmInstance(request, metadata=client.metadata)
    p, g = reply.primary_vm_inventory, reply.fault_tolerance_vm_group_inventory
    assert g.uuid == "5f0a1b2c3d4e4f5a8b6c7d8e9f0a1b2c" and p.host_uuid == host and p.cluster_uuid == cluster
    assert (p.cpu_num, p.memory_size) == (2, 4 * G)  # the offering wins over the doc's cpuNum/memorySize of 1
    assert p.all_volumes[0].primary_storage_uuid == names.storage["nfs-0"] and len(p.all_volumes) == 2
    assert p.description == "from the reference doc"


def test_an_error_echoing_a_huge_value_stays_typed(roomy):
    server, client, names = roomy
    # A query condition without an operator is echoed whole (up to its 4,096-character limit); uuids no longer are
    # (GetFaultToleranceVms refuses one over 64 characters before looking it up).
    huge = "f" * 4000
    code, error = rpc_error(
        lambda: client.vm.QueryVmInstance(pb.QueryVmInstanceRequest(q=[huge]), metadata=client.metadata)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and error.code == "SYS.1007"
    assert len(error.details) < 3000 and error.details.endswith("...(cut)")


def test_concurrent_creates_with_one_resource_uuid_give_one_group(roomy):
    """JustCreate reserves nothing, so only the commit can notice the second one: another request under the same
    uuid must be ALREADY_EXISTS."""
    server, client, names = roomy
    uuid = "3c2a6a1d3e7b4c1f9a0b1c2d3e4f5a6b"
    calls = [
        client.vm.CreateFaultToleranceVmInstance.future(
            pb.CreateFaultToleranceVmInstanceRequest(
                **basic(names, name=f"n{i}", resource_uuid=uuid, strategy="JustCreate")
            ),
            metadata=client.metadata,
        )
        for i in range(4)
    ]
    codes = []
    for call in calls:
        try:
            call.result()
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as e:
            codes.append(e.code())
    assert sorted(c.name for c in codes) == ["ALREADY_EXISTS"] * 3 + ["OK"]
