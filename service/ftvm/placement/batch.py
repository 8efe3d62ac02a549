"""Joint placement of N FT requests (CP-SAT, optionally HiGHS), never worse than the greedy ``place_many``.

``solve_batch(engine, keys, requests)`` places the requests *together* on a consistent copy of ``engine`` and returns
a ``BatchResult``; nothing is reserved until ``BatchResult.apply(engine)`` (all or nothing)::

    result = solve_batch(engine, keys, requests, time_limit_s=5.0)
    result.placements[i]   # requests[i]'s pair, or None (result.errors[i] says why)
    result.apply(engine)   # reserves every placed pair under its key, or none

The steps, in the order of the sections below: the snapshot as arrays (``_Snap``); per request and role, the
candidate hosts and storage options (``_role_data``); the problem: greedy's answer and the objective's weights
(``_Problem``); the candidates pruned (``_candidates``, ``_Pruner``) and the separable upper bound; the 0/1 model
(``_ModelBuilder``), solved in two stages (``_search``) and decoded (``_decode``); the answer: the better of
greedy's and the solver's, dry-run reserved (``_checked_answer``), with its status and gap.

Objective (maximised; the same formula scores the greedy answer)::

    value = BIG * placed  -  W_SOFT * soft  -  level_sum

- ``placed``: requests that get a pair (dominant term).
- ``soft``: soft-rule violations over the placed pairs: +1 when the secondary's failure domain equals the primary's,
  +1 when the secondary's storage is a Shared storage the primary's root or data volumes are on.
- ``level_sum``: the load-balance term of the allocator strategy. For each placed VM (primary and secondary) the
  *load level* of its host for the request's strategy: the doc's strategy score at the snapshot, quantised and
  numbered densely from 0 (best): LeastVm / MaxInstancePerHost: ``vm_count``; MinimumCPUUsage: ``100 * cpu_used //
  cpu_capacity`` (percent); MinimumMemoryUsage: ``100 * memory_used // memory_total``; Default: free memory in whole
  GiB (most first). Levels are those of the snapshot, not updated as the batch adds VMs: that keeps the term linear
  and the pruning below exact. Consequence worth knowing: the batch optimum happily puts several VMs on the
  best-level hosts (it packs within a level), where greedy ``place_many`` re-scores after every pair and spreads;
  quantising makes hosts of one level interchangeable, so most batches have many optimal answers.
- With ``N`` requests and levels ``< L``: ``W_SOFT = 2*N*L`` (> any level_sum) and ``BIG = (2*N + 1) * W_SOFT``
  (> any soft + level part): the order is strictly lexicographic.

Model (one Boolean per (request, role, host, storage option) that survives pruning, plus ``placed_i``, ``sfd_i``,
``sst_i`` per request): each request places 0 or 1 primary and as many secondaries; per zone the two counts are
equal (same zone); a host never holds both VMs of one request; per host: vCPUs, memory (``ceil(memory /
mem_ratio)`` each, against ``total - reserved - used``), FT VM count and FT vCPUs limits, and for
MaxInstancePerHost requests ``vm_count + batch VMs on the host <= max_instance_per_host`` whenever such a request
is on the host (the final count, so every order of reservation is valid); per storage (shared, and each local
disk) the sum of ``consume()`` of every VM's bytes there (a primary takes ``consume(r + d)`` from one storage or
``consume(r)`` and ``consume(d)`` from two) stays within ``available - storage_reserved_capacity``, which is what
``reserve()`` re-checks pair by pair. Storage choices are free among those satisfying the hard rules (pins
included); "best storage" is a preference of single placement, not a hard rule.

Pruning (exact, per request, role and zone). Candidates are the hosts passing every per-host hard filter of the doc
for the request alone (rules 1-3, pins, L2, FT network, FT limits, MaxInstancePerHost, CPU, memory, a storage
option), ordered by (level, most room first, uuid). Only a prefix of each zone's candidates is kept, long enough
that the rest cannot matter. Exchange argument: take an optimal solution in which VM ``v`` (request ``i``, role R)
sits on a host ``h`` outside the prefix. The other ``2N - 1`` VMs of the batch (its partner included) can make a
kept host ``h'`` unusable for ``v`` only by filling one of its resources: its core (``b_core`` VMs: per dimension
``floor(room left after v / largest demand of any batch VM) + 1``; FT and MaxInstance counts alike), or every
storage option (a local disk ``b_L``, a shared storage ``b_t`` VMs, shared between the ``m_t`` kept hosts attached
to it). The adversary has two budgets: ``B_H = 2N - 2`` VMs for cores and ``B_S`` (VM, storage) incidences for
storages. By LP duality it cannot kill every kept host when, for some ``theta > 0``,
``sum_h min(b_core(h), theta * s(h)) - losses > B_H + theta * B_S`` (``s(h)`` = cheapest way to kill all of h's
options); ``losses`` remove the partner's failure domain (so the fd soft rule cannot get worse; it contains the
partner's host) and the one (primary) or two (secondary) partner storages that some option in the zone avoids (so
the storage soft rule cannot get worse). Then some kept ``h'`` in the same zone, with a level no worse than ``h``'s,
takes ``v`` with a storage option that breaks no rule: moving ``v`` keeps the solution feasible and keeps
``placed``, ``soft`` and ``level_sum`` at least as good. Repeating moves every VM into the prefixes, so the pruned
model has the same optimum as the full model: OPTIMAL on it is a proof for the full problem.

Crowded inventories: the exact prefix is about "what the whole batch could occupy" long (total demand / room per
host: hundreds of hosts per zone at 80-97 % memory utilisation). When it exceeds the per-(request, role, zone) share
of ``max_columns`` the prefix is cut there (``stats["pruning"] = "capped ..."``); the answer is then FEASIBLE at
best, never called optimal unless proven by the bound below.

Solving: a separable upper bound (each request alone in its best zone, with only the soft violations it cannot avoid
there and the best levels) is computed first. Stage 1 solves a small model (6 hosts per request, role and zone plus
the greedy answer's hosts); an answer reaching the separable bound is optimal for the full problem whatever was cut
(``stats["proof"]``). Otherwise stage 2 solves the pruned model, warm-started (AddHint) with stage 1's or greedy's
answer, within the rest of ``time_limit_s``. The reported ``best_bound`` is the solver's bound when the pruning was
exact, else the separable bound; ``gap = (best_bound - objective) / |best_bound|``.

Never worse than greedy: the greedy answer (``engine.copy().place_many``) is scored with the same formula and is the
hint; if the solver's answer is not strictly better (or fails a dry run of ``reserve()`` on a copy), greedy's is
returned (``source == "greedy"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from .errors import InvalidRequest, PlacementError
from .model import STRATEGIES, Inventory, Placement, Request, uuid_order_key
from .semantics import (
    MAX_INSTANCE_STRATEGY,
    MIN_CPU_STRATEGY,
    MIN_MEMORY_STRATEGY,
    VM_COUNT_STRATEGIES,
    consume,
    cpu_capacity,
    free_memory,
    l2_attached,
    mem_consume,
    primary_take,
    secondary_bytes,
    validate_request,
)

_INF = float("inf")


class NotPlacedInBatch(PlacementError):
    """The request fits alone, but the joint optimum gave its room to other requests of the batch."""


@dataclass
class BatchResult:
    keys: list[str]
    requests: list[Request]
    placements: list[Placement | None]  # aligned with keys; None: not placed
    errors: list[PlacementError | None]  # why a request is not placed (greedy's error, or a batch NoHostAvailable)
    source: str  # "cpsat" | "highs" | "greedy": whose answer this is
    solver: str  # the solver that was run
    status: str  # solver status: OPTIMAL | FEASIBLE | UNKNOWN | ...
    objective: int  # of the returned answer
    greedy_objective: int
    solver_objective: int | None  # of the solver's own best answer (None: none)
    best_bound: float  # upper bound on the objective (full model: the pruning is exact)
    gap: float  # (best_bound - objective) / max(1, |best_bound|)
    seconds: float  # wall time of solve_batch
    placed: int
    greedy_placed: int
    soft_violations: int
    greedy_soft_violations: int
    stats: dict = field(default_factory=dict)

    def apply(self, engine) -> list[str]:
        """Reserve every chosen placement on ``engine`` (keys as given); all or nothing. Returns the keys reserved."""
        done: list[str] = []
        try:
            for k, q, pl in zip(self.keys, self.requests, self.placements):
                if pl is not None:
                    engine.reserve(k, q, pl)
                    done.append(k)
        except BaseException:
            for k in done:
                engine.release(k)
            raise
        return done


# ---------------------------------------------------------------------------------------------------------------
# Snapshot as arrays


def _bucket(strategy: str, h, cfg) -> int:
    """The strategy score of the doc (``semantics.strategy_score``), quantised (1 VM, 1 % of CPU or memory, 1 GiB
    of free memory); lower is better."""
    if strategy in VM_COUNT_STRATEGIES:
        return h.vm_count
    if strategy == MIN_CPU_STRATEGY:
        cap = cpu_capacity(h.cpu_num, cfg.cpu_overprovisioning_ratio)
        return 1 << 62 if cap <= 0 else (100 * h.cpu_used) // cap
    if strategy == MIN_MEMORY_STRATEGY:
        return 1 << 62 if h.memory_total <= 0 else (100 * h.memory_used) // h.memory_total
    return -(max(0, free_memory(h, cfg)) >> 30)


class _Snap:
    """The snapshot as arrays: host facts by host index (the snapshot's order), storages by storage index."""

    def __init__(self, inv: Inventory) -> None:
        self.cfg = inv.config
        self.hosts = inv.hosts
        self.H = len(self.hosts)
        self.index = {h.uuid: i for i, h in enumerate(self.hosts)}
        self.keys = [uuid_order_key(h.uuid) for h in self.hosts]
        self._load_hosts()
        self._load_storages(inv.storages)
        self.l3_to_l2 = inv.l3_to_l2
        self.cluster_l2 = {c: set(v) for c, v in inv.cluster_l2.items()}
        self._level: dict[str, np.ndarray] = {}
        self._holds: dict[tuple, np.ndarray] = {}

    def _load_hosts(self) -> None:
        cfg, hosts, H = self.cfg, self.hosts, self.H

        def ids(values):
            table: dict[str, int] = {}
            arr = np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int64, count=H)
            return table, arr

        self.zone_ids, self.zone = ids(h.zone_uuid for h in hosts)
        self.cluster_ids, self.cluster = ids(h.cluster_uuid for h in hosts)
        self.fd_ids, self.fd = ids(h.failure_domain for h in hosts)
        # rules 1-3 and 7 of semantics.common_rule, which depend on the host alone
        self.ok = np.array(
            [
                h.state == "Enabled" and h.status == "Connected" and h.hypervisor == "KVM" and h.ft_address
                for h in hosts
            ],
            dtype=bool,
        )
        i64 = lambda vals: np.array(list(vals), dtype=np.int64)  # noqa: E731
        self.cpu_cap = i64(cpu_capacity(h.cpu_num, cfg.cpu_overprovisioning_ratio) for h in hosts)
        self.cpu_used = i64(h.cpu_used for h in hosts)
        self.free = i64(free_memory(h, cfg) for h in hosts)
        self.vm = i64(h.vm_count for h in hosts)
        self.ftvm = i64(h.ft_vm_count for h in hosts)
        self.ftvcpu = i64(h.ft_vcpu_count for h in hosts)
        self.max_ftvm = i64(h.max_ft_vms for h in hosts)
        self.max_ftvcpu = i64(h.max_ft_vcpus for h in hosts)

    def _load_storages(self, storages) -> None:
        self.st = list(storages)
        self.st_index = {s.uuid: i for i, s in enumerate(self.st)}
        self.st_local = [s.kind == "Local" for s in self.st]
        self.st_usable = [s.state == "Enabled" and s.status == "Connected" for s in self.st]
        self.st_attach = []  # bool per cluster id
        # shared: int (available - reserved); local: int64 array of the room per host, with the has mask
        self.st_room: list[Any] = []
        self.st_has: list[np.ndarray | None] = []
        rc = self.cfg.storage_reserved_capacity
        for s in self.st:
            att = np.zeros(len(self.cluster_ids), dtype=bool)
            for c in s.cluster_uuids:
                ci = self.cluster_ids.get(c)
                if ci is not None:
                    att[ci] = True
            self.st_attach.append(att)
            if s.kind == "Local":
                has = np.zeros(self.H, dtype=bool)
                room = np.zeros(self.H, dtype=np.int64)
                for hu, avail in s.host_available.items():
                    hi = self.index.get(hu)
                    if hi is not None:
                        has[hi] = True
                        room[hi] = avail - rc
                self.st_has.append(has)
                self.st_room.append(room)
            else:
                self.st_has.append(None)
                self.st_room.append(s.available - rc)

    def level(self, strategy: str) -> np.ndarray:
        """Load level of every host for a strategy: its score at the snapshot, quantised, as a dense rank from 0."""
        lv = self._level.get(strategy)
        if lv is None:
            raw = [_bucket(strategy, h, self.cfg) for h in self.hosts]
            distinct = {v: i for i, v in enumerate(sorted(set(raw)))}
            lv = self._level[strategy] = np.array([distinct[v] for v in raw], dtype=np.int64)
        return lv

    def holds(self, t: int, nbytes: int) -> np.ndarray:
        """Hosts on which storage ``t`` can take a VM's ``nbytes`` (nothing else of the pair on it): the vectorised
        ``semantics.storage_fits`` with ``already = 0`` (``st_room`` is ``available - storage_reserved_capacity``)."""
        k = (t, nbytes)
        m = self._holds.get(k)
        if m is None:
            c = consume(nbytes, self.cfg.storage_overprovisioning_ratio)
            if not self.st_usable[t]:
                m = np.zeros(self.H, dtype=bool)
            elif self.st_local[t]:
                m = self.st_attach[t][self.cluster] & self.st_has[t] & (self.st_room[t] - c >= 0)
            elif self.st_room[t] - c >= 0:
                m = self.st_attach[t][self.cluster]
            else:
                m = np.zeros(self.H, dtype=bool)
            self._holds[k] = m
        return m


