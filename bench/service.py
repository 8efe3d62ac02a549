"""`ftvm bench service`: CreateFaultToleranceVmInstance over gRPC against a real `ftvm serve`, beside a no-op RPC.

The benchmark starts the server as a subprocess (`python -m ftvm.cli serve --data-dir TMP --grpc-port 0
--inventory FILE`, SQLite in TMP with the server's durable commits) on a generated inventory big enough that no
run exhausts it (`--hosts` KVM hosts with 64 CPUs and 1 TiB each in racks of 20, one shared storage of 1 PiB
attached to every cluster, one L3 with a /16 range, FT enabled with its network CIDR, one image, one 1 vCPU /
1 GiB instance offering), logs in as admin, and then for every `--concurrency` level C:

1. warm-up: `--warmup` creates at concurrency C (not timed);
2. creates: `--requests` CreateFaultToleranceVmInstance calls (`--strategy`, default InstantStart, with the
   offering, the image and the L3), C of them in flight at any time, from a grpc.aio client;
3. no-op: as many grpc.health.v1.Health/Check calls on the same server at the same concurrency: the ceiling of
   what the server's gRPC stack answers, so creates/s / no-op/s is the share of that ceiling the create reaches;
4. destroy: DestroyVmInstance on every group created at this level (`--destroy`, default on), so the next level
   starts from the same inventory (its rate is reported too, not a goal).

Requests are serialized before the clock starts and replies are kept as bytes while it runs (each is parsed and
checked afterwards: success, a group uuid, two different hosts, both VMs in the strategy's state), so the client
spends as little CPU as it can. `--client-procs P` splits every level over P client processes (spawned, each with
its own channel, started together at a barrier) for when one Python client process is the bottleneck. The CPU
the server and the client(s) used per phase is reported (from /proc and os.times): on a 2-core machine the client
shares the cores with the server, which the CPU columns make visible.

The server's host agent is its in-process simulated hypervisor unless `--agent simulate-process` (the benchmark
starts `ftvm agent --simulate` on a free port with its state in TMP and passes `--agent-url` to the server: every
create then makes two HTTP starts, every destroy two HTTP destroys; the agent's CPU per level is reported) or
`--agent-url URL` (an agent already running).

Reported per level: creates/s (successful creates per second of wall time), p50/p99 latency in ms, errors by
status code (0 in a healthy run), the same for the no-op, and the ratio. The goals (≥ 1000 creates/s, ≥ 0.5 of
the no-op ceiling, p99 ≤ 50 ms, at 32 concurrent calls) are printed beside the numbers; they are not asserted.

`--json` prints one JSON object as the last line of stdout: `{"config": {...}, "server": {...}, "machine": {...},
"levels": [{"concurrency", "create": {...}, "noop": {...}, "ratio", "destroy": {...}}], "goals": {...}}`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ipaddress
import json
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

ADMIN = "admin"
READY_RE = re.compile(r"ftvm: gRPC listening on (\S+:\d+)")
AGENT_READY_RE = re.compile(r"ftvm agent \(simulation\): listening on (http://\S+:\d+)")
GIB = 1 << 30
TIB = 1 << 40
GOAL_CONCURRENCY = 32
GOALS = {"creates_per_s": 1000.0, "ratio": 0.5, "p99_ms": 50.0}
STRATEGY_STATE = {"InstantStart": "Running", "CreateStopped": "Stopped", "JustCreate": "Created"}


# ---- argument parsing ------------------------------------------------------------------------------------------

def _int_list(s: str) -> list[int]:
    try:
        out = [int(x) for x in s.replace(" ", "").split(",") if x]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("expected a comma separated list of positive integers, e.g. 1,8,32,64")
    return out


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--concurrency", type=_int_list, default=[1, 8, 32, 64],
                   help="calls in flight per level, comma separated (default 1,8,32,64)")
    p.add_argument("--requests", type=int, default=2000, help="timed creates (and no-ops) per level (default 2000)")
    p.add_argument("--warmup", type=int, default=200, help="untimed creates before each level (default 200)")
    p.add_argument("--strategy", default="InstantStart", choices=sorted(STRATEGY_STATE),
                   help="the creates' strategy (default InstantStart)")
    p.add_argument("--client-procs", type=int, default=1,
                   help="client processes sharing each level's calls (default 1: one grpc.aio process)")
    p.add_argument("--hosts", type=int, default=200, help="KVM hosts in the generated inventory (default 200)")
    p.add_argument("--destroy", action=argparse.BooleanOptionalAction, default=True,
                   help="destroy each level's groups after it (default on)")
    p.add_argument("--noop", action=argparse.BooleanOptionalAction, default=True,
                   help="measure the no-op ceiling (grpc.health.v1 Health/Check) at each level (default on)")
    agent = p.add_mutually_exclusive_group()
    agent.add_argument("--agent", choices=("in-process", "simulate-process"), default="in-process",
                       help="the server's host agent: its in-process simulated hypervisor (default), or an "
                            "`ftvm agent --simulate` process the benchmark starts (HTTP)")
    agent.add_argument("--agent-url", metavar="URL", help="the server's host agent: one already running at URL")
    p.add_argument("--data-dir", default=None, help="server data directory (default: a temporary directory)")
    p.add_argument("--keep-data", action="store_true", help="keep the data directory (and server log) afterwards")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `ftvm serve` (repeatable, e.g. --server-arg=--log-level=warning)")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline of each call in s (default 60)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm progress bars on stderr")
    return p


# ---- the inventory -------------------------------------------------------------------------------------------

# Host h gets the (h+1)-th address of each network: a /12 holds 1,048,574 hosts.
MANAGEMENT_NETWORK = ipaddress.IPv4Network("10.0.0.0/12")
FT_NETWORK = ipaddress.IPv4Network("10.16.0.0/12")
MAX_HOSTS = MANAGEMENT_NETWORK.num_addresses - 2


def host_addresses(h: int) -> tuple[str, str]:
    """(management IP, FT-network address) of host number h (0-based)."""
    return str(MANAGEMENT_NETWORK[h + 1]), str(FT_NETWORK[h + 1])


def make_inventory(n_hosts: int) -> dict:
    """An inventory file (docs/inventory-file.md) that no benchmark run exhausts.

    One zone; clusters of 50 hosts; hosts of 64 CPUs (x10 over-provisioning: 640 vCPUs) and 1 TiB, in racks of 20
    (failure domains), each with a management IP in 10.0.0.0/12 and an FT-network address in 10.16.0.0/12 (the FT
    CIDR), so up to MAX_HOSTS hosts; one shared (NFS) storage of 1 PiB attached to every cluster; one L2 attached to
    every cluster with one L3 whose range is a /16 (65,533 addresses); a 1 GiB qcow2 image; a 1 vCPU / 1 GiB
    offering; FT enabled. A group takes 2 vCPUs, 2 GiB, one IP and 4 GiB of storage (root + secondary copy + two
    COLO caches), so 200 hosts hold ~64k groups: about the IPs. Uuids are seeded (`uuidSeed`), so runs are
    comparable.
    """
    if not 2 <= n_hosts <= MAX_HOSTS:
        raise ValueError(f"the benchmark needs 2 (an FT pair) to {MAX_HOSTS:,} hosts, not {n_hosts:,}")
    clusters = []
    for c in range((n_hosts + 49) // 50):
        hosts = []
        for h in range(c * 50, min(n_hosts, (c + 1) * 50)):
            management_ip, ft_address = host_addresses(h)
            hosts.append({"name": f"bench-host-{h}", "managementIp": management_ip, "ftNetworkAddress": ft_address,
                          "failureDomain": f"rack-{h // 20}"})
        clusters.append({"name": f"bench-cluster-{c}", "hostDefaults": {"cpuNum": 64, "memorySize": "1T"},
                         "hosts": hosts})
    names = [c["name"] for c in clusters]
    return {
        "uuidSeed": "ftvm-bench-service",
        "globalConfigs": {"ft.enable": True, "ft.fault.tolerance.network.cidr": str(FT_NETWORK)},
        "zones": [{
            "name": "bench-zone",
            "clusters": clusters,
            "primaryStorages": [{"name": "bench-nfs", "type": "NFS", "url": "10.100.255.1:/bench",
                                 "totalCapacity": "1024T", "clusters": names}],
            "l2Networks": [{
                "name": "bench-l2", "physicalInterface": "eth0", "clusters": names,
                "l3Networks": [{"name": "bench-l3", "ipRanges": [
                    {"startIp": "172.16.0.2", "endIp": "172.16.255.254", "netmask": "255.255.0.0",
                     "gateway": "172.16.0.1"}]}],
            }],
        }],
        "images": [{"name": "bench-image", "url": "http://bench.invalid/bench.qcow2", "size": "1G",
                    "format": "qcow2", "mediaType": "RootVolumeTemplate", "platform": "Linux",
                    "architecture": "x86_64", "guestOsType": "Linux"}],
        "instanceOfferings": [{"name": "bench-1c1g", "cpuNum": 1, "memorySize": "1G"}],
    }


# ---- the server and agent subprocesses ------------------------------------------------------------------------

class ListeningProcess:
    """A command as a subprocess; `start()` returns once it printed its listening line (`ready_re`, whose group 1
    becomes `target`). Its stdout and stderr go to `log_path` (stdout is read line by line until the listening line,
    then drained). A stopped process can be started again."""

    name = "process"
    ready_re: re.Pattern

    def __init__(self, log_path: str) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.target: str | None = None
        self._log = None
        self._drain: threading.Thread | None = None
        self.start_s: float | None = None

    @property
    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ, PYTHONUNBUFFERED="1")

    def start(self, timeout: float = 180.0):
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 -- open while the server runs: stop()
        self.target = None
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._log, env=self.env(), text=True,
                                     bufsize=1)
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self._log.write(line)
                self._log.flush()
                if self.target is None:
                    m = self.ready_re.search(line)
                    if m:
                        self.target = m.group(1)
                        ready.set()
            ready.set()  # EOF: the process exited

        self._drain = threading.Thread(target=read, name=f"{self.name}-stdout", daemon=True)
        self._drain.start()
        if not ready.wait(timeout) or self.target is None:
            code = self.proc.poll()
            self.stop()
            state = f"exited with {code}" if code is not None else f"printed no listening line in {timeout:g} s"
            raise RuntimeError(f"{self.name} {state}; argv {self.argv}; log {self.log_path}:\n{self.log_tail()}")
        self.start_s = time.perf_counter() - t0
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the process (all its threads) used so far (Linux /proc)."""
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
                fields = f.read().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0, sig: int = signal.SIGTERM) -> int | None:
        """SIGTERM (a graceful stop), or `sig` (SIGKILL: a crash)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._drain is not None:
            self._drain.join(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


class ServerProcess(ListeningProcess):
    """`ftvm serve` (gRPC only, a free port) on `data_dir`."""

    name = "ftvm serve"
    ready_re = READY_RE

    def __init__(self, data_dir: str, *, inventory: str | None = None, password: str | None = None,
                 extra_args: Sequence[str] = (), log_path: str | None = None) -> None:
        super().__init__(log_path or os.path.join(data_dir, "server.log"))
        self.data_dir = data_dir
        self.inventory = inventory
        self.password = password or secrets.token_hex(12)
        self.extra_args = list(extra_args)

    @property
    def argv(self) -> list[str]:
        # gRPC only: the benchmark measures the gRPC path (and must not take the REST default port 8080)
        argv = [sys.executable, "-m", "ftvm.cli", "serve", "--data-dir", self.data_dir, "--grpc-port", "0",
                "--no-gateway"]
        if self.inventory:
            argv += ["--inventory", self.inventory]
        return argv + self.extra_args

    def env(self) -> dict[str, str]:
        return dict(super().env(), FTVM_ADMIN_PASSWORD=self.password)

    def start(self, timeout: float = 180.0) -> ServerProcess:
        os.makedirs(self.data_dir, exist_ok=True)
        return super().start(timeout)


class AgentProcess(ListeningProcess):
    """`ftvm agent --simulate` (simulated KVM hosts) with its state in `state_path`, on a free port; started again,
    it listens on the port it had (so a server's --agent-url stays right). `target` is its URL."""

    name = "ftvm agent --simulate"
    ready_re = AGENT_READY_RE

    def __init__(self, state_path: str, *, log_path: str | None = None) -> None:
        super().__init__(log_path or state_path + ".log")
        self.state_path = state_path
        self.port = 0

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "ftvm.cli", "agent", "--simulate", "--listen", f"127.0.0.1:{self.port}",
                "--state", self.state_path, "--log-level", "INFO"]

    def start(self, timeout: float = 60.0) -> AgentProcess:
        super().start(timeout)
        self.port = int(self.url.rpartition(":")[2])
        return self

    @property
    def url(self) -> str:
        assert self.target is not None
        return self.target


