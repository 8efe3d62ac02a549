"""VM views: a vm_instances row with its NICs (each with usedIps), volumes and CD-ROMs, shaped like the proto."""

from __future__ import annotations

from typing import Sequence

from ftvm.store import Row, Tx


def build_vm_view(vm: dict, nics: list[dict], used_ips: list[dict], volumes: list[dict], cdroms: list[dict]) -> dict:
    """`used_ips` may hold the whole group's addresses: a NIC shows the ones on its L3 with its IP (the secondary's
    NIC shows the primary NIC's record, since the pair shares the address)."""
    by_address = {(u["l3_network_uuid"], u["ip"]): u for u in used_ips}
    view = dict(vm)
    view["vm_nics"] = [dict(n, used_ips=[by_address[(n["l3_network_uuid"], n["ip"])]]
                            if (n["l3_network_uuid"], n["ip"]) in by_address else []) for n in nics]
    view["all_volumes"] = volumes
    view["vm_cd_roms"] = cdroms
    return view


def shadow_view(secondary: dict, group: dict) -> dict:
    """The secondary's view with its place in the pair (ShadowVmInstanceInventory), from its group row."""
    return dict(secondary, primary_vm_instance_uuid=group["primary_vm_instance_uuid"],
                secondary_vm_instance_uuid=group["secondary_vm_instance_uuid"], status=group["status"])


def group_view(primary: dict, group: Row) -> dict:
    """The group's inventory: the primary's view (host, NICs, volumes) under the group's own identity."""
    return dict(primary, primary_vm_instance_uuid=group["primary_vm_instance_uuid"],
                secondary_vm_instance_uuid=group["secondary_vm_instance_uuid"], status=group["status"],
                uuid=group["uuid"], name=group["name"], type="FaultToleranceVmGroup",
                create_date=group["create_date"], last_op_date=group["last_op_date"])


def assemble_views(tx: Tx, vms: Sequence[Row]) -> dict[str, dict]:
    """vm uuid -> view, for many VMs with four IN queries."""
    uuids = [v["uuid"] for v in vms]
    groups = sorted({v["group_uuid"] for v in vms})
    nics, volumes, cdroms = {}, {}, {}
    for n in sorted(tx.select_in("vm_nics", "vm_instance_uuid", uuids), key=lambda n: n["device_id"]):
        nics.setdefault(n["vm_instance_uuid"], []).append(n)
    for v in sorted(tx.select_in("volumes", "vm_instance_uuid", uuids),
                    key=lambda v: (v["type"] == "Cache", v["device_id"] if v["device_id"] is not None else 1 << 30)):
        volumes.setdefault(v["vm_instance_uuid"], []).append(v)
    for c in tx.select_in("vm_cdroms", "vm_instance_uuid", uuids):
        cdroms.setdefault(c["vm_instance_uuid"], []).append(c)
    used_ips: dict[str, list[Row]] = {}
    for u in tx.select_in("used_ips", "group_uuid", groups):
        used_ips.setdefault(u["group_uuid"], []).append(u)
    return {v["uuid"]: build_vm_view(v, nics.get(v["uuid"], []), used_ips.get(v["group_uuid"], []),
                                     volumes.get(v["uuid"], []), cdroms.get(v["uuid"], [])) for v in vms}
