"""The host agent's HTTP/JSON protocol: one agent process serves any number of hosts, each under /hosts/{hostUuid}.

Every call is idempotent by VM uuid (a client may send it again after a timeout):

  POST   /hosts/{hostUuid}/vms/{vmUuid}/start   body {"name", "cpuNum", "memorySize" (bytes), "role" (Primary or
                                                Secondary), "groupUuid"} -> {"uuid", "state": "Running"}; a running
                                                VM is a success, a stopped one starts again
  POST   /hosts/{hostUuid}/vms/{vmUuid}/stop    -> {"uuid", "state": "Stopped"} (the host keeps the VM), or
                                                {"uuid", "state": "Destroyed"} for a VM the host does not hold
  DELETE /hosts/{hostUuid}/vms/{vmUuid}         -> {"uuid", "state": "Destroyed"}, also for an unknown VM
  GET    /hosts/{hostUuid}/vms                  -> {"hostUuid", "vms": [{"uuid", "state", "role", "groupUuid"}]}:
                                                every VM the host holds, running or stopped
  GET    /hosts/{hostUuid}/ping                 -> {"hostUuid", "bootId", "vms": n}: the heartbeat; `bootId` changes
                                                when the host reboots (which loses its VMs), `vms` counts what
                                                GET .../vms lists

Uuids in paths are 1 to 64 characters of [0-9A-Za-z_-]. Errors are `{"error": "<what went wrong>"}` with a 4xx
status for a bad request (400 malformed body or uuid, 404 no such path, 405 wrong method) and 5xx for the agent's
own failure. A host that is down does not answer at all: the client's timeout is how it learns.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from . import DESTROYED, ROLES, AgentPing, AgentVm, VmSpec

UUID_PATTERN = "[0-9A-Za-z_-]{1,64}"
_UUID = re.compile(UUID_PATTERN)
MAX_NAME_LENGTH = 1024  # above any name the service gives a VM (255, and the secondary's "-svm")


class BadBody(ValueError):
    """A request body the agent refuses (400)."""


def vm_path(host_uuid: str, vm_uuid: str) -> str:
    return f"/hosts/{quote(host_uuid, safe='')}/vms/{quote(vm_uuid, safe='')}"


def host_path(host_uuid: str, what: str) -> str:
    return f"/hosts/{quote(host_uuid, safe='')}/{what}"


def is_uuid(text: str) -> bool:
    return _UUID.fullmatch(text) is not None


def start_body(vm: VmSpec) -> dict[str, Any]:
    return {
        "name": vm.name,
        "cpuNum": vm.cpu_num,
        "memorySize": vm.memory_size,
        "role": vm.role,
        "groupUuid": vm.group_uuid,
    }


def parse_start_body(vm_uuid: str, body: Any) -> VmSpec:
    if not isinstance(body, dict):
        raise BadBody("the body must be a JSON object")
    unknown = set(body) - {"name", "cpuNum", "memorySize", "role", "groupUuid"}
    if unknown:
        raise BadBody(f"unknown fields {sorted(unknown)}")
    name = body.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        raise BadBody(f"name must be a string of 1 to {MAX_NAME_LENGTH} characters")
    for field in ("cpuNum", "memorySize"):
        value = body.get(field)
        if type(value) is not int or value <= 0:
            raise BadBody(f"{field} must be a positive integer")
    if body.get("role") not in ROLES:
        raise BadBody(f"role must be one of {list(ROLES)}")
    group_uuid = body.get("groupUuid")
    if not isinstance(group_uuid, str) or not is_uuid(group_uuid):
        raise BadBody(f"groupUuid must match {UUID_PATTERN}")
    return VmSpec(
        uuid=vm_uuid,
        name=name,
        cpu_num=body["cpuNum"],
        memory_size=body["memorySize"],
        role=body["role"],
        group_uuid=group_uuid,
    )


def state_reply(vm_uuid: str, state: str | None) -> dict[str, Any]:
    """The reply of start, stop and destroy: the VM's state afterwards (None: the host does not hold it)."""
    return {"uuid": vm_uuid, "state": state or DESTROYED}


def vms_reply(host_uuid: str, vms: list[AgentVm]) -> dict[str, Any]:
    return {
        "hostUuid": host_uuid,
        "vms": [{"uuid": v.uuid, "state": v.state, "role": v.role, "groupUuid": v.group_uuid} for v in vms],
    }


def parse_vms_reply(reply: dict[str, Any]) -> list[AgentVm]:
    return [AgentVm(uuid=v["uuid"], state=v["state"], role=v["role"], group_uuid=v["groupUuid"]) for v in reply["vms"]]


def ping_reply(ping: AgentPing) -> dict[str, Any]:
    return {"hostUuid": ping.host_uuid, "bootId": ping.boot_id, "vms": ping.vm_count}


def parse_ping_reply(reply: dict[str, Any]) -> AgentPing:
    return AgentPing(host_uuid=reply["hostUuid"], boot_id=reply["bootId"], vm_count=reply["vms"])
