"""An FT group's life after the create: hosts watched, VMs lost, failed over, and re-protected.

Group status (`ft_groups.status`, ZStack's names; the VMs' `state` beside it):

    Protected    both VMs run (InstantStart).
    Unknown      a VM of the pair is lost (its host missed heartbeats and is Disconnected, its host rebooted, or the
                 reconciler found it gone): the VM's state is Unknown. Transient: recovery takes it at once, unless
                 both VMs are lost (status_reason says so; nothing can recover it).
    Recovering   the lost VM is gone from the records: a lost primary was failed over (the secondary is the
                 primary now, with the same IP and MAC), a lost secondary dropped. The group has no secondary until
                 re-protection places, starts and commits a new one.
    Unprotected  stopped or created (CreateStopped, JustCreate), or recovering with no room for a new secondary:
                 status_reason holds the placement rule and per-rule counts, and re-protection tries again when
                 capacity appears (a host added, enabled or reconnected, a group destroyed).

    Protected --VM lost--> Unknown --fail over / drop--> Recovering --re-protected--> Protected
    Recovering --no room--> Unprotected --capacity--> Protected
    Protected --FailoverFaultToleranceVm / host maintenance--> Recovering

One replica at a time (the holder of the lease "ft-supervisor", domain/leases.py) pings every Connected host's
agent each `heartbeat_interval`, marks a host that missed `missed_heartbeats` pings Disconnected (its groups
Unknown), fails over, re-protects and reconciles. Every step is a guarded write (it re-reads the group and does
nothing if another step got there first), and everything it needs to resume is in the rows: a replica that takes
the lease over (or the same one after a restart) carries on from the statuses. Re-protection places all waiting
groups jointly with the batch solver (placement/batch.py: CP-SAT warm-started from greedy, time-limited, never worse
than greedy), reserves, starts the new secondaries on their agents, then commits each group.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ftvm.agent import HostAgent, HostAgentError, VmSpec
from ftvm.observability import metrics
from ftvm.placement import NoHostAvailable, Placement, Request
from ftvm.store import Conflict, Row, Tx

from .common import Domain, new_uuid
from .create import StaleView, capacity_checks
from .errors import FtError, operation_failed
from .holdings import Holdings, release_usage, reshape_change, reshape_many, take_base_usage
from .inventory_sync import apply_row, row_change
from .leases import Lease
from .network import ensure_internal_ids
from .records import VolumeMaker, disks_of, nic_row

log = logging.getLogger(__name__)

PROTECTED, UNKNOWN, RECOVERING, UNPROTECTED = "Protected", "Unknown", "Recovering", "Unprotected"
LEASE = "ft-supervisor"


@dataclass
class RecoveryConfig:
    heartbeat_interval: float = 2.0  # seconds between two pings of every Connected host
    missed_heartbeats: int = 3  # pings missed in a row before a host is Disconnected
    reconcile_interval: float = 30.0  # seconds between two reconciliations of the agents' VMs with the rows
    batch_time_limit: float = 0.15  # seconds the joint placement of a re-protection may take


@dataclass
class RecoveryStats:
    """What recovery did since this replica started (and when: for the failover benchmark)."""

    hosts_lost: int = 0
    failovers: int = 0
    secondaries_dropped: int = 0
    reprotected: int = 0
    unprotected: int = 0
    orphans_destroyed: int = 0
    vms_vanished: int = 0
    last_batch: dict[str, Any] = field(default_factory=dict)


def _import_batch_solver():
    """The batch solver (CP-SAT: OR-Tools and numpy, ~2 s to import) is loaded when a host may be lost, not at
    start: a server that never loses a host never loads it."""
    from ftvm.placement.batch import solve_batch

    return solve_batch


def ft_event(
    kind: str, now: int, group: str | None = None, vm: str | None = None, host: str | None = None, **details: Any
) -> Row:
    return dict(
        uuid=new_uuid(),
        create_date=now,
        kind=kind,
        group_uuid=group,
        vm_instance_uuid=vm,
        host_uuid=host,
        details=json.dumps(details) if details else None,
    )


def _group_rows(tx: Tx, group_uuid: str) -> dict[str, list[Row]]:
    where = {"group_uuid": group_uuid}
    return dict(
        vms=tx.select("vm_instances", where),
        volumes=tx.select("volumes", where),
        nics=tx.select("vm_nics", where),
        cdroms=tx.select("vm_cdroms", where),
        used_ips=tx.select("used_ips", where),
        macs=tx.select("mac_allocations", where),
        ports=tx.select("colo_ports", where),
    )


def _holdings(group_uuid: str, rows: dict[str, list[Row]]) -> Holdings:
    return Holdings.from_rows(group_uuid, rows["vms"], rows["volumes"], rows["used_ips"], rows["macs"], rows["ports"])


def lose_vm(tx: Tx, group: Row, lost: Row, now: int, reason: str) -> tuple[Holdings, Holdings]:
    """Removes the lost VM from the group's records: a lost primary is failed over to the secondary (same IP and
    MAC; its COLO cache volumes go), a lost secondary is dropped. The group is Recovering. Answers what the group held
    before and holds after (for memory and the change feed)."""
    group_uuid = group["uuid"]
    rows = _group_rows(tx, group_uuid)
    before = _holdings(group_uuid, rows)
    gone_volumes = [v for v in rows["volumes"] if v["vm_instance_uuid"] == lost["uuid"]]
    for v in gone_volumes:
        tx.delete("tags", {"resource_uuid": v["uuid"]})
    for table in ("volumes", "vm_nics", "vm_cdroms"):
        tx.delete(table, {"vm_instance_uuid": lost["uuid"]})
    tx.delete("colo_ports", {"group_uuid": group_uuid, "host_uuid": lost["host_uuid"]})
    tx.delete("vm_instances", {"uuid": lost["uuid"]})
    values: dict[str, Any] = {
        "secondary_vm_instance_uuid": None,
        "status": RECOVERING,
        "last_op_date": now,
        "status_reason": json.dumps({"reason": reason}),
    }
    gone = {v["uuid"] for v in gone_volumes}
    if lost["uuid"] == group["primary_vm_instance_uuid"]:
        survivor = next(v for v in rows["vms"] if v["uuid"] != lost["uuid"])
        tx.update("vm_instances", {"uuid": survivor["uuid"]}, {"role": "Primary", "last_op_date": now})
        tx.delete("volumes", {"vm_instance_uuid": survivor["uuid"], "type": "Cache"})
        gone |= {
            v["uuid"] for v in rows["volumes"] if v["vm_instance_uuid"] == survivor["uuid"] and v["type"] == "Cache"
        }
        for nic in (n for n in rows["nics"] if n["vm_instance_uuid"] == survivor["uuid"]):
            tx.update(
                "used_ips",
                {"group_uuid": group_uuid, "l3_network_uuid": nic["l3_network_uuid"]},
                {"vm_nic_uuid": nic["uuid"]},
            )
        values["primary_vm_instance_uuid"] = survivor["uuid"]
        tx.insert(
            "ft_events",
            [
                ft_event(
                    "failover",
                    now,
                    group_uuid,
                    survivor["uuid"],
                    survivor["host_uuid"],
                    lost=lost["uuid"],
                    reason=reason,
                )
            ],
        )
    else:
        tx.insert(
            "ft_events",
            [ft_event("secondary-dropped", now, group_uuid, lost["uuid"], lost["host_uuid"], reason=reason)],
        )
    tx.update("ft_groups", {"uuid": group_uuid}, values)
    after = Holdings.from_rows(
        group_uuid,
        [v for v in rows["vms"] if v["uuid"] != lost["uuid"]],
        [v for v in rows["volumes"] if v["uuid"] not in gone],
        rows["used_ips"],
        rows["macs"],
        [p for p in rows["ports"] if p["host_uuid"] != lost["host_uuid"]],
    )
    tx.emit(reshape_change(before, after))
    return before, after


@dataclass
class _Waiting:
    """A group waiting for a new secondary, as the rows have it."""

    group: Row
    primary: Row
    volumes: list[Row]
    nics: list[Row]
    cdroms: list[Row]
    holdings: Holdings  # everything the group holds now (its primary, its addresses, its ports there)

    @property
    def primary_usage(self) -> Holdings:
        """The primary's CPU, memory and storage (what is re-reserved with a new secondary, as a pair)."""
        return Holdings(self.holdings.group_uuid, vms=self.holdings.vms, volumes=self.holdings.volumes)

    def request(self) -> Request:
        disks = disks_of(self.volumes)
        root = next(v for v in self.volumes if v["type"] == "Root")
        data = [v for v in self.volumes if v["type"] == "Data"]
        return Request(
            vcpus=self.primary["cpu_num"],
            memory=self.primary["memory_size"],
            l3_uuids=tuple(n["l3_network_uuid"] for n in sorted(self.nics, key=lambda n: n["device_id"])),
            root_bytes=next(d.size for d in disks if d.kind == "Root"),
            data_bytes=sum(v["size"] for v in data),
            host_uuid=self.primary["host_uuid"],
            root_storage_uuid=root["primary_storage_uuid"],
            data_storage_uuid=data[0]["primary_storage_uuid"] if data else None,
            strategy=self.primary["allocator_strategy"],
        )