# ---- load generation ------------------------------------------------------------------------------------------

def _stats_ms(lat_ns: Sequence[int]) -> dict:
    if not lat_ns:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": None, "max_ms": None}
    a = sorted(lat_ns)

    def pct(q: float) -> float:  # linear interpolation, as numpy.percentile
        k = (len(a) - 1) * q
        lo = int(k)
        hi = min(lo + 1, len(a) - 1)
        return (a[lo] + (a[hi] - a[lo]) * (k - lo)) / 1e6

    return {"p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "mean_ms": sum(a) / len(a) / 1e6,
            "max_ms": a[-1] / 1e6}


async def _drive(call: Callable, payloads: Sequence[bytes], concurrency: int, metadata, timeout: float,
                 tick: Callable[[], None] | None = None) -> dict:
    """`len(payloads)` calls, `concurrency` in flight; answers latencies, codes and raw replies by index."""
    import grpc

    n = len(payloads)
    lat = [0] * n
    codes: list[str] = ["OK"] * n
    replies: list[bytes | None] = [None] * n
    details: dict[str, str] = {}
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            t = time.perf_counter_ns()
            try:
                replies[i] = await call(payloads[i], metadata=metadata, timeout=timeout)
            except grpc.aio.AioRpcError as e:
                codes[i] = e.code().name
                details.setdefault(codes[i], f"{e.details()}")
            lat[i] = time.perf_counter_ns() - t
            if tick is not None:
                tick()

    cpu0, t0 = _cpu_self(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, n) or 1)))
    t1, cpu1 = time.perf_counter(), _cpu_self()
    return {"lat": lat, "codes": codes, "replies": replies, "details": details, "t0": t0, "t1": t1,
            "client_cpu_s": cpu1 - cpu0}


