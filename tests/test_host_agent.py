"""The host agent: its protocol (in-process simulation and `ftvm agent --simulate` over HTTP, same behaviour), the
simulation controls, and a real server creating and destroying through an agent process; real processes, no mocks."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import urllib.request

import grpc
import pytest
from test_create_service import Names, basic
from test_create_validation import ROW_TABLES

from bench.service import AgentProcess
from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm.agent import RUNNING, STOPPED, AgentVm, HostAgentError, HostUnreachable, VmSpec
from ftvm.agent.http_client import HttpHostAgent
from ftvm.agent.simulation import SimulatedHypervisor
from ftvm.cli import build_parser
from service_support import G, inventory, log_in, rpc_error, start_server

SHORT = dict(timeout=0.3, attempts=2)  # a dead host costs 2 x 0.3 s per call


def _vm(uuid: str, role: str = "Primary", group: str = "group-1") -> VmSpec:
    return VmSpec(uuid=uuid, name=f"vm-{uuid}", cpu_num=2, memory_size=4 * G, role=role, group_uuid=group)


def _post(url: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as reply:
        return json.load(reply)


def _vms_on(url: str, host_uuid: str) -> dict[str, dict]:
    with urllib.request.urlopen(f"{url}/hosts/{host_uuid}/vms", timeout=10) as reply:
        return {vm["uuid"]: vm for vm in json.load(reply)["vms"]}


@pytest.fixture
def agent_process(tmp_path):
    with AgentProcess(str(tmp_path / "agent-state.db")) as process:
        yield process


class Sides:
    """One agent under test, reached as the server reaches it, and its simulation controls."""

    def __init__(self, kind: str, process: AgentProcess | None) -> None:
        self.process = process
        if kind == "in-process":
            self.agent = SimulatedHypervisor()
            self.fail = self.agent.simulation.fail
            self.recover = self.agent.simulation.recover
        else:
            self.agent = HttpHostAgent(process.url, **SHORT)
            self.fail = lambda host, vms_survive=False: _post(
                f"{process.url}/hosts/{host}/fail" + ("?vmsSurvive=true" if vms_survive else "")
            )
            self.recover = lambda host: _post(f"{process.url}/hosts/{host}/recover")


@pytest.fixture(params=["in-process", "http"])
def sides(request, tmp_path):
    if request.param == "in-process":
        yield Sides("in-process", None)
    else:
        with AgentProcess(str(tmp_path / "agent-state.db")) as process:
            yield Sides("http", process)


# -- the protocol, the same in-process and over HTTP ---------------------------------------------------------------


def test_calls_are_idempotent_by_vm_uuid(sides):
    agent = sides.agent

    async def scenario() -> None:
        await agent.start_vm("host-a", _vm("vm-1"))
        await agent.start_vm("host-a", _vm("vm-1"))  # running already: a success, still one VM
        await agent.start_vm("host-a", _vm("vm-2", role="Secondary"))
        assert sorted(await agent.list_vms("host-a"), key=lambda v: v.uuid) == [
            AgentVm("vm-1", RUNNING, "Primary", "group-1"),
            AgentVm("vm-2", RUNNING, "Secondary", "group-1"),
        ]
        boot = await agent.ping("host-a")
        assert (boot.host_uuid, boot.vm_count) == ("host-a", 2)
        for _ in range(2):
            await agent.stop_vm("host-a", "vm-1")
        assert {v.uuid: v.state for v in await agent.list_vms("host-a")} == {"vm-1": STOPPED, "vm-2": RUNNING}
        assert (await agent.ping("host-a")).vm_count == 2  # a stopped VM stays on its host
        await agent.start_vm("host-a", _vm("vm-1"))  # a stopped VM starts again
        assert {v.uuid: v.state for v in await agent.list_vms("host-a")} == {"vm-1": RUNNING, "vm-2": RUNNING}
        await agent.stop_vm("host-a", "no-such-vm")  # unknown VMs: successes
        await agent.destroy_vm("host-a", "no-such-vm")
        for _ in range(2):
            await agent.destroy_vm("host-a", "vm-1")
        assert [v.uuid for v in await agent.list_vms("host-a")] == ["vm-2"]
        assert await agent.ping("host-a") == boot.__class__("host-a", boot.boot_id, 1)  # no reboot
        assert await agent.list_vms("host-b") == []  # hosts are apart; a host exists from its first call
        await agent.close()

    asyncio.run(scenario())


def test_a_failed_host_answers_nothing_and_comes_back_rebooted(sides):
    agent = sides.agent

    async def scenario() -> None:
        await agent.start_vm("host-a", _vm("vm-1"))
        await agent.start_vm("host-b", _vm("vm-2", role="Secondary"))
        boot = await agent.ping("host-a")
        sides.fail("host-a")
        for call in (
            agent.ping("host-a"),
            agent.list_vms("host-a"),
            agent.start_vm("host-a", _vm("vm-3")),
            agent.destroy_vm("host-a", "vm-1"),
        ):
            with pytest.raises(HostUnreachable):
                await call
        assert [v.uuid for v in await agent.list_vms("host-b")] == ["vm-2"]  # the other hosts carry on
        sides.recover("host-a")
        rebooted = await agent.ping("host-a")
        assert rebooted.boot_id != boot.boot_id and rebooted.vm_count == 0
        assert await agent.list_vms("host-a") == []  # its VMs died with it

        # a partition: the host answers nothing, but its VMs keep running and it did not reboot
        await agent.start_vm("host-a", _vm("vm-4"))
        sides.fail("host-a", vms_survive=True)
        with pytest.raises(HostUnreachable):
            await agent.ping("host-a")
        sides.recover("host-a")
        assert await agent.ping("host-a") == rebooted.__class__("host-a", rebooted.boot_id, 1)
        await agent.close()

    asyncio.run(scenario())


# -- the agent process -------------------------------------------------------------------------------------------


def test_a_restarted_agent_keeps_its_hosts_vms_and_failures(agent_process):
    async def before() -> str:
        agent = HttpHostAgent(agent_process.url, **SHORT)
        await agent.start_vm("host-a", _vm("vm-1"))
        await agent.start_vm("host-a", _vm("vm-2", role="Secondary"))
        await agent.stop_vm("host-a", "vm-2")
        boot_id = (await agent.ping("host-a")).boot_id
        await agent.close()
        return boot_id

    boot_id = asyncio.run(before())
    _post(f"{agent_process.url}/hosts/host-f/fail")
    agent_process.stop(sig=signal.SIGKILL)  # a crash: only what the state file holds survives
    agent_process.start()

    async def after() -> None:
        agent = HttpHostAgent(agent_process.url, **SHORT)
        assert {v.uuid: v.state for v in await agent.list_vms("host-a")} == {"vm-1": RUNNING, "vm-2": STOPPED}
        assert (await agent.ping("host-a")).boot_id == boot_id  # the agent restarted, not the host
        with pytest.raises(HostUnreachable):
            await agent.ping("host-f")  # still failed
        await agent.close()

    asyncio.run(after())


def test_the_client_tries_again_when_a_call_gets_no_answer(agent_process):
    # The host is down when the call arrives and comes back while it is held: the held request is dropped, and
    # only a client that tries again gets its answer. (A POST: aiohttp itself resends a GET or DELETE once when a
    # connection drops.)
    async def start_while_the_host_recovers(attempts: int) -> list[AgentVm]:
        agent = HttpHostAgent(agent_process.url, timeout=10, attempts=attempts)
        try:
            _post(f"{agent_process.url}/hosts/host-a/fail")
            call = asyncio.create_task(agent.start_vm("host-a", _vm("vm-1")))
            await asyncio.sleep(0.5)  # the request is held by the dead host now
            await asyncio.to_thread(_post, f"{agent_process.url}/hosts/host-a/recover")
            await call
            return await agent.list_vms("host-a")
        finally:
            await agent.close()

    with pytest.raises(HostUnreachable, match="1 attempt"):
        asyncio.run(start_while_the_host_recovers(attempts=1))
    assert asyncio.run(start_while_the_host_recovers(attempts=2)) == [AgentVm("vm-1", RUNNING, "Primary", "group-1")]


def test_client_errors_are_typed_and_say_what_failed(agent_process):
    async def scenario() -> None:
        agent = HttpHostAgent(agent_process.url, **SHORT)
        with pytest.raises(HostAgentError, match=r"refused POST \S+/vm-1/start: 400 role must be one of") as refused:
            await agent.start_vm("host-a", _vm("vm-1", role="Tertiary"))
        assert not isinstance(refused.value, HostUnreachable)
        with pytest.raises(HostAgentError, match="host must match"):
            await agent.list_vms("host a")
        await agent.close()
        port = agent_process.port
        agent_process.stop()
        down = HttpHostAgent(f"http://127.0.0.1:{port}", **SHORT)
        with pytest.raises(
            HostUnreachable,
            match=rf"did not answer POST http://127.0.0.1:{port}/hosts/host-a/vms/"
            r"vm-1/start \(.*; 2 attempts\)",
        ):
            await down.start_vm("host-a", _vm("vm-1"))
        await down.close()

    asyncio.run(scenario())


def test_agent_process_answers_json_errors(agent_process):
    url = agent_process.url
    for method, path, body, status, text in (
        ("POST", "/hosts/h/vms/v/start", b"not json", 400, "the body must be JSON"),
        (
            "POST",
            "/hosts/h/vms/v/start",
            b'{"name": "x", "cpuNum": 1, "memorySize": 1, "role": "Primary", "groupUuid": "g", "extra": 1}',
            400,
            "unknown fields ['extra']",
        ),
        (
            "POST",
            "/hosts/h/vms/v/start",
            b'{"name": "x", "cpuNum": true, "memorySize": 1, "role": "Primary", "groupUuid": "g"}',
            400,
            "cpuNum must be a positive integer",
        ),
        ("POST", "/hosts/h/fail?vmsSurvive=maybe", b"", 400, "vmsSurvive must be true or false"),
        ("GET", "/hosts/h/nothing", None, 404, "Not Found"),
        ("PUT", "/hosts/h/ping", b"", 405, "Method Not Allowed"),
    ):
        request = urllib.request.Request(url + path, data=body, method=method)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=10)
        assert (e.value.code, json.load(e.value)) == (status, {"error": text}), path


def test_cli_options():
    args = build_parser().parse_args(
        ["serve", "--agent-url", "http://127.0.0.1:7070", "--agent-timeout", "0.5", "--agent-attempts", "2"]
    )
    assert (args.agent_url, args.agent_timeout, args.agent_attempts) == ("http://127.0.0.1:7070", 0.5, 2)
    args = build_parser().parse_args(["agent", "--simulate", "--listen", "[::1]:0", "--state", "s.db"])
    assert (args.listen, args.state) == (("::1", 0), "s.db")
    for argv in (
        ["agent", "--state", "s.db"],
        ["agent", "--simulate", "--listen", "7070", "--state", "s.db"],
        ["serve", "--agent-attempts", "0"],
        ["serve", "--agent-timeout", "-1"],
    ):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)


# -- a real server creating and destroying through the agent process --------------------------------------------


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("ftvm.")]


def _records(server) -> dict:
    """What a create takes: rows, the engine's reservations and usage, addresses."""
    running = server.running
    return dict(
        rows=running.store.read(lambda tx: {t: len(tx.select(t)) for t in ROW_TABLES}),
        reservations=running.domain.engine.reservation_count(),
        network=running.network.in_use(),
        hosts={u: running.domain.engine.host_usage(u) for u in running.domain.catalog.hosts},
    )


