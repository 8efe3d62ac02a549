"""The rows of an FT group's records (volumes, NICs), made the same way by the create and by re-protection; and VM
views: a vm_instances row with its NICs (each with usedIps), volumes and CD-ROMs, shaped like the proto."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from ftvm.store import Row, Tx

from .catalog import Catalog
from .common import new_uuid

_VOLUME_FOLDERS = {"Root": "rootVolumes", "Data": "dataVolumes", "Cache": "cacheVolumes"}


class Disk(NamedTuple):
    """A disk every VM of the pair has: its type, size, device id, disk offering and root image."""

    kind: str  # Root | Data
    size: int
    device_id: int
    offering_uuid: str | None
    image_uuid: str | None


class VolumeMaker:
    """Volume rows of one group's VMs. `storage_ratio` None: nothing placed (JustCreate), nothing allocated."""

    def __init__(
        self, catalog: Catalog, account_uuid: str, group_uuid: str, now: int, storage_ratio: float | None
    ) -> None:
        self._catalog = catalog
        self._account = account_uuid
        self._group = group_uuid
        self._now = now
        self._ratio = storage_ratio

    def volume(
        self,
        vm: Row,
        kind: str,
        name: str,
        size: int,
        device_id: int | None,
        storage: str | None,
        offering: str | None = None,
        image: str | None = None,
    ) -> Row:
        cat, uuid = self._catalog, new_uuid()
        path = None
        if storage is not None:
            path = (
                f"{cat.storages[storage]['url'].rstrip('/')}/{_VOLUME_FOLDERS[kind]}/acct-{self._account}/"
                f"vol-{uuid}/{uuid}.qcow2"
            )
        local_host = vm["host_uuid"] if storage is not None and cat.is_local(storage) else None
        return dict(
            uuid=uuid,
            name=name,
            description=None,
            primary_storage_uuid=storage,
            vm_instance_uuid=vm["uuid"],
            disk_offering_uuid=offering,
            root_image_uuid=image if kind == "Root" else None,
            install_path=path,
            type=kind,
            format="qcow2",
            size=size,
            actual_size=size if kind == "Root" else 0,
            device_id=device_id,
            state="Enabled",
            status="Ready" if storage else "NotInstantiated",
            create_date=self._now,
            last_op_date=self._now,
            is_shareable=False,
            volume_qos=None,
            last_detach_date=None,
            last_vm_instance_uuid=None,
            group_uuid=self._group,
            host_uuid=local_host,
            allocated_size=math.ceil(size / self._ratio) if self._ratio else 0,
        )

    def of(
        self, vm: Row, disks: Sequence[Disk], root_storage: str | None, data_storage: str | None, caches: bool
    ) -> list[Row]:
        """A VM's volumes: one per disk; with `caches` (a secondary), COLO's active and hidden cache volume per disk,
        same size, on the root storage."""
        volumes = [
            self.volume(
                vm,
                d.kind,
                f"{'ROOT' if d.kind == 'Root' else 'DATA'}-for-{vm['name']}",
                d.size,
                d.device_id,
                root_storage if d.kind == "Root" else data_storage,
                d.offering_uuid,
                d.image_uuid,
            )
            for d in disks
        ]
        if caches:
            for disk in list(volumes):
                for which in ("active", "hidden"):
                    volumes.append(
                        self.volume(vm, "Cache", f"CACHE-{which}-for-{disk['name']}", disk["size"], None, root_storage)
                    )
        return volumes


def nic_row(
    vm: Row, l3_uuid: str, ip: str | None, mac: str, netmask: str | None, gateway: str | None, device_id: int, now: int
) -> Row:
    return dict(
        uuid=new_uuid(),
        vm_instance_uuid=vm["uuid"],
        l3_network_uuid=l3_uuid,
        ip=ip,
        mac=mac,
        hypervisor_type="KVM",
        netmask=netmask,
        gateway=gateway,
        meta_data=None,
        ip_version=4,
        driver_type="virtio",
        internal_name=f"vnic{vm['internal_id']}.{device_id}",
        device_id=device_id,
        type="VNIC",
        state="enable",
        create_date=now,
        last_op_date=now,
        group_uuid=vm["group_uuid"],
    )


