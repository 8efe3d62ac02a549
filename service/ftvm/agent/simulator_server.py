"""`ftvm agent --simulate`: one process serving any number of SIMULATED KVM hosts over the agent protocol (wire.py).

There is no hypervisor behind it: a VM "runs" as a row (simulation.py). A host exists from the first request that
names it; no inventory is needed. The state (every host's boot id and VMs, and which hosts are failed) lives in an
SQLite file (`--state`), written through on every change, so a restarted agent process finds its hosts as they
were (an agent restart is not a host reboot: boot ids stay).

Simulation controls, for tests and benchmarks (a real agent has none):

  POST /hosts/{hostUuid}/fail                  the host is dead: its endpoints never answer (a request is held
                                               until the client gives up, as a dead host's would be) and its VMs
                                               are gone -> {"hostUuid", "failed": true, "vmsSurvive": false}
  POST /hosts/{hostUuid}/fail?vmsSurvive=true  a network partition: the host answers nothing, its VMs keep running
  POST /hosts/{hostUuid}/recover               the host answers again -> its ping: after a failure a rebooted host
                                               (new bootId, no VMs), after a partition the same bootId and VMs; a
                                               host that is not failed is left as it is

A request held by a failed host ends when its client disconnects, or when the host recovers: the connection is then
dropped without a reply (the host that rebooted never got the request).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import wire
from .simulation import HostFailed, HostSimulation, StateFile

log = logging.getLogger(__name__)

HOLD_POLL_SECONDS = 0.1
SHUTDOWN_SECONDS = 1.0  # held requests never finish on their own
NAME = "ftvm agent (simulation)"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        allow = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
        return _error(e.status, e.reason, allow)
    except wire.BadBody as e:
        return _error(400, str(e))
    except Exception:
        log.exception("%s: %s %s failed", NAME, request.method, request.path)
        return _error(500, "the simulated agent failed (see its log)")


def _uuid(request: web.Request, key: str) -> str:
    value = request.match_info[key]
    if not wire.is_uuid(value):
        raise wire.BadBody(f"{key} must match {wire.UUID_PATTERN}")
    return value


async def _hold(request: web.Request, sim: HostSimulation, host_uuid: str) -> web.StreamResponse:
    """A dead host never answers: wait until the client gives up or the host recovers, then drop the connection."""
    while sim.is_failed(host_uuid):
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(HOLD_POLL_SECONDS)
    if request.transport is not None:
        request.transport.abort()
    return web.Response()  # written nowhere: the connection is gone


def build_app(sim: HostSimulation) -> web.Application:
    def on_host(action: Callable[[web.Request, str], Awaitable[dict]]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            host_uuid = _uuid(request, "host")
            try:
                if sim.is_failed(host_uuid):  # before anything else: a dead host does not even refuse a request
                    raise HostFailed(host_uuid)
                return web.json_response(await action(request, host_uuid))
            except HostFailed:
                return await _hold(request, sim, host_uuid)

        return handle

    async def start(request: web.Request, host_uuid: str) -> dict:
        vm_uuid = _uuid(request, "vm")
        try:
            body = await request.json()
        except ValueError:
            raise wire.BadBody("the body must be JSON") from None
        return wire.state_reply(vm_uuid, sim.start(host_uuid, wire.parse_start_body(vm_uuid, body)))

    async def stop(request: web.Request, host_uuid: str) -> dict:
        vm_uuid = _uuid(request, "vm")
        return wire.state_reply(vm_uuid, sim.stop(host_uuid, vm_uuid))

    async def destroy(request: web.Request, host_uuid: str) -> dict:
        vm_uuid = _uuid(request, "vm")
        sim.destroy(host_uuid, vm_uuid)
        return wire.state_reply(vm_uuid, None)

    async def vms(request: web.Request, host_uuid: str) -> dict:
        return wire.vms_reply(host_uuid, sim.vms(host_uuid))

    async def ping(request: web.Request, host_uuid: str) -> dict:
        return wire.ping_reply(sim.ping(host_uuid))

    async def fail(request: web.Request) -> web.Response:
        host_uuid = _uuid(request, "host")
        survive = request.query.get("vmsSurvive", "false")
        if survive not in ("true", "false"):
            raise wire.BadBody("vmsSurvive must be true or false")
        sim.fail(host_uuid, vms_survive=survive == "true")
        log.info(
            "%s: host %s failed (%s)",
            NAME,
            host_uuid,
            "partition: its VMs keep running" if survive == "true" else "its VMs are gone",
        )
        return web.json_response({"hostUuid": host_uuid, "failed": True, "vmsSurvive": survive == "true"})

    async def recover(request: web.Request) -> web.Response:
        host_uuid = _uuid(request, "host")
        ping = sim.recover(host_uuid)
        log.info("%s: host %s answers again (boot id %s, %d VMs)", NAME, host_uuid, ping.boot_id, ping.vm_count)
        return web.json_response(wire.ping_reply(ping))

    app = web.Application(middlewares=[_json_errors])
    app.router.add_post("/hosts/{host}/vms/{vm}/start", on_host(start))
    app.router.add_post("/hosts/{host}/vms/{vm}/stop", on_host(stop))
    app.router.add_delete("/hosts/{host}/vms/{vm}", on_host(destroy))
    app.router.add_get("/hosts/{host}/vms", on_host(vms))
    app.router.add_get("/hosts/{host}/ping", on_host(ping))
    app.router.add_post("/hosts/{host}/fail", fail)
    app.router.add_post("/hosts/{host}/recover", recover)
    return app


def serve(host: str, port: int, state_path: str) -> int:
    """Runs until SIGTERM or SIGINT."""
    from ftvm.gateway.app import http_url

    async def main() -> None:
        state = StateFile(state_path)
        try:
            sim = HostSimulation(state)
            runner = web.AppRunner(build_app(sim), access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            print(f"{NAME}: {sim.host_count()} simulated hosts with {sim.vm_count()} VMs in {state_path}", flush=True)
            print(f"{NAME}: listening on {http_url(host, runner.addresses[0][1])}", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            await runner.cleanup()
        finally:
            state.close()
        print(f"{NAME}: stopped", flush=True)

    asyncio.run(main())
    return 0