# ---------------------------------------------------------------------------------------------------------------
# Per request and role: candidates and storage options


@dataclass
class _Role:
    role: str  # "P" | "S"
    mask: np.ndarray  # candidate hosts
    options: list  # [(opt, host mask)]; opt = tuple of (storage index, consumption) -- P: root first
    zopts: dict | None = None  # zone id -> options some candidate of that zone has (lazy, see _zone_options)


def _zone_options(snap: _Snap, rd: _Role) -> dict:
    if rd.zopts is None:
        zopts: dict = {}
        nz = len(snap.zone_ids)
        for o, m in rd.options:
            present = np.bincount(snap.zone[m], minlength=nz) if m.any() else np.zeros(nz, dtype=np.int64)
            for z in np.flatnonzero(present).tolist():
                zopts.setdefault(z, []).append(o)
        rd.zopts = zopts
    return rd.zopts


def _role_data(snap: _Snap, q: Request, role: str, base: np.ndarray) -> _Role:
    ratio = snap.cfg.storage_overprovisioning_ratio
    r, d = q.root_bytes, q.data_bytes
    nst = len(snap.st)
    options: list[tuple[tuple[tuple[int, int], ...], np.ndarray]] = []
    if role == "S":
        n = secondary_bytes(q)
        for t in range(nst):
            options.append((((t, consume(n, ratio)),), snap.holds(t, n)))
    else:
        D = snap.st_index.get(q.data_storage_uuid) if q.data_storage_uuid is not None else None
        R = snap.st_index.get(q.root_storage_uuid) if q.root_storage_uuid is not None else None
        unknown = (q.data_storage_uuid is not None and D is None) or (q.root_storage_uuid is not None and R is None)
        if not unknown:
            roots = [R] if R is not None else range(nst)
            for t in roots:
                data = t if D is None else D
                holds = snap.holds(t, r + d) if data == t else snap.holds(t, r) & snap.holds(data, d)
                options.append((tuple(primary_take(q, t, data, ratio).items()), holds))
    options = [(o, m & base) for o, m in options]
    options = [(o, m) for o, m in options if m.any()]
    mask = np.zeros(snap.H, dtype=bool)
    for _, m in options:
        mask |= m
    return _Role(role, mask, options)


