"""The metric families the service counts with (prometheus-client; a leaf module every layer may import).

Hot paths count through children bound once (`labels()` takes a lock and hashes its values: ~1 us saved per count),
so a create costs a handful of `observe()` calls. Labels are bounded: method names, ZStack error codes, create
steps, placement rules. The inventory figures (capacity, FT groups by status) are not counted here: they are
computed when /metrics is scraped (`scrape.py`).

`ftvm serve --workers N` counts in prometheus-client's multiprocess mode: the supervisor sets
PROMETHEUS_MULTIPROC_DIR before it spawns the workers (`multiprocess_dir`), every worker's families then write to
files there, and a scrape of any worker sums them all. `disable()` (`ftvm serve --no-metrics`) turns every family
into one that counts nothing.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics

disable_created_metrics()  # a `_created` sample per child would double what a scrape carries, for nothing a rate needs

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CREATE_STEPS = ("validate", "place", "allocate", "start", "commit")

# Seconds: from 100 us (an RPC answered from memory) to 10 s (an agent's timeout).
_LATENCY = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Seconds: failover and re-protection run on heartbeats (2 s apart by default) and agent calls.
_RECOVERY = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600)


class _Off:
    """A family (and its children) that counts nothing."""

    def labels(self, *values: str) -> _Off:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


Family = Any  # Counter | Histogram | _Off: what the callers use of them (labels, inc, observe) all three have

RPC_SECONDS: Family = Histogram(
    "ftvm_rpc_duration_seconds",
    "gRPC calls (the REST gateway's included) by method and answer (OK or the ZStack error code): _count is the "
    "calls, the buckets their latency as the server measured it",
    ["method", "code"],
    buckets=_LATENCY,
)
CREATE_STEP_SECONDS: Family = Histogram(
    "ftvm_create_step_duration_seconds",
    "CreateFaultToleranceVmInstance steps: validate, place, allocate (addresses and records), start (both VMs on "
    "their agents), commit (waiting for the group commit)",
    ["step"],
    buckets=_LATENCY,
)
PLACEMENTS: Family = Counter(
    "ftvm_placements_total",
    "Create placements by result: placed, no_host (rule: the placement rule that removed the last candidates), "
    "refused (the request cannot be placed at all)",
    ["result", "rule"],
)
HOSTS_REMOVED: Family = Counter(
    "ftvm_placement_hosts_removed_total",
    "Hosts each placement rule removed from the candidates of creates that found no host",
    ["rule"],
)
STORE_BATCH_SIZE: Family = Histogram(
    "ftvm_store_batch_size",
    "Writes per group commit (one transaction, one fsync)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
STORE_COMMIT_SECONDS: Family = Histogram(
    "ftvm_store_commit_duration_seconds",
    "Time of a group commit's COMMIT (the fsync), on the commit thread",
    buckets=_LATENCY,
)
REPLICA_CONFLICTS: Family = Counter(
    "ftvm_replica_conflicts_total",
    "Create commits that found another replica took first what this one's memory showed free, by outcome: "
    "retried (caught up with the change feed and placed again) or failed (out of attempts)",
    ["outcome"],
)
FEED_LAG_SECONDS: Family = Histogram(
    "ftvm_feed_lag_seconds",
    "Change feed entries of other replicas applied to this one's memory: time from their commit to applied",
    buckets=_LATENCY,
)
FEED_RELOADS: Family = Counter(
    "ftvm_feed_reloads_total", "Times the memory was reloaded from the rows (a feed gap, a placement config change)"
)
FAILOVER_SECONDS: Family = Histogram(
    "ftvm_failover_duration_seconds",
    "FT groups that lost a VM, from the loss (group Unknown) to the survivor alone in the records (Recovering), by "
    "the lost VM's role: primary (failed over to the secondary) or secondary (dropped)",
    ["lost"],
    buckets=_RECOVERY,
)
REPROTECT_SECONDS: Family = Histogram(
    "ftvm_reprotect_duration_seconds",
    "FT groups re-protected, from the loss of their secondary (Recovering or Unprotected) to the new secondary "
    "committed (Protected)",
    buckets=_RECOVERY,
)

_FAMILIES = (
    "RPC_SECONDS",
    "CREATE_STEP_SECONDS",
    "PLACEMENTS",
    "HOSTS_REMOVED",
    "STORE_BATCH_SIZE",
    "STORE_COMMIT_SECONDS",
    "REPLICA_CONFLICTS",
    "FEED_LAG_SECONDS",
    "FEED_RELOADS",
    "FAILOVER_SECONDS",
    "REPROTECT_SECONDS",
)


def disable() -> None:
    """Every family counts nothing from now on (`ftvm serve --no-metrics`). Before the server starts: the flows bind
    their children when they are made."""
    off = _Off()
    globals().update(dict.fromkeys(_FAMILIES, off))


def multiprocess_dir() -> str | None:
    """Where the workers of this server write their families (None: this process counts alone, in memory)."""
    return os.environ.get(MULTIPROCESS_ENV) or None
