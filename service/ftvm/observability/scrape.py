"""GET /metrics: the families of `metrics.py` (every worker's summed, in multiprocess mode) and the inventory figures,
computed at each scrape: capacity per zone and cluster from this process's memory (every replica's memory follows
the change feed, so any of them answers the same), FT groups by status from the database. Nothing of it runs on a
create's path; a scrape costs a pass over the hosts and storages in memory and four COUNT queries.

Served by the REST gateway (`ftvm serve`), or by `MetricsServer` on `--metrics-port` (`--no-gateway`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ftvm.domain.capacity import int64, storage_capacity
from ftvm.domain.catalog import Usage
from ftvm.domain.common import Domain
from ftvm.domain.recovery import PROTECTED, RECOVERING, UNKNOWN, UNPROTECTED
from ftvm.placement import UnknownResource
from ftvm.store import Condition

from . import metrics

GROUP_STATUSES = (PROTECTED, UNKNOWN, RECOVERING, UNPROTECTED)


class _Latest(Collector):
    """Yields the inventory families the last scrape computed."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return self.families


class _Counted(Collector):
    """This process's own families (metrics.py's, and prometheus-client's process and GC figures)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def capacity_families(domain: Domain) -> list[Metric]:
    """CPU and memory used and free per cluster (with its zone), storage per primary storage; on the loop thread,
    which owns the memory. Free is floored at 0 (an over-committed host counts as full)."""
    catalog, engine = domain.catalog, domain.engine
    config = catalog.placement_config()
    cpu = GaugeMetricFamily(
        "ftvm_cpu_vcpus",
        "vCPUs of the hosts per cluster (CPUs x the CPU over-provisioning ratio): used (FT VMs and creates in flight) "
        "and free",
        labels=["zone", "cluster", "state"],
    )
    memory = GaugeMetricFamily(
        "ftvm_memory_bytes",
        "Memory of the hosts per cluster (minus the reserved memory): used and free",
        labels=["zone", "cluster", "state"],
    )
    storage = GaugeMetricFamily(
        "ftvm_storage_bytes", "Primary storage capacity: used and free", labels=["zone", "storage", "state"]
    )
    per_cluster: dict[str, list[float]] = {}  # cluster -> [cpu used, cpu free, memory used, memory free]
    for uuid, host in catalog.hosts.items():
        try:
            usage = engine.host_usage(uuid)
            cpu_used, memory_used = usage["cpu_used"], usage["memory_used"]
        except UnknownResource:  # committed a moment before the engine took it
            base = catalog.host_base.get(uuid) or Usage()
            cpu_used, memory_used = base.cpu, base.memory
        cpu_total = host["cpu_num"] * config.cpu_overprovisioning_ratio
        memory_total = host["total_memory_capacity"] - config.reserved_memory
        sums = per_cluster.setdefault(host["cluster_uuid"], [0, 0, 0, 0])
        sums[0] += cpu_used
        sums[1] += int64(cpu_total - cpu_used)
        sums[2] += memory_used
        sums[3] += int64(memory_total - memory_used)
    for cluster_uuid, sums in per_cluster.items():
        zone_uuid = catalog.clusters[cluster_uuid]["zone_uuid"]
        cpu.add_metric([zone_uuid, cluster_uuid, "used"], sums[0])
        cpu.add_metric([zone_uuid, cluster_uuid, "free"], sums[1])
        memory.add_metric([zone_uuid, cluster_uuid, "used"], sums[2])
        memory.add_metric([zone_uuid, cluster_uuid, "free"], sums[3])
    for uuid, row in catalog.storages.items():
        figures = storage_capacity(domain, row)
        storage.add_metric([row["zone_uuid"], uuid, "used"], int64(figures.total - figures.available))
        storage.add_metric([row["zone_uuid"], uuid, "free"], figures.available)
    return [cpu, memory, storage]


def _groups_by_status(domain: Domain) -> Metric:
    """On a thread: four COUNT queries."""
    family = GaugeMetricFamily("ftvm_ft_groups", "FT groups by status", labels=["status"])
    for status in GROUP_STATUSES:
        _, count = domain.store.query("ft_group_inventory", [Condition("status", "=", status)], None, 0, 0, True)
        family.add_metric([status], count or 0)
    return family


def metrics_handler(domain: Domain) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of GET /metrics for the server of `domain`."""
    registry = CollectorRegistry(auto_describe=False)
    directory = metrics.multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(registry, directory)
    else:
        registry.register(_Counted())
    inventory = _Latest()
    registry.register(inventory)

    async def scrape(_: web.Request) -> web.Response:
        families = capacity_families(domain)
        families.append(await asyncio.to_thread(_groups_by_status, domain))
        inventory.families = families
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return scrape


class MetricsServer:
    """GET /metrics on a port of its own (`ftvm serve --metrics-port N`, for a server without the REST gateway)."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self._runner = runner
        self.port = port

    @classmethod
    async def start(cls, domain: Domain, host: str, port: int, reuse_port: bool = False) -> MetricsServer:
        app = web.Application()
        app.router.add_get("/metrics", metrics_handler(domain))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        address: Any = runner.addresses[0]
        return cls(runner, address[1])

    async def stop(self) -> None:
        await self._runner.cleanup()
