"""The server: wires store -> catalog/engine -> domain -> gRPC servicers, and runs them (with the REST gateway in
the same loop when `ServerConfig.http_port` is set; it reaches the gRPC server over a plaintext Unix socket of its
own, in a folder only this user may enter, so that it needs no client certificate when gRPC is TLS and pays no TLS).

`serve(config)` runs until SIGTERM/SIGINT: health turns NOT_SERVING, the REST gateway finishes its in-flight requests
and closes, in-flight gRPC calls finish (grace period), queued writes commit, the database closes. With
`config.workers` > 1 it supervises that many worker processes instead, each a whole server on the same ports
(SO_REUSEPORT: the kernel spreads connections over them) and the same database, kept in step by the change feed
(domain/replication.py), restarting a worker that dies; their metrics are summed (prometheus-client's multiprocess
mode, in a temporary folder the supervisor removes at the end). `ServerThread` runs one server on a background thread
(tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import multiprocess

from ftvm._proto.zstack.ft.v1 import services_pb2
from ftvm.agent import DEFAULT_AGENT_ATTEMPTS, DEFAULT_AGENT_TIMEOUT, HostAgent
from ftvm.agent.http_client import HttpHostAgent
from ftvm.agent.simulation import SimulatedHypervisor
from ftvm.api.base import MAX_MESSAGE_BYTES, add_servicer, drain
from ftvm.api.inventory_servicer import InventoryServicer
from ftvm.api.vm_servicer import AccountServicer, VmServicer
from ftvm.domain.accounts import Accounts, ensure_admin
from ftvm.domain.catalog import build_engine
from ftvm.domain.common import Domain, FeedCursor, now_ms
from ftvm.domain.create import CreateFlow
from ftvm.domain.ft_actions import FtActions
from ftvm.domain.memory import load_memory
from ftvm.domain.network import NetworkAllocator
from ftvm.domain.recovery import Recovery, RecoveryConfig
from ftvm.domain.replication import Replication
from ftvm.domain.vms import Vms
from ftvm.gateway import Gateway
from ftvm.gateway.app import http_url
from ftvm.observability import logs, metrics
from ftvm.observability.scrape import MetricsServer, metrics_handler
from ftvm.placement import STRATEGIES, PlacementError, Request
from ftvm.store import Row, Store, Tx, open_store, shown_url
from ftvm.tls import ServerTls

log = logging.getLogger(__name__)

SERVICE_NAMES = tuple(
    services_pb2.DESCRIPTOR.services_by_name[n].full_name for n in ("AccountService", "VmService", "InventoryService")
)


@dataclass
class ServerConfig:
    data_dir: str = "ftvm-data"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0  # 0 = pick a free port
    http_host: str = "127.0.0.1"
    http_port: int | None = None  # the REST gateway's port (0 = pick a free one); None = gRPC only
    database_url: str | None = None  # default: sqlite:///<data_dir>/ftvm.db
    inventory_file: str | None = None  # loaded on first start (empty database) instead of the demo inventory
    with_demo: bool = True  # load the demo inventory on first start when no inventory file is given
    admin_password: str | None = None  # default: $FTVM_ADMIN_PASSWORD, else generated and printed once
    engine: str | None = None  # placement engine: rust (default) or ortools
    grace_seconds: float = 10.0
    failpoint: Callable[[str], None] | None = None  # tests only: raise at a named create step
    agent: HostAgent = field(default_factory=SimulatedHypervisor)  # used when agent_url is None
    agent_url: str | None = None  # a host agent process over HTTP (e.g. `ftvm agent --simulate`)
    agent_timeout: float = DEFAULT_AGENT_TIMEOUT
    agent_attempts: int = DEFAULT_AGENT_ATTEMPTS
    workers: int = 1  # processes serving the same ports and database (serve() only)
    reuse_port: bool = False  # share the listening ports with other processes (the workers do)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)  # heartbeats, failover, re-protection
    tls: ServerTls | None = None  # gRPC and REST over TLS (ftvm.tls.server_tls checks the files first)
    metrics: bool = True  # GET /metrics on the REST port (and metrics_port); serve() only: False counts nothing
    metrics_port: int | None = None  # GET /metrics on http_host:metrics_port (0 = pick a free one)
    log_format: str = "text"  # the workers' log lines ("json" or "text"; serve()'s caller configures its own)

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'ftvm.db'}"


@dataclass(frozen=True)
class FirstStart:
    """What the first start on an empty database did (later starts find it done: both None)."""

    loaded: dict[str, int] | None  # rows loaded per table, from the inventory file or the demo
    admin_password_generated: str | None  # to print once


def first_start(store: Store, config: ServerConfig) -> FirstStart:
    loaded = _load_first_inventory(store, config)
    password = config.admin_password or os.environ.get("FTVM_ADMIN_PASSWORD")
    return FirstStart(loaded, ensure_admin(store, password, now_ms()))


def _load_first_inventory(store: Store, config: ServerConfig) -> dict[str, int] | None:
    from ftvm.domain import inventory_file

    if store.read(lambda tx: tx.select("zones")):
        return None
    if config.inventory_file:
        spec = inventory_file.read_inventory_file(config.inventory_file)
    elif config.with_demo:
        spec = inventory_file.demo_inventory()
    else:
        return None
    try:
        return inventory_file.load_into(store, spec)
    except inventory_file.InventoryFileError:
        if store.read(lambda tx: tx.select("zones")):  # a replica starting at the same time loaded it first
            return None
        raise


def _warm_engine(engine) -> None:
    """The first use of each strategy builds its index (~0.2 s per strategy at 1M hosts): pay it at start."""
    for strategy in STRATEGIES:
        try:
            engine.place(Request(vcpus=1, memory=1, l3_uuids=(), strategy=strategy))
        except PlacementError:
            pass


def _loopback_target(host: str, port: int) -> str:
    """Where a client on this machine reaches a server listening on host:port."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tune_gc() -> None:
    """A create allocates a few thousand short-lived objects, so the default gen-0 threshold (700) collects every
    create or two and full collections rescan the whole catalog. Everything loaded so far is frozen (never
    scanned again) and gen 0 runs every 50,000 allocations: p99 at 32 clients 58 -> 53 ms, +4 % creates/s."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    store: Store
    domain: Domain
    replication: Replication
    accounts: Accounts
    grpc_port: int
    grpc_host: str
    first: FirstStart
    grace_seconds: float
    gateway: Gateway | None  # the REST gateway (port, url) when ServerConfig.http_port is set
    agent: HostAgent
    recovery: Recovery
    gateway_socket_dir: str | None  # the folder of the gateway's Unix socket, removed at stop
    metrics_server: MetricsServer | None = None  # on ServerConfig.metrics_port

    @property
    def network(self) -> NetworkAllocator:
        return self.domain.network

    async def stop(self, grace: float | None = None) -> None:
        await self.health.enter_graceful_shutdown()  # every service NOT_SERVING: balancers stop sending
        grace = self.grace_seconds if grace is None else grace
        if self.gateway is not None:
            await self.gateway.stop()  # first: its in-flight requests still need the gRPC server
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        await self.server.stop(grace)
        await drain(grace)  # work of calls cancelled by the stop finishes (commits or undoes) first
        await self.recovery.stop()
        await self.replication.stop()
        await self.agent.close()
        self.accounts.close()
        self.domain.close()
        self.store.close()
        if self.gateway_socket_dir is not None:
            shutil.rmtree(self.gateway_socket_dir, ignore_errors=True)


def _agent(config: ServerConfig) -> HostAgent:
    if config.agent_url is None:
        return config.agent
    return HttpHostAgent(config.agent_url, timeout=config.agent_timeout, attempts=config.agent_attempts)


async def start(config: ServerConfig) -> RunningServer:
    agent = _agent(config)
    store = open_store(config.url)
    started = None  # the gRPC server once it listens: a failure after that (the REST port taken) stops it
    replication: Replication | None = None  # once it leased an ordinal
    recovery: Recovery | None = None
    accounts = None
    gateway_socket_dir = None
    metrics_server = None
    try:
        first = first_start(store, config)
        memory = load_memory(store)
        engine = build_engine(memory.catalog, config.engine)
        _warm_engine(engine)
        domain = Domain(
            store=store, catalog=memory.catalog, engine=engine, network=memory.network, feed=FeedCursor(memory.feed_seq)
        )
        accounts = Accounts(domain)

        async def refresh() -> None:
            assert replication is not None
            await replication.catch_up()

        flow = CreateFlow(domain, agent, refresh, config.failpoint)
        vms = Vms(domain, agent)
        recovery = Recovery(domain, agent, store.origin, config.recovery)
        ft = FtActions(domain, agent, recovery.wake)

        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", int(config.reuse_port)),
            ]
        )
        add_servicer(server, "AccountService", AccountServicer(accounts))
        add_servicer(server, "VmService", VmServicer(accounts, flow, vms, ft))
        add_servicer(server, "InventoryService", InventoryServicer(domain, accounts, ft))
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(SERVICE_NAMES + (health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        address = f"{config.grpc_host}:{config.grpc_port}"
        if config.tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, config.tls.grpc_credentials())
        if config.http_port is not None:
            gateway_socket_dir = tempfile.mkdtemp(prefix="ftvm-gateway-")  # mode 0700
            gateway_target = f"unix:{gateway_socket_dir}/grpc.sock"
            server.add_insecure_port(gateway_target)
        replication = Replication(
            domain, accounts.forget_session, lambda: flow.stale_retries, _loopback_target(config.grpc_host, port)
        )
        await replication.start()  # before serving: the ordinal decides which COLO ports this replica hands out
        if await recovery.lease.renew():  # before serving: no create of this replica is in flight yet
            await recovery.reconcile(at_start=True)
        recovery.start()
        await server.start()
        started = server
        for name in SERVICE_NAMES + ("",):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        gateway = None
        if config.metrics and config.metrics_port is not None:
            metrics_server = await MetricsServer.start(
                domain, config.http_host, config.metrics_port, reuse_port=config.reuse_port
            )
        if config.http_port is not None:
            gateway = await Gateway.start(
                gateway_target,
                config.http_host,
                config.http_port,
                grace_seconds=config.grace_seconds,
                reuse_port=config.reuse_port,
                ssl_context=config.tls.ssl_context() if config.tls is not None else None,
                metrics=metrics_handler(domain) if config.metrics else None,
            )
    except BaseException:
        if metrics_server is not None:
            await metrics_server.stop()
        if started is not None:
            await started.stop(0)
        if recovery is not None:
            await recovery.stop()
        if replication is not None:
            await replication.stop()
        if accounts is not None:
            accounts.close()
        await agent.close()
        store.close()
        if gateway_socket_dir is not None:
            shutil.rmtree(gateway_socket_dir, ignore_errors=True)
        raise
    return RunningServer(
        server,
        health_servicer,
        store,
        domain,
        replication,
        accounts,
        port,
        config.grpc_host,
        first,
        config.grace_seconds,
        gateway,
        agent,
        recovery,
        gateway_socket_dir,
        metrics_server,
    )


def sample_rows(store: Store) -> tuple[Row | None, Row | None, Row | None]:
    """An image, an L3 network and an offering for a sample call (the banner's, `ftvm cluster up`'s)."""

    def read(tx: Tx):
        images = [i for i in tx.select("images") if i["media_type"] == "RootVolumeTemplate"]
        l3s, offerings = tx.select("l3_networks"), tx.select("instance_offerings")
        return (images[0] if images else None, l3s[0] if l3s else None, offerings[0] if offerings else None)

    return store.read(read)


def _banner(
    config: ServerConfig,
    first: FirstStart,
    grpc_target: str,
    rest_url: str | None,
    metrics_url: str | None,
    sample: tuple[Row | None, Row | None, Row | None],
) -> str:
    lines = [f"ftvm: database {shown_url(config.url)}"]
    if first.loaded:
        source = config.inventory_file or "the demo inventory"
        lines.append(f"ftvm: loaded {source}: " + ", ".join(f"{n} {t}" for t, n in first.loaded.items() if n))
    login = "admin"  # ftvm call reads the password from $FTVM_ADMIN_PASSWORD
    if first.admin_password_generated:
        login = f"'admin:{first.admin_password_generated}'"
        lines.append(
            f"ftvm: created account 'admin' with password {first.admin_password_generated} (printed once; keep it)"
        )
    lines.append(f"ftvm: host agent {config.agent_url or 'in-process (simulated hypervisor)'}")
    workers = f" ({config.workers} worker processes)" if config.workers > 1 else ""
    lines.append(f"ftvm: gRPC listening on {grpc_target}{workers}")
    if rest_url is not None:
        lines.append(f"ftvm: REST listening on {rest_url}")
        lines.append(f"ftvm: live view at {rest_url}/ui/ (log in with an account)")
    if metrics_url is not None:
        lines.append(f"ftvm: metrics at {metrics_url}")
    call = sample_call(grpc_target, login, sample)
    if config.tls is not None:
        mutual = f"; clients need a certificate signed by {config.tls.client_ca}" if config.tls.client_ca else ""
        lines.append(f"ftvm: TLS with the certificate {config.tls.cert}{mutual}")
        if call is not None:  # placeholders: the server does not know which CA signed its certificate
            call += " --tls-ca CA.pem" + (
                " --tls-cert CLIENT.pem --tls-key CLIENT-KEY.pem" if config.tls.client_ca else ""
            )
    if call is not None:
        lines += ["ftvm: try it:", f"  {call}"]
    return "\n".join(lines)


def sample_call(grpc_target: str, login: str, sample: tuple[Row | None, Row | None, Row | None]) -> str | None:
    """An `ftvm call` creating an FT VM from `sample_rows`; None when the inventory lacks one of them."""
    image, l3, offering = sample
    if not (image and l3 and offering):
        return None
    return (
        f"ftvm call --target {grpc_target} --login {login} CreateFaultToleranceVmInstance "
        f'\'{{"name": "web-1", "instanceOfferingUuid": "{offering["uuid"]}", '
        f'"imageUuid": "{image["uuid"]}", "l3NetworkUuids": ["{l3["uuid"]}"]}}\''
    )


def _metrics_url(config: ServerConfig, rest_url: str | None, metrics_port: int | None) -> str | None:
    if not config.metrics:
        return None
    if metrics_port is not None:
        return http_url(config.http_host, metrics_port) + "/metrics"
    return None if rest_url is None else rest_url + "/metrics"


def _until_signalled(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def serve(config: ServerConfig) -> int:
    """Runs until SIGTERM or SIGINT."""
    if config.workers > 1:
        return _supervise(config)
    if not config.metrics:
        metrics.disable()

    async def main() -> None:
        running = await start(config)
        _tune_gc()  # the process is the server's alone (ServerThread leaves its host process's GC as it is)
        rest_url = running.gateway.url if running.gateway is not None else None
        metrics_port = running.metrics_server.port if running.metrics_server is not None else None
        target = f"{running.grpc_host}:{running.grpc_port}"
        stop = _until_signalled(asyncio.get_running_loop())  # before the banner: a SIGTERM right after it stops cleanly
        banner = _banner(
            config,
            running.first,
            target,
            rest_url,
            _metrics_url(config, rest_url, metrics_port),
            sample_rows(running.store),
        )
        print(banner, flush=True)
        await stop.wait()
        print("ftvm: shutting down (health NOT_SERVING, finishing in-flight calls)", flush=True)
        await running.stop()
        print("ftvm: stopped", flush=True)

    asyncio.run(main())
    return 0


# -- worker processes ------------------------------------------------------------------------------------------------


def _reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) SO_REUSEPORT socket: fixes the port the workers share when `port` is 0, and is
    closed once they listen on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker_main(config: ServerConfig, index: int, ready, log_level: int) -> None:
    """One worker process: a whole server on the shared ports. It stops on SIGTERM, or when its supervisor is gone."""
    logs.configure(log_level, config.log_format, worker=index)
    if not config.metrics:
        metrics.disable()
    supervisor = os.getppid()

    async def main() -> None:
        running = await start(config)
        _tune_gc()
        ready.put(index)
        stop = _until_signalled(asyncio.get_running_loop())
        while not stop.is_set() and os.getppid() == supervisor:
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
        await running.stop()

    asyncio.run(main())


def _supervise(config: ServerConfig) -> int:
    """Runs `config.workers` worker processes until SIGTERM or SIGINT, restarting any that dies."""
    store = open_store(config.url)
    try:
        first = first_start(store, config)  # once, before any worker: they find the database ready
        sample = sample_rows(store)
    finally:
        store.close()
    reserved = [_reserve_port(config.grpc_host, config.grpc_port)]
    http_port = metrics_port = None
    if config.http_port is not None:
        reserved.append(_reserve_port(config.http_host, config.http_port))
        http_port = reserved[-1].getsockname()[1]
    if config.metrics and config.metrics_port is not None:
        reserved.append(_reserve_port(config.http_host, config.metrics_port))
        metrics_port = reserved[-1].getsockname()[1]
    worker_config = replace(
        config,
        workers=1,
        reuse_port=True,
        grpc_port=reserved[0].getsockname()[1],
        http_port=http_port,
        metrics_port=metrics_port,
    )
    if config.metrics:  # before the workers start: their families count into files there, summed when scraped
        os.environ[metrics.MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="ftvm-metrics-")
    try:
        return _run_workers(config, worker_config, first, sample, reserved)
    finally:
        if config.metrics:
            shutil.rmtree(os.environ.pop(metrics.MULTIPROCESS_ENV), ignore_errors=True)


def _run_workers(
    config: ServerConfig,
    worker_config: ServerConfig,
    first: FirstStart,
    sample: tuple[Row | None, Row | None, Row | None],
    reserved: list[socket.socket],
) -> int:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    log_level = logging.getLogger().level

    def spawn(index: int):
        process = context.Process(
            target=_worker_main,
            args=(worker_config, index, ready, log_level),
            name=f"ftvm-worker-{index}",
            daemon=False,
        )
        process.start()
        return process

    workers = [spawn(i) for i in range(config.workers)]
    try:
        for _ in workers:
            ready.get(timeout=600)
    except queue.Empty:
        for process in workers:
            process.kill()
        print("ftvm: the workers did not start (see their log)", file=sys.stderr, flush=True)
        return 1
    for sock in reserved:
        sock.close()
    http_port = worker_config.http_port
    rest_url = http_url(config.http_host, http_port, tls=config.tls is not None) if http_port is not None else None
    metrics_url = _metrics_url(config, rest_url, worker_config.metrics_port)
    target = f"{config.grpc_host}:{worker_config.grpc_port}"
    print(_banner(config, first, target, rest_url, metrics_url, sample), flush=True)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        for index, process in enumerate(workers):
            if not process.is_alive():
                log.warning("worker %d exited with code %s; starting it again", index, process.exitcode)
                if metrics.multiprocess_dir() is not None:
                    multiprocess.mark_process_dead(process.pid)
                workers[index] = spawn(index)
    print("ftvm: shutting down the workers", flush=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(config.grace_seconds + 10)
        if process.is_alive():
            process.kill()
    print("ftvm: stopped", flush=True)
    return 0


class ServerThread:
    """The real server on a background thread: `with ServerThread(config) as s: ... s.port ...`."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._running: RunningServer | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ftvm-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._running = self._loop.run_until_complete(start(self.config))
        except BaseException as e:  # noqa: BLE001 -- handed to the starting thread
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    @property
    def running(self) -> RunningServer:
        if self._running is None:
            raise RuntimeError("the server is not running")
        return self._running

    @property
    def port(self) -> int:
        return self.running.grpc_port

    @property
    def target(self) -> str:
        return f"{self.running.grpc_host}:{self.running.grpc_port}"

    @property
    def http_port(self) -> int:
        """The REST gateway's port (the config must set `http_port`, 0 for a free one)."""
        return self._gateway().port

    @property
    def http_url(self) -> str:
        return self._gateway().url

    def _gateway(self) -> Gateway:
        if self.running.gateway is None:
            raise RuntimeError("the server runs without the REST gateway (no http_port in its config)")
        return self.running.gateway

    @property
    def admin_password(self) -> str:
        return self.config.admin_password or self.running.first.admin_password_generated or ""

    def call(self, coro_factory):
        """Runs a coroutine on the server's loop (e.g. to inspect the domain) and returns its result."""
        return asyncio.run_coroutine_threadsafe(coro_factory(), self._loop).result()

    def stop(self, grace: float = 1.0) -> None:
        if self._running is not None:
            asyncio.run_coroutine_threadsafe(self._running.stop(grace), self._loop).result()
            self._running = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def __exit__(self, *exc) -> None:
        self.stop()
