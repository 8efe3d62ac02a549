"""`ftvm bench soak`: create/destroy churn near capacity against a real `ftvm serve` for `--minutes`, sampling the
server's memory, file descriptors and database size and the calls' latency over time, and a leak verdict.

The server is started as `ftvm bench service` starts it (bench/service.py): SQLite in a temporary folder (`--workers
N`), or with `--postgres` / `--database-url` PostgreSQL (`--replicas R` processes on a new database). Its inventory is
the service benchmark's with smaller hosts (`--hosts` hosts of `--host-cpus` CPUs, x10 CPU over-provisioning: a
group takes one vCPU on each of two hosts, so about hosts x host-cpus x 5 groups fit), so capacity is reached fast.

Phases:

1. fill: creates (InstantStart, `--concurrency` in flight) until the first create refused for capacity
   (RESOURCE_EXHAUSTED, HOST_ALLOCATION.1000 or L3.1000); the groups then held are the capacity;
2. drain: random groups destroyed until `--fill` (default 0.9) of the capacity is held;
3. churn, `--minutes` (fractions allowed): each of `--concurrency` client tasks destroys a random group (when at
   least the target is held) and creates a new one, over and over; `--rate` caps the cycles per second (all tasks
   together), so that a run offers the same load on a fast machine and on a slow one.

Every `--interval` seconds a sample: the server processes' resident memory (VmRSS summed over the process tree, so
`--workers` includes the workers; shared pages count once per process), their open file descriptors (/proc/PID/fd),
the database size (the SQLite file and its -wal; PostgreSQL: pg_database_size; and apart the WAL and what the tables
kept for a time by design take: change_feed 1 h, create_requests 24 h, replication.py), the groups held, and for the
calls that ended in the interval: creates/s and destroys/s, their p50/p99 latency, and refusals by status code. A
table row is printed per sample; `--out FILE` writes the samples as CSV (FILE ending in .csv) or the whole result as
JSON.

Verdict (on the churn samples only; the fill grows the live set, so memory grows there by design): the churn's
first third is warm-up (caches, allocator pools and the WAL reaching their working size); its middle third is compared
with its last third:

- RSS: median(last) - median(middle) <= max(`--rss-growth-pct` % of median(middle), `--rss-growth-mib` MiB);
- file descriptors: max(last) <= max(middle) + `--fd-slack`;
- database size without the WAL and the tables kept for a time: median(last) - median(middle) <= max(`--db-growth-pct`
  %, `--db-growth-mib` MiB). Those tables grow for their retention (an hour of change feed) whatever a soak does, and
  the WAL grows to its restart size (64 MiB, store/sqlite.py) and stays there: both are shown, not judged;
- no unexpected failure: every call OK or, for a create, refused for capacity;
- records: the service holds exactly the groups the client holds after the churn (destroyed groups are gone).

Medians of thirds rather than first-vs-last samples, so one sample taken during a garbage collection or a WAL
checkpoint does not decide. The exit code is 1 when a check fails (usable in CI), 0 otherwise. `--json` prints one
JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.service import (
    Deployment,
    PostgresDeployment,
    SqliteDeployment,
    _check_creates,
    _create_requests,
    _groups_named,
    _open_channels,
    _setup,
    _stats_ms,
    make_inventory,
)

MIB = 1 << 20
CAPACITY_CODE = "RESOURCE_EXHAUSTED"  # HOST_ALLOCATION.1000 and L3.1000: no host, no address left
NAME_PREFIX = "soak-"
MIN_CHURN_SAMPLES = 6  # two per third
MAX_FILL_FAILURES = 100  # per client task: a server that refuses everything ends the run


# ---- argument parsing ------------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--minutes", type=float, default=10.0, help="churn duration in minutes, fractions allowed (10)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    p.add_argument("--hosts", type=int, default=20, help="KVM hosts in the generated inventory (default 20)")
    p.add_argument("--host-cpus", type=int, default=16, help="CPUs of each host (default 16: ~80 groups a host)")
    p.add_argument("--fill", type=float, default=0.9, help="share of the capacity held during the churn (0.9)")
    p.add_argument("--concurrency", type=int, default=8, help="client tasks, each destroy + create (default 8)")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="churn cycles (destroy + create) per second, all tasks together (default 0: as fast as they go)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the random choice of the group to destroy")
    p.add_argument(
        "--idempotency-keys",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="send each create with an idempotency-key (default off: each such create keeps a create_requests row "
        "for 24 h, its retention, so the database grows by design during a soak shorter than that)",
    )
    configs = p.add_argument_group("server")
    configs.add_argument("--workers", type=int, default=1, help="SQLite: `ftvm serve --workers N` (default 1)")
    database = configs.add_mutually_exclusive_group()
    database.add_argument("--postgres", action="store_true", help="PostgreSQL: a throw-away one (ftvm.localcluster)")
    database.add_argument(
        "--database-url", metavar="URL", help="PostgreSQL: an existing server (a role that may create databases)"
    )
    configs.add_argument("--replicas", type=int, default=1, help="PostgreSQL: `ftvm serve` processes (default 1)")
    configs.add_argument(
        "--server-arg", action="append", default=[], metavar="ARG", help="extra argument for `ftvm serve` (repeatable)"
    )
    limits = p.add_argument_group("verdict (middle third vs last third of the churn)")
    limits.add_argument("--rss-growth-pct", type=float, default=5.0, help="allowed RSS growth in %% (default 5)")
    limits.add_argument("--rss-growth-mib", type=float, default=8.0, help="... or in MiB, the larger (default 8)")
    limits.add_argument("--fd-slack", type=int, default=4, help="allowed rise of the fd maximum (default 4)")
    limits.add_argument("--db-growth-pct", type=float, default=10.0, help="allowed database growth in %% (10)")
    limits.add_argument("--db-growth-mib", type=float, default=4.0, help="... or in MiB, the larger (default 4)")
    p.add_argument("--data-dir", default=None, help="server data directory (default: a temporary directory)")
    p.add_argument("--keep-data", action="store_true", help="keep the data directory (and server log) afterwards")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline of each call in s (default 60)")
    p.add_argument("--out", metavar="FILE", help="write the samples as CSV (FILE.csv) or the whole result as JSON")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    return p


def check_options(opts) -> None:
    """What argparse cannot say alone; raises ValueError."""
    if opts.minutes <= 0 or opts.interval <= 0 or opts.rate < 0:
        raise ValueError("--minutes and --interval must be positive, --rate not negative")
    if opts.minutes * 60 / opts.interval < MIN_CHURN_SAMPLES:
        raise ValueError(f"the verdict needs {MIN_CHURN_SAMPLES} samples: --minutes x 60 / --interval too small")
    if not 0 < opts.fill < 1:
        raise ValueError("--fill must be between 0 and 1 (exclusive)")
    if opts.hosts < 2:
        raise ValueError("--hosts must be at least 2 (an FT pair)")
    if opts.concurrency < 1 or opts.workers < 1 or opts.replicas < 1 or opts.host_cpus < 1:
        raise ValueError("--concurrency, --workers, --replicas and --host-cpus must be at least 1")
    if opts.workers > 1 and (opts.postgres or opts.database_url):
        raise ValueError("--workers is for SQLite; PostgreSQL takes --replicas")
    if opts.replicas > 1 and not (opts.postgres or opts.database_url):
        raise ValueError("--replicas needs --postgres or --database-url")


def make_soak_inventory(hosts: int, host_cpus: int) -> dict:
    """The service benchmark's inventory with `host_cpus` CPUs a host: a capacity the fill reaches soon."""
    spec = make_inventory(hosts)
    for cluster in spec["zones"][0]["clusters"]:
        cluster["hostDefaults"]["cpuNum"] = host_cpus
    return spec


