"""The rules of docs/placement-semantics.md in plain Python: their one home on the Python side.

The CP-SAT engine (``ortools_engine``), the batch solver (``batch``), the benchmark's numpy peer
(``bench/numpy_engine.py``: vectorised forms, each naming the rule here that it mirrors) and the test oracle
(``tests/placement_oracle.py``) take every formula, constant and storage choice from this module. The Rust core
(``placement_core``) has its own, checked against these by ``tests/test_differential.py``. Pure Python (no numpy,
no OR-Tools): importing it costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeGuard, cast

from .errors import InvalidRequest, NoHostAvailable
from .model import RULES, SECONDARY_STORAGE_FACTOR, STRATEGIES, Config, HostSpec, Request, StorageSpec

U64_MAX = (1 << 64) - 1

# Rule indices: positions in RULES, the pipeline order.
R_STATE, R_STATUS, R_HYPERVISOR, R_LOCATION, R_ANTI, R_L2, R_FTNET, R_FTLIM, R_MAXINST, R_CPU, R_MEM, R_STORAGE = range(
    len(RULES)
)
assert RULES[R_LOCATION] == "Location" and RULES[R_ANTI] == "HostAntiAffinity" and RULES[R_STORAGE] == "PrimaryStorage"

MAX_INSTANCE_STRATEGY = "MaxInstancePerHostHostAllocatorStrategy"
VM_COUNT_STRATEGIES = ("LeastVmPreferredHostAllocatorStrategy", MAX_INSTANCE_STRATEGY)  # score: vm_count
MIN_CPU_STRATEGY = "MinimumCPUUsageHostAllocatorStrategy"
MIN_MEMORY_STRATEGY = "MinimumMemoryUsageHostAllocatorStrategy"
assert {MAX_INSTANCE_STRATEGY, *VM_COUNT_STRATEGIES, MIN_CPU_STRATEGY, MIN_MEMORY_STRATEGY} < set(STRATEGIES)


def validate_request(q: Request) -> None:
    """InvalidRequest: ``vcpus <= 0``, ``memory <= 0``, negative byte counts, unknown strategy."""
    if q.vcpus <= 0:
        raise InvalidRequest(f"vcpus must be > 0, got {q.vcpus}")
    if q.memory <= 0:
        raise InvalidRequest(f"memory must be > 0, got {q.memory}")
    if q.root_bytes < 0 or q.data_bytes < 0:
        raise InvalidRequest(f"byte counts must be >= 0, got root={q.root_bytes} data={q.data_bytes}")
    if q.strategy not in STRATEGIES:
        raise InvalidRequest(f"unknown allocator strategy {q.strategy!r}")


# ---- quantities ------------------------------------------------------------------------------------------------


def cpu_capacity(cpu_num: int, ratio: float) -> int:
    """vCPUs a host can hold: ``floor(cpu_num * cpu_ratio)``."""
    return math.floor(cpu_num * ratio)


def free_memory(h: HostSpec, config: Config) -> int:
    """``memory_total - reserved_memory - memory_used`` (may be negative)."""
    return h.memory_total - config.reserved_memory - h.memory_used


def mem_consume(memory: int, ratio: float) -> int:
    """What one VM's ``memory`` takes from a host's ``memory_used``."""
    return math.ceil(memory / ratio)


def consume(nbytes: int, ratio: float) -> int:
    """What one VM takes from one storage for ``nbytes`` of volumes."""
    return math.ceil(nbytes / ratio)


def secondary_bytes(q: Request) -> int:
    """Bytes the secondary needs on its one storage: its own copies plus COLO's two cache volumes."""
    return SECONDARY_STORAGE_FACTOR * (q.root_bytes + q.data_bytes)


def primary_take(q: Request, root, data, ratio: float) -> dict:
    """What the primary consumes per storage (keys as given: uuids or indexes), root first."""
    if root == data:
        return {root: consume(q.root_bytes + q.data_bytes, ratio)}
    return {root: consume(q.root_bytes, ratio), data: consume(q.data_bytes, ratio)}


def reservation_delta(q: Request, config: Config) -> tuple[int, int, int, int, int]:
    """What a reservation adds on each of its two hosts: cpu_used, memory_used, vm_count, ft_vm_count,
    ft_vcpu_count."""
    return q.vcpus, mem_consume(q.memory, config.memory_overprovisioning_ratio), 1, 1, q.vcpus


# ---- host filters ----------------------------------------------------------------------------------------------