def disks_of(volumes: Sequence[Row]) -> list[Disk]:
    """The disks of a VM, from its Root and Data volumes (its cache volumes are not disks)."""
    return [
        Disk(v["type"], v["size"], v["device_id"], v["disk_offering_uuid"], v["root_image_uuid"])
        for v in sorted(volumes, key=lambda v: v["device_id"] if v["device_id"] is not None else 1 << 30)
        if v["type"] in ("Root", "Data")
    ]


def build_vm_view(vm: dict, nics: list[dict], used_ips: list[dict], volumes: list[dict], cdroms: list[dict]) -> dict:
    """`used_ips` may hold the whole group's addresses: a NIC shows the ones on its L3 with its IP (the secondary's
    NIC shows the primary NIC's record, since the pair shares the address)."""
    by_address = {(u["l3_network_uuid"], u["ip"]): u for u in used_ips}
    view = dict(vm)
    view["vm_nics"] = [
        dict(
            n,
            used_ips=[by_address[(n["l3_network_uuid"], n["ip"])]]
            if (n["l3_network_uuid"], n["ip"]) in by_address
            else [],
        )
        for n in nics
    ]
    view["all_volumes"] = volumes
    view["vm_cd_roms"] = cdroms
    return view


def shadow_view(secondary: dict, group: dict) -> dict:
    """The secondary's view with its place in the pair (ShadowVmInstanceInventory), from its group row."""
    return dict(
        secondary,
        primary_vm_instance_uuid=group["primary_vm_instance_uuid"],
        secondary_vm_instance_uuid=group["secondary_vm_instance_uuid"],
        status=group["status"],
    )


def group_view(primary: dict, group: Row) -> dict:
    """The group's inventory: the primary's view (host, NICs, volumes) under the group's own identity."""
    return dict(
        primary,
        primary_vm_instance_uuid=group["primary_vm_instance_uuid"],
        secondary_vm_instance_uuid=group["secondary_vm_instance_uuid"],
        status=group["status"],
        uuid=group["uuid"],
        name=group["name"],
        type="FaultToleranceVmGroup",
        create_date=group["create_date"],
        last_op_date=group["last_op_date"],
    )


def assemble_views(tx: Tx, vms: Sequence[Row]) -> dict[str, dict]:
    """vm uuid -> view, for many VMs with four IN queries."""
    uuids = [v["uuid"] for v in vms]
    groups = sorted({v["group_uuid"] for v in vms})
    nics: dict[str, list[Row]] = {}
    volumes: dict[str, list[Row]] = {}
    cdroms: dict[str, list[Row]] = {}
    for n in sorted(tx.select_in("vm_nics", "vm_instance_uuid", uuids), key=lambda n: n["device_id"]):
        nics.setdefault(n["vm_instance_uuid"], []).append(n)
    for v in sorted(
        tx.select_in("volumes", "vm_instance_uuid", uuids),
        key=lambda v: (v["type"] == "Cache", v["device_id"] if v["device_id"] is not None else 1 << 30),
    ):
        volumes.setdefault(v["vm_instance_uuid"], []).append(v)
    for c in tx.select_in("vm_cdroms", "vm_instance_uuid", uuids):
        cdroms.setdefault(c["vm_instance_uuid"], []).append(c)
    used_ips: dict[str, list[Row]] = {}
    for u in tx.select_in("used_ips", "group_uuid", groups):
        used_ips.setdefault(u["group_uuid"], []).append(u)
    return {
        v["uuid"]: build_vm_view(
            v,
            nics.get(v["uuid"], []),
            used_ips.get(v["group_uuid"], []),
            volumes.get(v["uuid"], []),
            cdroms.get(v["uuid"], []),
        )
        for v in vms
    }


def pair_views(tx: Tx, group: Row) -> tuple[dict, dict | None]:
    """The group's primary and secondary views; the secondary is None while the group recovers without one."""
    uuids = [u for u in (group["primary_vm_instance_uuid"], group["secondary_vm_instance_uuid"]) if u]
    views = assemble_views(tx, tx.select_in("vm_instances", "uuid", uuids))
    secondary = group["secondary_vm_instance_uuid"]
    return views[group["primary_vm_instance_uuid"]], shadow_view(views[secondary], group) if secondary else None