# ---- what is sampled ---------------------------------------------------------------------------------------------


def _process_figures(pids: Sequence[int]) -> tuple[int, int]:
    """(VmRSS bytes, open file descriptors) summed over the processes (one gone meanwhile counts nothing)."""
    rss = fds = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
                        break
            fds += len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


RETAINED_TABLES = ("change_feed", "create_requests")  # kept for a time by design (replication.py: 1 h and 24 h)


class DatabaseSize:
    """The database's size in bytes (the SQLite file with its write-ahead log, or PostgreSQL's pg_database_size),
    the WAL's part of it (SQLite), and the part the tables kept by time take (RETAINED_TABLES with their indexes)."""

    def __init__(self, deployment: Deployment) -> None:
        import sqlite3

        import psycopg

        self._path: str | None = None
        self._conn: sqlite3.Connection | psycopg.Connection
        if isinstance(deployment, SqliteDeployment):
            self._path = os.path.join(deployment.server.data_dir, "ftvm.db")
            self._conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
        else:
            assert isinstance(deployment, PostgresDeployment)
            self._conn = psycopg.connect(deployment.url, autocommit=True)

    def __call__(self) -> tuple[int, int, int]:
        if self._path is None:
            row = self._conn.execute(
                "SELECT pg_database_size(current_database()), "
                "(SELECT SUM(pg_total_relation_size(t::regclass)) FROM unnest(%s::text[]) t)",
                (list(RETAINED_TABLES),),
            ).fetchone()
            return int(row[0]), 0, int(row[1] or 0)
        wal = os.path.getsize(self._path + "-wal") if os.path.exists(self._path + "-wal") else 0
        marks = ", ".join("?" * len(RETAINED_TABLES))
        (retained,) = self._conn.execute(  # dbstat: the pages of each table and index
            "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
            f"(SELECT name FROM sqlite_master WHERE tbl_name IN ({marks}))",
            RETAINED_TABLES,
        ).fetchone()
        return os.path.getsize(self._path) + wal, wal, retained or 0

    def close(self) -> None:
        self._conn.close()


