"""Reading and destroying FT VMs: GetFaultToleranceVms, Query{VmInstance,Volume,FaultToleranceVm}, Destroy.

A normal account sees and destroys only its own groups; the admin sees all.
"""

from __future__ import annotations

import asyncio
import logging

from ftvm.agent import HostAgent, HostAgentError
from ftvm.store import Condition, Row, Tx

from .accounts import Account
from .common import Domain
from .errors import FtError, permission_denied
from .holdings import Holdings, give_back
from .limits import MAX_UUID_LENGTH, check_text
from .query import QueryRequest, run_query
from .records import assemble_views, pair_views

log = logging.getLogger(__name__)

GROUP_TYPE = "FaultToleranceVmGroup"


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
    def __init__(self, domain: Domain, agent: HostAgent) -> None:
        self._domain = domain
        self._agent = agent

    async def get_pair(self, account: Account, uuid: str) -> tuple[dict, dict]:
        check_text(uuid, "faultToleranceVmUuid", "APIGetFaultToleranceVmsMsg", MAX_UUID_LENGTH)

        def op(tx: Tx):
            group = _group_of(tx, uuid)
            if group is None:
                return None
            _check_owner(account, group, uuid)
            return pair_views(tx, group)

        pair = await self._domain.read(op)
        if pair is None:
            raise FtError(
                "SYS.1003", f"invalid field[faultToleranceVmUuid], resource[uuid:{uuid}, type:{GROUP_TYPE}] not found"
            )
        return pair

    def _owned(self, account: Account) -> list[Condition]:
        return [] if account.is_admin else [Condition("account_uuid", "=", account.uuid)]

    async def query_vms(self, account: Account, request: QueryRequest) -> tuple[list[dict], int | None]:
        rows, total = await run_query(self._domain, "vm_instances", request, self._owned(account))
        views = await self._domain.read(lambda tx: assemble_views(tx, rows)) if rows else {}
        return [views[r["uuid"]] for r in rows], total

    async def query_groups(self, account: Account, request: QueryRequest) -> tuple[list[dict], int | None]:
        rows, total = await run_query(self._domain, "ft_group_inventory", request, self._owned(account))

        def op(tx: Tx) -> list[dict]:
            vms = tx.select_in("vm_instances", "uuid", [r["primary_vm_instance_uuid"] for r in rows])
            views = assemble_views(tx, vms)
            out = []
            for r in rows:
                primary = views[r["primary_vm_instance_uuid"]]
                out.append(
                    dict(
                        r,
                        vm_nics=primary["vm_nics"],
                        all_volumes=primary["all_volumes"],
                        vm_cd_roms=primary["vm_cd_roms"],
                    )
                )
            return out

        return (await self._domain.read(op) if rows else []), total

    async def query_volumes(self, account: Account, request: QueryRequest) -> tuple[list[dict], int | None]:
        return await run_query(self._domain, "volume_inventory", request, self._owned(account))

    async def destroy(self, account: Account, uuid: str) -> None:
        """Tears down both VMs of the group `uuid` names (the group or either VM) and gives back everything.
        Idempotent: an unknown or already destroyed uuid succeeds."""
        check_text(uuid, "uuid", "APIDestroyVmInstanceMsg", MAX_UUID_LENGTH)
        domain = self._domain

        def op(tx: Tx):
            group = _group_of(tx, uuid)
            if group is None:
                return None
            _check_owner(account, group, uuid)
            where = {"group_uuid": group["uuid"]}
            vms = tx.select("vm_instances", where)
            holdings = Holdings.from_rows(
                group["uuid"],
                vms,
                tx.select("volumes", where),
                tx.select("used_ips", where),
                tx.select("mac_allocations", where),
                tx.select("colo_ports", where),
            )
            for table in ("tags", "colo_ports", "vm_cdroms", "used_ips", "mac_allocations", "vm_nics", "volumes"):
                tx.delete(table, where)
            tx.delete("ft_groups", {"uuid": group["uuid"]})
            tx.delete("vm_instances", where)
            tx.emit(holdings.change(taken=False))
            return holdings, vms

        # Held shared until the usage is given back, so an engine rebuild (which re-reads usage from the rows)
        # cannot land between the delete and the give-back and count it twice.
        await domain.gate.acquire_shared()
        try:
            outcome = await domain.write(op)
            if outcome is not None:
                give_back(domain, outcome[0])
        finally:
            await domain.gate.release_shared()
        if outcome is not None:
            await self._destroy_on_hosts([vm for vm in outcome[1] if vm["host_uuid"] is not None])

    async def _destroy_on_hosts(self, vms: list[Row]) -> None:
        """After the records are gone: a VM whose agent does not answer is left for the reconciler (the destroy
        itself succeeded; a retry of it would find nothing to do)."""
        outcomes = await asyncio.gather(
            *(self._agent.destroy_vm(vm["host_uuid"], vm["uuid"]) for vm in vms), return_exceptions=True
        )
        for vm, outcome in zip(vms, outcomes):
            if isinstance(outcome, HostAgentError):
                log.warning(
                    "destroyed FT group[uuid:%s], but vm[uuid:%s] could not be destroyed on host[uuid:%s]: "
                    "%s; left on the host for the reconciler",
                    vm["group_uuid"],
                    vm["uuid"],
                    vm["host_uuid"],
                    outcome,
                )
            elif isinstance(outcome, BaseException):
                raise outcome
