"""Reading and destroying FT VMs: GetFaultToleranceVms, Query{VmInstance,Volume,FaultToleranceVm}, Destroy.

A normal account sees and destroys only its own groups; the admin sees all.
"""

from __future__ import annotations

from typing import Sequence

from ftvm.agent import HostAgent
from ftvm.store import Condition, Row, Tx

from .accounts import Account
from .catalog import Usage
from .common import Domain
from .errors import FtError, permission_denied
from .network import NetworkAllocator
from .query import QueryRequest, run_query
from .records import build_vm_view, shadow_view

GROUP_TYPE = "FaultToleranceVmGroup"


def _assemble(tx: Tx, vms: Sequence[Row]) -> dict[str, dict]:
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


def _pair(tx: Tx, group: Row) -> tuple[dict, dict]:
    vms = tx.select_in("vm_instances", "uuid", [group["primary_vm_instance_uuid"], group["secondary_vm_instance_uuid"]])
    views = _assemble(tx, vms)
    return views[group["primary_vm_instance_uuid"]], shadow_view(views[group["secondary_vm_instance_uuid"]], group)


def _group_of(tx: Tx, uuid: str) -> Row | None:
    """The group a uuid names: the group itself or either of its VMs."""
    rows = tx.select("ft_groups", {"uuid": uuid})
    if rows:
        return rows[0]
    vms = tx.select("vm_instances", {"uuid": uuid})
    if vms:
        return tx.select("ft_groups", {"uuid": vms[0]["group_uuid"]})[0]
    return None


def _check_owner(account: Account, group: Row, asked: str) -> None:
    """`asked` is the uuid the caller sent: the refusal names nothing else (not the group a VM uuid led to)."""
    if not account.is_admin and group["account_uuid"] != account.uuid:
        raise permission_denied(f"the resource[uuid:{asked}] belongs to another account")


class Vms:
    def __init__(self, domain: Domain, network: NetworkAllocator, agent: HostAgent) -> None:
        self._domain = domain
        self._network = network
        self._agent = agent

    async def get_pair(self, account: Account, uuid: str) -> tuple[dict, dict]:
        def op(tx: Tx):
            group = _group_of(tx, uuid)
            if group is None:
                return None
            _check_owner(account, group, uuid)
            return _pair(tx, group)

        pair = await self._domain.read(op)
        if pair is None:
            raise FtError("SYS.1003", f"invalid field[faultToleranceVmUuid], resource[uuid:{uuid}, "
                                      f"type:{GROUP_TYPE}] not found")
        return pair

    def _owned(self, account: Account) -> list[Condition]:
        return [] if account.is_admin else [Condition("account_uuid", "=", account.uuid)]

    async def query_vms(self, account: Account, request: QueryRequest) -> tuple[list[dict], int | None]:
        rows, total = await run_query(self._domain, "vm_instances", request, self._owned(account))
        views = await self._domain.read(lambda tx: _assemble(tx, rows)) if rows else {}
        return [views[r["uuid"]] for r in rows], total

    async def query_groups(self, account: Account, request: QueryRequest) -> tuple[list[dict], int | None]:
        rows, total = await run_query(self._domain, "ft_group_inventory", request, self._owned(account))

        def op(tx: Tx) -> list[dict]:
            vms = tx.select_in("vm_instances", "uuid", [r["primary_vm_instance_uuid"] for r in rows])
            views = _assemble(tx, vms)
            out = []
            for r in rows:
                primary = views[r["primary_vm_instance_uuid"]]
                out.append(dict(r, vm_nics=primary["vm_nics"], all_volumes=primary["all_volumes"],
                                vm_cd_roms=primary["vm_cd_roms"]))
            return out

        return (await self._domain.read(op) if rows else []), total

    async def query_volumes(self, account: Account, request: QueryRequest) -> tuple[list[dict], int | None]:
        return await run_query(self._domain, "volume_inventory", request, self._owned(account))

    async def destroy(self, account: Account, uuid: str) -> None:
        """Tears down both VMs of the group `uuid` names (the group or either VM) and gives back everything.
        Idempotent: an unknown or already destroyed uuid succeeds."""
        domain = self._domain

        def op(tx: Tx):
            group = _group_of(tx, uuid)
            if group is None:
                return None
            _check_owner(account, group, uuid)
            where = {"group_uuid": group["uuid"]}
            taken = dict(vms=tx.select("vm_instances", where), volumes=tx.select("volumes", where),
                         used_ips=tx.select("used_ips", where), macs=tx.select("mac_allocations", where),
                         ports=tx.select("colo_ports", where))
            for table in ("tags", "colo_ports", "vm_cdroms", "used_ips", "mac_allocations", "vm_nics", "volumes"):
                tx.delete(table, where)
            tx.delete("ft_groups", {"uuid": group["uuid"]})
            tx.delete("vm_instances", where)
            return group["uuid"], taken

        # Held shared until the usage is given back, so an engine rebuild (which re-reads usage from the rows)
        # cannot land between the delete and the give-back and count it twice.
        await domain.gate.acquire_shared()
        try:
            outcome = await domain.write(op)
            if outcome is not None:
                self._give_back(*outcome)
        finally:
            await domain.gate.release_shared()
        if outcome is not None:
            for vm in outcome[1]["vms"]:
                if vm["host_uuid"] is not None:
                    await self._agent.destroy_vm(vm["host_uuid"], vm["uuid"])

    def _give_back(self, group_uuid: str, taken: dict) -> None:
        domain = self._domain
        for u in taken["used_ips"]:
            self._network.give_back_ip(u["l3_network_uuid"], u["ip_in_long"])
        for m in taken["macs"]:
            self._network.give_back_mac(m["mac"])
        ports: dict[str, list[int]] = {}
        for p in taken["ports"]:
            ports.setdefault(p["host_uuid"], []).append(p["port"])
        for host, host_ports in ports.items():
            self._network.give_back_ports(host, host_ports)
        if not domain.engine.release(group_uuid):
            self._give_back_base(taken["vms"], taken["volumes"])

    def _give_back_base(self, vms: list[Row], volumes: list[Row]) -> None:
        """The group predates this process (its usage is in the base, not an engine reservation)."""
        cat, engine = self._domain.catalog, self._domain.engine
        hosts = set()
        for vm in vms:
            host = vm["host_uuid"]
            if host is None or host not in cat.hosts:
                continue
            base = cat.host_base.setdefault(host, Usage())
            base.cpu -= vm["cpu_num"]
            base.memory -= vm["allocated_memory"]
            base.vms -= 1
            hosts.add(host)
        storages = set()
        for v in volumes:
            ps = v["primary_storage_uuid"]
            if ps is None or not v["allocated_size"] or ps not in cat.storages:
                continue
            cat.add_storage_use(ps, v["host_uuid"], -v["allocated_size"])
            storages.add(ps)
        if hosts:
            engine.upsert_hosts([cat.host_spec(h) for h in hosts])
        for ps in storages:
            engine.upsert_storage(cat.storage_spec(ps))