class Window:
    """The calls that ended since the last `take()`: latencies of the successful ones and every outcome's code."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.lat: dict[str, list[int]] = {"create": [], "destroy": []}
        self.codes: collections.Counter = collections.Counter()

    def record(self, kind: str, code: str, lat_ns: int) -> None:
        self.codes[(kind, code)] += 1
        if code == "OK":
            self.lat[kind].append(lat_ns)

    def take(self) -> tuple[float, dict[str, list[int]], collections.Counter]:
        now = time.perf_counter()
        out = (now - self.t0, self.lat, self.codes)
        self.t0, self.lat, self.codes = now, {"create": [], "destroy": []}, collections.Counter()
        return out


def _failures(codes: collections.Counter) -> dict[str, int]:
    return {f"{kind} {code}": n for (kind, code), n in sorted(codes.items()) if code != "OK"}


def _unexpected(failures: dict[str, int]) -> int:
    return sum(n for key, n in failures.items() if key != f"create {CAPACITY_CODE}")


# ---- the run -------------------------------------------------------------------------------------------------------


class Soak:
    """The client side: channels, the groups held, the sampler, the three phases."""

    def __init__(
        self, ctx: dict, opts, deployment: Deployment, database_size: Callable[[], tuple[int, int, int]]
    ) -> None:
        self.ctx, self.opts, self.deployment, self.database_size = ctx, opts, deployment, database_size
        self.rng = random.Random(opts.seed)
        self.live: list[str] = []
        self.window = Window()
        self.samples: list[dict] = []
        self.totals: collections.Counter = collections.Counter()
        self.t_start = time.perf_counter()
        self.phase = "fill"
        self._full = False
        self._serial = 0
        self._next_slot = 0.0
        self._sampling = asyncio.Lock()  # a phase's closing sample waits for one the sampler is taking
        self._sampler: asyncio.Future | None = None

    async def run(self) -> dict:
        from ftvm import client
        from ftvm._proto.zstack.ft.v1 import services_pb2

        self._destroy_request = services_pb2.DestroyVmInstanceRequest
        self._metadata = client.auth_metadata(self.ctx["session"])
        channels = await _open_channels(self.ctx)
        create = client.find_method("zstack.ft.v1.VmService/CreateFaultToleranceVmInstance")
        destroy = client.find_method("zstack.ft.v1.VmService/DestroyVmInstance")
        self._creates = [ch.unary_unary(create.path) for ch in channels]
        self._destroys = [ch.unary_unary(destroy.path) for ch in channels]
        try:
            await self._phase("fill", self._fill_worker)
            capacity = len(self.live)
            target = int(self.opts.fill * capacity)
            await self._phase("drain", lambda k: self._drain_worker(k, target))
            deadline = time.perf_counter() + self.opts.minutes * 60
            await self._phase("churn", lambda k: self._churn_worker(k, target, deadline))
            await self._close_phase()
        finally:
            for channel in channels:
                await channel.close()
        return {"capacity": capacity, "target": target}

    async def _phase(self, name: str, worker: Callable[[int], Any]) -> None:
        """Runs `--concurrency` workers; samples cover one phase each (so no churn sample covers a drain)."""
        await self._close_phase()
        self.phase = name
        self._sampler = asyncio.ensure_future(self._sample_every(self.opts.interval))
        await asyncio.gather(*(worker(k) for k in range(self.opts.concurrency)))

    async def _close_phase(self) -> None:
        """Stops the phase's sampler and samples its last (partial) interval."""
        if self._sampler is None:
            self.window.take()  # the first phase starts now
            return
        self._sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sampler
        self._sampler = None
        await self._sample()

    async def _sample_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(max(0.0, self.window.t0 + interval - time.perf_counter()))
            await asyncio.shield(self._sample())  # a cancel at the phase's end must not lose a taken window

    async def _sample(self) -> None:
        async with self._sampling:
            dt, lat, codes = self.window.take()
            live = len(self.live)
            rss, fds = _process_figures(self.deployment.server_pids())
            db, wal, retained = await asyncio.to_thread(self.database_size)
        creates, destroys = _stats_ms(lat["create"]), _stats_ms(lat["destroy"])
        sample = {
            "t_s": round(time.perf_counter() - self.t_start, 3),
            "phase": self.phase,
            "interval_s": round(dt, 3),
            "groups": live,
            "rss_bytes": rss,
            "fds": fds,
            "db_bytes": db,
            "db_wal_bytes": wal,
            "db_retained_bytes": retained,
            "creates": len(lat["create"]),
            "creates_per_s": len(lat["create"]) / dt if dt > 0 else None,
            "create_p50_ms": creates["p50_ms"],
            "create_p99_ms": creates["p99_ms"],
            "destroys": len(lat["destroy"]),
            "destroys_per_s": len(lat["destroy"]) / dt if dt > 0 else None,
            "destroy_p50_ms": destroys["p50_ms"],
            "destroy_p99_ms": destroys["p99_ms"],
            "failures": _failures(codes),
        }
        self.totals.update(codes)
        self.samples.append(sample)
        print(format_row(sample), flush=True)

    async def _call(self, kind: str, calls: list, slot: int, payload: bytes, metadata: tuple) -> tuple[str, Any]:
        import grpc

        t = time.perf_counter_ns()
        try:
            reply, code = await calls[slot % len(calls)](payload, metadata=metadata, timeout=self.opts.timeout), "OK"
        except grpc.aio.AioRpcError as e:
            reply, code = None, e.code().name
        if kind == "create" and code == "OK":
            codes = ["OK"]
            groups = _check_creates([reply], codes, self.ctx["strategy"])
            code, reply = codes[0], (groups[0] if groups and codes[0] == "OK" else None)
        self.window.record(kind, code, time.perf_counter_ns() - t)
        return code, reply

    async def _create(self, slot: int) -> str:
        self._serial += 1
        ((payload, metadata),) = _create_requests(self.ctx, f"{NAME_PREFIX}{self._serial}", 1)
        code, group = await self._call("create", self._creates, slot, payload, metadata)
        if group is not None:
            self.live.append(group)
        return code

    async def _destroy_random(self, slot: int) -> None:
        i = self.rng.randrange(len(self.live))
        self.live[i], self.live[-1] = self.live[-1], self.live[i]
        victim = self.live.pop()
        payload = self._destroy_request(uuid=victim).SerializeToString()
        code, _ = await self._call("destroy", self._destroys, slot, payload, self._metadata)
        if code != "OK":
            self.live.append(victim)  # still held: it counts, and may be chosen again

    async def _fill_worker(self, slot: int) -> None:
        unexpected = 0
        while not self._full:
            code = await self._create(slot)
            if code == CAPACITY_CODE:
                self._full = True  # the other workers stop after their call in flight
            elif code != "OK":
                unexpected += 1
                if unexpected > MAX_FILL_FAILURES:
                    raise RuntimeError(f"the fill got {unexpected} unexpected failures, the last {code}")

    async def _drain_worker(self, slot: int, target: int) -> None:
        while len(self.live) > target:
            await self._destroy_random(slot)

    async def _pace(self) -> None:
        """--rate: the next churn cycle's start, shared by every task."""
        if not self.opts.rate:
            return
        now = time.perf_counter()
        start = max(self._next_slot, now)
        self._next_slot = start + 1 / self.opts.rate
        await asyncio.sleep(start - now)

    async def _churn_worker(self, slot: int, target: int, deadline: float) -> None:
        while time.perf_counter() < deadline:
            await self._pace()
            if len(self.live) >= target:
                await self._destroy_random(slot)
            await self._create(slot)