def _base_mask(snap: _Snap, q: Request) -> np.ndarray:
    """Role-independent host filters for ``q``: ``semantics.common_rule`` and ``pins_ok``, vectorised."""
    cfg = snap.cfg
    m = snap.ok.copy()
    if q.zone_uuid is not None:
        z = snap.zone_ids.get(q.zone_uuid)
        m &= (snap.zone == z) if z is not None else False
    if q.cluster_uuid is not None:
        c = snap.cluster_ids.get(q.cluster_uuid)
        m &= (snap.cluster == c) if c is not None else False
    l2ok = np.array([l2_attached(q, snap.l3_to_l2, snap.cluster_l2.get(c, ())) for c in snap.cluster_ids], dtype=bool)
    if len(l2ok):
        m &= l2ok[snap.cluster]
    m &= (snap.max_ftvm == 0) | (snap.ftvm + 1 <= snap.max_ftvm)
    m &= (snap.max_ftvcpu == 0) | (snap.ftvcpu + q.vcpus <= snap.max_ftvcpu)
    if q.strategy == MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0:
        m &= snap.vm < q.max_instance_per_host
    m &= snap.cpu_used + q.vcpus <= snap.cpu_cap
    m &= (snap.free >= 0) & (snap.free.astype(np.float64) * cfg.memory_overprovisioning_ratio >= float(q.memory))
    return m


def _pinned(snap: _Snap, q: Request, role: str, base: np.ndarray) -> np.ndarray:
    """``base`` cut to the pinned host for a primary with a host pin."""
    if role == "S" or q.host_uuid is None:
        return base
    pinned = np.zeros_like(base)
    hi = snap.index.get(q.host_uuid)
    if hi is not None:
        pinned[hi] = base[hi]
    return pinned


def _role_key(q: Request, role: str) -> tuple:
    """What a role's candidates depend on beyond ``_base_mask``'s inputs."""
    if role == "P":
        return ("P", q.host_uuid, q.root_bytes, q.data_bytes, q.root_storage_uuid, q.data_storage_uuid)
    return ("S", q.root_bytes + q.data_bytes)


# ---------------------------------------------------------------------------------------------------------------
# The problem: one batch on one snapshot


@dataclass
class _Problem:
    """What every step after the snapshot reads: the requests, the objective's weights, greedy's answer."""

    snap: _Snap
    requests: Sequence[Request]
    valid: list[int]  # indexes of the requests that pass validate_request
    big: int  # BIG of the module docstring: the weight of a placed request
    w_soft: int  # W_SOFT: the weight of a soft-rule violation
    greedy: list  # greedy's answer per request: a Placement or a PlacementError
    greedy_placements: list[Placement | None] = field(init=False)
    greedy_columns: dict[int, tuple] = field(init=False)  # i -> ((primary, option), (secondary, option))
    greedy_objective: int = field(init=False)
    greedy_placed: int = field(init=False)
    greedy_soft: int = field(init=False)

    def __post_init__(self) -> None:
        self.greedy_placements = [pl if isinstance(pl, Placement) else None for pl in self.greedy]
        self.greedy_columns = {
            i: self._columns_of(self.requests[i], pl)
            for i in self.valid
            if (pl := self.greedy_placements[i]) is not None
        }
        self.greedy_objective, self.greedy_placed, self.greedy_soft = self.score(self.greedy_placements)

    @classmethod
    def of(cls, snap: _Snap, requests: Sequence[Request], greedy: list) -> _Problem:
        n = max(len(requests), 1)
        levels = [int(snap.level(q.strategy).max()) for q in requests if q.strategy in STRATEGIES and snap.H]
        w_soft = 2 * n * (max(levels + [0]) + 1)  # > any level_sum
        valid = [i for i, q in enumerate(requests) if _is_valid(q)]
        return cls(snap, requests, valid, (2 * n + 1) * w_soft, w_soft, greedy)

    def score(self, pls: Sequence[Placement | None]) -> tuple[int, int, int]:
        """(objective value, placed, soft violations) of an answer."""
        value = placed = soft = 0
        for q, pl in zip(self.requests, pls):
            if pl is None:
                continue
            sv, rk = _soft_and_ranks(self.snap, q, pl)
            placed += 1
            soft += sv
            value += self.big - self.w_soft * sv - rk
        return value, placed, soft

    def _columns_of(self, q: Request, pl: Placement) -> tuple:
        snap, ratio = self.snap, self.snap.cfg.storage_overprovisioning_ratio
        root, data = snap.st_index[pl.primary_storage], snap.st_index[pl.primary_data_storage]
        p_option = tuple(primary_take(q, root, data, ratio).items())
        s_option = ((snap.st_index[pl.secondary_storage], consume(secondary_bytes(q), ratio)),)
        return (snap.index[pl.primary_host], p_option), (snap.index[pl.secondary_host], s_option)


