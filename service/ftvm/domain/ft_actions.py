"""What an operator asks of FT groups and their hosts (spec §8): FailoverFaultToleranceVm, ReconnectHost, and host
maintenance (`changeHostState maintain`), with ZStack's refusals. Each runs on whichever replica the call reaches; the
re-protection that follows is the recovery lease holder's (recovery.py), woken at once when it is this replica.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from ftvm.agent import HostAgent, HostAgentError
from ftvm.store import Row, Tx

from .accounts import Account
from .common import Domain
from .errors import FtError, operation_failed, permission_denied
from .holdings import reshape_many
from .inventory_sync import apply_row, row_change
from .limits import MAX_UUID_LENGTH, check_text
from .records import assemble_views
from .recovery import PROTECTED, RECOVERING, UNKNOWN, ft_event, lose_vm

log = logging.getLogger(__name__)

FAILOVER_MSG = "APIFailoverFaultToleranceVmMsg"


class FtActions:
    def __init__(self, domain: Domain, agent: HostAgent, wake_recovery: Callable[[], None]) -> None:
        self._domain = domain
        self._agent = agent
        self._wake_recovery = wake_recovery

    async def _destroy_on_agent(self, vm: Row) -> None:
        """Best effort: a host that does not answer keeps the VM for the reconciler (its rows are gone)."""
        try:
            await self._agent.destroy_vm(vm["host_uuid"], vm["uuid"])
        except HostAgentError as e:
            log.warning("FT: VM %s left on host %s for the reconciler (%s)", vm["uuid"], vm["host_uuid"], e)

    async def _lose(self, group_uuid: str, vm_uuid: str, reason: str, allowed: tuple[str, ...]) -> bool:
        """The group loses the VM (failed over or dropped) if it is still in an `allowed` status."""
        domain = self._domain
        now = domain.clock()

        def op(tx: Tx):
            groups = tx.select("ft_groups", {"uuid": group_uuid})
            vms = tx.select("vm_instances", {"uuid": vm_uuid})
            if not groups or not vms or groups[0]["status"] not in allowed:
                return None
            return lose_vm(tx, groups[0], vms[0], now, reason)

        await domain.gate.acquire_shared()
        try:
            outcome = await domain.write(op)
            if outcome is not None:
                reshape_many(domain, [outcome])
        finally:
            await domain.gate.release_shared()
        if outcome is not None:
            self._wake_recovery()
        return outcome is not None

    # -- FailoverFaultToleranceVm ----------------------------------------------------------------------------------
    async def failover(self, account: Account, uuid: str | None) -> dict:
        """The secondary takes over (ZStack's refusals first); a new secondary follows. Answers the new primary."""
        uuid = uuid or ""
        check_text(uuid, "faultToleranceVmUuid", FAILOVER_MSG, MAX_UUID_LENGTH)
        if not self._domain.catalog.ft_enabled:
            raise operation_failed(f"Can not fail-over vm[uuid:{uuid}], please enable ft in GlobalConfig")

        def read(tx: Tx):
            groups = tx.select("ft_groups", {"uuid": uuid})
            return (groups[0], tx.select("vm_instances", {"group_uuid": uuid})) if groups else (None, [])

        group, vms = await self._domain.read(read)
        if group is None:
            raise operation_failed(
                f"Can not fail-over vm[uuid:{uuid}], please confirm it is a fault tolerance vm group"
            )
        if not account.is_admin and group["account_uuid"] != account.uuid:
            raise permission_denied(f"the resource[uuid:{uuid}] belongs to another account")
        if group["status"] not in (PROTECTED, UNKNOWN):
            raise operation_failed(
                f"Can not fail-over vm[uuid:{uuid}], because fault tolerance vm group is not in "
                f"status of [{PROTECTED}, {UNKNOWN}]"
            )
        primary = next(v for v in vms if v["uuid"] == group["primary_vm_instance_uuid"])
        lost = [v for v in vms if v["state"] == "Unknown"]
        if lost and lost[0]["uuid"] != primary["uuid"]:
            # Unknown because the secondary is lost: the primary keeps running, the secondary is replaced
            await self._lose(uuid, lost[0]["uuid"], "secondary lost; failover requested", (UNKNOWN,))
        else:
            if not lost:
                await self._destroy_on_agent(primary)  # a live primary is stopped before the secondary takes over
            if not await self._lose(uuid, primary["uuid"], "failover requested", (PROTECTED, UNKNOWN)):
                raise operation_failed(
                    f"Can not fail-over vm[uuid:{uuid}], because fault tolerance vm group is "
                    f"not in status of [{PROTECTED}, {UNKNOWN}]"
                )

        def new_primary(tx: Tx) -> dict:
            group_now = tx.select("ft_groups", {"uuid": uuid})[0]
            vm = tx.select("vm_instances", {"uuid": group_now["primary_vm_instance_uuid"]})
            return assemble_views(tx, vm)[vm[0]["uuid"]]

        return await self._domain.read(new_primary)

    # -- hosts -----------------------------------------------------------------------------------------------------
    async def reconnect_host(self, uuid: str | None) -> Row:
        """A Disconnected host that answers its agent again is Connected (back in placement); the VMs it still holds
        that no row has (they were failed over while it was away) are destroyed first, so no pair runs twice."""
        domain = self._domain
        host = domain.catalog.hosts.get(uuid or "")
        if host is None:
            raise FtError("SYS.1003", f"invalid field[uuid], resource[uuid:{uuid}, type:HostVO] not found")
        try:
            on_host = await self._agent.list_vms(host["uuid"])
        except HostAgentError as e:
            raise operation_failed(f"host[uuid:{host['uuid']}] is unreachable: {e}") from None
        known = {
            v["uuid"] for v in await domain.read(lambda tx: tx.select("vm_instances", {"host_uuid": host["uuid"]}))
        }
        for vm in on_host:
            if vm.uuid not in known:
                await self._destroy_on_agent({"uuid": vm.uuid, "host_uuid": host["uuid"]})
        now = domain.clock()

        def op(tx: Tx) -> Row:
            tx.update("hosts", {"uuid": host["uuid"]}, {"status": "Connected", "last_op_date": now})
            tx.emit(row_change("hosts", host["uuid"]))
            tx.insert("ft_events", [ft_event("host-reconnected", now, host=host["uuid"])])
            return tx.select("hosts", {"uuid": host["uuid"]})[0]

        await domain.gate.acquire_shared()
        try:
            row = await domain.write(op)
            apply_row(domain, "hosts", row)
        finally:
            await domain.gate.release_shared()
        return row

    async def maintain_host(self, uuid: str | None, change_state: Callable) -> Row:
        """`changeHostState maintain`: refused while an FT group with a VM on the host is recovering; else the host
        leaves placement and its FT VMs move off (a primary fails over, a secondary is dropped), to be re-protected
        elsewhere."""
        domain = self._domain
        host_uuid = uuid or ""

        def read(tx: Tx) -> tuple[list[Row], list[Row]]:
            vms = tx.select("vm_instances", {"host_uuid": host_uuid})
            groups = tx.select_in("ft_groups", "uuid", sorted({v["group_uuid"] for v in vms}))
            return vms, groups

        vms, groups = await domain.read(read) if host_uuid in domain.catalog.hosts else ([], [])
        busy = {g["uuid"] for g in groups if g["status"] in (RECOVERING, UNKNOWN)}
        if busy:
            names = sorted(v["uuid"] for v in vms if v["group_uuid"] in busy)
            raise operation_failed(f"Can not maintain host, because ft vms{json.dumps(names)} are under recovering")
        row = await change_state()
        status = {g["uuid"]: g["status"] for g in groups}
        for vm in vms:
            if vm["state"] == "Running" and status.get(vm["group_uuid"]) == PROTECTED:
                await self._destroy_on_agent(vm)
                await self._lose(vm["group_uuid"], vm["uuid"], "host maintenance", (PROTECTED,))
        return row