def _cpu_self() -> float:
    return time.process_time()  # user + system CPU of this process, every thread


def _create_payloads(ctx: dict, level: int, part: int, n: int, tag: str) -> list[bytes]:
    from ftvm._proto.zstack.ft.v1 import services_pb2

    out = []
    for i in range(n):
        req = services_pb2.CreateFaultToleranceVmInstanceRequest(
            name=f"bench-c{level}-{tag}-p{part}-{i}", instance_offering_uuid=ctx["offering"],
            image_uuid=ctx["image"], l3_network_uuids=[ctx["l3"]], strategy=ctx["strategy"])
        out.append(req.SerializeToString())
    return out


def _noop_payloads(n: int) -> list[bytes]:
    from grpc_health.v1 import health_pb2

    b = health_pb2.HealthCheckRequest().SerializeToString()
    return [b] * n


class _Tick:
    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar = None
        if enabled and total > 0:
            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, unit="call", dynamic_ncols=True,
                            mininterval=0.5)

    def __call__(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_creates(replies: Sequence[bytes | None], codes: list[str], strategy: str) -> list[str]:
    """Parses the replies (after the clock stopped): the group uuids; a reply that is OK on the wire but not a
    proper create (no success, no group, the pair on one host, wrong states) turns its code into BAD_REPLY."""
    from ftvm._proto.zstack.ft.v1 import services_pb2

    want = STRATEGY_STATE[strategy]
    groups = []
    for i, raw in enumerate(replies):
        if raw is None:
            continue
        r = services_pb2.CreateFaultToleranceVmInstanceResponse.FromString(raw)
        g, p, s = r.fault_tolerance_vm_group_inventory, r.primary_vm_inventory, r.secondary_vm_inventory
        if g.uuid:
            groups.append(g.uuid)
        ok = r.success and g.uuid and p.uuid and s.uuid and p.state == want and s.state == want
        if ok and strategy != "JustCreate":
            ok = bool(p.host_uuid) and bool(s.host_uuid) and p.host_uuid != s.host_uuid
        if not ok:
            codes[i] = "BAD_REPLY"
    return groups


async def _run_part(spec: dict, barrier=None) -> dict:
    """One client's share of one level: warm-up, creates, no-op; with `barrier` (several client processes) every
    phase starts together with the other clients' and the parent's."""
    import grpc

    from ftvm import client

    ctx, c, part = spec["ctx"], spec["concurrency"], spec["part"]
    create = client.find_method("zstack.ft.v1.VmService/CreateFaultToleranceVmInstance")
    noop = client.find_method("grpc.health.v1.Health/Check")
    metadata = client.auth_metadata(ctx["session"])
    warm = _create_payloads(ctx, c, part, spec["warmup"], "w")
    timed = _create_payloads(ctx, c, part, spec["requests"], "t")
    noops = _noop_payloads(spec["requests"] if spec["noop"] else 0)
    progress = spec.get("progress", False)
    out: dict[str, Any] = {}

    async def sync() -> None:
        if barrier is not None:
            await asyncio.get_running_loop().run_in_executor(None, barrier.wait)

    options = [("grpc.max_receive_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(ctx["target"], options=options) as channel:
        create_call = channel.unary_unary(create.path)  # bytes in, bytes out: no (de)serialization while timed
        noop_call = channel.unary_unary(noop.path)
        await channel.channel_ready()
        tick = _Tick(progress, len(warm), f"warm-up   c={c}")
        try:
            w = await _drive(create_call, warm, c, metadata, ctx["timeout"], tick)
        finally:
            tick.close()
        out["warmup_groups"] = _check_creates(w["replies"], w["codes"], ctx["strategy"])
        out["warmup_codes"] = collections.Counter(w["codes"])
        out["warmup_details"] = w["details"]
        await sync()
        tick = _Tick(progress, len(timed), f"creates   c={c}")
        try:
            r = await _drive(create_call, timed, c, metadata, ctx["timeout"], tick)
        finally:
            tick.close()
        await sync()
        groups = _check_creates(r["replies"], r["codes"], ctx["strategy"])
        out["create"] = {"lat": [x for x, k in zip(r["lat"], r["codes"]) if k == "OK"], "codes": r["codes"],
                         "details": r["details"], "t0": r["t0"], "t1": r["t1"], "client_cpu_s": r["client_cpu_s"],
                         "groups": groups}
        if noops:
            await _drive(noop_call, noops[: max(1, len(noops) // 10)], c, metadata, ctx["timeout"])  # warm-up
            await sync()
            tick = _Tick(progress, len(noops), f"no-op     c={c}")
            try:
                r = await _drive(noop_call, noops, c, metadata, ctx["timeout"], tick)
            finally:
                tick.close()
            await sync()
            out["noop"] = {"lat": [x for x, k in zip(r["lat"], r["codes"]) if k == "OK"], "codes": r["codes"],
                           "details": r["details"], "t0": r["t0"], "t1": r["t1"], "client_cpu_s": r["client_cpu_s"]}
    return out


def _child_main(spec: dict, barrier, queue) -> None:
    """Entry point of one client process (multiprocessing spawn)."""
    try:
        queue.put((spec["part"], asyncio.run(_run_part(spec, barrier))))
    except BaseException as e:  # noqa: BLE001 -- reported to the parent, which fails the level
        try:
            barrier.abort()
        finally:
            queue.put((spec["part"], {"error": f"{type(e).__name__}: {e}"}))


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def _phase_result(parts: list[dict], key: str, server_cpu_s: float | None, wall_s: float | None = None) -> dict:
    lat: list[int] = []
    codes: collections.Counter = collections.Counter()
    details: dict[str, str] = {}
    client_cpu = 0.0
    t0 = min(p[key]["t0"] for p in parts)
    t1 = max(p[key]["t1"] for p in parts)
    for p in parts:
        lat.extend(p[key]["lat"])
        codes.update(p[key]["codes"])
        client_cpu += p[key]["client_cpu_s"]
        for k, v in p[key]["details"].items():
            details.setdefault(k, v)
    wall = wall_s if wall_s is not None else t1 - t0
    ok = codes.pop("OK", 0)
    out = {"n": ok + sum(codes.values()), "ok": ok, "errors": dict(codes), "error_count": sum(codes.values()),
           "wall_s": wall, "per_s": ok / wall if wall > 0 else None, **_stats_ms(lat),
           "client_cpu_s": client_cpu, "client_cpu_pct": 100 * client_cpu / wall if wall > 0 else None,
           "server_cpu_s": server_cpu_s,
           "server_cpu_pct": 100 * server_cpu_s / wall if wall > 0 and server_cpu_s is not None else None}
    if details:
        out["error_details"] = details
    return out


def run_level(ctx: dict, server: ServerProcess, concurrency: int, opts) -> dict:
    procs = max(1, min(opts.client_procs, concurrency))
    specs = [{"ctx": ctx, "concurrency": c, "part": i, "warmup": w, "requests": r, "noop": opts.noop,
              "progress": opts.progress and procs == 1}
             for i, (c, w, r) in enumerate(zip(_split(concurrency, procs), _split(opts.warmup, procs),
                                               _split(opts.requests, procs)))]
    cpu: list[float | None] = []
    if procs == 1:
        parts = [asyncio.run(_run_part_measured(specs[0], server, cpu))]
    else:
        parts = _run_parts_in_processes(specs, server, cpu, timeout=max(600.0, opts.requests * opts.timeout / 10))

    def delta(a: int, b: int) -> float | None:
        return None if cpu[a] is None or cpu[b] is None else cpu[b] - cpu[a]

    warm_codes: collections.Counter = collections.Counter()
    for p in parts:
        warm_codes.update(p["warmup_codes"])
    level: dict[str, Any] = {"concurrency": concurrency, "client_procs": procs,
                             "warmup": {"n": sum(warm_codes.values()), "ok": warm_codes.pop("OK", 0),
                                        "errors": dict(warm_codes)},
                             "create": _phase_result(parts, "create", delta(0, 1))}
    warm_details = {k: v for p in parts for k, v in p["warmup_details"].items()}
    if warm_details:
        level["warmup"]["error_details"] = warm_details
    if opts.noop:
        level["noop"] = _phase_result(parts, "noop", delta(2, 3))
        c, n = level["create"]["per_s"], level["noop"]["per_s"]
        level["ratio"] = c / n if c and n else None
    groups = [g for p in parts for g in p["warmup_groups"] + p["create"]["groups"]]
    level["groups"] = len(groups)
    if opts.destroy and groups:
        level["destroy"] = asyncio.run(_destroy(ctx, groups, min(32, max(concurrency, 8)), opts.progress))
    return level


async def _run_part_measured(spec: dict, server: ServerProcess, cpu: list) -> dict:
    """The single-process level: `_run_part` with the server's CPU read at each phase boundary."""

    class _Marks:  # a "barrier" that records the server's CPU instead of waiting for others
        def wait(self) -> None:
            cpu.append(server.cpu_seconds())

    return await _run_part(spec, _Marks())


def _run_parts_in_processes(specs: list[dict], server: ServerProcess, cpu: list, timeout: float) -> list[dict]:
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(len(specs) + 1)
    queue = mp.Queue()
    procs = [mp.Process(target=_child_main, args=(spec, barrier, queue), daemon=True) for spec in specs]
    for p in procs:
        p.start()
    results: dict[int, dict] = {}
    try:
        n_sync = 4 if specs[0]["noop"] else 2
        for _ in range(n_sync):  # warm-up done | creates done | no-op warm-up done | no-ops done
            barrier.wait(timeout)
            cpu.append(server.cpu_seconds())
        deadline = time.monotonic() + timeout
        while len(results) < len(specs):
            part, res = queue.get(timeout=max(1.0, deadline - time.monotonic()))
            results[part] = res
    except Exception:  # noqa: BLE001 -- whatever broke (barrier, queue timeout): raised below with the clients' errors
        while not queue.empty():
            part, res = queue.get_nowait()
            results[part] = res
        errors = [r["error"] for r in results.values() if "error" in r]
        raise RuntimeError(f"client processes failed: {errors or 'barrier broken or timed out'}") from None
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    errors = [r["error"] for r in results.values() if "error" in r]
    if errors:
        raise RuntimeError(f"client processes failed: {errors}")
    return [results[i] for i in range(len(specs))]


async def _destroy(ctx: dict, groups: Sequence[str], concurrency: int, progress: bool) -> dict:
    import grpc

    from ftvm import client
    from ftvm._proto.zstack.ft.v1 import services_pb2

    m = client.find_method("zstack.ft.v1.VmService/DestroyVmInstance")
    payloads = [services_pb2.DestroyVmInstanceRequest(uuid=g).SerializeToString() for g in groups]
    async with grpc.aio.insecure_channel(ctx["target"]) as channel:
        tick = _Tick(progress, len(payloads), "destroy")
        try:
            r = await _drive(channel.unary_unary(m.path), payloads, concurrency, client.auth_metadata(ctx["session"]),
                             ctx["timeout"], tick)
        finally:
            tick.close()
    codes = collections.Counter(r["codes"])
    ok = codes.pop("OK", 0)
    wall = r["t1"] - r["t0"]
    out = {"n": len(payloads), "ok": ok, "errors": dict(codes), "concurrency": concurrency, "wall_s": wall,
           "per_s": ok / wall if wall > 0 else None,
           **{k: v for k, v in _stats_ms([x for x, k in zip(r["lat"], r["codes"]) if k == "OK"]).items()
              if k in ("p50_ms", "p99_ms")}}
    if r["details"]:
        out["error_details"] = r["details"]
    return out


# ---- setup: login and the uuids the creates use ------------------------------------------------------------

async def _setup(target: str, password: str, timeout: float) -> dict:
    import grpc

    from ftvm import client
    from ftvm._proto.zstack.ft.v1 import services_pb2

    async with grpc.aio.insecure_channel(target) as channel:
        session = await client.login_async(channel, ADMIN, password, timeout=timeout)
        md = client.auth_metadata(session)
        found: dict[str, Any] = {"session": session}
        for key, method, name in (("image", "QueryImage", "bench-image"),
                                  ("offering", "QueryInstanceOffering", "bench-1c1g"),
                                  ("l3", "QueryL3Network", "bench-l3")):
            m = client.find_method(f"zstack.ft.v1.InventoryService/{method}")
            reply = await client.unary(channel, m)(m.input_type(q=[f"name={name}"]), metadata=md, timeout=timeout)
            if len(reply.inventories) != 1:
                raise RuntimeError(f"{method} name={name}: expected 1 inventory, got {len(reply.inventories)} "
                                   "(did the server load the inventory file?)")
            found[key] = reply.inventories[0].uuid
        m = client.find_method("zstack.ft.v1.InventoryService/QueryHost")
        reply = await client.unary(channel, m)(services_pb2.QueryHostRequest(limit=1, reply_with_count=True),
                                               metadata=md, timeout=timeout)
        found["hosts"] = reply.total
    return found


# ---- the run ----------------------------------------------------------------------------------------------------

def run(opts) -> dict:
    if opts.requests < 1:
        raise ValueError("--requests must be at least 1")
    own_dir = opts.data_dir is None
    data_dir = tempfile.mkdtemp(prefix="ftvm-bench-service-") if own_dir else opts.data_dir
    result: dict[str, Any] = {
        "config": {"concurrency": opts.concurrency, "requests": opts.requests, "warmup": opts.warmup,
                   "strategy": opts.strategy, "client_procs": opts.client_procs, "hosts": opts.hosts,
                   "destroy": opts.destroy, "noop": opts.noop, "agent": opts.agent_url or opts.agent},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "levels": [],
    }
    try:
        os.makedirs(data_dir, exist_ok=True)
        # JSON: the server reads it ~4x faster than YAML (72 s -> 18 s to start on 100,000 hosts)
        inventory_path = os.path.join(data_dir, "bench-inventory.json")
        with open(inventory_path, "w", encoding="utf-8") as f:
            json.dump(make_inventory(opts.hosts), f)
        with contextlib.ExitStack() as stack:
            agent_url, agent = opts.agent_url, None
            if opts.agent == "simulate-process":
                agent = stack.enter_context(AgentProcess(os.path.join(data_dir, "agent-state.db"),
                                                         log_path=os.path.join(data_dir, "agent.log")))
                agent_url = agent.url
            server = ServerProcess(os.path.join(data_dir, "server"), inventory=inventory_path,
                                   extra_args=opts.server_arg + (["--agent-url", agent_url] if agent_url else []),
                                   log_path=os.path.join(data_dir, "server.log"))
            with server:
                print(f"ftvm bench service: server pid {server.pid} on {server.target} (data {data_dir})",
                      file=sys.stderr, flush=True)
                ctx = asyncio.run(_setup(server.target, server.password, opts.timeout))
                result["server"] = {"target": server.target, "pid": server.pid, "argv": server.argv[1:],
                                    "start_s": server.start_s, "hosts": ctx.pop("hosts"),
                                    "agent": agent_url or "in-process"}
                ctx.update(target=server.target, strategy=opts.strategy, timeout=opts.timeout)
                for c in opts.concurrency:
                    agent_cpu = agent.cpu_seconds() if agent else None
                    level = run_level(ctx, server, c, opts)
                    if agent is not None:
                        level["agent_cpu_s"] = agent.cpu_seconds() - agent_cpu  # the whole level, destroys too
                    result["levels"].append(level)
            result["server"]["exit_code"] = server.proc.returncode if server.proc else None
            result["server"]["log"] = server.log_path if opts.keep_data or not own_dir else None
    finally:
        if own_dir and not opts.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    result["goals"] = evaluate_goals(result["levels"])
    return result


def evaluate_goals(levels: list[dict]) -> dict:
    if not levels:
        return {}
    level = min(levels, key=lambda lv: (abs(lv["concurrency"] - GOAL_CONCURRENCY), -lv["concurrency"]))
    c = level["create"]
    out: dict[str, Any] = {"concurrency": level["concurrency"], "targets": dict(GOALS)}
    out["creates_per_s"] = {"value": c["per_s"], "goal": f">= {GOALS['creates_per_s']:g}",
                            "met": c["per_s"] is not None and c["per_s"] >= GOALS["creates_per_s"]}
    ratio = level.get("ratio")
    out["ratio"] = {"value": ratio, "goal": f">= {GOALS['ratio']:g}",
                    "met": None if ratio is None else ratio >= GOALS["ratio"]}
    out["p99_ms"] = {"value": c["p99_ms"], "goal": f"<= {GOALS['p99_ms']:g}",
                     "met": c["p99_ms"] is not None and c["p99_ms"] <= GOALS["p99_ms"]}
    out["errors"] = {"value": sum(lv["create"]["error_count"] + lv.get("noop", {}).get("error_count", 0)
                                  for lv in levels), "goal": "0"}
    out["errors"]["met"] = out["errors"]["value"] == 0
    return out


# ---- output -------------------------------------------------------------------------------------------------------

def _f(x, spec: str = ",.1f") -> str:
    return "-" if x is None else format(x, spec)


def format_table(result: dict) -> str:
    cfg = result["config"]
    srv = result.get("server", {})
    lines = [f"CreateFaultToleranceVmInstance ({cfg['strategy']}) over gRPC: {cfg['requests']:,} timed calls per "
             f"level after {cfg['warmup']:,} warm-up; server {srv.get('target')} with {srv.get('hosts')} hosts, host "
             f"agent {srv.get('agent')}; "
             f"{cfg['client_procs']} client process(es); {result['machine']['cpus']} CPUs shared by server and "
             "client"]
    hdr = (f"{'conc':>5} {'creates/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'no-op/s':>9} {'p50 ms':>8} "
           f"{'p99 ms':>8} {'ratio':>6} {'srv CPU%':>8} {'cli CPU%':>8} {'destroys/s':>10}")
    lines += [hdr, "-" * len(hdr)]
    for lv in result["levels"]:
        c, n, d = lv["create"], lv.get("noop", {}), lv.get("destroy", {})
        errors = c["error_count"] + n.get("error_count", 0)
        lines.append(
            f"{lv['concurrency']:>5} {_f(c['per_s'], ',.0f'):>10} {_f(c['p50_ms'], '.2f'):>8} "
            f"{_f(c['p99_ms'], '.2f'):>8} {errors:>7} {_f(n.get('per_s'), ',.0f'):>9} "
            f"{_f(n.get('p50_ms'), '.2f'):>8} {_f(n.get('p99_ms'), '.2f'):>8} {_f(lv.get('ratio'), '.2f'):>6} "
            f"{_f(c['server_cpu_pct'], '.0f'):>8} {_f(c['client_cpu_pct'], '.0f'):>8} "
            f"{_f(d.get('per_s'), ',.0f'):>10}")
    for lv in result["levels"]:
        if "agent_cpu_s" in lv:
            lines.append(f"  c={lv['concurrency']} agent process CPU over the level (creates, no-ops, destroys): "
                         f"{lv['agent_cpu_s']:.1f} s")
        for phase in ("warmup", "create", "noop", "destroy"):
            ph = lv.get(phase) or {}
            if ph.get("errors"):
                lines.append(f"  c={lv['concurrency']} {phase} errors: {ph['errors']} "
                             f"{ph.get('error_details', '')}")
    g = result.get("goals") or {}
    if g:
        def mark(k: str) -> str:
            met = g[k]["met"]
            return "n/a" if met is None else ("met" if met else "MISSED")

        lines.append("")
        lines.append(f"goals at {g['concurrency']} concurrent calls (printed, not asserted): "
                     f"creates/s {_f(g['creates_per_s']['value'], ',.0f')} (goal >= {GOALS['creates_per_s']:,.0f}: "
                     f"{mark('creates_per_s')}); creates/no-op {_f(g['ratio']['value'], '.2f')} "
                     f"(goal >= {GOALS['ratio']:g}: {mark('ratio')}); p99 {_f(g['p99_ms']['value'], '.1f')} ms "
                     f"(goal <= {GOALS['p99_ms']:g}: {mark('p99_ms')}); errors {g['errors']['value']} "
                     f"(must be 0: {mark('errors')})")
    return "\n".join(lines)


def run_cli(opts) -> int:
    result = run(opts)
    print(format_table(result), flush=True)
    if opts.json:
        print(json.dumps(result, allow_nan=False), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = add_arguments(argparse.ArgumentParser(prog="ftvm bench service", description=__doc__.split("\n\n")[0]))
    return run_cli(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