def run(opts) -> dict:
    check_options(opts)
    own_dir = opts.data_dir is None
    data_dir = tempfile.mkdtemp(prefix="ftvm-bench-soak-") if own_dir else opts.data_dir
    postgres = opts.postgres or opts.database_url
    result: dict[str, Any] = {
        "config": {
            k: getattr(opts, k)
            for k in (
                "minutes",
                "interval",
                "hosts",
                "host_cpus",
                "fill",
                "concurrency",
                "rate",
                "seed",
                "idempotency_keys",
                "workers",
                "replicas",
            )
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_start": os.getloadavg(),
        },
    }
    result["config"]["database"] = "postgresql" if postgres else "sqlite"
    password = secrets.token_hex(12)
    try:
        os.makedirs(data_dir, exist_ok=True)
        inventory_path = os.path.join(data_dir, "soak-inventory.json")
        with open(inventory_path, "w", encoding="utf-8") as f:
            json.dump(make_soak_inventory(opts.hosts, opts.host_cpus), f)
        with contextlib.ExitStack() as stack:
            deployment: Deployment
            if postgres:
                admin_url = opts.database_url
                if opts.postgres:
                    from ftvm.localcluster import PostgresCluster

                    cluster = PostgresCluster().start()
                    stack.callback(cluster.stop)
                    admin_url = cluster.url()
                folder = os.path.join(data_dir, "postgresql")
                deployment = PostgresDeployment(
                    folder, opts.replicas, admin_url, inventory_path, password, opts.server_arg
                )
            else:
                folder = os.path.join(data_dir, "sqlite")
                deployment = SqliteDeployment(folder, opts.workers, inventory_path, password, opts.server_arg)
            with deployment:
                database_size = DatabaseSize(deployment)
                print(
                    f"ftvm bench soak: {deployment.name} on {','.join(deployment.targets)}", file=sys.stderr, flush=True
                )
                ctx = asyncio.run(_setup(deployment.targets[0], deployment.password, opts.timeout))
                result["config"]["hosts_loaded"] = ctx.pop("hosts")
                ctx.update(
                    targets=deployment.targets,
                    strategy="InstantStart",
                    timeout=opts.timeout,
                    idempotency_keys=opts.idempotency_keys,
                    balance_pids=deployment.balance_pids(),
                )
                print(format_header(), flush=True)
                soak = Soak(ctx, opts, deployment, database_size)
                try:
                    result.update(asyncio.run(soak.run()))
                finally:
                    database_size.close()  # before the deployment drops a PostgreSQL database
                result["samples"] = soak.samples
                failures = _failures(soak.totals)
                result["totals"] = {
                    "creates": soak.totals[("create", "OK")],
                    "destroys": soak.totals[("destroy", "OK")],
                    "failures": failures,
                    "unexpected_failures": _unexpected(failures),
                }
                result["records"] = {"held_by_client": len(soak.live), "in_service": _groups_named(ctx, NAME_PREFIX)}
            result["server"] = {"name": deployment.name, "exit_codes": deployment.exit_codes}
    finally:
        if own_dir and not opts.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["data_dir"] = data_dir if opts.keep_data or not own_dir else None
    result["verdict"] = verdict(result, opts)
    return result


