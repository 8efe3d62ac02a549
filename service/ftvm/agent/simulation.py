"""Simulated KVM hosts: no real hypervisor, no COLO processes; a VM "runs" as an entry in memory.

`HostSimulation` is the one model of the simulated hosts, used in two places: in-process by `SimulatedHypervisor`
(the server's default agent), and in the `ftvm agent --simulate` process (simulator_server.py), which also keeps
it in a `StateFile` so that it survives the agent's own restart. A host exists from the first call that names it.

Simulation controls (tests, benchmarks): `fail(host)` makes a host dead (it answers nothing; its VMs die with it
unless `vms_survive`, a network partition where they keep running); `recover(host)` brings it back: after a crash
rebooted (new boot id, no VMs), after a partition as it was.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import RUNNING, STOPPED, AgentPing, AgentVm, HostUnreachable, VmSpec


class HostFailed(Exception):
    """The simulated host is down."""


@dataclass(slots=True)
class _Vm:
    spec: VmSpec
    state: str


@dataclass(slots=True)
class _Host:
    boot_id: str
    failed: bool = False
    vms_survive: bool = False
    vms: dict[str, _Vm] = field(default_factory=dict)


def _new_boot_id() -> str:
    return uuid.uuid4().hex


class StateFile:
    """The simulation in SQLite, written through on every change. WAL with synchronous=NORMAL: a change is one
    small append that survives the process (what the file is for) without waiting for the disk."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS hosts (uuid TEXT PRIMARY KEY, boot_id TEXT NOT NULL, "
            "failed INTEGER NOT NULL, vms_survive INTEGER NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vms (host_uuid TEXT NOT NULL, uuid TEXT NOT NULL, "
            "name TEXT NOT NULL, cpu_num INTEGER NOT NULL, memory_size INTEGER NOT NULL, "
            "role TEXT NOT NULL, group_uuid TEXT NOT NULL, state TEXT NOT NULL, "
            "PRIMARY KEY (host_uuid, uuid)) WITHOUT ROWID"
        )

    def load(self) -> dict[str, _Host]:
        hosts = {
            uuid: _Host(boot_id, bool(failed), bool(survive))
            for uuid, boot_id, failed, survive in self._db.execute("SELECT * FROM hosts")
        }
        for host_uuid, vm_uuid, name, cpu_num, memory_size, role, group_uuid, state in self._db.execute(
            "SELECT host_uuid, uuid, name, cpu_num, memory_size, role, group_uuid, state FROM vms"
        ):
            hosts[host_uuid].vms[vm_uuid] = _Vm(VmSpec(vm_uuid, name, cpu_num, memory_size, role, group_uuid), state)
        return hosts

    def save_host(self, host_uuid: str, host: _Host) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO hosts VALUES (?, ?, ?, ?)",
            (host_uuid, host.boot_id, int(host.failed), int(host.vms_survive)),
        )

    def save_vm(self, host_uuid: str, vm: _Vm) -> None:
        s = vm.spec
        self._db.execute(
            "INSERT OR REPLACE INTO vms VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (host_uuid, s.uuid, s.name, s.cpu_num, s.memory_size, s.role, s.group_uuid, vm.state),
        )

    def delete_vm(self, host_uuid: str, vm_uuid: str) -> None:
        self._db.execute("DELETE FROM vms WHERE host_uuid = ? AND uuid = ?", (host_uuid, vm_uuid))

    def save_host_without_vms(self, host_uuid: str, host: _Host) -> None:
        """The host and the loss of all its VMs, in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self.save_host(host_uuid, host)
            self._db.execute("DELETE FROM vms WHERE host_uuid = ?", (host_uuid,))

    def close(self) -> None:
        self._db.close()


class HostSimulation:
    """Simulated hosts and their VMs (kept in `state` when given). Calls on a failed host raise `HostFailed`."""

    def __init__(self, state: StateFile | None = None) -> None:
        self._state = state
        self._hosts: dict[str, _Host] = state.load() if state is not None else {}

    def _host(self, host_uuid: str) -> _Host:
        host = self._hosts.get(host_uuid)
        if host is None:
            host = self._hosts[host_uuid] = _Host(_new_boot_id())
            if self._state is not None:
                self._state.save_host(host_uuid, host)
        return host

    def _alive(self, host_uuid: str) -> _Host:
        host = self._host(host_uuid)
        if host.failed:
            raise HostFailed(host_uuid)
        return host

    def start(self, host_uuid: str, spec: VmSpec) -> str:
        host = self._alive(host_uuid)
        vm = host.vms.get(spec.uuid)
        if vm is None or vm.state != RUNNING:
            vm = host.vms[spec.uuid] = _Vm(spec, RUNNING)
            if self._state is not None:
                self._state.save_vm(host_uuid, vm)
        return vm.state

    def stop(self, host_uuid: str, vm_uuid: str) -> str | None:
        """The VM's state afterwards; None when the host does not hold it."""
        vm = self._alive(host_uuid).vms.get(vm_uuid)
        if vm is None:
            return None
        if vm.state != STOPPED:
            vm.state = STOPPED
            if self._state is not None:
                self._state.save_vm(host_uuid, vm)
        return vm.state

    def destroy(self, host_uuid: str, vm_uuid: str) -> None:
        if self._alive(host_uuid).vms.pop(vm_uuid, None) is not None and self._state is not None:
            self._state.delete_vm(host_uuid, vm_uuid)

    def vms(self, host_uuid: str) -> list[AgentVm]:
        return [
            AgentVm(uuid=u, state=vm.state, role=vm.spec.role, group_uuid=vm.spec.group_uuid)
            for u, vm in self._alive(host_uuid).vms.items()
        ]

    def ping(self, host_uuid: str) -> AgentPing:
        host = self._alive(host_uuid)
        return AgentPing(host_uuid=host_uuid, boot_id=host.boot_id, vm_count=len(host.vms))

    # -- simulation controls -------------------------------------------------------------------------------------
    def fail(self, host_uuid: str, vms_survive: bool = False) -> None:
        """The host goes dead. Its VMs die with it, unless `vms_survive` (only the network to it is cut)."""
        host = self._host(host_uuid)
        host.failed = True
        host.vms_survive = vms_survive
        if vms_survive:
            if self._state is not None:
                self._state.save_host(host_uuid, host)
        else:
            host.vms.clear()
            if self._state is not None:
                self._state.save_host_without_vms(host_uuid, host)

    def recover(self, host_uuid: str) -> AgentPing:
        """A failed host answers again: rebooted (new boot id) after a crash, as it was after a partition. An
        alive host is left as it is."""
        host = self._host(host_uuid)
        if host.failed:
            if not host.vms_survive:
                host.boot_id = _new_boot_id()
            host.failed = host.vms_survive = False
            if self._state is not None:
                self._state.save_host(host_uuid, host)
        return self.ping(host_uuid)

    def is_failed(self, host_uuid: str) -> bool:
        host = self._hosts.get(host_uuid)
        return host is not None and host.failed

    def vm_count(self) -> int:
        """VMs on every host, running or stopped."""
        return sum(len(h.vms) for h in self._hosts.values())

    def host_count(self) -> int:
        return len(self._hosts)