def l2_attached(q: Request, l3_to_l2: Mapping[str, str], cluster_l2s: Collection[str]) -> bool:
    """Rule 6 for a host whose cluster has ``cluster_l2s`` attached: every L3's L2 is (an unknown L3 is nowhere)."""
    for l3 in q.l3_uuids:
        l2 = l3_to_l2.get(l3)
        if l2 is None or l2 not in cluster_l2s:
            return False
    return True


def pins_ok(h: HostSpec, q: Request) -> bool:
    """The zone and cluster pins (both roles)."""
    zone_ok = q.zone_uuid is None or h.zone_uuid == q.zone_uuid
    return zone_ok and (q.cluster_uuid is None or h.cluster_uuid == q.cluster_uuid)


def location_ok(h: HostSpec, q: Request, primary: HostSpec | None = None) -> bool:
    """Rule 4: the pins; for the primary (``primary`` None) the host pin, for the secondary the primary's zone."""
    if not pins_ok(h, q):
        return False
    if primary is None:
        return q.host_uuid is None or h.uuid == q.host_uuid
    return h.zone_uuid == primary.zone_uuid


def common_rule(h: HostSpec, q: Request, config: Config, l2_ok: bool) -> int:
    """First failing rule among the role-independent ones (1-3 and 6-11), or -1."""
    if h.state != "Enabled":
        return R_STATE
    if h.status != "Connected":
        return R_STATUS
    if h.hypervisor != "KVM":
        return R_HYPERVISOR
    if not l2_ok:
        return R_L2
    if not h.ft_address:
        return R_FTNET
    if not (
        (h.max_ft_vms == 0 or h.ft_vm_count + 1 <= h.max_ft_vms)
        and (h.max_ft_vcpus == 0 or h.ft_vcpu_count + q.vcpus <= h.max_ft_vcpus)
    ):
        return R_FTLIM
    if q.strategy == MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0 and not h.vm_count < q.max_instance_per_host:
        return R_MAXINST
    if not h.cpu_used + q.vcpus <= cpu_capacity(h.cpu_num, config.cpu_overprovisioning_ratio):
        return R_CPU
    free = free_memory(h, config)
    if not (free >= 0 and float(free) * config.memory_overprovisioning_ratio >= float(q.memory)):
        return R_MEM
    return -1


def first_rule_for(location: bool, anti_affinity: bool, common: int) -> int:
    """Combines ``common_rule`` with Location and HostAntiAffinity in pipeline order (-1: the storage rule next)."""
    if 0 <= common < R_LOCATION:
        return common
    if not location:
        return R_LOCATION
    if not anti_affinity:
        return R_ANTI
    return common


def host_rule(h: HostSpec, q: Request, config: Config, l2_ok: bool, primary: HostSpec | None = None) -> int:
    """First failing rule 1-11 for the primary (``primary`` None) or for the secondary of ``primary``, or -1."""
    anti_affinity = primary is None or h.uuid != primary.uuid
    return first_rule_for(location_ok(h, q, primary), anti_affinity, common_rule(h, q, config, l2_ok))


def blocking_rule(removed: Mapping[str, int]) -> str:
    """The rule a NoHostAvailable names: the last in pipeline order that removed a host (Location if none)."""
    rule = "Location"
    for r in RULES:
        if removed.get(r):
            rule = r
    return rule


def no_host_available(phase: str, removed: Mapping[str, int], considered: int) -> NoHostAvailable:
    return NoHostAvailable(phase, blocking_rule(removed), {r: removed.get(r, 0) for r in RULES}, considered)


# ---- strategy score --------------------------------------------------------------------------------------------


