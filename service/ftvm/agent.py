"""The hypervisor side: starting and destroying VMs on hosts.

`HostAgent` is what the create and destroy flows call. `SimulatedHypervisor` is the default: an in-process
simulation (no real KVM, no COLO processes) that records which VMs run on which host, so the service can be run
and tested end to end on one machine. A real agent (ZStack's kvmagent over HTTP) would implement the same three
calls.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol


class HostAgentError(Exception):
    """The agent could not do what it was asked (the create rolls back)."""


class HostAgent(Protocol):
    async def start_vm(self, host_uuid: str, vm: Mapping[str, Any]) -> None: ...
    async def destroy_vm(self, host_uuid: str, vm_uuid: str) -> None: ...


class SimulatedHypervisor:
    """In-process simulated hypervisor: VMs 'run' as entries in a dict (named as such in logs and docs)."""

    def __init__(self) -> None:
        self.running: dict[str, set[str]] = {}

    async def start_vm(self, host_uuid: str, vm: Mapping[str, Any]) -> None:
        self.running.setdefault(host_uuid, set()).add(vm["uuid"])

    async def destroy_vm(self, host_uuid: str, vm_uuid: str) -> None:
        """Idempotent: destroying a VM that does not run is not an error."""
        self.running.get(host_uuid, set()).discard(vm_uuid)

    def vm_count(self) -> int:
        return sum(len(v) for v in self.running.values())