# ---- the verdict ---------------------------------------------------------------------------------------------------


def _growth_check(middle: list[float], last: list[float], pct: float, mib: float) -> dict:
    base, end = statistics.median(middle), statistics.median(last)
    allowed = max(base * pct / 100, mib * MIB)
    return {"middle_median": base, "last_median": end, "growth": end - base, "allowed": allowed,
            "ok": end - base <= allowed}  # fmt: skip


def _judged_db_bytes(sample: dict) -> int:
    return sample["db_bytes"] - sample["db_wal_bytes"] - sample["db_retained_bytes"]


def verdict(result: dict, opts) -> dict:
    """The checks of the module's docstring; `leak` when any fails."""
    churn = [s for s in result["samples"] if s["phase"] == "churn"]
    third = len(churn) // 3
    checks: dict[str, dict] = {}
    if third < MIN_CHURN_SAMPLES // 3:
        checks["samples"] = {"churn_samples": len(churn), "needed": MIN_CHURN_SAMPLES, "ok": False}
    else:
        middle, last = churn[third : 2 * third], churn[2 * third :]
        checks["rss"] = _growth_check(
            [s["rss_bytes"] for s in middle], [s["rss_bytes"] for s in last], opts.rss_growth_pct, opts.rss_growth_mib
        )
        fd_middle, fd_last = max(s["fds"] for s in middle), max(s["fds"] for s in last)
        checks["fds"] = {"middle_max": fd_middle, "last_max": fd_last, "allowed": fd_middle + opts.fd_slack,
                         "ok": fd_last <= fd_middle + opts.fd_slack}  # fmt: skip
        checks["db"] = _growth_check(
            [_judged_db_bytes(s) for s in middle],
            [_judged_db_bytes(s) for s in last],
            opts.db_growth_pct,
            opts.db_growth_mib,
        )
    unexpected = result["totals"]["unexpected_failures"]
    checks["failures"] = {"unexpected": unexpected, "ok": unexpected == 0}
    records = result["records"]
    checks["records"] = {**records, "ok": records["held_by_client"] == records["in_service"]}
    return {"leak": not all(c["ok"] for c in checks.values()), "checks": checks}