def _is_valid(q: Request) -> bool:
    try:
        validate_request(q)
    except InvalidRequest:
        return False
    return True


def _soft_and_ranks(snap: _Snap, q: Request, pl: Placement) -> tuple[int, int]:
    """(soft violations, rank sum) of one placed pair under the batch objective."""
    p, s = snap.index[pl.primary_host], snap.index[pl.secondary_host]
    soft = int(snap.hosts[p].failure_domain == snap.hosts[s].failure_domain)
    t = snap.st_index.get(pl.secondary_storage)
    same = pl.secondary_storage in (pl.primary_storage, pl.primary_data_storage)
    if t is not None and not snap.st_local[t] and same:  # semantics.is_same_storage
        soft += 1
    lv = snap.level(q.strategy)
    return soft, int(lv[p] + lv[s])


def _greedy(engine, keys: Sequence[str], requests: Sequence[Request]) -> list:
    """Greedy's answer (``engine.place_many``; ``engine`` is a copy): a Placement or a PlacementError per request."""
    answers: list = [None] * len(requests)
    ok = []
    for i, q in enumerate(requests):
        try:
            validate_request(q)
            ok.append(i)
        except InvalidRequest as e:  # answered here: an engine may reject a whole place_many call for one of them
            answers[i] = e
    for i, answer in zip(ok, engine.place_many([keys[i] for i in ok], [requests[i] for i in ok])):
        answers[i] = answer
    return answers


# ---------------------------------------------------------------------------------------------------------------
# Candidates and pruning


@dataclass
class _Globals:
    vmax: int  # largest vCPU demand of a batch VM
    mmax: int  # largest memory consumption of a batch VM
    smax: int  # largest consumption of one batch VM on one storage
    lmin: int | None  # smallest max_instance_per_host among batch requests that have one
    vms: int  # B_H: VMs of the batch (each sits on one host)
    storage_units: int  # B_S: (VM, storage) incidences of the batch (each VM uses 1 or 2 storages)

    @classmethod
    def of(cls, problem: _Problem) -> _Globals:
        cfg = problem.snap.cfg
        qs = [problem.requests[i] for i in problem.valid]
        limits = [
            q.max_instance_per_host for q in qs if q.strategy == MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0
        ]
        return cls(
            vmax=max([q.vcpus for q in qs], default=1),
            mmax=max([mem_consume(q.memory, cfg.memory_overprovisioning_ratio) for q in qs], default=1),
            smax=max([consume(secondary_bytes(q), cfg.storage_overprovisioning_ratio) for q in qs] + [1]),
            lmin=min(limits) if limits else None,
            vms=2 * len(qs),
            storage_units=sum((2 if q.data_storage_uuid is not None else 1) + 1 for q in qs),
        )


_THETAS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
STAGE1_HOSTS = 6  # hosts per request, role and zone in the first, small model