def _serve(tmp_path, process: AgentProcess, hosts: int = 3, **config):
    spec = inventory(hosts_per_cluster=hosts, clusters=1, cpu=64, memory_gib=129)
    return start_server(
        tmp_path,
        spec,
        agent_url=process.url,
        agent_timeout=SHORT["timeout"],
        agent_attempts=SHORT["attempts"],
        **config,
    )


def test_creates_start_both_vms_on_the_agent_and_destroy_removes_them(tmp_path, agent_process):
    with _serve(tmp_path, agent_process) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        # the longest name a create takes: the secondary's is 4 characters longer ("-svm")
        replies = [client.create(**basic(names, name="web-1")), client.create(**basic(names, name="n" * 255))]
        for reply in replies:
            group = reply.fault_tolerance_vm_group_inventory.uuid
            for vm, role in ((reply.primary_vm_inventory, "Primary"), (reply.secondary_vm_inventory, "Secondary")):
                assert _vms_on(agent_process.url, vm.host_uuid)[vm.uuid] == {
                    "uuid": vm.uuid,
                    "state": "Running",
                    "role": role,
                    "groupUuid": group,
                }
        on_agent = {u for h in names.hosts for u in _vms_on(agent_process.url, h)}
        assert len(on_agent) == 4
        for reply in replies:
            client.vm.DestroyVmInstance(
                pb.DestroyVmInstanceRequest(uuid=reply.fault_tolerance_vm_group_inventory.uuid),
                metadata=client.metadata,
            )
        assert all(_vms_on(agent_process.url, h) == {} for h in names.hosts)