def strategy_score(strategy: str, h: HostSpec, config: Config) -> int:
    """The strategy's score of a host with its effective usage (lower is better; ties by uuid_order_key)."""
    if strategy in VM_COUNT_STRATEGIES:
        return h.vm_count
    if strategy == MIN_CPU_STRATEGY:
        cap = cpu_capacity(h.cpu_num, config.cpu_overprovisioning_ratio)
        return U64_MAX if cap == 0 else (h.cpu_used << 40) // cap
    if strategy == MIN_MEMORY_STRATEGY:
        return U64_MAX if h.memory_total == 0 else min((h.memory_used << 40) // h.memory_total, U64_MAX)
    return U64_MAX - max(0, free_memory(h, config))  # Default: most free memory first


# ---- storage ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class StorageState:
    """A storage as the storage rules see it: its facts (``spec``) and the bytes reservations hold on it."""

    spec: StorageSpec
    key: int  # uuid_order_key(spec.uuid): ties
    local: bool
    clusters: frozenset
    res_shared: int = 0
    res_local: dict = field(default_factory=dict)  # host uuid -> bytes reserved on that host's disk

    @property
    def uuid(self) -> str:
        return self.spec.uuid

    def avail(self, host_uuid: str) -> int | None:
        """Effective available bytes for a VM on ``host_uuid`` (None: a local storage without a disk there)."""
        if self.local:
            base = self.spec.host_available.get(host_uuid)
            return None if base is None else base - self.res_local.get(host_uuid, 0)
        return self.spec.available - self.res_shared


def storage_fits(
    st: StorageState | None, h: HostSpec, nbytes: int, config: Config, already: int = 0
) -> TypeGuard[StorageState]:
    """The doc's ``fits(s, h, bytes, already)``: Enabled, Connected, attached to h's cluster, and
    ``avail - already - consume(bytes) >= storage_reserved_capacity``."""
    if st is None or st.spec.state != "Enabled" or st.spec.status != "Connected" or h.cluster_uuid not in st.clusters:
        return False
    avail = st.avail(h.uuid)
    if avail is None:
        return False
    return avail - already - consume(nbytes, config.storage_overprovisioning_ratio) >= config.storage_reserved_capacity


def storage_preference(avail: int, key: int, same: bool = False) -> tuple:
    """Sort key of storage choices, best first: not the primary's storage, then most available, then uuid."""
    return same, -avail, key


def best_storage(h: HostSpec, candidates: Iterable[StorageState]) -> StorageState | None:
    """The best of ``candidates``: storages that fit on ``h``, so each has bytes available there."""
    return min(candidates, key=lambda st: storage_preference(cast(int, st.avail(h.uuid)), st.key), default=None)


def choose_primary_storage(
    q: Request, h: HostSpec, storages: Mapping[str, StorageState], attached: Iterable[StorageState], config: Config
) -> tuple[str, str] | None:
    """(root storage, data storage) of the primary on ``h``, or None; ``attached``: the storages of h's cluster."""
    r, d = q.root_bytes, q.data_bytes
    if q.data_storage_uuid is not None:
        data = storages.get(q.data_storage_uuid)
        if data is None or not storage_fits(data, h, d, config):
            return None
        if q.root_storage_uuid is not None:
            root = storages.get(q.root_storage_uuid)
            if root is None:
                return None
            if root.uuid == data.uuid:
                return (data.uuid, data.uuid) if storage_fits(data, h, r + d, config) else None
            return (root.uuid, data.uuid) if storage_fits(root, h, r, config) else None
        root = best_storage(
            h, (st for st in attached if storage_fits(st, h, r + d if st.uuid == data.uuid else r, config))
        )
        return None if root is None else (root.uuid, data.uuid)
    if q.root_storage_uuid is not None:
        root = storages.get(q.root_storage_uuid)
        return (root.uuid, root.uuid) if storage_fits(root, h, r + d, config) else None
    root = best_storage(h, (st for st in attached if storage_fits(st, h, r + d, config)))
    return None if root is None else (root.uuid, root.uuid)


def is_same_storage(st: StorageState, root: str, data: str) -> bool:
    """Whether ``st`` is the same storage as the primary's: a shared one holding the primary's root or data
    volumes (two hosts' local disks are different disks)."""
    return not st.local and st.uuid in (root, data)


def secondary_storage_options(
    q: Request, h: HostSpec, root: str, data: str, attached: Iterable[StorageState], config: Config
) -> list[tuple[StorageState, bool]]:
    """Every (storage, is the primary's) of h's cluster that holds the secondary, given the primary's storages."""
    take = primary_take(q, root, data, config.storage_overprovisioning_ratio)
    n = secondary_bytes(q)
    out = []
    for st in attached:
        same = is_same_storage(st, root, data)
        if storage_fits(st, h, n, config, take.get(st.uuid, 0) if same else 0):
            out.append((st, same))
    return out


def choose_secondary_storage(
    q: Request, h: HostSpec, root: str, data: str, attached: Iterable[StorageState], config: Config
) -> tuple[str, bool] | None:
    """(storage uuid, is the primary's) of the secondary on ``h``, or None."""
    options = secondary_storage_options(q, h, root, data, attached, config)
    if not options:
        return None
    st, same = min(options, key=lambda o: storage_preference(cast(int, o[0].avail(h.uuid)), o[0].key, o[1]))
    return st.uuid, same