def _host_limit(problem: _Problem, time_limit_s: float, max_columns: int | None) -> int:
    """Hosts kept at most per (request, role, zone), so that the model stays within ``max_columns``."""
    if max_columns is None:
        max_columns = int(min(45_000, max(10_000, 1500 * float(time_limit_s))))
    return max(8, max_columns // max(1, 2 * len(problem.valid) * max(1, len(problem.snap.zone_ids))))


def _candidates(problem: _Problem, prune: bool, limit: int, stats: dict) -> tuple[dict, bool]:
    """{(i, role): (its _Role, the kept hosts)}, and whether every pruning was exact (none capped at ``limit``).
    Requests that ask the same get the same (cached) answers."""
    snap, g = problem.snap, _Globals.of(problem)
    bases: dict[tuple, np.ndarray] = {}
    roles: dict[tuple, tuple[_Role, np.ndarray]] = {}
    cand: dict[tuple[int, str], tuple[_Role, np.ndarray]] = {}
    inexact = 0
    for i in problem.valid:
        q = problem.requests[i]
        bkey = (q.vcpus, q.memory, q.l3_uuids, q.zone_uuid, q.cluster_uuid, q.strategy, q.max_instance_per_host)
        if bkey not in bases:
            bases[bkey] = _base_mask(snap, q)
        for role in ("P", "S"):
            rkey = bkey + _role_key(q, role)
            if rkey not in roles:
                rd = _role_data(snap, q, role, _pinned(snap, q, role, bases[bkey]))
                kept, exact = _Pruner(snap, q, rd, g).kept(limit) if prune else (np.flatnonzero(rd.mask), True)
                inexact += not exact
                roles[rkey] = rd, kept
            cand[(i, role)] = roles[rkey]
    stats["candidates"] = int(sum(int(rd.mask.sum()) for rd, _ in cand.values()))
    stats["kept_hosts"] = int(sum(len(k) for _, k in cand.values()))
    stats["pruning"] = "exact" if prune else "none"
    if inexact:
        stats["pruning"] = f"capped at {limit} hosts per request, role and zone ({inexact} of {len(roles)} cut)"
    return cand, not inexact


class _Pruner:
    """The exact pruning of one request and role (module docstring, "Pruning"): per zone, the shortest prefix of
    the candidates in pruning order that the rest of the batch cannot make unusable."""

    def __init__(self, snap: _Snap, q: Request, rd: _Role, g: _Globals) -> None:
        self.snap, self.q, self.rd, self.g = snap, q, rd, g
        self.n_partner_st = 1 if rd.role == "P" else 2
        self.budget_h = max(0, g.vms - 2)
        self.budget_s = g.storage_units
        self.bt = self._shared_storage_budgets()
        self._options: dict[int, list] = {}

    def kept(self, limit: int | None) -> tuple[np.ndarray, bool]:
        """The kept hosts (per zone, in pruning order) and whether the pruning is exact (False: a zone needed more
        than ``limit`` hosts and was cut at ``limit``)."""
        cand = np.flatnonzero(self.rd.mask)
        if len(cand) == 0:
            return cand, True
        cand, b = self._ordered(cand)
        kept, exact = [], True
        zones = self.snap.zone[cand]
        for z in np.unique(zones):
            sel = zones == z
            hz, ok = self._zone_prefix(int(z), cand[sel], b[sel], limit)
            kept.append(hz)
            exact &= ok
        return np.concatenate(kept), exact

    def _core_budget(self, cand: np.ndarray) -> np.ndarray:
        """b_core per host: other VMs of the batch needed to fill one of the host's own resources for this VM."""
        snap, q, g = self.snap, self.q, self.g
        mc = mem_consume(q.memory, snap.cfg.memory_overprovisioning_ratio)
        b = (snap.cpu_cap[cand] - snap.cpu_used[cand] - q.vcpus) // g.vmax + 1
        b = np.minimum(b, (snap.free[cand] - mc) // g.mmax + 1)
        lim = snap.max_ftvm[cand] > 0
        b = np.where(lim, np.minimum(b, snap.max_ftvm[cand] - snap.ftvm[cand]), b)
        lim = snap.max_ftvcpu[cand] > 0
        b = np.where(lim, np.minimum(b, (snap.max_ftvcpu[cand] - snap.ftvcpu[cand] - q.vcpus) // g.vmax + 1), b)
        if q.strategy == MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0:
            b = np.minimum(b, q.max_instance_per_host - snap.vm[cand])
        if g.lmin is not None:
            b = np.minimum(b, np.maximum(1, g.lmin - snap.vm[cand]))
        return np.maximum(b, 0)

    def _ordered(self, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidates in pruning order (load level first, what the objective sees; then most room; then uuid)
        with their b_core."""
        b = self._core_budget(cand)
        lv = self.snap.level(self.q.strategy)[cand]
        keys = np.array([self.snap.keys[h] & ((1 << 62) - 1) for h in cand.tolist()], dtype=np.int64)
        order = np.lexsort((keys, -b, lv))
        return cand[order], b[order].astype(np.float64)

    def _shared_storage_budgets(self) -> dict[int, int]:
        """b_t of each shared storage for this VM, with its largest consumption there (the smallest b)."""
        snap = self.snap
        cons_on: dict[int, int] = {}
        for opt, _ in self.rd.options:
            for t, c in opt:
                cons_on[t] = max(cons_on.get(t, 0), c)
        return {t: max(0, (snap.st_room[t] - c) // self.g.smax + 1) for t, c in cons_on.items() if not snap.st_local[t]}

    def _zone_prefix(self, z: int, hz: np.ndarray, bz: np.ndarray, limit: int | None) -> tuple[np.ndarray, bool]:
        """The kept prefix of zone ``z``'s candidates ``hz`` (b_core ``bz``), growing it until it is enough."""
        if len(hz) <= 8:
            return hz, True
        # A partner storage only matters if some option in the zone avoids it (else the VM violates the storage soft
        # rule wherever it goes, and moving it cannot make that worse).
        zone_opts = [{t for t, _ in o} for o in _zone_options(self.snap, self.rd).get(z, [])]
        avoidable = {t for t in self.bt if any(t not in o for o in zone_opts)}
        k = 8
        while True:
            k = min(k, len(hz))
            if self._enough(hz[:k].tolist(), bz[:k], avoidable):
                return hz[:k], True
            if k >= len(hz) or (limit is not None and k >= limit):
                break
            k = int(k * 1.4) + 1
            if limit is not None:
                k = min(k, limit)
        if limit is not None and len(hz) > limit:
            return hz[:limit], False
        return hz, True

    def _enough(self, prefix: list[int], b_core: np.ndarray, avoidable: set[int]) -> bool:
        """Whether the batch cannot make every host of ``prefix`` unusable for this VM: the LP-duality test of the
        module docstring, for some theta."""
        s_cost, touched = self._storage_costs(prefix)
        fds = self.snap.fd[np.array(prefix, dtype=np.int64)].tolist()
        for theta in _THETAS:
            terms = np.minimum(b_core, theta * s_cost)
            per_fd: dict[int, float] = {}
            per_st: dict[int, float] = {}
            for f, tm, tt in zip(fds, terms.tolist(), touched):
                per_fd[f] = per_fd.get(f, 0.0) + tm
                for t in tt:
                    per_st[t] = per_st.get(t, 0.0) + tm
            st_loss = sorted((v for t, v in per_st.items() if t in avoidable), reverse=True)[: self.n_partner_st]
            loss = max(per_fd.values(), default=0.0) + sum(st_loss)
            if float(terms.sum()) - loss > (self.budget_h + theta * self.budget_s) * (1 + 1e-9) + 1e-9:
                return True
        return False

    def _storage_costs(self, prefix: list[int]) -> tuple[np.ndarray, list[set[int]]]:
        """s(h) per host of ``prefix``: the cheapest way to kill all of its storage options (each option must lose
        one of its storages), and the shared storages that route touches."""
        bt = self.bt
        m_t: dict[int, int] = {}
        for h in prefix:
            for t in {t for opt in self._options_of(h) for t, _ in opt if t in bt}:
                m_t[t] = m_t.get(t, 0) + 1
        s_cost, touched = [], []
        for h in prefix:
            best_opt, tt = 0.0, set()
            for opt in self._options_of(h):
                worst = _INF
                for t, c in opt:
                    if t in bt:
                        cost = bt[t] / m_t[t]
                        tt.add(t)
                    else:  # a local disk: this host's alone
                        cost = float((int(self.snap.st_room[t][h]) - c) // self.g.smax + 1)
                    worst = min(worst, cost)
                best_opt = max(best_opt, worst)
            s_cost.append(best_opt)
            touched.append(tt)
        return np.array(s_cost), touched

    def _options_of(self, h: int) -> list:
        o = self._options.get(h)
        if o is None:
            o = self._options[h] = [opt for opt, m in self.rd.options if m[h]]
        return o


def _separable_upper_bound(problem: _Problem, cand: dict) -> int:
    """Each request alone in its best zone, with only the soft violations it cannot avoid there and the best
    levels of the zone: no answer of the batch is worth more."""
    total = 0
    for i in problem.valid:
        best = _best_alone(problem, problem.requests[i], cand[(i, "P")][0], cand[(i, "S")][0])
        if best is not None:
            total += problem.big - best
    return total


def _best_alone(problem: _Problem, q: Request, rp: _Role, rs: _Role) -> int | None:
    """The smallest ``W_SOFT * forced soft violations + level sum`` of one request over its zones (None: no pair).
    Forced: every candidate pair in the zone shares a failure domain; every secondary storage is a shared storage
    of every primary option."""
    snap = problem.snap
    lv, zone_of = snap.level(q.strategy), snap.zone
    mp, ms = np.flatnonzero(rp.mask), np.flatnonzero(rs.mask)
    best = None
    for z in np.intersect1d(zone_of[mp], zone_of[ms]):
        hp, hs = mp[zone_of[mp] == z], ms[zone_of[ms] == z]
        if len(hp) == 1 and len(hs) == 1 and hp[0] == hs[0]:
            continue
        forced = int(len(np.unique(np.concatenate([snap.fd[hp], snap.fd[hs]]))) == 1)
        p_sets = [{t for t, _ in o if not snap.st_local[t]} for o in _zone_options(snap, rp).get(int(z), [])]
        s_sts = {o[0][0] for o in _zone_options(snap, rs).get(int(z), [])}
        inter = set.intersection(*p_sets) if p_sets else set()
        forced += int(bool(s_sts) and s_sts <= inter)
        v = problem.w_soft * forced + int(lv[hp].min() + lv[hs].min())
        best = v if best is None else min(best, v)
    return best


# ---------------------------------------------------------------------------------------------------------------
# Model


class _Model:
    """Solver-neutral 0/1 model: columns with objective coefficients, rows ``lo <= sum(coef * x) <= hi``."""

    def __init__(self) -> None:
        self.obj: list[int] = []
        self.rows: list[tuple[list[int], list[int], float, float]] = []
        self.names: list[tuple] = []

    def var(self, obj: int, name: tuple) -> int:
        self.obj.append(obj)
        self.names.append(name)
        return len(self.obj) - 1

    def row(self, idx: list[int], coef: list[int], lo: float, hi: float) -> None:
        self.rows.append((idx, coef, lo, hi))

    def at_most(self, idx: list[int], coef: list[int], room: int) -> None:
        """``sum(coef * x) <= room``, written only when the columns could exceed it."""
        if sum(coef) > room:
            self.row(idx, coef, -_INF, int(room))


def _grouped(P: list, S: list, keys) -> dict:
    """The columns ``(column, host, option)`` of P and S grouped by each of ``keys(host, option)``:
    {key: [P columns, S columns]}, P's keys first."""
    groups: dict = {}
    for side, cols in enumerate((P, S)):
        for c, h, opt in cols:
            for k in keys(h, opt):
                groups.setdefault(k, [[], []])[side].append(c)
    return groups


class _ModelBuilder:
    """The 0/1 model of the module docstring ("Model") over candidate sets {(i, role): (_Role, kept hosts)}, with
    a hint: greedy's answer, or ``prior`` {(i, role): (host, option)}."""

    def __init__(self, problem: _Problem, cand_sets: dict, prior: dict | None) -> None:
        self.problem, self.snap = problem, problem.snap
        self.model = _Model()
        self.cols: dict[tuple, int] = {}  # (i, role, host, option) -> column
        self.placed_col: dict[int, int] = {}
        self.host_terms: dict[int, list] = {}  # host -> [(column, i)]
        self.st_terms: dict[tuple, list] = {}  # (storage, host or -1 for a shared one) -> [(column, consumption)]
        self.hint: dict[int, int] = {}
        for i in problem.valid:
            self._add_request(i, cand_sets)
        for h, terms in self.host_terms.items():
            self._add_host_capacity(h, terms)
        for (t, h), terms in self.st_terms.items():
            room = int(self.snap.st_room[t][h]) if h >= 0 else int(self.snap.st_room[t])
            self.model.at_most([c for c, _ in terms], [a for _, a in terms], room)
        if prior is not None:
            self._hint_from(prior)

    def _column(self, i: int, role: str, h: int, opt: tuple, level: int) -> int:
        k = (i, role, h, opt)
        c = self.cols.get(k)
        if c is None:
            c = self.cols[k] = self.model.var(-int(level), k)
            self.host_terms.setdefault(h, []).append((c, i))
            for t, amount in opt:
                self.st_terms.setdefault((t, h if self.snap.st_local[t] else -1), []).append((c, amount))
        return c

    def _add_request(self, i: int, cand_sets: dict[tuple[int, str], tuple[_Role, np.ndarray]]) -> None:
        """Request i's columns (kept hosts x their options, plus greedy's pair) and its rows: one primary and one
        secondary or neither, same zone, anti-affinity, soft rules."""
        level = self.snap.level(self.problem.requests[i].strategy)
        P, S = (self._role_columns(i, role, *cand_sets[(i, role)], level) for role in ("P", "S"))
        greedy = self.problem.greedy_columns.get(i)
        if greedy is not None:
            for cols, role, (h, opt) in ((P, "P", greedy[0]), (S, "S", greedy[1])):
                c = self._column(i, role, h, opt, level[h])
                if all(c != other for other, _, _ in cols):
                    cols.append((c, h, opt))
                self.hint[c] = 1
        M = self.model
        if not P or not S:
            for c, _, _ in P + S:
                M.row([c], [1], 0, 0)
            return
        pc = self.placed_col[i] = M.var(self.problem.big, ("placed", i))
        M.row([c for c, _, _ in P] + [pc], [1] * len(P) + [-1], 0, 0)
        M.row([c for c, _, _ in S] + [pc], [1] * len(S) + [-1], 0, 0)
        if greedy is not None:
            self.hint[pc] = 1
        zones = _grouped(P, S, lambda h, opt: (int(self.snap.zone[h]),))
        if len(zones) > 1:
            for xs, ys in zones.values():
                M.row(xs + ys, [1] * len(xs) + [-1] * len(ys), 0, 0)
        for xs, ys in _grouped(P, S, lambda h, opt: (h,)).values():  # anti-affinity
            if xs and ys:
                M.row(xs + ys, [1] * (len(xs) + len(ys)), 0, 1)
        self._add_soft_rules(i, P, S, greedy)

    def _role_columns(self, i: int, role: str, rd: _Role, kept: np.ndarray, level: np.ndarray) -> list:
        """(column, host, option) of every kept host and each of its storage options."""
        return [
            (self._column(i, role, h, opt, level[h]), h, opt) for h in kept.tolist() for opt, m in rd.options if m[h]
        ]

    def _add_soft_rules(self, i: int, P: list, S: list, greedy: tuple | None) -> None:
        snap = self.snap

        def shared(opt: tuple) -> set[int]:
            return {t for t, _ in opt if not snap.st_local[t]}

        sfd = self._soft_column(("sfd", i), _grouped(P, S, lambda h, opt: (int(snap.fd[h]),)))
        sst = self._soft_column(("sst", i), _grouped(P, S, lambda h, opt: shared(opt)))
        if greedy is not None:
            (p, p_option), (s, s_option) = greedy
            if sfd is not None:
                self.hint[sfd] = int(snap.fd[p] == snap.fd[s])
            if sst is not None:
                self.hint[sst] = int(s_option[0][0] in shared(p_option))

    def _soft_column(self, name: tuple, groups: dict) -> int | None:
        """A violation column forced to 1 when a primary and a secondary of one group are both chosen."""
        rows = [(xs, ys) for xs, ys in groups.values() if xs and ys]
        if not rows:
            return None
        f = self.model.var(-self.problem.w_soft, name)
        for xs, ys in rows:
            self.model.row(xs + ys + [f], [1] * (len(xs) + len(ys)) + [-1], -_INF, 1)
        return f

    def _add_host_capacity(self, h: int, terms: list) -> None:
        snap, requests, M = self.snap, self.problem.requests, self.model
        cs = [c for c, _ in terms]
        vc = [requests[i].vcpus for _, i in terms]
        M.at_most(cs, vc, snap.cpu_cap[h] - snap.cpu_used[h])
        M.at_most(
            cs,
            [mem_consume(requests[i].memory, snap.cfg.memory_overprovisioning_ratio) for _, i in terms],
            snap.free[h],
        )
        if snap.max_ftvm[h] > 0:
            M.at_most(cs, [1] * len(cs), snap.max_ftvm[h] - snap.ftvm[h])
        if snap.max_ftvcpu[h] > 0:
            M.at_most(cs, vc, snap.max_ftvcpu[h] - snap.ftvcpu[h])
        by_req: dict[int, list] = {}
        for c, i in terms:
            by_req.setdefault(i, []).append(c)
        for i, own in by_req.items():
            q = requests[i]
            if q.strategy == MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0:
                room = q.max_instance_per_host - int(snap.vm[h])
                # at most one VM per request on a host (anti-affinity); big-M = every term on the host
                if len(by_req) > room:
                    bigm = len(cs)
                    coef = {c: 1 for c in cs}
                    for c in own:
                        coef[c] += bigm
                    M.row(list(coef), list(coef.values()), -_INF, room + bigm)

    def _hint_from(self, prior: dict) -> None:
        self.hint.clear()
        for (i, role), (h, opt) in prior.items():
            c = self.cols.get((i, role, h, opt))
            if c is not None:
                self.hint[c] = 1
        for i in self.problem.valid:
            if (i, "P") in prior and i in self.placed_col:
                self.hint[self.placed_col[i]] = 1


def _decode(problem: _Problem, cols: dict, values: list) -> tuple[list[Placement | None], dict]:
    """The placements of a solution, and its choice {(i, role): (host, option)} (the next stage's hint)."""
    chosen: dict[tuple[int, str], tuple] = {}
    for (i, role, h, opt), c in cols.items():
        if values[c] > 0.5:
            chosen[(i, role)] = (h, opt)
    snap = problem.snap
    pls: list[Placement | None] = [None] * len(problem.requests)
    for i in problem.valid:
        if (i, "P") in chosen and (i, "S") in chosen:
            (p, p_option), (s, s_option) = chosen[(i, "P")], chosen[(i, "S")]
            root, data = snap.st[p_option[0][0]].uuid, snap.st[p_option[-1][0]].uuid
            pls[i] = Placement(snap.hosts[p].uuid, root, data, snap.hosts[s].uuid, snap.st[s_option[0][0]].uuid)
    return pls, chosen


# ---------------------------------------------------------------------------------------------------------------
# Solving


@dataclass
class _Run:
    """The solver and its budget: ``run(model, hint, seconds)`` -> (status, values, objective, bound)."""

    solver: str
    workers: int
    time_limit_s: float
    deadline: float  # of the whole solve (stage 2 gets what stage 1 left)

    def __call__(self, model: _Model, hint: dict[int, int], seconds: float):
        solve = _solve_cpsat if self.solver == "cpsat" else _solve_highs
        return solve(model, hint, seconds, self.workers)


@dataclass
class _Found:
    """The solver's best answer and what is known of the optimum."""

    placements: list[Placement | None] | None = None
    objective: int | None = None
    status: str = "UNKNOWN"
    bound: float | None = None

    def offer(self, placements: list[Placement | None], objective: int, floor: int | None) -> None:
        """Keep ``placements`` if they are worth more than ``floor`` and than what is kept."""
        if (floor is None or objective > floor) and (self.objective is None or objective > self.objective):
            self.placements, self.objective = placements, objective


def _build(problem: _Problem, cand_sets: dict, prior: dict | None, stats: dict) -> _ModelBuilder:
    built = _ModelBuilder(problem, cand_sets, prior)
    stats["columns"] = len(built.model.obj)
    stats["rows"] = len(built.model.rows)
    return built


def _search(problem: _Problem, cand: dict, exact: bool, sep_ub: int, run: _Run, stats: dict) -> _Found:
    """Stage 1, a small model (each request's few best hosts per zone): an answer worth the separable upper bound
    is optimal for the full problem, whatever was cut. Stage 2, otherwise: the pruned model, warm-started with
    stage 1's answer (else greedy's)."""
    if problem.greedy_objective >= sep_ub:
        stats["proof"] = "greedy reaches the separable upper bound"
        return _Found(problem.greedy_placements, problem.greedy_objective, "OPTIMAL", float(sep_ub))
    found = _Found()
    prior = _stage1(problem, cand, sep_ub, run, found, stats)
    if found.status != "OPTIMAL":
        _stage2(problem, cand, exact, prior, run, found, stats)
    return found


def _stage1(problem: _Problem, cand: dict, sep_ub: int, run: _Run, found: _Found, stats: dict) -> dict | None:
    """Solves the small model (when smaller than the pruned one); returns its choice, stage 2's hint."""
    snap = problem.snap
    small = {}
    for key, (rd, kept) in cand.items():
        zs = snap.zone[kept]
        small[key] = rd, (np.concatenate([kept[zs == z][:STAGE1_HOSTS] for z in np.unique(zs)]) if len(kept) else kept)
    if sum(len(k) for _, k in small.values()) >= stats["kept_hosts"]:
        return None
    built = _build(problem, small, None, stats)
    status, values, _, _ = run(built.model, built.hint, max(0.05, 0.3 * run.time_limit_s))
    stats["stage1_columns"] = len(built.model.obj)
    stats["stage1_status"] = status
    if values is None:
        return None
    pls, chosen = _decode(problem, built.cols, values)
    objective = problem.score(pls)[0]
    found.offer(pls, objective, problem.greedy_objective)
    if objective >= sep_ub:
        found.status, found.bound = "OPTIMAL", float(sep_ub)
        stats["proof"] = "stage 1 reaches the separable upper bound"
    return chosen


def _stage2(
    problem: _Problem, cand: dict, exact: bool, prior: dict | None, run: _Run, found: _Found, stats: dict
) -> None:
    """Solves the pruned model within the rest of the time limit."""
    built = _build(problem, cand, prior, stats)
    status, values, _, bound = run(built.model, built.hint, max(0.05, run.deadline - time.perf_counter()))
    found.status, found.bound = status, bound
    if values is not None:
        pls = _decode(problem, built.cols, values)[0]
        found.offer(pls, problem.score(pls)[0], None)
    if status == "OPTIMAL" and exact:
        stats["proof"] = "pruned model solved to optimality (the pruning is exact)"


# ---------------------------------------------------------------------------------------------------------------
# The answer


def _checked_answer(
    problem: _Problem, base_engine, keys: Sequence[str], found: _Found, solver: str, stats: dict
) -> tuple[str, list[Placement | None]]:
    """(source, placements): the solver's answer when strictly better than greedy's and it passes a dry run of
    ``reserve()`` on ``base_engine`` (solve_batch's own copy), else greedy's."""
    if found.placements is not None and found.objective is not None and found.objective > problem.greedy_objective:
        try:
            for k, q, pl in zip(keys, problem.requests, found.placements):
                if pl is not None:
                    base_engine.reserve(k, q, pl)
            return solver, found.placements
        except PlacementError as e:  # pragma: no cover - would be a modelling bug
            stats["dry_run_error"] = repr(e)
    return "greedy", problem.greedy_placements


def _status_bound_gap(
    problem: _Problem, found: _Found, exact: bool, sep_ub: int, source: str, objective: int, stats: dict
) -> tuple[str, float, float]:
    """The status, best bound and gap reported: never OPTIMAL on a capped model unless proven by the bound."""
    status, bound = found.status, found.bound
    if not exact and "proof" not in stats:
        stats["restricted_status"] = status
        status, bound = "FEASIBLE", float(sep_ub)
    elif status not in ("OPTIMAL", "FEASIBLE") and found.placements is not None:
        status = "FEASIBLE"
    if bound is None or not math.isfinite(bound):
        bound = float(objective) if status == "OPTIMAL" else float(sep_ub)
    gap = (bound - objective) / max(1.0, abs(bound)) if math.isfinite(bound) else float("nan")
    if source == "greedy" and status == "OPTIMAL" and found.objective == problem.greedy_objective:
        gap = 0.0
    bound = max(bound, float(objective)) if math.isfinite(bound) else bound
    return status, bound, max(0.0, gap) if math.isfinite(gap) else gap


def _errors(problem: _Problem, pls: list[Placement | None]) -> list[PlacementError | None]:
    """Why each request is not placed: greedy's error, else NotPlacedInBatch (None for a placed one)."""
    errors: list[PlacementError | None] = []
    for pl, greedy in zip(pls, problem.greedy):
        if pl is not None:
            errors.append(None)
        elif isinstance(greedy, PlacementError):
            errors.append(greedy)
        else:
            errors.append(NotPlacedInBatch("not placed: the joint optimum used its room for other requests"))
    return errors


# ---------------------------------------------------------------------------------------------------------------
# Entry point


def solve_batch(
    engine,
    keys: Sequence[str],
    requests: Sequence[Request],
    time_limit_s: float = 5.0,
    solver: str = "cpsat",
    workers: int = 2,
    prune: bool = True,
    max_columns: int | None = None,
) -> BatchResult:
    """Place ``requests`` jointly on a copy of ``engine``; nothing is reserved until ``result.apply(engine)``.

    ``engine``: any placement engine (its ``copy()``, ``snapshot()``, ``place_many()`` and ``reserve()`` are used,
    on copies only). ``keys[i]`` is the reservation key ``apply()`` uses for ``requests[i]``. The steps: greedy's
    answer; the snapshot as arrays; the candidates of each request and role, pruned; the separable upper bound; the
    model, solved in two stages and decoded; the better of greedy's and the solver's answers (dry-run reserved);
    the result. The module docstring has the objective, the model, the pruning and its proof.

    ``solver``: "cpsat" or "highs" (needs highspy). ``prune=False`` keeps every candidate host (same optimum,
    bigger model: for tests and comparisons). ``max_columns``: budget of (request, role, host) pairs; an exact
    prefix longer than its share is cut (module docstring, "Crowded inventories"). Default ``1500 * time_limit_s``
    within [10 000, 45 000]: what CP-SAT on 2 workers improves best in that time on crowded 10k-host inventories.
    """
    if len(keys) != len(requests):
        raise ValueError(f"{len(keys)} keys for {len(requests)} requests")
    if solver not in ("cpsat", "highs"):
        raise ValueError(f"unknown solver {solver!r}: expected 'cpsat' or 'highs'")
    t0 = time.perf_counter()
    stats: dict = {}
    base_engine = engine.copy()
    inv = base_engine.snapshot()
    greedy = _greedy(base_engine.copy(), keys, requests)
    stats["greedy_seconds"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    problem = _Problem.of(_Snap(inv), requests, greedy)
    cand, exact = _candidates(problem, prune, _host_limit(problem, time_limit_s, max_columns), stats)
    sep_ub = stats["separable_upper_bound"] = _separable_upper_bound(problem, cand)
    t2 = time.perf_counter()
    found = _search(problem, cand, exact, sep_ub, _Run(solver, workers, time_limit_s, t2 + float(time_limit_s)), stats)
    stats["prepare_seconds"] = t2 - t1
    stats["solve_seconds"] = time.perf_counter() - t2  # model building included

    source, pls = _checked_answer(problem, base_engine, keys, found, solver, stats)
    objective, placed, soft = problem.score(pls)
    status, bound, gap = _status_bound_gap(problem, found, exact, sep_ub, source, objective, stats)
    return BatchResult(
        keys=list(keys),
        requests=list(requests),
        placements=pls,
        errors=_errors(problem, pls),
        source=source,
        solver=solver,
        status=status,
        objective=objective,
        greedy_objective=problem.greedy_objective,
        solver_objective=found.objective,
        best_bound=bound,
        gap=gap,
        seconds=time.perf_counter() - t0,
        placed=placed,
        greedy_placed=problem.greedy_placed,
        soft_violations=soft,
        greedy_soft_violations=problem.greedy_soft,
        stats=stats,
    )


def _solve_cpsat(M: _Model, hint: dict[int, int], time_limit_s: float, workers: int):
    m = cp_model.CpModel()
    xs = [m.new_bool_var(f"x{j}") for j in range(len(M.obj))]
    for idx, coef, lo, hi in M.rows:
        expr = cp_model.LinearExpr.weighted_sum([xs[j] for j in idx], coef)
        if lo == hi:
            m.add(expr == int(lo))
        elif lo == -_INF:
            m.add(expr <= int(hi))
        else:
            m.add_linear_constraint(expr, int(lo), int(hi))
    m.maximize(cp_model.LinearExpr.weighted_sum(xs, M.obj))
    for j, x in enumerate(xs):
        m.add_hint(x, hint.get(j, 0))
    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = max(0.01, float(time_limit_s))
    s.parameters.num_workers = max(1, int(workers))
    st = s.solve(m)
    name = s.status_name(st)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return name, None, None, None
    sol = s.response_proto.solution
    values = [int(sol[x.index]) for x in xs]
    return name, values, round(s.objective_value), float(s.best_objective_bound)


def _quiet_highs(highspy):
    """A Highs object without its banner on stdout (printed by the constructor, before any option applies)."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _highs_lp(highspy, M: _Model):
    """The model as a HiGHS MIP (0/1 columns, rows by rows), maximised."""
    n = len(M.obj)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(M.rows)
    lp.col_cost_ = np.array(M.obj, dtype=np.float64)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.array([lo if lo != -_INF else -highspy.kHighsInf for _, _, lo, _ in M.rows], dtype=np.float64)
    lp.row_upper_ = np.array([hi for _, _, _, hi in M.rows], dtype=np.float64)
    starts, index, value = [0], [], []
    for idx, coef, _, _ in M.rows:
        index.extend(idx)
        value.extend(coef)
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=np.float64)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    lp.sense_ = highspy.ObjSense.kMaximize
    return lp


def _solve_highs(M: _Model, hint: dict[int, int], time_limit_s: float, workers: int):
    try:
        import highspy
    except ImportError as e:
        raise RuntimeError("solver='highs' needs the highspy package (pip install highspy)") from e
    h = _quiet_highs(highspy)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("threads", max(1, int(workers)))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.passModel(_highs_lp(highspy, M))
    sol = highspy.HighsSolution()
    sol.col_value = [float(hint.get(j, 0)) for j in range(len(M.obj))]
    sol.value_valid = True
    try:
        h.setSolution(sol)
    except Exception:  # noqa: BLE001 -- an older highspy refuses the start hint: solved without it
        pass
    # HiGHS does not always honour time_limit (presolve, symmetry): run it in its thread and cancel at the deadline.
    deadline = time.perf_counter() + float(time_limit_s)
    h.HandleUserInterrupt = True
    h.startSolve()
    finished, _ = h.wait(max(0.01, deadline - time.perf_counter()))
    if not finished:
        h.cancelSolve()
        h.wait()
    ms = h.getModelStatus()
    name = h.modelStatusToString(ms)
    info = h.getInfo()
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        return name.upper(), None, None, None
    values = [round(v) for v in h.getSolution().col_value]
    status = "OPTIMAL" if ms == highspy.HighsModelStatus.kOptimal else "FEASIBLE"
    return status, values, round(info.objective_function_value), float(info.mip_dual_bound)


__all__ = ["BatchResult", "NotPlacedInBatch", "solve_batch"]