def test_agent_down_the_create_fails_typed_and_leaves_nothing(tmp_path, agent_process):
    with _serve(tmp_path, agent_process) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        before = _records(server)
        agent_process.stop()
        code, error = rpc_error(lambda: client.create(**basic(names)))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and error.code == "SYS.1006"
        assert "failed to start vm" in error.details and "the host agent did not answer" in error.details
        assert _records(server) == before
        agent_process.start()  # the same port and state: the service carries on
        reply = client.create(**basic(names, name="after"))
        started = {u for h in names.hosts for u in _vms_on(agent_process.url, h)}
        assert started == {reply.primary_vm_inventory.uuid, reply.secondary_vm_inventory.uuid}


def test_failed_host_the_create_fails_typed_and_leaves_no_vm(tmp_path, agent_process, caplog):
    # Two hosts: the pair takes both, so one start reaches the dead host and the other starts its VM on the live one.
    with _serve(tmp_path, agent_process, hosts=2) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        dead, alive = sorted(names.hosts)
        before = _records(server)
        _post(f"{agent_process.url}/hosts/{dead}/fail")
        with caplog.at_level(logging.WARNING, logger="ftvm.domain.create"):
            code, error = rpc_error(lambda: client.create(**basic(names)))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and error.code == "SYS.1006"
        assert f"host[uuid:{dead}] failed to start vm" in error.details
        assert _records(server) == before
        assert _vms_on(agent_process.url, alive) == {}  # the undo destroyed what the live host started
        # the dead host may still hold its VM (the undo could not reach it): logged for the reconciler
        (warning,) = _warnings(caplog)
        assert f"on host[uuid:{dead}]" in warning and "left on the host for the reconciler" in warning
        assert alive not in warning


