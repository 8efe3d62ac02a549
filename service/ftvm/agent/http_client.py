"""`HttpHostAgent`: the `HostAgent` that speaks the agent's HTTP/JSON protocol (wire.py) to an agent process.

One aiohttp session per server (created on the first call, in the server's loop; closed by `close()`), keep-alive,
its connection pool as large as the creates in flight need. Each call has its own timeout; a connection error or a
timeout is tried again (every call is idempotent) up to `attempts` times in all, with a doubling pause between
(`ping` once: the poller's next round is its retry). What is left becomes `HostUnreachable`; an error status from
the agent becomes `HostAgentError` with the agent's message, at once (a refused request is refused again).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from . import (
    DEFAULT_AGENT_ATTEMPTS,
    DEFAULT_AGENT_TIMEOUT,
    AgentPing,
    AgentVm,
    HostAgentError,
    HostUnreachable,
    VmSpec,
    wire,
)

FIRST_PAUSE_SECONDS = 0.1
# Connections to the agent at once: two starts per create in flight, with room for destroys and heartbeats.
MAX_CONNECTIONS = 256
_JSON = {"Content-Type": "application/json"}


class HttpHostAgent:
    def __init__(
        self, base_url: str, timeout: float = DEFAULT_AGENT_TIMEOUT, attempts: int = DEFAULT_AGENT_ATTEMPTS
    ) -> None:
        if timeout <= 0 or attempts < 1:
            raise ValueError("the agent's timeout must be positive and its attempts at least 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS), timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self._session

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, attempts: int | None = None
    ) -> dict[str, Any]:
        attempts = attempts or self.attempts
        data = json.dumps(body).encode() if body is not None else None
        headers = _JSON if body is not None else None
        what = f"{method} {self.base_url}{path}"
        pause = FIRST_PAUSE_SECONDS
        for attempt in range(1, attempts + 1):
            try:
                async with self._http().request(method, self.base_url + path, data=data, headers=headers) as response:
                    raw = await response.read()
                    status = response.status
                break
            except (TimeoutError, aiohttp.ClientConnectionError) as e:
                if attempt == attempts:
                    why = f"no reply within {self.timeout:g} s" if isinstance(e, TimeoutError) else str(e)
                    raise HostUnreachable(
                        f"the host agent did not answer {what} ({why}; {attempts} attempt{'s' if attempts > 1 else ''})"
                    ) from None
                await asyncio.sleep(pause)
                pause *= 2
        try:
            reply = json.loads(raw)
        except ValueError:
            raise HostAgentError(
                f"the host agent answered {what} with status {status} and a body that is not JSON: {raw[:200]!r}"
            ) from None
        if status >= 400:
            message = reply.get("error") if isinstance(reply, dict) else None
            raise HostAgentError(f"the host agent refused {what}: {status} {message or repr(raw[:200])}")
        return reply

    async def start_vm(self, host_uuid: str, vm: VmSpec) -> None:
        await self._call("POST", wire.vm_path(host_uuid, vm.uuid) + "/start", wire.start_body(vm))

    async def stop_vm(self, host_uuid: str, vm_uuid: str) -> None:
        await self._call("POST", wire.vm_path(host_uuid, vm_uuid) + "/stop")

    async def destroy_vm(self, host_uuid: str, vm_uuid: str) -> None:
        await self._call("DELETE", wire.vm_path(host_uuid, vm_uuid))

    async def list_vms(self, host_uuid: str) -> list[AgentVm]:
        path = wire.host_path(host_uuid, "vms")
        return _parsed(wire.parse_vms_reply, await self._call("GET", path), path)

    async def ping(self, host_uuid: str) -> AgentPing:
        path = wire.host_path(host_uuid, "ping")
        return _parsed(wire.parse_ping_reply, await self._call("GET", path, attempts=1), path)

    async def ping_many(self, host_uuids: Sequence[str], timeout: float) -> dict[str, AgentPing | None]:
        """One ping per host, all at once (at most the connection pool's size in flight)."""

        async def ping(host: str) -> AgentPing | None:
            try:
                return await asyncio.wait_for(self.ping(host), timeout)
            except (TimeoutError, HostAgentError):
                return None

        return dict(zip(host_uuids, await asyncio.gather(*(ping(h) for h in host_uuids))))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _parsed(parse, reply: Any, path: str):
    try:
        return parse(reply)
    except (KeyError, TypeError) as e:
        raise HostAgentError(f"the host agent's reply to {path} is not what the protocol says ({e!r})") from None
