"""The hypervisor side: the host agent that starts, stops and destroys VMs on hosts and answers heartbeats.

`HostAgent` is what the management plane calls (the create flow, destroy, and whatever watches the hosts). Every
call names its host and is idempotent by VM uuid, so a call that timed out can be sent again. Implementations:

  simulation.SimulatedHypervisor  in-process simulation (the default: `scripts/run.sh`, the tests); no real KVM,
                                  no COLO processes: VMs "run" as entries in memory
  http_client.HttpHostAgent       speaks the agent's HTTP/JSON protocol (wire.py documents it) to an agent process
                                  (`ftvm serve --agent-url URL`), such as the simulated hosts of `ftvm agent
                                  --simulate` (simulator_server.py)

Errors: `HostAgentError` when the agent refused or failed a call, `HostUnreachable` (a subclass) when it did not
answer at all (connection refused or reset, or no reply within the timeout after every attempt): the host may be
dead, or only the path to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

RUNNING = "Running"
STOPPED = "Stopped"
DESTROYED = "Destroyed"  # only in replies: the host holds no such VM (any more)
ROLES = ("Primary", "Secondary")
DEFAULT_AGENT_TIMEOUT = 3.0  # seconds per call of an agent over the network
DEFAULT_AGENT_ATTEMPTS = 3  # tries of a call that got no answer


class HostAgentError(Exception):
    """The agent could not do what it was asked (a create rolls back)."""


class HostUnreachable(HostAgentError):
    """The agent did not answer: the host is down, or the agent, or the network between."""


@dataclass(frozen=True, slots=True)
class VmSpec:
    """What a host needs to start a VM."""

    uuid: str
    name: str
    cpu_num: int
    memory_size: int  # bytes
    role: str  # Primary | Secondary
    group_uuid: str

    @classmethod
    def of_row(cls, vm: Mapping[str, Any]) -> VmSpec:
        """From a `vm_instances` row."""
        return cls(
            uuid=vm["uuid"],
            name=vm["name"],
            cpu_num=vm["cpu_num"],
            memory_size=vm["memory_size"],
            role=vm["role"],
            group_uuid=vm["group_uuid"],
        )


@dataclass(frozen=True, slots=True)
class AgentVm:
    """A VM a host holds, as its agent reports it."""

    uuid: str
    state: str  # Running | Stopped
    role: str
    group_uuid: str


@dataclass(frozen=True, slots=True)
class AgentPing:
    """A heartbeat: `boot_id` changes when the host reboots (its VMs are then gone)."""

    host_uuid: str
    boot_id: str
    vm_count: int  # VMs the host holds, running or stopped


class HostAgent(Protocol):
    async def start_vm(self, host_uuid: str, vm: VmSpec) -> None:
        """Starts the VM (a stopped one again); a VM already running is a success."""

    async def stop_vm(self, host_uuid: str, vm_uuid: str) -> None:
        """Stops the VM and keeps it on the host; an unknown VM is a success."""

    async def destroy_vm(self, host_uuid: str, vm_uuid: str) -> None:
        """Stops the VM and removes it from the host; an unknown VM is a success."""

    async def list_vms(self, host_uuid: str) -> list[AgentVm]:
        """Every VM the host holds, running or stopped."""

    async def ping(self, host_uuid: str) -> AgentPing:
        """The heartbeat. One attempt only: the poller's next round is the retry."""

    async def ping_many(self, host_uuids: Sequence[str], timeout: float) -> dict[str, AgentPing | None]:
        """Every host's heartbeat within `timeout` seconds; None for a host that did not answer."""

    async def close(self) -> None:
        """Releases connections (the server calls it when it stops)."""