class SimulatedHypervisor:
    """The in-process simulated hypervisor (the server's default `HostAgent`). The simulation controls are on
    `simulation`; a call to a failed host raises `HostUnreachable` at once (in-process there is no timeout)."""

    def __init__(self) -> None:
        self.simulation = HostSimulation()

    def _call(self, host_uuid: str, action, *args):
        try:
            return action(host_uuid, *args)
        except HostFailed:
            raise HostUnreachable(f"simulated host[uuid:{host_uuid}] is down") from None

    async def start_vm(self, host_uuid: str, vm: VmSpec) -> None:
        self._call(host_uuid, self.simulation.start, vm)

    async def stop_vm(self, host_uuid: str, vm_uuid: str) -> None:
        self._call(host_uuid, self.simulation.stop, vm_uuid)

    async def destroy_vm(self, host_uuid: str, vm_uuid: str) -> None:
        self._call(host_uuid, self.simulation.destroy, vm_uuid)

    async def list_vms(self, host_uuid: str) -> list[AgentVm]:
        return self._call(host_uuid, self.simulation.vms)

    async def ping(self, host_uuid: str) -> AgentPing:
        return self._call(host_uuid, self.simulation.ping)

    async def ping_many(self, host_uuids: Sequence[str], timeout: float) -> dict[str, AgentPing | None]:
        """In memory: every host answers at once, a failed one with None."""
        out: dict[str, AgentPing | None] = {}
        for host in host_uuids:
            try:
                out[host] = self.simulation.ping(host)
            except HostFailed:
                out[host] = None
        return out

    async def close(self) -> None:
        """Nothing to release."""
