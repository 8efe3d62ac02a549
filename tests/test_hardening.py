"""Inputs a careless or hostile caller sends over gRPC: each gets a typed error and changes nothing, and none can
keep the server from starting again (global config, system tags, control characters, undecodable messages,
another account's VM uuid, capacity figures past int64)."""

from __future__ import annotations

import hashlib
import logging
import sqlite3

import grpc
import pytest
from test_create_service import Names, basic

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm.domain import inventory as inventory_module
from ftvm.domain.catalog import GLOBAL_CONFIG_DEFAULTS
from service_support import G, inventory, log_in, rpc_error, start_server

INVALID = grpc.StatusCode.INVALID_ARGUMENT
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
    with start_server(tmp_path_factory.mktemp("hardening"), spec) as server:
        channel = grpc.insecure_channel(server.target)
        yield server, log_in(channel), Names(server)
        channel.close()


def _rows(server) -> dict[str, int]:
    return server.running.store.read(lambda tx: {t: len(tx.select(t)) for t in ROW_TABLES})


def _refused(env, text: str, **fields) -> None:
    server, client, names = env
    before = _rows(server)
    code, error = rpc_error(lambda: client.create(**basic(names, **fields)))
    assert (code, error.code) == (INVALID, "SYS.1007"), error
    assert text in error.details, error.details
    assert _rows(server) == before


def _update_config(client, category: str, name: str, value: str):
    return client.inventory.UpdateGlobalConfig(
        pb.UpdateGlobalConfigRequest(
            category=category, name=name, update_global_config=pb.UpdateGlobalConfigParams(value=value)
        ),
        metadata=client.metadata,
    )


def _stored_config(server, category: str, name: str) -> str | None:
    rows = server.running.store.read(lambda tx: tx.select("global_configs", {"category": category, "name": name}))
    return rows[0]["value"] if rows else None


# -- global config ---------------------------------------------------------------------------------------------

BAD_CONFIG_VALUES = [
    ("kvm", "reservedMemory", "9999999T"),  # past the engine's 64-bit sizes: bricked the restart before
    ("primaryStorage", "reservedCapacity", "9999999T"),
    ("kvm", "reservedMemory", "4097P"),
    ("kvm", "reservedMemory", "1_0G"),
    ("kvm", "reservedMemory", "-1G"),
    ("kvm", "reservedMemory", "1.5G"),
    ("host", "cpu.overProvisioning.ratio", "1e300"),  # broke QueryHost's int64 before
    ("host", "cpu.overProvisioning.ratio", "1001"),
    ("host", "cpu.overProvisioning.ratio", "0"),
    ("host", "cpu.overProvisioning.ratio", "nan"),
    ("host", "cpu.overProvisioning.ratio", "inf"),
    ("host", "cpu.overProvisioning.ratio", "1_0"),
    ("host", "cpu.overProvisioning.ratio", " 10"),
    ("mevoco", "overProvisioning.memory", "0.001"),
    ("mevoco", "overProvisioning.memory", "1e-320"),
    ("mevoco", "overProvisioning.primaryStorage", "-1"),
    ("ft", "fault.tolerance.network.cidr", "10"),
    ("ft", "fault.tolerance.network.cidr", "10.0.0.0/33"),
    ("ft", "enable", "yes"),
]


@pytest.mark.parametrize("category,name,value", BAD_CONFIG_VALUES)
def test_an_out_of_range_global_config_is_refused_and_not_stored(env, category, name, value):
    server, client, names = env
    before = _stored_config(server, category, name)
    code, error = rpc_error(lambda: _update_config(client, category, name, value))
    assert (code, error.code) == (INVALID, "SYS.1007"), error
    assert _stored_config(server, category, name) == before
    assert client.create(**basic(names, name="still-works")).primary_vm_inventory.state == "Running"


def test_every_global_config_accepts_its_bounds(env):
    server, client, names = env
    for category, name, low, high in (
        ("host", "cpu.overProvisioning.ratio", "0.01", "1000"),
        ("mevoco", "overProvisioning.memory", "0.01", "1000"),
        ("mevoco", "overProvisioning.primaryStorage", "0.01", "1000"),
        ("kvm", "reservedMemory", "0", "4194304T"),
        ("primaryStorage", "reservedCapacity", "0", str(1 << 62)),
    ):
        for value in (low, high):
            _update_config(client, category, name, value)
            assert _stored_config(server, category, name) == value
        _update_config(client, category, name, GLOBAL_CONFIG_DEFAULTS[(category, name)][0])