@dataclass
class _NewSecondary:
    waiting: _Waiting
    placement: Placement  # the pair, reserved under the group's key
    vm: Row
    volumes: list[Row]
    nics: list[Row]
    cdroms: list[Row]
    ports: list[Row]


class Recovery:
    def __init__(self, domain: Domain, agent: HostAgent, holder: str, config: RecoveryConfig | None = None) -> None:
        self._domain = domain
        self._agent = agent
        self.config = config or RecoveryConfig()
        # Another replica takes the work over after 5 heartbeats of silence, and never sooner than 5 s.
        self.lease = Lease(domain, LEASE, holder, ttl_ms=int(max(5.0, self.config.heartbeat_interval * 5) * 1000))
        self._misses: dict[str, int] = {}
        self._boot_ids: dict[str, str] = {}
        self._capacity_tried = -1  # the capacity generation Unprotected groups were last tried at
        self._last_reconcile = 0.0
        self._orphan_suspects: set[tuple[str, str]] = set()  # (host, vm) without rows at the last sweep
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._batch_solver: asyncio.Future | None = None  # its import, started at the first missed heartbeat
        self.stats = RecoveryStats()

    # -- running ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.lease.release()
        except Exception as e:  # noqa: BLE001 -- the lease lapses on its own
            log.warning("could not release the %s lease (%s)", LEASE, e)

    def wake(self) -> None:
        """Work arrived (a manual failover, a maintenance): do not wait for the next heartbeat."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                if await self.lease.renew():
                    await self.tick()
            except Exception:  # one bad round must not end recovery; the next one retries
                log.exception("FT recovery round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.heartbeat_interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> None:
        """One round of the lease holder: heartbeats, then recovery, then (now and then) reconciliation."""
        await self.watch_hosts()
        await self.recover()
        if time.monotonic() - self._last_reconcile >= self.config.reconcile_interval:
            await self.reconcile()
            self._last_reconcile = time.monotonic()

    # -- heartbeats ------------------------------------------------------------------------------------------------
    async def watch_hosts(self) -> None:
        hosts = [u for u, h in self._domain.catalog.hosts.items() if h["status"] == "Connected"]
        answers = await self._agent.ping_many(hosts, self.config.heartbeat_interval)
        lost, rebooted = [], []
        for host in hosts:
            answer = answers.get(host)
            if answer is None:
                if not self._misses and self._batch_solver is None:  # a host may be lost: load the solver now
                    self._batch_solver = asyncio.ensure_future(asyncio.to_thread(_import_batch_solver))
                self._misses[host] = self._misses.get(host, 0) + 1
                if self._misses[host] >= self.config.missed_heartbeats:
                    lost.append(host)
                continue
            self._misses.pop(host, None)
            if self._boot_ids.setdefault(host, answer.boot_id) != answer.boot_id:
                rebooted.append(host)  # up again, but its VMs are gone
                self._boot_ids[host] = answer.boot_id
        if lost:
            await self._mark_lost(lost, disconnect=True, reason="host missed its heartbeats")
        if rebooted:
            await self._mark_lost(rebooted, disconnect=False, reason="host rebooted")

    async def _mark_lost(self, hosts: list[str], disconnect: bool, reason: str) -> None:
        """The hosts' VMs are lost (Unknown) and their groups Unknown; a host that stopped answering is
        Disconnected (out of placement) until ReconnectHost."""
        domain = self._domain
        now = domain.clock()

        def op(tx: Tx) -> list[Row]:
            changed = []
            for host in hosts:
                if disconnect:
                    tx.update("hosts", {"uuid": host}, {"status": "Disconnected", "last_op_date": now})
                    tx.emit(row_change("hosts", host))
                    changed += tx.select("hosts", {"uuid": host})
                tx.insert(
                    "ft_events",
                    [ft_event("host-lost" if disconnect else "host-rebooted", now, host=host, reason=reason)],
                )
                for vm in tx.select("vm_instances", {"host_uuid": host}):
                    if vm["state"] == "Running":  # a stopped or created VM runs nowhere: nothing is lost
                        tx.update("vm_instances", {"uuid": vm["uuid"]}, {"state": "Unknown", "last_op_date": now})
                        tx.update(
                            "ft_groups",
                            {"uuid": vm["group_uuid"]},
                            {
                                "status": UNKNOWN,
                                "last_op_date": now,
                                "status_reason": json.dumps({"reason": reason, "host": host, "vm": vm["uuid"]}),
                            },
                        )
            return changed

        await domain.gate.acquire_shared()
        try:
            for row in await domain.write(op):
                apply_row(domain, "hosts", row)
        finally:
            await domain.gate.release_shared()
        self.stats.hosts_lost += len(hosts) if disconnect else 0
        for host in hosts:
            self._misses.pop(host, None)
        log.warning("FT: hosts %s lost (%s): their FT groups are Unknown", hosts, reason)

    # -- recovery --------------------------------------------------------------------------------------------------
    async def recover(self) -> None:
        unknown = await self._domain.read(lambda tx: tx.select("ft_groups", {"status": UNKNOWN}))
        if unknown:
            await self.drop_lost_vms([g["uuid"] for g in unknown])
        await self.reprotect()

    async def drop_lost_vms(self, group_uuids: list[str]) -> None:
        """Fails over (lost primary) or drops the secondary (lost secondary) of Unknown groups, in one write."""
        domain = self._domain
        now = domain.clock()

        def op(tx: Tx) -> list[tuple[bool, int, tuple[Holdings, Holdings]]]:
            done = []
            for group in tx.select_in("ft_groups", "uuid", group_uuids):
                if group["status"] != UNKNOWN:
                    continue  # handled meanwhile
                vms = tx.select("vm_instances", {"group_uuid": group["uuid"]})
                lost = [v for v in vms if v["state"] == "Unknown"]
                if not lost:
                    continue
                if len(lost) == len(vms):
                    reason = json.dumps({"reason": "every VM of the group is lost: nothing to fail over to"})
                    if group["status_reason"] != reason:
                        tx.update("ft_groups", {"uuid": group["uuid"]}, {"status_reason": reason})
                        tx.insert("ft_events", [ft_event("pair-lost", now, group["uuid"])])
                    continue
                reason = json.loads(group["status_reason"] or "{}").get("reason", "VM lost")
                failed_over = lost[0]["uuid"] == group["primary_vm_instance_uuid"]
                # last_op_date: when the group turned Unknown
                done.append((failed_over, group["last_op_date"], lose_vm(tx, group, lost[0], now, reason)))
            return done

        await domain.gate.acquire_shared()
        try:
            done = await domain.write(op)
            reshape_many(domain, [changed for _, _, changed in done])
        finally:
            await domain.gate.release_shared()
        self.stats.failovers += sum(1 for failed_over, _, _ in done if failed_over)
        self.stats.secondaries_dropped += sum(1 for failed_over, _, _ in done if not failed_over)
        for failed_over, lost_at, _ in done:
            metrics.FAILOVER_SECONDS.labels("primary" if failed_over else "secondary").observe(
                max(0, now - lost_at) / 1000
            )

    async def _waiting_groups(self) -> list[_Waiting]:
        """Recovering groups, and Unprotected ones that lost their secondary when capacity changed since they were
        last tried."""
        retry_unprotected = self._domain.capacity_generation != self._capacity_tried
        self._capacity_tried = self._domain.capacity_generation

        def read(tx: Tx) -> list[_Waiting]:
            groups = tx.select("ft_groups", {"status": RECOVERING})
            if retry_unprotected:
                groups += [
                    g
                    for g in tx.select("ft_groups", {"status": UNPROTECTED})
                    if g["secondary_vm_instance_uuid"] is None and g["status_reason"]
                ]
            out = []
            for g in groups:
                rows = _group_rows(tx, g["uuid"])
                primary = next((v for v in rows["vms"] if v["uuid"] == g["primary_vm_instance_uuid"]), None)
                if primary is None or primary["host_uuid"] is None:
                    continue
                out.append(
                    _Waiting(g, primary, rows["volumes"], rows["nics"], rows["cdroms"], _holdings(g["uuid"], rows))
                )
            return out

        return await self._domain.read(read)

    async def reprotect(self) -> None:
        """Places a new secondary for every waiting group jointly, starts them, commits each group."""
        waiting = await self._waiting_groups()
        if not waiting:
            return
        domain = self._domain
        await ensure_internal_ids(domain, len(waiting))
        await domain.gate.acquire_shared()
        try:
            placed, unplaced = self._place(waiting)
            made = [self._make_secondary(w, placement) for w, placement in placed]
            started = await self._start(made)
            await asyncio.gather(*(self._commit(secondary) for secondary in started))
            if unplaced:
                await self._leave_unprotected(unplaced)
        finally:
            await domain.gate.release_shared()

    def _place(self, waiting: list[_Waiting]) -> tuple[list[tuple[_Waiting, Placement]], list[tuple[_Waiting, Any]]]:
        solve_batch = _import_batch_solver()
        domain = self._domain
        release_usage(domain, [w.primary_usage for w in waiting])  # re-reserved with the new secondary, as a pair
        keys = [w.group["uuid"] for w in waiting]
        result = solve_batch(
            domain.engine, keys, [w.request() for w in waiting], time_limit_s=self.config.batch_time_limit
        )
        result.apply(domain.engine)
        self.stats.last_batch = dict(
            groups=len(waiting),
            placed=result.placed,
            greedy_placed=result.greedy_placed,
            soft_violations=result.soft_violations,
            greedy_soft_violations=result.greedy_soft_violations,
            source=result.source,
            status=result.status,
            seconds=result.seconds,
            greedy_seconds=result.stats.get("greedy_seconds"),
        )
        placed, unplaced = [], []
        for w, placement, error in zip(waiting, result.placements, result.errors):
            if placement is None:
                unplaced.append((w, error))
            else:
                placed.append((w, placement))
        take_base_usage(domain, [w.primary_usage for w, _ in unplaced])
        return placed, unplaced

    def _make_secondary(self, w: _Waiting, placement: Placement) -> _NewSecondary:
        domain = self._domain
        cat, net, now = domain.catalog, domain.network, domain.clock()
        config = cat.placement_config()
        host = cat.hosts[placement.secondary_host]
        group_uuid = w.group["uuid"]
        vm = dict(
            w.primary,
            uuid=new_uuid(),
            name=f"{w.group['name']}-svm",
            host_uuid=host["uuid"],
            last_host_uuid=host["uuid"],
            zone_uuid=host["zone_uuid"],
            cluster_uuid=host["cluster_uuid"],
            role="Secondary",
            state="Running",
            internal_id=net.take_internal_id(),
            create_date=now,
            last_op_date=now,
        )
        maker = VolumeMaker(cat, w.group["account_uuid"], group_uuid, now, config.storage_overprovisioning_ratio)
        volumes = maker.of(
            vm, disks_of(w.volumes), placement.secondary_storage, placement.secondary_storage, caches=True
        )
        vm["root_volume_uuid"] = volumes[0]["uuid"]
        nics = [
            nic_row(vm, n["l3_network_uuid"], n["ip"], n["mac"], n["netmask"], n["gateway"], n["device_id"], now)
            for n in sorted(w.nics, key=lambda n: n["device_id"])
        ]
        cdroms = [
            dict(
                c,
                uuid=new_uuid(),
                vm_instance_uuid=vm["uuid"],
                name=f"vm-{vm['uuid']}-cdRom",
                create_date=now,
                last_op_date=now,
            )
            for c in w.cdroms[:1]
        ]
        ports = net.take_colo_ports(host["uuid"], group_uuid, len(nics))
        return _NewSecondary(w, placement, vm, volumes, nics, cdroms, ports)

    def _undo(self, s: _NewSecondary) -> None:
        domain = self._domain
        domain.network.give_back_ports(s.ports, s.waiting.group["uuid"])
        domain.engine.release(s.waiting.group["uuid"])
        take_base_usage(domain, [s.waiting.primary_usage])

    async def _start(self, made: list[_NewSecondary]) -> list[_NewSecondary]:
        """Starts the new secondaries on their hosts; one that fails is undone (tried again next round)."""

        async def start(s: _NewSecondary) -> bool:
            try:
                await self._agent.start_vm(s.vm["host_uuid"], VmSpec.of_row(s.vm))
                return True
            except HostAgentError as e:
                log.warning(
                    "FT: could not start the new secondary of group %s on host %s: %s",
                    s.waiting.group["uuid"],
                    s.vm["host_uuid"],
                    e,
                )
                return False

        outcomes = await asyncio.gather(*(start(s) for s in made))
        started = []
        for s, ok in zip(made, outcomes):
            if ok:
                started.append(s)
            else:
                self._undo(s)
        return started

    async def _commit(self, s: _NewSecondary) -> None:
        domain = self._domain
        group_uuid, now = s.waiting.group["uuid"], domain.clock()
        checks = capacity_checks(domain.catalog, s.placement)
        before = s.waiting.holdings
        after = before.plus(Holdings.from_rows(group_uuid, [s.vm], s.volumes, [], [], s.ports))

        def op(tx: Tx) -> bool:
            groups = tx.select("ft_groups", {"uuid": group_uuid})
            if (
                not groups
                or groups[0]["primary_vm_instance_uuid"] != s.waiting.primary["uuid"]
                or groups[0]["secondary_vm_instance_uuid"] is not None
            ):
                return False  # destroyed or changed meanwhile
            try:
                tx.insert("vm_instances", [s.vm])
                tx.insert("volumes", s.volumes)
                tx.insert("vm_nics", s.nics)
                tx.insert("vm_cdroms", s.cdroms)
                tx.insert("colo_ports", s.ports)
            except Conflict as e:
                raise StaleView(operation_failed(f"another replica took an address first ({e.table})")) from e
            tx.update(
                "ft_groups",
                {"uuid": group_uuid},
                {
                    "secondary_vm_instance_uuid": s.vm["uuid"],
                    "status": PROTECTED,
                    "status_reason": None,
                    "last_op_date": now,
                },
            )
            tx.insert("ft_events", [ft_event("reprotected", now, group_uuid, s.vm["uuid"], s.vm["host_uuid"])])
            tx.emit(reshape_change(before, after))
            tx.after_writes(checks.verify)
            return True

        try:
            committed = await domain.write(op)
        except (StaleView, FtError) as e:
            log.warning("FT: re-protecting group %s failed at commit (%s); trying again next round", group_uuid, e)
            committed = False
        if committed:
            self.stats.reprotected += 1
            # last_op_date: when the group lost its secondary (Recovering) or was left Unprotected
            metrics.REPROTECT_SECONDS.observe(max(0, now - s.waiting.group["last_op_date"]) / 1000)
            return
        self._undo(s)
        try:
            await self._agent.destroy_vm(s.vm["host_uuid"], s.vm["uuid"])
        except HostAgentError as e:
            log.warning(
                "FT: new secondary %s left on host %s for the reconciler (%s)", s.vm["uuid"], s.vm["host_uuid"], e
            )

    async def _leave_unprotected(self, unplaced: list[tuple[_Waiting, Any]]) -> None:
        """No room for a new secondary: Unprotected, with the rule that emptied the candidates; tried again when
        capacity appears."""
        now = self._domain.clock()

        def op(tx: Tx) -> int:
            written = 0
            for w, error in unplaced:
                reason: dict[str, Any] = {"reason": "no host for a new secondary"}
                if isinstance(error, NoHostAvailable):
                    reason.update(
                        phase=error.phase,
                        rule=error.rule,
                        hostsRemovedByRule={k: v for k, v in error.removed.items() if v},
                    )
                elif error is not None:
                    reason["error"] = str(error)
                text = json.dumps(reason)
                group = tx.select("ft_groups", {"uuid": w.group["uuid"]})
                if (
                    not group
                    or group[0]["status"] not in (RECOVERING, UNPROTECTED)
                    or group[0]["status_reason"] == text
                ):
                    continue
                tx.update(
                    "ft_groups",
                    {"uuid": w.group["uuid"]},
                    {"status": UNPROTECTED, "status_reason": text, "last_op_date": now},
                )
                tx.insert("ft_events", [ft_event("unprotected", now, w.group["uuid"], **reason)])
                written += 1
            return written

        self.stats.unprotected += await self._domain.write(op)

    # -- reconciliation --------------------------------------------------------------------------------------------
    async def reconcile(self, at_start: bool = False) -> dict[str, int]:
        """Compares every Connected host's VMs (its agent's list) with the rows: destroys the VMs no row has
        (a create or re-protection that started them and never committed), and marks the rows whose VM is gone
        (Unknown: recovery takes the group). Answers the counts.

        A create starts its VMs before it commits, so a VM without rows may be a create in flight: an orphan is
        destroyed when the previous sweep saw it too, or at once by the sweep at start (before this replica serves)
        when no other replica is alive to have creates in flight."""
        domain = self._domain
        now_ms = domain.clock()
        others = [
            r
            for r in await domain.read(lambda tx: tx.select("replicas"))
            if r["replica_id"] != self.lease.holder and now_ms - r["heartbeat"] <= 15_000
        ]
        destroy_at_once = at_start and not others
        hosts = [u for u, h in domain.catalog.hosts.items() if h["status"] == "Connected"]
        rows = await domain.read(lambda tx: tx.select_in("vm_instances", "host_uuid", hosts) if hosts else [])
        known: dict[str, set[str]] = {}
        for vm in rows:
            known.setdefault(vm["host_uuid"], set()).add(vm["uuid"])
        running = {vm["uuid"]: vm for vm in rows if vm["state"] == "Running"}
        orphans, vanished, suspects = 0, [], set()
        for host in hosts:
            try:
                on_host = await self._agent.list_vms(host)
            except HostAgentError:
                continue  # the heartbeats deal with a host that does not answer
            held = {agent_vm.uuid for agent_vm in on_host}
            for agent_vm in on_host:
                if agent_vm.uuid in known.get(host, ()):
                    continue
                suspect = (host, agent_vm.uuid)
                if not destroy_at_once and suspect not in self._orphan_suspects:
                    suspects.add(suspect)
                    continue
                try:
                    await self._agent.destroy_vm(host, agent_vm.uuid)
                    orphans += 1
                except HostAgentError as e:
                    suspects.add(suspect)
                    log.warning("FT: could not destroy orphan VM %s on host %s (%s)", agent_vm.uuid, host, e)
            vanished += [u for u in known.get(host, ()) if u in running and u not in held]
        self._orphan_suspects = suspects
        if vanished:
            await self._mark_vanished(vanished)
        self.stats.orphans_destroyed += orphans
        self.stats.vms_vanished += len(vanished)
        if orphans:
            now = domain.clock()
            await domain.write(lambda tx: tx.insert("ft_events", [ft_event("orphans-destroyed", now, count=orphans)]))
        return {"orphans_destroyed": orphans, "vms_vanished": len(vanished)}

    async def _mark_vanished(self, vm_uuids: list[str]) -> None:
        now = self._domain.clock()

        def op(tx: Tx) -> None:
            for vm in tx.select_in("vm_instances", "uuid", vm_uuids):
                if vm["state"] != "Running":
                    continue  # changed since the list was read
                tx.update("vm_instances", {"uuid": vm["uuid"]}, {"state": "Unknown", "last_op_date": now})
                tx.update(
                    "ft_groups",
                    {"uuid": vm["group_uuid"]},
                    {
                        "status": UNKNOWN,
                        "last_op_date": now,
                        "status_reason": json.dumps({"reason": "VM vanished from its host", "vm": vm["uuid"]}),
                    },
                )
                tx.insert("ft_events", [ft_event("vm-vanished", now, vm["group_uuid"], vm["uuid"], vm["host_uuid"])])

        await self._domain.write(op)
