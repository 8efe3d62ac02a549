"""Inventory files (service/ftvm/domain/inventory_file.py, docs/inventory-file.md): the demo inventory, rows against
the real schema, loading into a real SQLite store, every validation rule with its path and kind (not its wording),
JSON input, and the committed JSON Schema."""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
import yaml

from ftvm.domain.catalog import GLOBAL_CONFIG_DEFAULTS, build_engine, load_catalog
from ftvm.domain.common import check_resource_uuid
from ftvm.domain.inventory_file import (
    DEMO_INVENTORY_PATH,
    TABLES,
    InventoryFileError,
    demo_inventory,
    inventory_rows,
    load_into,
    parse_inventory_text,
    read_inventory_file,
    schema_text,
    validate_inventory,
)
from ftvm.domain.inventory_model import DISK_OFFERING_TYPE, KINDS
from ftvm.placement import Request
from ftvm.store.sqlite import SqliteStore

NOW = 1_764_201_600_000
GIB = 1 << 30
TIB = 1 << 40
DOCS = Path(__file__).resolve().parents[1] / "docs" / "inventory-file.md"
SCHEMA = DOCS.with_name("inventory-file.schema.json")


def small_spec() -> dict:
    """A small valid inventory touching every entity; the validation cases below break one thing each."""
    return copy.deepcopy(
        {
            "globalConfigs": {
                "ft.enable": True,
                "ft.fault.tolerance.network.cidr": "10.99.0.0/16",
                "host.cpu.overProvisioning.ratio": 4,
            },
            "zones": [
                {
                    "name": "z1",
                    "clusters": [
                        {
                            "name": "c1",
                            "hosts": [
                                {
                                    "name": "h1",
                                    "managementIp": "192.168.0.1",
                                    "cpuNum": 8,
                                    "memorySize": "64G",
                                    "ftNetworkAddress": "10.99.0.1",
                                    "failureDomain": "r1",
                                    "localStorageCapacity": "1T",
                                },
                                {
                                    "name": "h2",
                                    "managementIp": "192.168.0.2",
                                    "cpuNum": 8,
                                    "memorySize": 64 * GIB,
                                    "ftNetworkAddress": "10.99.0.2",
                                    "failureDomain": "r2",
                                    "localStorageCapacity": "512G",
                                },
                            ],
                        },
                        {
                            "name": "c2",
                            "hostDefaults": {"cpuNum": 16, "memorySize": "128G", "maxFtVms": 4},
                            "hosts": [
                                {"name": "h3", "managementIp": "192.168.0.3", "ftNetworkAddress": "10.99.0.3"},
                                {"name": "h4", "managementIp": "192.168.0.4", "cpuNum": 4, "maxFtVms": 0},
                            ],
                        },
                    ],
                    "primaryStorages": [
                        {"name": "local", "type": "LocalStorage", "clusters": ["c1"]},
                        {
                            "name": "nfs",
                            "type": "NFS",
                            "url": "10.0.0.5:/ps",
                            "totalCapacity": "10T",
                            "clusters": ["c1", "c2"],
                        },
                    ],
                    "l2Networks": [
                        {
                            "name": "l2",
                            "physicalInterface": "eth0",
                            "clusters": ["c1", "c2"],
                            "l3Networks": [
                                {
                                    "name": "l3",
                                    "ipRanges": [
                                        {
                                            "name": "r1",
                                            "startIp": "10.0.0.10",
                                            "endIp": "10.0.0.100",
                                            "netmask": "255.255.255.0",
                                            "gateway": "10.0.0.1",
                                        },
                                        {
                                            "name": "r2",
                                            "startIp": "10.0.0.101",
                                            "endIp": "10.0.0.200",
                                            "netmask": "255.255.255.0",
                                            "gateway": "10.0.0.1",
                                        },
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
            "images": [{"name": "img", "url": "http://example.com/img.qcow2", "size": "10G"}],
            "instanceOfferings": [{"name": "small", "cpuNum": 2, "memorySize": "4G"}],
            "diskOfferings": [{"name": "d50", "diskSize": "50G"}],
        }
    )


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(str(tmp_path / "ftvm.db"))
    yield s
    s.close()


def by_name(rows: list[dict], name: str) -> dict:
    [row] = [r for r in rows if r["name"] == name]
    return row


# -- the demo inventory ---------------------------------------------------------------------------------------------


def test_demo_inventory_counts_and_ft_network():
    rows = inventory_rows(demo_inventory(), NOW)
    counts = {t: len(r) for t, r in rows.items()}
    assert counts == {
        "zones": 2,
        "clusters": 5,
        "hosts": 48,
        "primary_storages": 4,
        "ps_cluster_refs": 9,
        "l2_networks": 4,
        "l2_cluster_refs": 8,
        "l3_networks": 4,
        "ip_ranges": 5,
        "images": 2,
        "instance_offerings": 3,
        "disk_offerings": 2,
        "global_configs": len(GLOBAL_CONFIG_DEFAULTS),
    }
    configs = {(r["category"], r["name"]): r["value"] for r in rows["global_configs"]}
    assert configs[("ft", "enable")] == "true"
    network = ipaddress.IPv4Network(configs[("ft", "fault.tolerance.network.cidr")])
    for host in rows["hosts"]:
        assert ipaddress.IPv4Address(host["ft_network_address"]) in network, host["name"]
        assert (host["hypervisor_type"], host["state"], host["status"]) == ("KVM", "Enabled", "Connected")
        assert host["cpu_num"] > 0 and host["total_memory_capacity"] > 0
    assert len({h["management_ip"] for h in rows["hosts"]}) == 48
    assert len({h["ft_network_address"] for h in rows["hosts"]}) == 48


def test_demo_inventory_failure_domains_storage_networks_and_images():
    rows = inventory_rows(demo_inventory(), NOW)
    zone_of = {z["uuid"]: z["name"] for z in rows["zones"]}
    racks = Counter((zone_of[h["zone_uuid"]], h["failure_domain"]) for h in rows["hosts"])
    assert all(n >= 3 for n in racks.values())  # several hosts per rack ...
    assert Counter(zone for zone, _ in racks) == {"zone-a": 6, "zone-b": 6}  # ... and several racks per zone
    for h in rows["hosts"]:  # no rack spans two clusters
        assert {x["cluster_uuid"] for x in rows["hosts"] if x["failure_domain"] == h["failure_domain"]} == {
            h["cluster_uuid"]
        }

    storages = {s["name"]: s for s in rows["primary_storages"]}
    assert {n: s["type"] for n, s in storages.items()} == {
        "local-a": "LocalStorage",
        "nfs-a": "NFS",
        "ceph-b": "Ceph",
        "nfs-b": "NFS",
    }
    local = storages["local-a"]
    local_clusters = {r["cluster_uuid"] for r in rows["ps_cluster_refs"] if r["primary_storage_uuid"] == local["uuid"]}
    # the stored total is 0, as the admin API stores it: queries sum the hosts' disks
    assert local["total_capacity"] == 0
    assert (
        sum(h["local_storage_capacity"] for h in rows["hosts"] if h["cluster_uuid"] in local_clusters)
        == 8 * 2 * TIB + 16 * 4 * TIB
    )
    assert all(h["local_storage_capacity"] == 0 for h in rows["hosts"] if zone_of[h["zone_uuid"]] == "zone-b")
    # shared storage in both zones
    assert {zone_of[s["zone_uuid"]] for s in rows["primary_storages"] if s["type"] != "LocalStorage"} == {
        "zone-a",
        "zone-b",
    }

    for r in rows["ip_ranges"]:
        size = int(ipaddress.IPv4Address(r["end_ip"])) - int(ipaddress.IPv4Address(r["start_ip"])) + 1
        assert size >= 200 and r["ip_version"] == 4
    assert {l3["ip_allocation_strategy"] for l3 in rows["l3_networks"]} == {"Random", "FirstAvailable"}
    assert all(
        (l3["type"], l3["category"], l3["state"], l3["system"]) == ("L3BasicNetwork", "Private", "Enabled", False)
        for l3 in rows["l3_networks"]
    )

    images = {i["name"]: i for i in rows["images"]}
    root = images["centos-7.9"]
    assert (root["media_type"], root["format"], root["size"], root["actual_size"]) == (
        "RootVolumeTemplate",
        "qcow2",
        10 * GIB,
        10 * GIB,
    )
    iso = images["ubuntu-22.04-iso"]
    assert (iso["media_type"], iso["format"]) == ("ISO", "iso")
    assert all((i["state"], i["status"], i["system"]) == ("Enabled", "Ready", False) for i in images.values())
    assert {o["name"]: (o["cpu_num"], o["memory_size"]) for o in rows["instance_offerings"]} == {
        "small": (2, 4 * GIB),
        "medium": (4, 8 * GIB),
        "large": (8, 32 * GIB),
    }
    assert all((o["type"], o["state"], o["sort_key"]) == ("UserVm", "Enabled", 0) for o in rows["instance_offerings"])
    assert all(
        (o["type"], o["state"], o["sort_key"]) == (DISK_OFFERING_TYPE, "Enabled", 0) for o in rows["disk_offerings"]
    )


def test_demo_inventory_references_resolve():
    rows = inventory_rows(demo_inventory(), NOW)
    uuids = {t: {r["uuid"]: r for r in rows[t]} for t in TABLES if "uuid" in rows[t][0]}
    zones, clusters, l2s = uuids["zones"], uuids["clusters"], uuids["l2_networks"]
    for c in rows["clusters"]:
        assert c["zone_uuid"] in zones
    for h in rows["hosts"]:
        assert clusters[h["cluster_uuid"]]["zone_uuid"] == h["zone_uuid"]
    for table in ("primary_storages", "l2_networks", "l3_networks"):
        for r in rows[table]:
            assert r["zone_uuid"] in zones
    for ref in rows["ps_cluster_refs"]:
        assert (
            uuids["primary_storages"][ref["primary_storage_uuid"]]["zone_uuid"]
            == clusters[ref["cluster_uuid"]]["zone_uuid"]
        )
    for ref in rows["l2_cluster_refs"]:
        assert l2s[ref["l2_network_uuid"]]["zone_uuid"] == clusters[ref["cluster_uuid"]]["zone_uuid"]
    for l3 in rows["l3_networks"]:
        assert l2s[l3["l2_network_uuid"]]["zone_uuid"] == l3["zone_uuid"]
    for r in rows["ip_ranges"]:
        assert r["l3_network_uuid"] in uuids["l3_networks"]
    # every cluster has shared storage and the public L2
    for c in clusters:
        attached = [
            uuids["primary_storages"][r["primary_storage_uuid"]]["type"]
            for r in rows["ps_cluster_refs"]
            if r["cluster_uuid"] == c
        ]
        assert any(t != "LocalStorage" for t in attached)
        assert any(r["cluster_uuid"] == c for r in rows["l2_cluster_refs"])
    # every uuid valid and unique across tables
    every = [u for t in uuids.values() for u in t]
    assert len(every) == len(set(every))
    for u in every:
        assert check_resource_uuid(u) == u


def test_demo_uuids_are_deterministic_and_generated_ones_are_not():
    a, b = inventory_rows(demo_inventory(), NOW), inventory_rows(demo_inventory(), NOW + 1)
    assert [h["uuid"] for h in a["hosts"]] == [h["uuid"] for h in b["hosts"]]
    assert b["hosts"][0]["create_date"] == b["hosts"][0]["last_op_date"] == NOW + 1
    x, y = inventory_rows(small_spec(), NOW), inventory_rows(small_spec(), NOW)
    assert {h["uuid"] for h in x["hosts"]}.isdisjoint(h["uuid"] for h in y["hosts"])
    for h in x["hosts"]:
        assert check_resource_uuid(h["uuid"]) == h["uuid"]


def test_docs_list_the_demo_uuids():
    """docs/inventory-file.md's table of demo uuids is what the demo file produces."""
    rows = inventory_rows(demo_inventory(), NOW)
    table = {
        "zone": "zones",
        "cluster": "clusters",
        "primary storage": "primary_storages",
        "L3 network": "l3_networks",
        "image": "images",
        "instance offering": "instance_offerings",
        "disk offering": "disk_offerings",
    }
    documented = re.findall(r"^\| ([A-Za-z0-9 ]+?) \| `([^`]+)` \| `([0-9a-f]{32})` \|$", DOCS.read_text(), re.M)
    assert len(documented) >= 2 + 5 + 4 + 4 + 2 + 3 + 2
    for kind, name, uuid in documented:
        assert by_name(rows[table[kind]], name)["uuid"] == uuid, (kind, name)


def test_demo_inventory_is_package_data():
    assert DEMO_INVENTORY_PATH.name == "demo_inventory.yaml"
    assert DEMO_INVENTORY_PATH.is_file()
    assert read_inventory_file(str(DEMO_INVENTORY_PATH)) == demo_inventory()


# -- rows against the real schema, loading into a real store ---------------------------------------------------------


def test_rows_have_exactly_the_schema_columns(store):
    for spec in (demo_inventory(), small_spec()):
        rows = inventory_rows(spec, NOW)
        assert set(rows) == set(TABLES)
        for table, table_rows in rows.items():
            assert table_rows, table
            for row in table_rows:
                assert set(row) == store.columns(table), table


def _read_all(store) -> dict[str, list[dict]]:
    return store.read(lambda tx: {t: tx.select(t) for t in TABLES})


def _key(row: dict):
    return row.get("uuid") or tuple(sorted((k, str(v)) for k, v in row.items()))


def test_load_into_writes_every_row(store):
    spec = demo_inventory()
    counts = load_into(store, spec, now=NOW)
    expected = inventory_rows(spec, NOW)
    assert counts == {t: len(r) for t, r in expected.items()}
    stored = _read_all(store)
    for table in TABLES:
        assert sorted(stored[table], key=_key) == sorted(expected[table], key=_key), table


def test_loaded_demo_builds_a_catalog_and_places_ft_pairs(store):
    load_into(store, demo_inventory())
    catalog = load_catalog(store)
    assert catalog.ft_enabled and str(catalog.ft_network) == "10.99.0.0/16"
    assert all(catalog.has_ft_address(h) for h in catalog.hosts.values())
    engine = build_engine(catalog)
    l3 = {r["name"]: u for u, r in catalog.l3_networks.items()}
    cluster_name = {u: r["name"] for u, r in catalog.clusters.items()}
    for name in ("l3-a-vm", "l3-a-app", "l3-b-vm", "l3-b-app"):
        placement = engine.place(Request(vcpus=2, memory=4 * GIB, l3_uuids=(l3[name],), root_bytes=10 * GIB))
        primary, secondary = catalog.hosts[placement.primary_host], catalog.hosts[placement.secondary_host]
        assert primary["uuid"] != secondary["uuid"]
        assert primary["zone_uuid"] == secondary["zone_uuid"] == catalog.l3_networks[l3[name]]["zone_uuid"]
        assert primary["failure_domain"] != secondary["failure_domain"]
        assert placement.primary_storage != placement.secondary_storage
        if name == "l3-a-app":  # l2-a-app is attached to cluster-a1 and cluster-a2 only
            assert {cluster_name[primary["cluster_uuid"]], cluster_name[secondary["cluster_uuid"]]} <= {
                "cluster-a1",
                "cluster-a2",
            }
        if name == "l3-b-app":
            assert cluster_name[primary["cluster_uuid"]] == cluster_name[secondary["cluster_uuid"]] == "cluster-b2"
    # the docs' example: both networks of zone A, a 50G data disk -> clusters attached to both L2s, different racks
    placement = engine.place(
        Request(
            vcpus=2, memory=4 * GIB, l3_uuids=(l3["l3-a-vm"], l3["l3-a-app"]), root_bytes=10 * GIB, data_bytes=50 * GIB
        )
    )
    primary, secondary = catalog.hosts[placement.primary_host], catalog.hosts[placement.secondary_host]
    assert {cluster_name[primary["cluster_uuid"]], cluster_name[secondary["cluster_uuid"]]} <= {
        "cluster-a1",
        "cluster-a2",
    }
    assert primary["failure_domain"] != secondary["failure_domain"]


def test_second_load_refuses_and_writes_nothing(store):
    load_into(store, demo_inventory())
    before = _read_all(store)
    with pytest.raises(InventoryFileError) as raised:
        load_into(store, small_spec())
    assert [p.kind for p in raised.value.problems] == ["conflict"]
    assert _read_all(store) == before


def test_load_into_keeps_global_configs_the_file_does_not_set(store):
    """A database without zones may already hold global config rows: the file's keys win, the others stay."""

    def seed(tx):
        tx.insert(
            "global_configs",
            [
                {"category": "ft", "name": "enable", "description": "old", "default_value": "false", "value": "false"},
                {
                    "category": "kvm",
                    "name": "reservedMemory",
                    "description": "old",
                    "default_value": "1G",
                    "value": "2G",
                },
            ],
        )

    store.write(seed)
    load_into(store, small_spec())
    configs = {(r["category"], r["name"]): r for r in store.read(lambda tx: tx.select("global_configs"))}
    assert len(configs) == len(GLOBAL_CONFIG_DEFAULTS)
    assert configs[("ft", "enable")]["value"] == "true"
    assert configs[("kvm", "reservedMemory")]["value"] == "2G"
    assert configs[("kvm", "reservedMemory")]["description"] == GLOBAL_CONFIG_DEFAULTS[("kvm", "reservedMemory")][1]
    assert configs[("host", "cpu.overProvisioning.ratio")]["value"] == "4"
    assert configs[("mevoco", "overProvisioning.memory")]["value"] == "1.0"  # the default


def test_load_into_refuses_a_uuid_already_in_the_database(store):
    spec = small_spec()
    spec["images"][0]["uuid"] = "0123456789ab4def8123456789abcdef"
    store.write(lambda tx: tx.insert("images", [{**inventory_rows(spec, NOW)["images"][0], "name": "already-there"}]))
    with pytest.raises(InventoryFileError) as raised:
        load_into(store, spec)
    assert [p.kind for p in raised.value.problems] == ["conflict"]
    assert store.read(lambda tx: tx.select("zones")) == []


# -- what the rows say ------------------------------------------------------------------------------------------------


def test_small_spec_rows():
    rows = inventory_rows(small_spec(), NOW)
    hosts = {h["name"]: h for h in rows["hosts"]}
    assert hosts["h1"]["total_memory_capacity"] == hosts["h2"]["total_memory_capacity"] == 64 * GIB
    assert (hosts["h3"]["cpu_num"], hosts["h3"]["total_memory_capacity"], hosts["h3"]["max_ft_vms"]) == (
        16,
        128 * GIB,
        4,
    )  # from hostDefaults
    assert (hosts["h4"]["cpu_num"], hosts["h4"]["max_ft_vms"]) == (4, 0)  # the host's own values win
    assert hosts["h4"]["ft_network_address"] is None and hosts["h4"]["failure_domain"] is None
    assert hosts["h3"]["local_storage_capacity"] == 0
    zone_uuid = rows["zones"][0]["uuid"]
    assert {h["zone_uuid"] for h in rows["hosts"]} == {zone_uuid}
    assert rows["zones"][0] | {"uuid": None} == {
        "uuid": None,
        "name": "z1",
        "description": None,
        "state": "Enabled",
        "type": "zstack",
        "create_date": NOW,
        "last_op_date": NOW,
    }
    local, nfs = by_name(rows["primary_storages"], "local"), by_name(rows["primary_storages"], "nfs")
    assert (local["total_capacity"], local["url"]) == (0, "/zstack_ps")
    assert (nfs["total_capacity"], nfs["url"], nfs["state"], nfs["status"]) == (
        10 * TIB,
        "10.0.0.5:/ps",
        "Enabled",
        "Connected",
    )
    assert len([r for r in rows["ps_cluster_refs"] if r["primary_storage_uuid"] == nfs["uuid"]]) == 2
    l3 = rows["l3_networks"][0]
    assert (l3["ip_allocation_strategy"], l3["l2_network_uuid"]) == ("Random", rows["l2_networks"][0]["uuid"])
    assert rows["l2_networks"][0]["type"] == "L2NoVlanNetwork"
    image = rows["images"][0]
    assert (image["platform"], image["architecture"], image["format"], image["media_type"], image["guest_os_type"]) == (
        "Linux",
        "x86_64",
        "qcow2",
        "RootVolumeTemplate",
        None,
    )
    offering = rows["instance_offerings"][0]
    assert (offering["allocator_strategy"], offering["cpu_speed"]) == ("LeastVmPreferredHostAllocatorStrategy", 0)
    assert rows["disk_offerings"][0]["disk_size"] == 50 * GIB
    configs = {(r["category"], r["name"]): r for r in rows["global_configs"]}
    assert configs[("ft", "enable")]["value"] == "true"  # YAML/JSON true -> ZStack's "true"
    assert configs[("host", "cpu.overProvisioning.ratio")]["value"] == "4"
    assert configs[("kvm", "reservedMemory")] == {
        "category": "kvm",
        "name": "reservedMemory",
        "description": GLOBAL_CONFIG_DEFAULTS[("kvm", "reservedMemory")][1],
        "default_value": "1G",
        "value": "1G",
    }


@pytest.mark.parametrize(
    "text, expected",
    [("512M", 512 << 20), ("4g", 4 * GIB), (" 2T ", 2 * TIB), ("1073741824", GIB), (123456789, 123456789)],
)
def test_sizes(text, expected):
    spec = small_spec()
    spec["diskOfferings"][0]["diskSize"] = text
    assert inventory_rows(spec, NOW)["disk_offerings"][0]["disk_size"] == expected


def test_explicit_uuids_are_kept():
    spec = small_spec()
    spec["zones"][0]["uuid"] = "a" * 12 + "4" + "b" * 3 + "8" + "c" * 15
    spec["zones"][0]["clusters"][0]["hosts"][0]["uuid"] = "0123456789ab1def9123456789abcdef"
    rows = inventory_rows(spec, NOW)
    assert rows["zones"][0]["uuid"] == spec["zones"][0]["uuid"]
    assert {h["zone_uuid"] for h in rows["hosts"]} == {spec["zones"][0]["uuid"]}
    assert by_name(rows["hosts"], "h1")["uuid"] == "0123456789ab1def9123456789abcdef"


# -- validation: each rule, reported with its path ---------------------------------------------------------------------


def Z(s):
    return s["zones"][0]


def C(s, c):
    return Z(s)["clusters"][c]


def H(s, c, h):
    return C(s, c)["hosts"][h]


def R(s, r):
    return Z(s)["l2Networks"][0]["l3Networks"][0]["ipRanges"][r]


HOST0 = "zones[0].clusters[0].hosts[0]"
HOST1 = "zones[0].clusters[0].hosts[1]"
PS = "zones[0].primaryStorages"
L2 = "zones[0].l2Networks[0]"
L3 = "zones[0].l2Networks[0].l3Networks[0]"
RANGE = L3 + ".ipRanges"

CASES = [
    # structure
    ("root unknown key", lambda s: s.update(zone=[]), "zone", "unknown"),
    ("zones missing", lambda s: s.pop("zones"), "zones", "missing"),
    ("zones empty", lambda s: s.update(zones=[]), "zones", "value"),
    ("zones not a list", lambda s: s.update(zones={"name": "z"}), "zones", "type"),
    ("zone not a mapping", lambda s: s["zones"].append("z2"), "zones[1]", "type"),
    ("host unknown key", lambda s: H(s, 0, 0).update(cpuNums=4), HOST0 + ".cpuNums", "unknown"),
    (
        "hostDefaults unknown key",
        lambda s: C(s, 1)["hostDefaults"].update(managementIp="1.2.3.4"),
        "zones[0].clusters[1].hostDefaults.managementIp",
        "unknown",
    ),
    # names and descriptions
    ("name missing", lambda s: H(s, 0, 1).pop("name"), HOST1 + ".name", "missing"),
    ("name empty", lambda s: H(s, 0, 1).update(name="  "), HOST1 + ".name", "missing"),
    ("name too long", lambda s: H(s, 0, 1).update(name="h" * 256), HOST1 + ".name", "value"),
    ("name not a string", lambda s: C(s, 1).update(name=2024), "zones[0].clusters[1].name", "type"),
    ("name with a control character", lambda s: C(s, 1).update(name="c2\n"), "zones[0].clusters[1].name", "value"),
    ("description too long", lambda s: Z(s).update(description="d" * 2049), "zones[0].description", "value"),
    (
        "description with a control character",
        lambda s: Z(s).update(description="a\x1bb"),
        "zones[0].description",
        "value",
    ),
    ("duplicate zone", lambda s: s["zones"].append({"name": "z1"}), "zones[1].name", "duplicate"),
    (
        "duplicate host name in zone",
        lambda s: H(s, 1, 0).update(name="h1"),
        "zones[0].clusters[1].hosts[0].name",
        "duplicate",
    ),
    ("duplicate cluster", lambda s: C(s, 1).update(name="c1"), "zones[0].clusters[1].name", "duplicate"),
    ("duplicate storage", lambda s: Z(s)["primaryStorages"][1].update(name="local"), PS + "[1].name", "duplicate"),
    ("duplicate range", lambda s: R(s, 1).update(name="r1"), RANGE + "[1].name", "duplicate"),
    ("duplicate image", lambda s: s["images"].append(dict(s["images"][0])), "images[1].name", "duplicate"),
    (
        "duplicate offering",
        lambda s: s["instanceOfferings"].append(dict(s["instanceOfferings"][0])),
        "instanceOfferings[1].name",
        "duplicate",
    ),
    # uuids
    ("bad uuid", lambda s: Z(s).update(uuid="ABC"), "zones[0].uuid", "value"),
    ("uuid wrong version", lambda s: Z(s).update(uuid="0123456789ab0def8123456789abcdef"), "zones[0].uuid", "value"),
    ("uuid not a string", lambda s: Z(s).update(uuid=12345678901234567890123456789012), "zones[0].uuid", "type"),
    (
        "duplicate uuid",
        lambda s: (
            H(s, 0, 0).update(uuid="0123456789ab4def8123456789abcdef"),
            s["images"][0].update(uuid="0123456789ab4def8123456789abcdef"),
        ),
        "images[0].uuid",
        "duplicate",
    ),
    # numbers and sizes
    ("cpuNum zero", lambda s: H(s, 0, 1).update(cpuNum=0), HOST1 + ".cpuNum", "value"),
    (
        "cpuNum negative in defaults",
        lambda s: C(s, 1)["hostDefaults"].update(cpuNum=-1),
        "zones[0].clusters[1].hostDefaults.cpuNum",
        "value",
    ),
    ("cpuNum a string", lambda s: H(s, 0, 1).update(cpuNum="32"), HOST1 + ".cpuNum", "type"),
    ("cpuNum a bool", lambda s: H(s, 0, 1).update(cpuNum=True), HOST1 + ".cpuNum", "type"),
    ("cpuNum too big", lambda s: H(s, 0, 1).update(cpuNum=1 << 31), HOST1 + ".cpuNum", "value"),
    ("cpuNum missing", lambda s: H(s, 0, 1).pop("cpuNum"), HOST1 + ".cpuNum", "missing"),
    ("memorySize missing", lambda s: H(s, 0, 1).pop("memorySize"), HOST1 + ".memorySize", "missing"),
    ("memorySize bad unit", lambda s: H(s, 0, 0).update(memorySize="64X"), HOST0 + ".memorySize", "value"),
    ("memorySize fraction", lambda s: H(s, 0, 0).update(memorySize="1.5G"), HOST0 + ".memorySize", "value"),
    ("memorySize float", lambda s: H(s, 0, 0).update(memorySize=1.5), HOST0 + ".memorySize", "type"),
    ("memorySize zero", lambda s: H(s, 0, 0).update(memorySize=0), HOST0 + ".memorySize", "value"),
    ("memorySize negative", lambda s: H(s, 0, 0).update(memorySize="-4G"), HOST0 + ".memorySize", "value"),
    ("memorySize past 2^62", lambda s: H(s, 0, 0).update(memorySize=(1 << 62) + 1), HOST0 + ".memorySize", "value"),
    (
        "localStorageCapacity negative",
        lambda s: H(s, 0, 0).update(localStorageCapacity=-1),
        HOST0 + ".localStorageCapacity",
        "value",
    ),
    ("maxFtVms negative", lambda s: H(s, 0, 0).update(maxFtVms=-1), HOST0 + ".maxFtVms", "value"),
    ("maxFtVcpus not int", lambda s: H(s, 0, 0).update(maxFtVcpus="8"), HOST0 + ".maxFtVcpus", "type"),
    (
        "totalCapacity zero",
        lambda s: Z(s)["primaryStorages"][1].update(totalCapacity=0),
        PS + "[1].totalCapacity",
        "value",
    ),
    ("image size zero", lambda s: s["images"][0].update(size="0G"), "images[0].size", "value"),
    ("diskSize zero", lambda s: s["diskOfferings"][0].update(diskSize=0), "diskOfferings[0].diskSize", "value"),
    (
        "offering memory missing",
        lambda s: s["instanceOfferings"][0].pop("memorySize"),
        "instanceOfferings[0].memorySize",
        "missing",
    ),
    (
        "cpuSpeed negative",
        lambda s: s["instanceOfferings"][0].update(cpuSpeed=-1),
        "instanceOfferings[0].cpuSpeed",
        "value",
    ),
    # addresses
    ("managementIp missing", lambda s: H(s, 0, 0).pop("managementIp"), HOST0 + ".managementIp", "missing"),
    ("managementIp bad", lambda s: H(s, 0, 0).update(managementIp="192.168.0.300"), HOST0 + ".managementIp", "value"),
    (
        "managementIp with a leading zero",
        lambda s: H(s, 0, 0).update(managementIp="192.168.0.01"),
        HOST0 + ".managementIp",
        "value",
    ),
    (
        "duplicate managementIp",
        lambda s: H(s, 1, 1).update(managementIp="192.168.0.1"),
        "zones[0].clusters[1].hosts[1].managementIp",
        "duplicate",
    ),
    (
        "duplicate managementIp across zones",
        lambda s: s["zones"].append(
            {
                "name": "z2",
                "clusters": [
                    {
                        "name": "c1",
                        "hosts": [{"name": "h1", "managementIp": "192.168.0.2", "cpuNum": 1, "memorySize": "1G"}],
                    }
                ],
            }
        ),
        "zones[1].clusters[0].hosts[0].managementIp",
        "duplicate",
    ),
    (
        "duplicate ftNetworkAddress",
        lambda s: H(s, 1, 0).update(ftNetworkAddress="10.99.0.1"),
        "zones[0].clusters[1].hosts[0].ftNetworkAddress",
        "duplicate",
    ),
    (
        "ftNetworkAddress outside CIDR",
        lambda s: H(s, 0, 1).update(ftNetworkAddress="10.98.0.2"),
        HOST1 + ".ftNetworkAddress",
        "value",
    ),
    # references
    (
        "unknown cluster (storage)",
        lambda s: Z(s)["primaryStorages"][1]["clusters"].append("c9"),
        PS + "[1].clusters[2]",
        "reference",
    ),
    (
        "unknown cluster (L2)",
        lambda s: Z(s)["l2Networks"][0].update(clusters=["c1", "C2"]),
        L2 + ".clusters[1]",
        "reference",
    ),
    (
        "cluster of another zone",
        lambda s: s["zones"].append(
            {"name": "z2", "l2Networks": [{"name": "l2", "physicalInterface": "eth0", "clusters": ["c1"]}]}
        ),
        "zones[1].l2Networks[0].clusters[0]",
        "reference",
    ),
    (
        "cluster listed twice",
        lambda s: Z(s)["primaryStorages"][1].update(clusters=["c1", "c2", "c1"]),
        PS + "[1].clusters[2]",
        "duplicate",
    ),
    (
        "cluster listed twice (L2)",
        lambda s: Z(s)["l2Networks"][0].update(clusters=["c2", "c2"]),
        L2 + ".clusters[1]",
        "duplicate",
    ),
    ("clusters not a list", lambda s: Z(s)["l2Networks"][0].update(clusters="c1"), L2 + ".clusters", "type"),
    # storage rules
    ("storage type", lambda s: Z(s)["primaryStorages"][1].update(type="nfs"), PS + "[1].type", "value"),
    ("storage type missing", lambda s: Z(s)["primaryStorages"][1].pop("type"), PS + "[1].type", "missing"),
    ("NFS without url", lambda s: Z(s)["primaryStorages"][1].pop("url"), PS + "[1].url", "missing"),
    (
        "NFS url not server:/path",
        lambda s: Z(s)["primaryStorages"][1].update(url="just-a-name"),
        PS + "[1].url",
        "value",
    ),
    (
        "NFS without capacity",
        lambda s: Z(s)["primaryStorages"][1].pop("totalCapacity"),
        PS + "[1].totalCapacity",
        "missing",
    ),
    (
        "Ceph without url or monitors",
        lambda s: Z(s)["primaryStorages"].append({"name": "ceph", "type": "Ceph", "totalCapacity": "1T"}),
        PS + "[2].monUrls",
        "missing",
    ),
    (
        "Ceph monitor without a host",
        lambda s: Z(s)["primaryStorages"].append(
            {"name": "ceph", "type": "Ceph", "totalCapacity": "1T", "monUrls": ["root:pw@:22"]}
        ),
        PS + "[2].monUrls[0]",
        "value",
    ),
    (
        "LocalStorage with capacity",
        lambda s: Z(s)["primaryStorages"][0].update(totalCapacity="1T"),
        PS + "[0].totalCapacity",
        "unknown",
    ),
    (
        "LocalStorage url not absolute",
        lambda s: Z(s)["primaryStorages"][0].update(url="zstack_ps"),
        PS + "[0].url",
        "value",
    ),
    (
        "LocalStorage without local disks",
        lambda s: Z(s)["primaryStorages"][0].update(clusters=["c2"]),
        PS + "[0].clusters",
        "value",
    ),
    (
        "two LocalStorages on a cluster",
        lambda s: Z(s)["primaryStorages"].append({"name": "local2", "type": "LocalStorage", "clusters": ["c1"]}),
        PS + "[2].clusters[0]",
        "conflict",
    ),
    # networks
    (
        "physicalInterface missing",
        lambda s: Z(s)["l2Networks"][0].pop("physicalInterface"),
        L2 + ".physicalInterface",
        "missing",
    ),
    (
        "ipAllocationStrategy",
        lambda s: Z(s)["l2Networks"][0]["l3Networks"][0].update(ipAllocationStrategy="random"),
        L3 + ".ipAllocationStrategy",
        "value",
    ),
    (
        "L3 system not bool",
        lambda s: Z(s)["l2Networks"][0]["l3Networks"][0].update(system="no"),
        L3 + ".system",
        "type",
    ),
    ("startIp bad", lambda s: R(s, 0).update(startIp="10.0.0"), RANGE + "[0].startIp", "value"),
    ("gateway missing", lambda s: R(s, 0).pop("gateway"), RANGE + "[0].gateway", "missing"),
    ("start after end", lambda s: R(s, 1).update(startIp="10.0.0.250"), RANGE + "[1].endIp", "value"),
    ("netmask not contiguous", lambda s: R(s, 0).update(netmask="255.0.255.0"), RANGE + "[0].netmask", "value"),
    ("netmask a hostmask", lambda s: R(s, 0).update(netmask="0.0.0.255"), RANGE + "[0].netmask", "value"),
    ("netmask /32", lambda s: R(s, 0).update(netmask="255.255.255.255"), RANGE + "[0].netmask", "value"),
    ("netmask garbage", lambda s: R(s, 0).update(netmask="/24"), RANGE + "[0].netmask", "value"),
    (
        "start outside the gateway's subnet",
        lambda s: R(s, 0).update(startIp="10.0.1.10", endIp="10.0.1.20"),
        RANGE + "[0].startIp",
        "value",
    ),
    ("end is the broadcast address", lambda s: R(s, 1).update(endIp="10.0.0.255"), RANGE + "[1].endIp", "value"),
    ("gateway is the network address", lambda s: R(s, 0).update(gateway="10.0.0.0"), RANGE + "[0].gateway", "value"),
    ("gateway inside the range", lambda s: R(s, 0).update(gateway="10.0.0.50"), RANGE + "[0].gateway", "value"),
    ("overlapping ranges", lambda s: R(s, 1).update(startIp="10.0.0.90"), RANGE + "[1]", "conflict"),
    (
        "range inside another",
        lambda s: Z(s)["l2Networks"][0]["l3Networks"][0]["ipRanges"].insert(
            0,
            {
                "name": "big",
                "startIp": "10.0.0.2",
                "endIp": "10.0.0.254",
                "netmask": "255.255.255.0",
                "gateway": "10.0.0.1",
            },
        ),
        RANGE + "[2]",
        "conflict",
    ),
    # images and offerings
    ("ISO as qcow2", lambda s: s["images"][0].update(mediaType="ISO", format="qcow2"), "images[0].format", "value"),
    ("iso format without ISO media", lambda s: s["images"][0].update(format="iso"), "images[0].format", "value"),
    ("image platform", lambda s: s["images"][0].update(platform="linux"), "images[0].platform", "value"),
    ("image architecture", lambda s: s["images"][0].update(architecture="amd64"), "images[0].architecture", "value"),
    ("image url missing", lambda s: s["images"][0].pop("url"), "images[0].url", "missing"),
    (
        "allocatorStrategy",
        lambda s: s["instanceOfferings"][0].update(allocatorStrategy="Random"),
        "instanceOfferings[0].allocatorStrategy",
        "value",
    ),
    (
        "disk allocatorStrategy",
        lambda s: s["diskOfferings"][0].update(allocatorStrategy="Random"),
        "diskOfferings[0].allocatorStrategy",
        "value",
    ),
    # global configs
    (
        "unknown global config",
        lambda s: s["globalConfigs"].update({"ft.enabled": "true"}),
        "globalConfigs[ft.enabled]",
        "unknown",
    ),
    (
        "global config without category",
        lambda s: s["globalConfigs"].update(enable="true"),
        "globalConfigs.enable",
        "unknown",
    ),
    (
        "ft.enable not a boolean",
        lambda s: s["globalConfigs"].update({"ft.enable": "yes"}),
        "globalConfigs[ft.enable]",
        "value",
    ),
    (
        "global config a list",
        lambda s: s["globalConfigs"].update({"ft.enable": ["true"]}),
        "globalConfigs[ft.enable]",
        "type",
    ),
    (
        "bad CIDR",
        lambda s: s["globalConfigs"].update({"ft.fault.tolerance.network.cidr": "10.99.0.0/40"}),
        "globalConfigs[ft.fault.tolerance.network.cidr]",
        "value",
    ),
    (
        "bad ratio",
        lambda s: s["globalConfigs"].update({"host.cpu.overProvisioning.ratio": 0}),
        "globalConfigs[host.cpu.overProvisioning.ratio]",
        "value",
    ),
    (
        "bad reserved size",
        lambda s: s["globalConfigs"].update({"kvm.reservedMemory": "1GB"}),
        "globalConfigs[kvm.reservedMemory]",
        "value",
    ),
    ("globalConfigs not a mapping", lambda s: s.update(globalConfigs=["ft.enable"]), "globalConfigs", "type"),
    ("uuidSeed not a string", lambda s: s.update(uuidSeed=7), "uuidSeed", "type"),
]


def problems(spec: dict) -> list:
    with pytest.raises(InventoryFileError) as raised:
        inventory_rows(spec, NOW)
    assert isinstance(raised.value, ValueError)
    return raised.value.problems


@pytest.mark.parametrize("mutate, path, kind", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validation_error_is_reported_with_its_path_and_kind(mutate, path, kind):
    spec = small_spec()
    mutate(spec)
    found = problems(spec)
    assert (path, kind) in [(p.path, p.kind) for p in found], found
    assert all(p.kind in KINDS for p in found)
    assert all(str(p) == f"{p.path}: {p.message}" for p in found)


def test_every_problem_of_the_values_and_of_each_valid_part_is_reported_at_once():
    """Values are checked everywhere at once; the rules between the resources of a part (an L3, a cluster, a zone,
    the whole file) once everything inside the part is valid: the zone's L2 names an unknown cluster, which is
    reported once the zone's host and its L3's ranges are right."""
    spec = small_spec()
    mutations = {name: mutate for name, mutate, _, _ in CASES}
    for case in ("cpuNum zero", "unknown cluster (L2)", "overlapping ranges", "bad CIDR", "diskSize zero"):
        mutations[case](spec)
    assert sorted((p.path, p.kind) for p in problems(spec)) == sorted(
        [
            ("globalConfigs[ft.fault.tolerance.network.cidr]", "value"),
            (HOST1 + ".cpuNum", "value"),
            (RANGE + "[1]", "conflict"),
            ("diskOfferings[0].diskSize", "value"),
        ]
    )
    H(spec, 0, 1).update(cpuNum=8)
    R(spec, 1).update(startIp="10.0.0.101")
    assert sorted((p.path, p.kind) for p in problems(spec)) == sorted(
        [
            ("globalConfigs[ft.fault.tolerance.network.cidr]", "value"),
            (L2 + ".clusters[1]", "reference"),
            ("diskOfferings[0].diskSize", "value"),
        ]
    )
    with pytest.raises(InventoryFileError) as raised:
        inventory_rows(spec, NOW)
    assert str(raised.value).startswith("invalid inventory (3 errors):\n  ")


def test_messages_never_echo_a_long_value():
    spec = small_spec()
    H(spec, 0, 0).update(managementIp="1" * 100_000, name="h" * 100_000)
    s = Z(spec)
    s["primaryStorages"][1].update(type="n" * 100_000)
    assert all(len(p.message) < 300 for p in problems(spec))


def test_a_valid_small_spec_has_no_errors():
    assert inventory_rows(small_spec(), NOW)["hosts"]


def test_null_counts_as_absent():
    spec = small_spec()
    H(spec, 0, 0).update(maxFtVms=None, description=None)
    C(spec, 1)["hostDefaults"].update(maxFtVms=None)
    hosts = {h["name"]: h for h in inventory_rows(spec, NOW)["hosts"]}
    assert hosts["h1"]["max_ft_vms"] == hosts["h3"]["max_ft_vms"] == 0


def test_keys_the_admin_api_takes_are_taken_from_a_file_too():
    """One model: a file may set what the admin API sets (a cluster's hypervisorType, an L3's type and category, an
    offering's type, a Ceph storage's monitors)."""
    spec = small_spec()
    C(spec, 0)["hypervisorType"] = "KVM"
    Z(spec)["l2Networks"][0]["l3Networks"][0].update(type="L3BasicNetwork", category="Public")
    spec["instanceOfferings"][0]["type"] = "UserVm"
    Z(spec)["primaryStorages"].append(
        {
            "name": "ceph",
            "type": "Ceph",
            "totalCapacity": "1T",
            "monUrls": ["root:secret@10.0.0.7:22"],
            "clusters": ["c2"],
        }
    )
    rows = inventory_rows(spec, NOW)
    assert rows["l3_networks"][0]["category"] == "Public"
    ceph = by_name(rows["primary_storages"], "ceph")
    assert ceph["url"] == f"ceph://pri-v-r-{ceph['uuid']}"  # as the admin API names the pool
    for kind, value in (("hypervisorType", "ESX"), ("category", "Other")):
        bad = small_spec()
        (C(bad, 0) if kind == "hypervisorType" else Z(bad)["l2Networks"][0]["l3Networks"][0])[kind] = value
        assert [p.kind for p in problems(bad)] == ["value"]


# -- the JSON Schema ------------------------------------------------------------------------------------------------


def test_committed_schema_is_current():
    """docs/inventory-file.schema.json is what the model generates (`python3 scripts/gen_inventory_schema.py`)."""
    assert SCHEMA.read_text(encoding="utf-8") == schema_text()


def test_schema_accepts_the_files_the_loader_accepts_and_refuses_unknown_keys():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(yaml.safe_load(DEMO_INVENTORY_PATH.read_text(encoding="utf-8")))
    validator.validate(small_spec())
    for mutate in (
        lambda s: H(s, 0, 0).update(cpuNums=4),
        lambda s: Z(s)["primaryStorages"][1].update(type="nfs"),
        lambda s: s["images"][0].update(platform="linux"),
        lambda s: s.pop("zones"),
    ):
        spec = small_spec()
        mutate(spec)
        assert not validator.is_valid(spec)


# -- reading files: YAML, JSON, parse errors -----------------------------------------------------------------------


def test_json_file(tmp_path):
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(small_spec(), indent=2))
    spec = read_inventory_file(path)
    assert spec == validate_inventory(small_spec())
    assert len(inventory_rows(spec, NOW)["hosts"]) == 4


def test_demo_as_json_gives_the_same_rows(tmp_path):
    demo = yaml.safe_load(DEMO_INVENTORY_PATH.read_text(encoding="utf-8"))
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(demo))
    assert inventory_rows(read_inventory_file(path), NOW) == inventory_rows(demo_inventory(), NOW)
    yaml_path = tmp_path / "demo-as-yaml.yaml"  # JSON is YAML: the YAML reader takes it too
    yaml_path.write_text(json.dumps(demo))
    assert read_inventory_file(yaml_path) == demo_inventory()


def test_yaml_file_with_anchors(tmp_path):
    """YAML merge keys work (a later key overrides a merged one; only a key written twice is an error)."""
    path = tmp_path / "inventory.yaml"
    path.write_text("""
zones:
  - name: z
    clusters:
      - name: c
        hosts:
          - &h1 {name: h1, managementIp: 10.0.0.1, cpuNum: 8, memorySize: 64G}
          - {<<: *h1, name: h2, managementIp: 10.0.0.2, cpuNum: 16}
""")
    rows = inventory_rows(read_inventory_file(path), NOW)
    assert [(h["name"], h["cpu_num"], h["total_memory_capacity"]) for h in rows["hosts"]] == [
        ("h1", 8, 64 * GIB),
        ("h2", 16, 64 * GIB),
    ]


@pytest.mark.parametrize(
    "suffix, text, path, kind",
    [
        (".yaml", "zones:\n  - name: z\n    name: y\n", "(root)", "syntax"),  # a key given twice
        (".json", '{"zones": [], "zones": []}', "(root)", "syntax"),
        (".yaml", "zones: [\n", "(root)", "syntax"),
        (".json", "{zones: []}", "(root)", "syntax"),
        (".yaml", "", "(root)", "type"),
        (".yaml", "- a\n- b\n", "(root)", "type"),
        (
            ".yml",
            "zones:\n  - name: z\n    clusters: [{name: c, hosts: [{name: h, managementIp: 1.2.3.4, cpuNum: 0, "
            "memorySize: 1G}]}]\n",
            "zones[0].clusters[0].hosts[0].cpuNum",
            "value",
        ),
    ],
)
def test_file_errors_name_the_file(tmp_path, suffix, text, path, kind):
    file = tmp_path / f"inventory{suffix}"
    file.write_text(text)
    with pytest.raises(InventoryFileError) as raised:
        read_inventory_file(file)
    assert [(p.path, p.kind) for p in raised.value.problems] == [(path, kind)]
    assert str(raised.value).startswith(f"{file}: invalid inventory")
    assert raised.value.source == str(file)


def test_parse_inventory_text():
    spec = parse_inventory_text(json.dumps(small_spec()), is_json=True)
    assert spec == validate_inventory(small_spec())
    with pytest.raises(InventoryFileError) as raised:
        parse_inventory_text("images: []\n")
    assert raised.value.source == "<inventory>"
    assert [(p.path, p.kind) for p in raised.value.problems] == [("zones", "missing")]