def test_the_largest_cpu_ratio_leaves_query_host_working(tmp_path):
    spec = inventory(hosts_per_cluster=2, clusters=1)
    spec["zones"][0]["clusters"][0]["hosts"][0]["cpuNum"] = (1 << 31) - 1
    with start_server(tmp_path, spec) as server:
        client = log_in(grpc.insecure_channel(server.target))
        _update_config(client, "host", "cpu.overProvisioning.ratio", "1000")
        hosts = {h.name: h for h in client.query("QueryHost")}
        assert hosts["host-1"].total_cpu_capacity == ((1 << 31) - 1) * 1000
        assert hosts["host-2"].available_cpu_capacity == 8 * 1000


def test_storage_capacity_past_int64_is_clamped_not_an_error(tmp_path):
    """Four hosts with 2^62 bytes of local disk each: their sum is past int64, which QueryPrimaryStorage
    answered with SYS.1000 before."""
    spec = inventory(hosts_per_cluster=4, clusters=1)
    zone = spec["zones"][0]
    for host in zone["clusters"][0]["hosts"]:
        host["localStorageCapacity"] = 1 << 62
    zone["primaryStorages"].append({"name": "local", "type": "LocalStorage", "url": "/local", "clusters": ["z0-c0"]})
    with start_server(tmp_path, spec) as server:
        client = log_in(grpc.insecure_channel(server.target))
        local = next(s for s in client.query("QueryPrimaryStorage") if s.name == "local")
        assert local.total_capacity == (1 << 63) - 1 and local.available_capacity == (1 << 63) - 1
        assert [r.total_capacity for r in local.local_storage_host_refs] == [1 << 62] * 4


def test_an_invalid_stored_config_row_never_stops_the_start(tmp_path, caplog):
    """A row no build would write today (an older build's, or edited by hand) starts on the default, with an
    ERROR that names it."""
    spec = inventory(hosts_per_cluster=2, clusters=1)
    with start_server(tmp_path, spec):
        pass
    db = sqlite3.connect(tmp_path / "data" / "ftvm.db")
    with db:
        db.execute("UPDATE global_configs SET value = '9999999T' WHERE category = 'kvm' AND name = 'reservedMemory'")
    db.close()
    with caplog.at_level(logging.ERROR), start_server(tmp_path, spec) as server:
        assert server.running.domain.catalog.placement_config().reserved_memory == G  # the default, 1G
        client = log_in(grpc.insecure_channel(server.target))
        names = Names(server)
        assert client.create(**basic(names)).primary_vm_inventory.state == "Running"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("category:kvm, name:reservedMemory" in m and "9999999T" in m for m in errors), errors


def test_a_value_the_engine_refuses_is_never_committed(env, monkeypatch):
    """The engine is built with the new value before the value is stored (it was stored first before)."""
    server, client, _ = env

    def refusing_engine(catalog, kind=None):
        raise ValueError("refused by the engine")

    monkeypatch.setattr(inventory_module, "build_engine", refusing_engine)
    before = _stored_config(server, "host", "cpu.overProvisioning.ratio")
    engine = server.running.domain.engine
    code, error = rpc_error(lambda: _update_config(client, "host", "cpu.overProvisioning.ratio", "20"))
    assert (code, error.code) == (INVALID, "SYS.1007") and "refused by the engine" in error.details
    assert _stored_config(server, "host", "cpu.overProvisioning.ratio") == before
    assert server.running.domain.engine is engine


# -- system tags -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mac,why",
    [
        ("not-a-mac", "six octets"),
        ("", "no system tag matches"),
        ("fa:01:02:03:04", "six octets"),
        ("fa:01:02:03:04:05:06", "six octets"),
        ("fa-01-02-03-04-05", "six octets"),
        ("fa:01:02:03:04:5", "six octets"),
        ("01:00:5e:00:00:01", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "multicast"),
        ("00:00:00:00:00:00", "all-zero"),
    ],
)
def test_custom_mac_must_be_a_unicast_mac_of_six_octets(env, mac, why):
    names = env[2]
    _refused(env, why, system_tags=[f"customMac::{names.l3['l3-0']}::{mac}"])


def test_custom_mac_is_stored_in_lower_case(env):
    server, client, names = env
    reply = client.create(**basic(names, name="mac", system_tags=[f"customMac::{names.l3['l3-0']}::FA:16:3E:AA:BB:0C"]))
    assert reply.primary_vm_inventory.vm_nics[0].mac == "fa:16:3e:aa:bb:0c"
    assert reply.secondary_vm_inventory.vm_nics[0].mac == "fa:16:3e:aa:bb:0c"
    code, error = rpc_error(
        lambda: client.create(
            **basic(names, name="mac-again", system_tags=[f"customMac::{names.l3['l3-0']}::fa:16:3e:aa:bb:0c"])
        )
    )
    assert (code, error.code) == (INVALID, "SYS.1007") and "already in use" in error.details


@pytest.mark.parametrize(
    "hostname",
    [
        "-web",
        "web-",
        "we_b",
        "a..b",
        ".web",
        "web.",
        "h" * 64,
        ".".join(["h" * 63] * 4),
        "web 1",
        "wéb",
    ],
)
def test_hostname_follows_rfc_1123(env, hostname):
    _refused(env, "RFC 1123", system_tags=[f"hostname::{hostname}"])


