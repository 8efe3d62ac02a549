"""VM views: a vm_instances row with its NICs (each with usedIps), volumes and CD-ROMs, shaped like the proto."""

from __future__ import annotations


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