# ---- output ----------------------------------------------------------------------------------------------------------


def _f(x, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def format_header() -> str:
    return (
        f"{'t s':>7} {'phase':<5} {'groups':>6} {'RSS MiB':>8} {'fds':>5} {'DB MiB':>7} {'WAL':>6} {'kept':>6} "
        f"{'creates/s':>9} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'destroys/s':>10} {'p99 ms':>7}  refused"
    )


def format_row(s: dict) -> str:
    failures = ", ".join(f"{k}: {n}" for k, n in s["failures"].items()) or "-"
    return (
        f"{s['t_s']:>7.1f} {s['phase']:<5} {s['groups']:>6} {s['rss_bytes'] / MIB:>8.1f} {s['fds']:>5} "
        f"{s['db_bytes'] / MIB:>7.1f} {s['db_wal_bytes'] / MIB:>6.1f} {s['db_retained_bytes'] / MIB:>6.1f} "
        f"{_f(s['creates_per_s'], '.0f'):>9} {_f(s['create_p50_ms'], '.2f'):>7} "
        f"{_f(s['create_p99_ms'], '.2f'):>7} {_f(s['destroys_per_s'], '.0f'):>10} "
        f"{_f(s['destroy_p99_ms'], '.2f'):>7}  {failures}"
    )


def format_summary(result: dict) -> str:
    t, v = result["totals"], result["verdict"]
    load = "/".join(f"{x:.2f}" for x in result["machine"]["loadavg_start"])
    lines = [
        f"{result['server']['name']}: capacity {result['capacity']:,} groups, churn at {result['target']:,}; "
        f"{t['creates']:,} creates and {t['destroys']:,} destroys OK; refused {t['failures'] or 'none'} "
        f"({t['unexpected_failures']} unexpected); {result['machine']['cpus']} CPUs, load average at the start {load}",
        "verdict (churn: middle third vs last third):",
    ]
    for name, c in v["checks"].items():
        mark = "ok" if c["ok"] else "FAILED"
        if name in ("rss", "db"):
            detail = (
                f"median {c['middle_median'] / MIB:.1f} -> {c['last_median'] / MIB:.1f} MiB "
                f"(growth {c['growth'] / MIB:+.2f} MiB, allowed {c['allowed'] / MIB:.2f})"
            )
        elif name == "fds":
            detail = f"max {c['middle_max']} -> {c['last_max']} (allowed {c['allowed']})"
        elif name == "failures":
            detail = f"{c['unexpected']} unexpected"
        elif name == "records":
            detail = f"client holds {c['held_by_client']:,} groups, the service {c['in_service']:,}"
        else:
            detail = f"{c['churn_samples']} churn samples, {c['needed']} needed"
        lines.append(f"  {name:<9} {mark:<6} {detail}")
    lines.append("LEAK (or failure): exit code 1" if v["leak"] else "no leak")
    return "\n".join(lines)


def write_out(path: str, result: dict) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        if path.endswith(".csv"):
            fields = [k for k in result["samples"][0] if k != "failures"] + ["failures"]
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for s in result["samples"]:
                w.writerow({**s, "failures": json.dumps(s["failures"], sort_keys=True)})
        else:
            json.dump(result, f, indent=1)


def run_cli(opts) -> int:
    try:
        check_options(opts)
    except ValueError as e:
        print(f"ftvm bench soak: {e}", file=sys.stderr)
        return 2
    result = run(opts)
    print(format_summary(result), flush=True)
    if opts.out:
        write_out(opts.out, result)
    if opts.json:
        print(json.dumps(result, allow_nan=False), flush=True)
    return 1 if result["verdict"]["leak"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = add_arguments(argparse.ArgumentParser(prog="ftvm bench soak", description=__doc__.split("\n\n")[0]))
    return run_cli(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
