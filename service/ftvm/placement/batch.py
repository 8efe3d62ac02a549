"""Joint placement of N FT requests (CP-SAT, optionally HiGHS), never worse than the greedy ``place_many``.

``solve_batch(engine, keys, requests)`` places the requests *together* on a consistent copy of ``engine`` and returns
a ``BatchResult``; nothing is reserved until ``BatchResult.apply(engine)`` (all or nothing).

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
from dataclasses import dataclass, field
from typing import Sequence

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
    def __init__(self, inv: Inventory) -> None:
        cfg = self.cfg = inv.config
        hosts = self.hosts = inv.hosts
        H = self.H = len(hosts)
        self.index = {h.uuid: i for i, h in enumerate(hosts)}
        self.keys = [uuid_order_key(h.uuid) for h in hosts]

        def ids(values):
            table: dict[str, int] = {}
            arr = np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int64, count=H)
            return table, arr

        self.zone_ids, self.zone = ids(h.zone_uuid for h in hosts)
        self.cluster_ids, self.cluster = ids(h.cluster_uuid for h in hosts)
        self.fd_ids, self.fd = ids(h.failure_domain for h in hosts)
        # rules 1-3 and 7 of semantics.common_rule, which depend on the host alone
        self.ok = np.array(
            [h.state == "Enabled" and h.status == "Connected" and h.hypervisor == "KVM" and h.ft_address for h in hosts],
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
        self._pos: dict[str, np.ndarray] = {}
        self._level: dict[str, np.ndarray] = {}

        # storages
        self.st = list(inv.storages)
        self.st_index = {s.uuid: i for i, s in enumerate(self.st)}
        C = len(self.cluster_ids)
        self.st_local = [s.kind == "Local" for s in self.st]
        self.st_usable = [s.state == "Enabled" and s.status == "Connected" for s in self.st]
        self.st_attach = []  # bool per cluster id
        self.st_room = []  # shared: int (available - reserved); local: int64 array per host (room), with has mask
        self.st_has = []
        rc = cfg.storage_reserved_capacity
        for s in self.st:
            att = np.zeros(C, dtype=bool)
            for c in s.cluster_uuids:
                ci = self.cluster_ids.get(c)
                if ci is not None:
                    att[ci] = True
            self.st_attach.append(att)
            if s.kind == "Local":
                has = np.zeros(H, dtype=bool)
                room = np.zeros(H, dtype=np.int64)
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
        self.cluster_st = [[t for t in range(len(self.st)) if self.st_attach[t][c]] for c in range(C)]
        self.l3_to_l2 = inv.l3_to_l2
        self.cluster_l2 = {c: set(v) for c, v in inv.cluster_l2.items()}
        self._holds: dict[tuple, np.ndarray] = {}

    def level(self, strategy: str) -> np.ndarray:
        """Load level of every host for a strategy: its score at the snapshot, quantised, as a dense rank from 0."""
        lv = self._level.get(strategy)
        if lv is None:
            raw = [_bucket(strategy, h, self.cfg) for h in self.hosts]
            distinct = {v: i for i, v in enumerate(sorted(set(raw)))}
            lv = self._level[strategy] = np.array([distinct[v] for v in raw], dtype=np.int64)
        return lv

    def pos(self, strategy: str) -> np.ndarray:
        """Position of every host in the order (level, uuid_order_key) -- the pruning order."""
        p = self._pos.get(strategy)
        if p is None:
            lv = self.level(strategy)
            order = sorted(range(self.H), key=lambda i: (int(lv[i]), self.keys[i]))
            p = np.empty(self.H, dtype=np.int64)
            p[np.array(order, dtype=np.int64)] = np.arange(self.H, dtype=np.int64)
            self._pos[strategy] = p
        return p

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
    nst: int  # storages one option uses at most
    zopts: dict | None = None  # zone id -> options some candidate of that zone has (lazy, see _zone_options)


def _zone_options(snap: "_Snap", rd: "_Role") -> dict:
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
    options = []
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
                holds = snap.holds(t, r + d) if data == t else snap.holds(t, r) & snap.holds(D, d)
                options.append((tuple(primary_take(q, t, data, ratio).items()), holds))
    options = [(o, m & base) for o, m in options]
    options = [(o, m) for o, m in options if m.any()]
    mask = np.zeros(snap.H, dtype=bool)
    for _, m in options:
        mask |= m
    return _Role(role, mask, options, max((len(o) for o, _ in options), default=1))


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
    l2ok = np.array([l2_attached(q, snap.l3_to_l2, snap.cluster_l2.get(c, ())) for c in snap.cluster_ids],
                    dtype=bool)
    if len(l2ok):
        m &= l2ok[snap.cluster]
    m &= (snap.max_ftvm == 0) | (snap.ftvm + 1 <= snap.max_ftvm)
    m &= (snap.max_ftvcpu == 0) | (snap.ftvcpu + q.vcpus <= snap.max_ftvcpu)
    if q.strategy == MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0:
        m &= snap.vm < q.max_instance_per_host
    m &= snap.cpu_used + q.vcpus <= snap.cpu_cap
    m &= (snap.free >= 0) & (snap.free.astype(np.float64) * cfg.memory_overprovisioning_ratio >= float(q.memory))
    return m


# ---------------------------------------------------------------------------------------------------------------
# Pruning


@dataclass
class _Globals:
    vmax: int  # largest vCPU demand of a batch VM
    mmax: int  # largest memory consumption of a batch VM
    smax: int  # largest consumption of one batch VM on one storage
    lmin: int | None  # smallest max_instance_per_host among batch requests that have one
    vms: int  # B_H: VMs of the batch (each sits on one host)
    storage_units: int  # B_S: (VM, storage) incidences of the batch (each VM uses 1 or 2 storages)


_THETAS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
STAGE1_HOSTS = 6  # hosts per request, role and zone in the first, small model


def _prune(snap: _Snap, q: Request, rd: _Role, g: _Globals, limit: int | None = None) -> tuple[np.ndarray, bool]:
    """Kept candidate hosts of one request and role (see the module docstring), per zone in pruning order, and
    whether the pruning is exact (False: some zone needed more than ``limit`` hosts and was cut at ``limit``)."""
    cand = np.flatnonzero(rd.mask)
    exact = True
    if len(cand) == 0:
        return cand, exact
    cfg = snap.cfg
    mc = mem_consume(q.memory, cfg.memory_overprovisioning_ratio)
    # b_core: other VMs needed to fill one of the host's own resources for this VM (vectorised)
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
    b = np.maximum(b, 0)
    # pruning order: load level first (what the objective sees), then most room, then uuid
    lv = snap.level(q.strategy)[cand]
    keys = np.array([snap.keys[h] & ((1 << 62) - 1) for h in cand.tolist()], dtype=np.int64)
    order = np.lexsort((keys, -b, lv))
    cand, b = cand[order], b[order].astype(np.float64)
    n_partner_st = 1 if rd.role == "P" else 2
    budget_h = max(0, g.vms - 2)
    budget_s = g.storage_units
    # b_t of each shared storage for this VM: with its largest consumption there (the smallest b)
    cons_on: dict[int, int] = {}
    for opt, _ in rd.options:
        for t, c in opt:
            cons_on[t] = max(cons_on.get(t, 0), c)
    bt = {t: max(0, (snap.st_room[t] - c) // g.smax + 1) for t, c in cons_on.items() if not snap.st_local[t]}

    kept = []
    zones = snap.zone[cand]
    for z in np.unique(zones):
        sel = zones == z
        hz, bz = cand[sel], b[sel]
        if len(hz) <= 8:
            kept.append(hz)
            continue
        # A partner storage only matters if some option in the zone avoids it (else the VM violates the storage
        # soft rule wherever it goes, and moving it cannot make that worse).
        zone_opts = [{t for t, _ in o} for o in _zone_options(snap, rd).get(int(z), [])]
        avoidable = {t for t in bt if any(t not in o for o in zone_opts)}
        opts_cache: dict[int, list] = {}

        def opts_of(h: int) -> list:
            o = opts_cache.get(h)
            if o is None:
                o = opts_cache[h] = [opt for opt, m in rd.options if m[h]]
            return o

        k = 8
        done = False
        while not done:
            k = min(k, len(hz))
            prefix = hz[:k].tolist()
            m_t: dict[int, int] = {}
            for h in prefix:
                for t in {t for opt in opts_of(h) for t, _ in opt if t in bt}:
                    m_t[t] = m_t.get(t, 0) + 1
            s_cost = []  # storage route: every option must lose one of its storages
            touched = []
            for h in prefix:
                best_opt = 0.0
                tt = set()
                for opt in opts_of(h):
                    worst = _INF
                    for t, c in opt:
                        if t in bt:
                            cost = bt[t] / m_t[t]
                            tt.add(t)
                        else:  # a local disk: this host's alone
                            cost = float((int(snap.st_room[t][h]) - c) // g.smax + 1)
                        worst = min(worst, cost)
                    best_opt = max(best_opt, worst)
                s_cost.append(best_opt)
                touched.append(tt)
            s_arr = np.array(s_cost)
            a_arr = bz[:k]
            fds = snap.fd[np.array(prefix, dtype=np.int64)]
            for theta in _THETAS:
                terms = np.minimum(a_arr, theta * s_arr)
                per_fd: dict[int, float] = {}
                per_st: dict[int, float] = {}
                for f, tm, tt in zip(fds.tolist(), terms.tolist(), touched):
                    per_fd[f] = per_fd.get(f, 0.0) + tm
                    for t in tt:
                        per_st[t] = per_st.get(t, 0.0) + tm
                st_loss = sorted((v for t, v in per_st.items() if t in avoidable), reverse=True)[:n_partner_st]
                loss = max(per_fd.values(), default=0.0) + sum(st_loss)
                if float(terms.sum()) - loss > (budget_h + theta * budget_s) * (1 + 1e-9) + 1e-9:
                    kept.append(hz[:k])
                    done = True
                    break
            if done or k >= len(hz):
                break
            if limit is not None and k >= limit:
                break
            k = int(k * 1.4) + 1
            if limit is not None:
                k = min(k, limit)
        if not done:
            if limit is not None and len(hz) > limit:
                kept.append(hz[:limit])
                exact = False
            else:
                kept.append(hz)
    return (np.concatenate(kept) if kept else cand[:0]), exact


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
    """Place ``requests`` jointly on a copy of ``engine`` (see the module docstring); reserve with ``.apply()``.

    ``prune=False`` keeps every candidate host (same optimum, bigger model: for tests and comparisons).
    ``max_columns``: budget of (request, role, host) pairs; an exact prefix longer than its share is cut (see the
    module docstring, "Crowded inventories"). Default ``1500 * time_limit_s`` within [10 000, 45 000]: what CP-SAT
    on 2 workers improves best in that time on crowded 10k-host inventories.
    """
    if len(keys) != len(requests):
        raise ValueError(f"{len(keys)} keys for {len(requests)} requests")
    if solver not in ("cpsat", "highs"):
        raise ValueError(f"unknown solver {solver!r}: expected 'cpsat' or 'highs'")
    t0 = time.perf_counter()
    stats: dict = {}
    base_engine = engine.copy()
    inv = base_engine.snapshot()
    greedy_engine = base_engine.copy()
    # Invalid requests are answered here (an engine may reject the whole place_many call for one of them).
    greedy: list = [None] * len(requests)
    ok_idx = []
    for i, q in enumerate(requests):
        try:
            validate_request(q)
            ok_idx.append(i)
        except InvalidRequest as e:
            greedy[i] = e
    for i, r in zip(ok_idx, greedy_engine.place_many([keys[i] for i in ok_idx], [requests[i] for i in ok_idx])):
        greedy[i] = r
    stats["greedy_seconds"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    snap = _Snap(inv)
    N = len(requests)
    max_level = max([int(snap.level(q.strategy).max()) for q in requests if q.strategy in STRATEGIES and snap.H] + [0])
    W_SOFT = 2 * max(N, 1) * (max_level + 1)
    BIG = (2 * max(N, 1) + 1) * W_SOFT

    def score(pls: list[Placement | None]) -> tuple[int, int, int]:
        value = placed = soft = 0
        for q, pl in zip(requests, pls):
            if pl is None:
                continue
            sv, rk = _soft_and_ranks(snap, q, pl)
            placed += 1
            soft += sv
            value += BIG - W_SOFT * sv - rk
        return value, placed, soft

    greedy_pls = [pl if isinstance(pl, Placement) else None for pl in greedy]
    g_obj, g_placed, g_soft = score(greedy_pls)

    # -- candidates and pruning ------------------------------------------------------------------------------
    valid = []
    for i, q in enumerate(requests):
        try:
            validate_request(q)
            valid.append(i)
        except InvalidRequest:
            pass
    ratio_m = snap.cfg.memory_overprovisioning_ratio
    ratio_s = snap.cfg.storage_overprovisioning_ratio
    vq = [requests[i] for i in valid]
    limits = [q.max_instance_per_host for q in vq if q.strategy == MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0]
    g = _Globals(
        vmax=max([q.vcpus for q in vq], default=1),
        mmax=max([mem_consume(q.memory, ratio_m) for q in vq], default=1),
        smax=max([consume(secondary_bytes(q), ratio_s) for q in vq] + [1]),
        lmin=min(limits) if limits else None,
        vms=2 * len(vq),
        storage_units=sum((2 if q.data_storage_uuid is not None else 1) + 1 for q in vq),
    )
    base_cache: dict[tuple, np.ndarray] = {}
    role_cache: dict[tuple, _Role] = {}
    kept_cache: dict[tuple, np.ndarray] = {}
    cand: dict[tuple[int, str], tuple[_Role, np.ndarray]] = {}
    if max_columns is None:
        max_columns = int(min(45_000, max(10_000, 1500 * float(time_limit_s))))
    # per (request, role, zone) host budget so that the model stays within max_columns
    limit = max(8, max_columns // max(1, 2 * len(valid) * max(1, len(snap.zone_ids))))
    inexact = 0
    for i in valid:
        q = requests[i]
        bkey = (q.vcpus, q.memory, q.l3_uuids, q.zone_uuid, q.cluster_uuid, q.strategy, q.max_instance_per_host)
        base = base_cache.get(bkey)
        if base is None:
            base = base_cache[bkey] = _base_mask(snap, q)
        for role in ("P", "S"):
            if role == "P":
                rkey = bkey + ("P", q.host_uuid, q.root_bytes, q.data_bytes, q.root_storage_uuid, q.data_storage_uuid)
            else:
                rkey = bkey + ("S", q.root_bytes + q.data_bytes)
            rd = role_cache.get(rkey)
            if rd is None:
                b = base
                if role == "P" and q.host_uuid is not None:
                    b = base.copy()
                    hi = snap.index.get(q.host_uuid)
                    b[:] = False
                    if hi is not None:
                        b[hi] = base[hi]
                rd = role_cache[rkey] = _role_data(snap, q, role, b)
            kept = kept_cache.get(rkey)
            if kept is None:
                if prune:
                    kept, ok = _prune(snap, q, rd, g, limit)
                    inexact += not ok
                else:
                    kept = np.flatnonzero(rd.mask)
                kept_cache[rkey] = kept
            cand[(i, role)] = (rd, kept)
    stats["candidates"] = int(sum(int(rd.mask.sum()) for rd, _ in cand.values()))
    stats["kept_hosts"] = int(sum(len(k) for _, k in cand.values()))
    stats["pruning"] = "exact" if prune else "none"
    if inexact:
        stats["pruning"] = f"capped at {limit} hosts per request, role and zone ({inexact} of {len(kept_cache)} cut)"
    exact = not stats["pruning"].startswith("capped")
    # Separable upper bound: each request alone, in its best zone, with the soft violations it cannot avoid there
    # (every candidate pair in the zone shares a failure domain; every secondary storage is a shared storage of
    # every primary option) and the best levels of the zone.
    sep_ub = 0
    zone_of = snap.zone
    for i in valid:
        lv = snap.level(requests[i].strategy)
        (rp, _), (rs, _) = cand[(i, "P")], cand[(i, "S")]
        best = None
        mp, ms = np.flatnonzero(rp.mask), np.flatnonzero(rs.mask)
        for z in np.intersect1d(zone_of[mp], zone_of[ms]):
            hp, hs = mp[zone_of[mp] == z], ms[zone_of[ms] == z]
            if len(hp) == 1 and len(hs) == 1 and hp[0] == hs[0]:
                continue
            fds = np.unique(np.concatenate([snap.fd[hp], snap.fd[hs]]))
            forced = int(len(fds) == 1)
            p_sets = [{t for t, _ in o if not snap.st_local[t]} for o in _zone_options(snap, rp).get(int(z), [])]
            s_sts = {o[0][0] for o in _zone_options(snap, rs).get(int(z), [])}
            inter = set.intersection(*p_sets) if p_sets else set()
            forced += int(bool(s_sts) and s_sts <= inter)
            v = W_SOFT * forced + int(lv[hp].min() + lv[hs].min())
            best = v if best is None else min(best, v)
        if best is not None:
            sep_ub += BIG - best
    stats["separable_upper_bound"] = sep_ub

    # -- greedy answer as columns (hint) ------------------------------------------------------------------
    greedy_cols: dict[int, tuple] = {}
    for i in valid:
        pl = greedy_pls[i]
        if pl is None:
            continue
        q = requests[i]
        p, s = snap.index[pl.primary_host], snap.index[pl.secondary_host]
        R, D = snap.st_index[pl.primary_storage], snap.st_index[pl.primary_data_storage]
        popt = tuple(primary_take(q, R, D, ratio_s).items())
        sopt = ((snap.st_index[pl.secondary_storage], consume(secondary_bytes(q), ratio_s)),)
        greedy_cols[i] = ((p, popt), (s, sopt))


    def build(cand_sets, prior: dict | None):
        """The 0/1 model over ``cand_sets``; hint = ``prior`` {(i, role): (host, opt)} else the greedy answer."""
        M = _Model()
        cols: dict[tuple, int] = {}  # (i, role, host, opt) -> column
        placed_col: dict[int, int] = {}
        sfd_col: dict[int, int] = {}
        sst_col: dict[int, int] = {}
        host_terms: dict[int, list] = {}  # host -> [(col, i)]
        st_terms: dict[tuple, list] = {}  # (storage, host or -1) -> [(col, consumption)]
        hint: dict[int, int] = {}

        def add_col(i: int, role: str, h: int, opt: tuple, pos_h: int) -> int:
            k = (i, role, h, opt)
            c = cols.get(k)
            if c is None:
                c = cols[k] = M.var(-int(pos_h), (i, role, h, opt))
                host_terms.setdefault(h, []).append((c, i))
                for t, amount in opt:
                    st_terms.setdefault((t, h if snap.st_local[t] else -1), []).append((c, amount))
            return c

        for i in valid:
            q = requests[i]
            pos = snap.level(q.strategy)
            per_role = {}
            for role in ("P", "S"):
                rd, kept = cand_sets[(i, role)]
                cl = []
                for h in kept.tolist():
                    for opt, m in rd.options:
                        if m[h]:
                            cl.append((add_col(i, role, h, opt, pos[h]), h, opt))
                per_role[role] = cl
            if i in greedy_cols:
                (p, popt), (s, sopt) = greedy_cols[i]
                cp = add_col(i, "P", p, popt, pos[p])
                cs = add_col(i, "S", s, sopt, pos[s])
                if all(c != cp for c, _, _ in per_role["P"]):
                    per_role["P"].append((cp, p, popt))
                if all(c != cs for c, _, _ in per_role["S"]):
                    per_role["S"].append((cs, s, sopt))
                hint[cp] = hint[cs] = 1
            P, S = per_role["P"], per_role["S"]
            if not P or not S:
                for c, _, _ in P + S:
                    M.row([c], [1], 0, 0)
                continue
            pc = placed_col[i] = M.var(BIG, ("placed", i))
            M.row([c for c, _, _ in P] + [pc], [1] * len(P) + [-1], 0, 0)
            M.row([c for c, _, _ in S] + [pc], [1] * len(S) + [-1], 0, 0)
            if i in greedy_cols:
                hint[pc] = 1
            # same zone
            zp: dict[int, list] = {}
            for c, h, _ in P:
                zp.setdefault(int(snap.zone[h]), [[], []])[0].append(c)
            for c, h, _ in S:
                zp.setdefault(int(snap.zone[h]), [[], []])[1].append(c)
            if len(zp) > 1:
                for xs, ys in zp.values():
                    M.row(xs + ys, [1] * len(xs) + [-1] * len(ys), 0, 0)
            # anti-affinity
            hp: dict[int, list] = {}
            for c, h, _ in P:
                hp.setdefault(h, [[], []])[0].append(c)
            for c, h, _ in S:
                hp.setdefault(h, [[], []])[1].append(c)
            for xs, ys in hp.values():
                if xs and ys:
                    M.row(xs + ys, [1] * (len(xs) + len(ys)), 0, 1)
            # soft rules
            fd: dict[int, list] = {}
            for c, h, _ in P:
                fd.setdefault(int(snap.fd[h]), [[], []])[0].append(c)
            for c, h, _ in S:
                fd.setdefault(int(snap.fd[h]), [[], []])[1].append(c)
            rows = [(xs, ys) for xs, ys in fd.values() if xs and ys]
            if rows:
                f = sfd_col[i] = M.var(-W_SOFT, ("sfd", i))
                for xs, ys in rows:
                    M.row(xs + ys + [f], [1] * (len(xs) + len(ys)) + [-1], -_INF, 1)
            stt: dict[int, list] = {}
            for c, _, opt in P:
                for t in {t for t, _ in opt if not snap.st_local[t]}:
                    stt.setdefault(t, [[], []])[0].append(c)
            for c, _, opt in S:
                for t, _ in opt:
                    if not snap.st_local[t]:
                        stt.setdefault(t, [[], []])[1].append(c)
            rows = [(xs, ys) for xs, ys in stt.values() if xs and ys]
            if rows:
                f = sst_col[i] = M.var(-W_SOFT, ("sst", i))
                for xs, ys in rows:
                    M.row(xs + ys + [f], [1] * (len(xs) + len(ys)) + [-1], -_INF, 1)
            if i in greedy_cols:
                (p, popt), (s, sopt) = greedy_cols[i]
                if i in sfd_col:
                    hint[sfd_col[i]] = int(snap.fd[p] == snap.fd[s])
                if i in sst_col:
                    pst = {t for t, _ in popt if not snap.st_local[t]}
                    hint[sst_col[i]] = int(sopt[0][0] in pst)

        # capacities
        for h, terms in host_terms.items():
            cs = [c for c, _ in terms]
            vc = [requests[i].vcpus for _, i in terms]
            if sum(vc) > snap.cpu_cap[h] - snap.cpu_used[h]:
                M.row(cs, vc, -_INF, int(snap.cpu_cap[h] - snap.cpu_used[h]))
            mc = [mem_consume(requests[i].memory, ratio_m) for _, i in terms]
            if sum(mc) > snap.free[h]:
                M.row(cs, mc, -_INF, int(snap.free[h]))
            if snap.max_ftvm[h] > 0 and len(cs) > snap.max_ftvm[h] - snap.ftvm[h]:
                M.row(cs, [1] * len(cs), -_INF, int(snap.max_ftvm[h] - snap.ftvm[h]))
            if snap.max_ftvcpu[h] > 0 and sum(vc) > snap.max_ftvcpu[h] - snap.ftvcpu[h]:
                M.row(cs, vc, -_INF, int(snap.max_ftvcpu[h] - snap.ftvcpu[h]))
            by_req: dict[int, list] = {}
            for c, i in terms:
                by_req.setdefault(i, []).append(c)
            n_req = len(by_req)
            for i, own in by_req.items():
                q = requests[i]
                if q.strategy == MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0:
                    room = q.max_instance_per_host - int(snap.vm[h])
                    # at most one VM per request on a host (anti-affinity); big-M = every term on the host
                    if n_req > room:
                        bigm = len(cs)
                        coef = {c: 1 for c in cs}
                        for c in own:
                            coef[c] += bigm
                        M.row(list(coef), list(coef.values()), -_INF, room + bigm)
        for (t, h), terms in st_terms.items():
            room = int(snap.st_room[t][h]) if h >= 0 else int(snap.st_room[t])
            amounts = [a for _, a in terms]
            if sum(amounts) > room:
                M.row([c for c, _ in terms], amounts, -_INF, room)
        stats["columns"] = len(M.obj)
        stats["rows"] = len(M.rows)

        if prior is not None:
            hint.clear()
            for (i, role), (h, opt) in prior.items():
                c = cols.get((i, role, h, opt))
                if c is not None:
                    hint[c] = 1
            for i in valid:
                if (i, "P") in prior and i in placed_col:
                    hint[placed_col[i]] = 1
        return M, cols, hint

    def run(M, hint, limit_s):
        if solver == "cpsat":
            return _solve_cpsat(M, hint, limit_s, workers)
        return _solve_highs(M, hint, limit_s, workers)

    def decode(cols, values):
        chosen: dict[tuple[int, str], tuple] = {}
        for (i, role, h, opt), c in cols.items():
            if values[c] > 0.5:
                chosen[(i, role)] = (h, opt)
        pls: list[Placement | None] = [None] * N
        for i in valid:
            if (i, "P") in chosen and (i, "S") in chosen:
                (p, popt), (s, sopt) = chosen[(i, "P")], chosen[(i, "S")]
                root = snap.st[popt[0][0]].uuid
                data = snap.st[popt[-1][0]].uuid
                pls[i] = Placement(snap.hosts[p].uuid, root, data, snap.hosts[s].uuid, snap.st[sopt[0][0]].uuid)
        return pls, chosen

    # -- solve -----------------------------------------------------------------------------------------------------
    # Stage 1: a small model (each request's few best hosts per zone). An answer worth the separable upper bound is
    # optimal for the full problem, whatever was cut. Stage 2: the pruned model, warm-started with stage 1's answer.
    s_pls: list[Placement | None] | None = None
    s_obj = None
    status, bound = "UNKNOWN", None
    t2 = time.perf_counter()
    deadline = t2 + float(time_limit_s)
    prior = None
    if g_obj >= sep_ub:
        status, bound, s_pls, s_obj = "OPTIMAL", float(sep_ub), greedy_pls, g_obj
        stats["proof"] = "greedy reaches the separable upper bound"
    else:
        small = {}
        for key, (rd, kept) in cand.items():
            zs = snap.zone[kept]
            small[key] = (rd, np.concatenate([kept[zs == z][:STAGE1_HOSTS] for z in np.unique(zs)]) if len(kept) else kept)
        if sum(len(k) for _, k in small.values()) < stats["kept_hosts"]:
            M1, cols1, hint1 = build(small, None)
            st1, values1, obj1, _ = run(M1, hint1, max(0.05, 0.3 * time_limit_s))
            stats["stage1_columns"] = len(M1.obj)
            stats["stage1_status"] = st1
            if values1 is not None:
                pls1, prior = decode(cols1, values1)
                o1 = score(pls1)[0]
                if o1 > g_obj:
                    s_pls, s_obj = pls1, o1
                if o1 >= sep_ub:
                    status, bound = "OPTIMAL", float(sep_ub)
                    stats["proof"] = "stage 1 reaches the separable upper bound"
        if status != "OPTIMAL":
            M, cols, hint = build(cand, prior)
            stats["columns"] = len(M.obj)
            stats["rows"] = len(M.rows)
            st2, values, obj, bound = run(M, hint, max(0.05, deadline - time.perf_counter()))
            status = st2
            if values is not None:
                pls2 = decode(cols, values)[0]
                o2 = score(pls2)[0]
                if s_obj is None or o2 > s_obj:
                    s_pls, s_obj = pls2, o2
            if status == "OPTIMAL" and exact:
                stats["proof"] = "pruned model solved to optimality (the pruning is exact)"
    stats["prepare_seconds"] = t2 - t1
    stats["solve_seconds"] = time.perf_counter() - t2  # model building included

    source = "greedy"
    pls = greedy_pls
    if s_pls is not None and s_obj > g_obj:
        # dry run of reserve() on our own copy: the solver's answer must pass every re-check
        try:
            for k, q, pl in zip(keys, requests, s_pls):
                if pl is not None:
                    base_engine.reserve(k, q, pl)
            source, pls = solver, s_pls
        except PlacementError as e:  # pragma: no cover - would be a modelling bug
            stats["dry_run_error"] = repr(e)
    objective, placed, soft = score(pls)
    errors: list[PlacementError | None] = []
    for i, (pl, gr) in enumerate(zip(pls, greedy)):
        if pl is not None:
            errors.append(None)
        elif isinstance(gr, PlacementError):
            errors.append(gr)
        else:
            errors.append(NotPlacedInBatch("not placed: the joint optimum used its room for other requests"))
    if not exact and "proof" not in stats:
        stats["restricted_status"] = status
        status = "FEASIBLE"
        bound = float(sep_ub)
    elif status not in ("OPTIMAL", "FEASIBLE") and s_pls is not None:
        status = "FEASIBLE"
    if bound is None or not math.isfinite(bound):
        bound = float(objective) if status == "OPTIMAL" else float(sep_ub)
    gap = (bound - objective) / max(1.0, abs(bound)) if math.isfinite(bound) else float("nan")
    if source == "greedy" and status == "OPTIMAL" and s_obj is not None and s_obj == g_obj:
        gap = 0.0
    bound = max(bound, float(objective)) if math.isfinite(bound) else bound
    return BatchResult(
        keys=list(keys),
        requests=list(requests),
        placements=pls,
        errors=errors,
        source=source,
        solver=solver,
        status=status,
        objective=objective,
        greedy_objective=g_obj,
        solver_objective=s_obj,
        best_bound=bound,
        gap=max(0.0, gap) if math.isfinite(gap) else gap,
        seconds=time.perf_counter() - t0,
        placed=placed,
        greedy_placed=g_placed,
        soft_violations=soft,
        greedy_soft_violations=g_soft,
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
    return name, values, int(round(s.objective_value)), float(s.best_objective_bound)


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
    n = len(M.obj)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(M.rows)
    lp.col_cost_ = np.array(M.obj, dtype=np.float64)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.array([lo if lo != -_INF else -inf for _, _, lo, _ in M.rows], dtype=np.float64)
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
    h.passModel(lp)
    sol = highspy.HighsSolution()
    sol.col_value = [float(hint.get(j, 0)) for j in range(n)]
    sol.value_valid = True
    try:
        h.setSolution(sol)
    except Exception:  # pragma: no cover - older highspy
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
    values = [int(round(v)) for v in h.getSolution().col_value]
    status = "OPTIMAL" if ms == highspy.HighsModelStatus.kOptimal else "FEASIBLE"
    return status, values, int(round(info.objective_function_value)), float(info.mip_dual_bound)


__all__ = ["BatchResult", "NotPlacedInBatch", "solve_batch"]