def test_valid_hostnames_are_accepted(env):
    server, client, names = env
    for hostname in ("web-1", "WEB-1.example.com", "1host", "h" * 63):
        reply = client.create(**basic(names, name="host", system_tags=[f"hostname::{hostname}"]))
        assert reply.primary_vm_inventory.state == "Running"


def test_other_system_tags_are_checked(env):
    names = env[2]
    l3 = names.l3["l3-0"]
    _refused(env, "createWithoutCdRom is true or false", system_tags=["createWithoutCdRom::yes"])
    _refused(env, "maxInstancePerHost is a whole number", system_tags=["maxInstancePerHost::abc"])
    _refused(env, "maxInstancePerHost is a whole number", system_tags=["maxInstancePerHost::0"])
    _refused(env, "a dotted IPv4 address", system_tags=[f"staticIp::{l3}::172.16.0.300"])
    _refused(env, "no system tag matches", system_tags=[f"staticIp::{l3}"])
    _refused(env, "conflicts with an earlier tag", system_tags=["hostname::a", "hostname::b"])
    _refused(
        env,
        "conflicts with an earlier tag",
        system_tags=[f"customMac::{l3}::fa:00:00:00:00:01", f"customMac::{l3}::fa:00:00:00:00:02"],
    )


# -- text fields -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\r", "\n", "\t", "\x7f", "\x85", "\u2028", "\u202e"])
def test_names_descriptions_and_tags_refuse_control_characters(env, char):
    server, client, names = env
    _refused(env, "contains a control character", name=f"web{char}1")
    _refused(env, "contains a control character", description=f"line one{char}line two")
    _refused(env, "contains a control character", user_tags=[f"team{char}a"])
    code, error = rpc_error(
        lambda: client.inventory.CreateZone(pb.CreateZoneRequest(name=f"zone{char}"), metadata=client.metadata)
    )
    assert (code, error.code) == (INVALID, "SYS.1007") and "control character" in error.details


def test_a_255_character_name_gives_a_259_character_secondary_name(env):
    """The request name is checked (1..255); the secondary's name is it plus `-svm`, stored whole."""
    server, client, names = env
    name = "n" * 255
    reply = client.create(**basic(names, name=name))
    assert reply.primary_vm_inventory.name == name
    assert reply.secondary_vm_inventory.name == name + "-svm" and len(reply.secondary_vm_inventory.name) == 259
    stored = client.query("QueryVmInstance", f"uuid={reply.secondary_vm_inventory.uuid}")
    assert stored[0].name == name + "-svm"


# -- the gRPC wire -----------------------------------------------------------------------------------------------


def test_an_undecodable_request_is_invalid_argument_with_an_error_code(env, caplog):
    server, client, names = env
    raw = client.channel.unary_unary(
        "/zstack.ft.v1.VmService/CreateFaultToleranceVmInstance",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    before = _rows(server)
    with caplog.at_level(logging.INFO):
        for garbage in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x08" + b"\xff" * 11):
            code, error = rpc_error(lambda: raw(garbage, metadata=client.metadata))
            assert (code, error.code) == (INVALID, "SYS.1007"), error
            assert "is not a valid CreateFaultToleranceVmInstance message" in error.details
        # no session either: still the argument error, not a crash
        code, error = rpc_error(lambda: raw(b"\xff\xff"))
        assert (code, error.code) == (INVALID, "SYS.1007")
    assert _rows(server) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- another account ---------------------------------------------------------------------------------------------


def test_refusing_another_accounts_vm_names_only_what_the_caller_sent(env):
    server, admin, names = env
    admin.account.CreateAccount(
        pb.CreateAccountRequest(name="mallory", password=hashlib.sha512(b"mallory-password").hexdigest()),
        metadata=admin.metadata,
    )
    mallory = log_in(admin.channel, "mallory", "mallory-password")
    reply = admin.create(**basic(names, name="victim"))
    group = reply.fault_tolerance_vm_group_inventory.uuid
    for vm in (reply.primary_vm_inventory.uuid, reply.secondary_vm_inventory.uuid):
        for call in (
            lambda: mallory.vm.GetFaultToleranceVms(
                pb.GetFaultToleranceVmsRequest(fault_tolerance_vm_uuid=vm), metadata=mallory.metadata
            ),
            lambda: mallory.vm.DestroyVmInstance(pb.DestroyVmInstanceRequest(uuid=vm), metadata=mallory.metadata),
        ):
            code, error = rpc_error(call)
            assert (code, error.code) == (grpc.StatusCode.PERMISSION_DENIED, "ID.1002")
            assert vm in error.details and group not in error.details, error.details