class ReplyLostHypervisor(SimulatedHypervisor):
    """The simulated hypervisor whose start replies never arrive: the VM starts, the caller hears a timeout."""

    async def start_vm(self, host_uuid, vm):
        await super().start_vm(host_uuid, vm)
        raise HostUnreachable("no reply within 3 s (simulated: the reply was lost)")


def test_a_start_that_timed_out_is_undone_too(tmp_path):
    agent = ReplyLostHypervisor()
    with start_server(
        tmp_path, inventory(hosts_per_cluster=3, clusters=1, cpu=64, memory_gib=129), agent=agent
    ) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        before = _records(server)
        code, error = rpc_error(lambda: client.create(**basic(names)))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "the reply was lost" in error.details
        assert _records(server) == before
        assert agent.simulation.vm_count() == 0


def test_undo_that_cannot_reach_the_agent_logs_the_orphans(tmp_path, agent_process, caplog):
    def agent_dies_before_commit(step: str) -> None:
        if step == "commit":  # both VMs started; the undo finds the agent gone
            agent_process.stop(sig=signal.SIGKILL)
            raise RuntimeError("injected failure at commit")

    with _serve(tmp_path, agent_process, failpoint=agent_dies_before_commit) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        before = _records(server)
        with caplog.at_level(logging.WARNING, logger="ftvm.domain.create"):
            code, error = rpc_error(lambda: client.create(**basic(names)))
        assert code == grpc.StatusCode.INTERNAL and error.code == "SYS.1000"
        assert _records(server) == before
        (warning,) = _warnings(caplog)
        assert "injected failure at commit" in warning and "left on the host for the reconciler" in warning
        agent_process.start()
        orphans = {u: vm for h in names.hosts for u, vm in _vms_on(agent_process.url, h).items()}
        assert len(orphans) == 2 and all(vm["state"] == "Running" for vm in orphans.values())
        assert all(f"vm[uuid:{u}]" in warning for u in orphans)  # the log names what the reconciler will find


def test_destroy_with_the_agent_down_succeeds_and_logs_the_orphans(tmp_path, agent_process, caplog):
    with _serve(tmp_path, agent_process) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        before = _records(server)
        reply = client.create(**basic(names))
        agent_process.stop()
        with caplog.at_level(logging.WARNING, logger="ftvm.domain.vms"):
            client.vm.DestroyVmInstance(
                pb.DestroyVmInstanceRequest(uuid=reply.fault_tolerance_vm_group_inventory.uuid),
                metadata=client.metadata,
            )
        assert _records(server) == before  # the records are gone and everything given back
        warnings = _warnings(caplog)
        assert len(warnings) == 2 and all("left on the host for the reconciler" in w for w in warnings)
        agent_process.start()
        assert {u for h in names.hosts for u in _vms_on(agent_process.url, h)} == {
            reply.primary_vm_inventory.uuid,
            reply.secondary_vm_inventory.uuid,
        }


def test_the_server_closes_its_agent_session_when_it_stops(tmp_path, agent_process, caplog):
    server = _serve(tmp_path, agent_process)
    with server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        client.create(**basic(names))  # the session exists from the first call
    del server, client
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]
