"""A vectorized numpy implementation of docs/placement-semantics.md: the benchmark's "good Python" peer.

It is what a careful Python developer would write without a native core: one array per host fact, a boolean mask
per rule, `argmin`/`lexsort` for the candidate order and in-place array updates on reserve. Per call it costs a
handful of passes over every host array (no Python loop over hosts); the per-rule counts of `NoHostAvailable` are
only computed on the failure path. It implements the same semantics as the Rust core and must give the same
placements (the smoke test checks a stream).

Constants, quantities and scalar rules come from `ftvm.placement.semantics`; where a rule is vectorised here, the
code names the scalar rule of that module it mirrors.
"""

from __future__ import annotations

import copy as _copy
import threading
from collections.abc import Sequence

import numpy as np

from ftvm.placement import semantics
from ftvm.placement.errors import (
    NoHostAvailable,
    PlacementError,
    ReservationConflict,
    StalePlacement,
    UnknownResource,
)
from ftvm.placement.model import (
    RULES,
    Config,
    HostSpec,
    Inventory,
    Placement,
    Request,
    StorageSpec,
    uuid_order_key,
)

U64_MAX = np.uint64(semantics.U64_MAX)
_SENT = np.iinfo(np.int64).min  # "no storage" in avail comparisons
_HOST_FIELDS = (
    "zone",
    "cluster",
    "fd",
    "cpu_num",
    "cap",
    "mem_total",
    "enabled",
    "connected",
    "kvm",
    "ft_addr",
    "max_ft_vms",
    "max_ft_vcpus",
    "cpu_used",
    "mem_used",
    "vm_count",
    "ft_vms",
    "ft_vcpus",
    "r_cpu",
    "r_mem",
    "r_vm",
    "r_ftvms",
    "r_ftvcpus",
    "key_hi",
    "key_lo",
    "present",
    "gen",
    # derived, kept in step by _refresh() on every upsert / reserve / release:
    "base_ok",
    "cpu_free",
    "mem_ok_f",
    "ft_vm_ok",
    "ft_vcpu_room",
    "s_cpu",
    "s_mem",
    "s_def",
)
_HOST_DTYPES = {
    "enabled": bool,
    "connected": bool,
    "kvm": bool,
    "ft_addr": bool,
    "present": bool,
    "key_hi": np.uint64,
    "key_lo": np.uint64,
    "base_ok": bool,
    "mem_ok_f": np.float64,
    "ft_vm_ok": bool,
    "s_cpu": np.uint64,
    "s_mem": np.uint64,
    "s_def": np.uint64,
}
_I64_MAX = np.iinfo(np.int64).max
# (usage column, reserved column) in the order of semantics.reservation_delta
_RESERVED_FIELDS = (
    ("cpu_used", "r_cpu"),
    ("mem_used", "r_mem"),
    ("vm_count", "r_vm"),
    ("ft_vms", "r_ftvms"),
    ("ft_vcpus", "r_ftvcpus"),
)


def _shl40_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """min((num << 40) // den, 2**64 - 1) exactly for int64 num >= 0, 0 < den < 2**56 (no 128-bit ints in numpy)."""
    num = num.astype(np.uint64)
    den = den.astype(np.uint64)
    q = num // den
    r = num % den
    sat = q >= np.uint64(1 << 24)
    acc = q
    for _ in range(5):  # 5 × 8 bits of long division
        r = r << np.uint64(8)
        acc = (acc << np.uint64(8)) + r // den
        r = r % den
    acc[sat] = U64_MAX
    return acc


class _Res:
    """One reservation: what was taken, so release() can give exactly that back."""

    __slots__ = ("hosts", "storage")

    def __init__(self) -> None:
        self.hosts: list[tuple[str, int, tuple]] = []  # (uuid, generation, semantics.reservation_delta)
        self.storage: list[tuple[str, str | None, int]] = []  # (storage uuid, host uuid for Local, bytes)


class NumpyEngine:
    name = "numpy"

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self._lock = threading.RLock()
        self._n = 0
        self._uuids: list[str] = []
        self._index: dict[str, int] = {}
        self._cap_alloc = 0
        self.h: dict[str, np.ndarray] = {}
        self._alloc(1024)
        self._gen_counter = 0
        self._rank = np.zeros(0, dtype=np.int64)  # host position in uuid_order_key order
        self._rank_dirty = False
        # interned labels
        self._zones: dict[str, int] = {}
        self._clusters: dict[str, int] = {}
        self._fds: dict[str, int] = {}
        # networks
        self._l3_to_l2: dict[str, str] = {}
        self._cluster_l2: dict[str, set[str]] = {}
        self._l2_ids: dict[str, int] = {}
        self._attach = np.zeros((0, 0), dtype=bool)
        self._attach_dirty = True
        # storages
        self._storages: dict[str, StorageSpec] = {}
        self._st_res: dict[str, int] = {}  # shared storage uuid -> bytes held by reservations
        self._loc_res: dict[tuple[str, str], int] = {}  # (local storage uuid, host uuid) -> bytes held
        self._st_dirty = True
        self._reservations: dict[str, _Res] = {}
        self._static_cache: dict[tuple, np.ndarray] = {}  # (l3s, zone pin, cluster pin) -> host mask

    # ---- host arrays -------------------------------------------------------------------------------------

    def _alloc(self, cap: int) -> None:
        old = self.h
        self.h = {}
        for f in _HOST_FIELDS:
            a = np.zeros(cap, dtype=_HOST_DTYPES.get(f, np.int64))
            if old:
                a[: self._n] = old[f][: self._n]
            self.h[f] = a
        self._cap_alloc = cap

    def _view(self, f: str) -> np.ndarray:
        return self.h[f][: self._n]

    def _intern(self, table: dict[str, int], s: str) -> int:
        i = table.get(s)
        if i is None:
            i = table[s] = len(table)
            if table is self._clusters:
                self._attach_dirty = True
                self._st_dirty = True
        return i

    def upsert_host(self, spec: HostSpec) -> None:
        self.upsert_hosts([spec])

    def upsert_hosts(self, specs: Sequence[HostSpec]) -> None:
        with self._lock:
            if not specs:
                return
            for s in specs:
                uuid_order_key(s.uuid)  # validates
            n_new = sum(1 for s in specs if s.uuid not in self._index)
            if self._n + n_new > self._cap_alloc:
                self._alloc(max(self._n + n_new, 2 * self._cap_alloc))
            idx = np.empty(len(specs), dtype=np.int64)
            new_mask = np.zeros(len(specs), dtype=bool)
            for k, s in enumerate(specs):
                i = self._index.get(s.uuid)
                if i is None:
                    i = self._n
                    self._n += 1
                    self._index[s.uuid] = i
                    self._uuids.append(s.uuid)
                    new_mask[k] = True
                idx[k] = i
            h = self.h
            ratio = self.config.cpu_overprovisioning_ratio
            col = lambda attr: np.fromiter((getattr(s, attr) for s in specs), dtype=np.int64, count=len(specs))  # noqa: E731
            h["cpu_num"][idx] = col("cpu_num")
            h["cap"][idx] = np.fromiter(
                (semantics.cpu_capacity(s.cpu_num, ratio) for s in specs), dtype=np.int64, count=len(specs)
            )
            h["mem_total"][idx] = col("memory_total")
            h["max_ft_vms"][idx] = col("max_ft_vms")
            h["max_ft_vcpus"][idx] = col("max_ft_vcpus")
            # a re-upserted host keeps its reservations on top of the new base facts
            h["cpu_used"][idx] = col("cpu_used") + np.where(new_mask, 0, h["r_cpu"][idx])
            h["mem_used"][idx] = col("memory_used") + np.where(new_mask, 0, h["r_mem"][idx])
            h["vm_count"][idx] = col("vm_count") + np.where(new_mask, 0, h["r_vm"][idx])
            h["ft_vms"][idx] = col("ft_vm_count") + np.where(new_mask, 0, h["r_ftvms"][idx])
            h["ft_vcpus"][idx] = col("ft_vcpu_count") + np.where(new_mask, 0, h["r_ftvcpus"][idx])
            for f in ("r_cpu", "r_mem", "r_vm", "r_ftvms", "r_ftvcpus"):
                h[f][idx[new_mask]] = 0
            h["zone"][idx] = [self._intern(self._zones, s.zone_uuid) for s in specs]
            h["cluster"][idx] = [self._intern(self._clusters, s.cluster_uuid) for s in specs]
            h["fd"][idx] = [self._intern(self._fds, s.failure_domain) for s in specs]
            h["enabled"][idx] = [s.state == "Enabled" for s in specs]
            h["connected"][idx] = [s.status == "Connected" for s in specs]
            h["kvm"][idx] = [s.hypervisor == "KVM" for s in specs]
            h["ft_addr"][idx] = [bool(s.ft_address) for s in specs]
            h["present"][idx] = True
            self._refresh(idx)
            if new_mask.any():
                keys = [s.uuid.replace("-", "") for s in specs]
                new_idx = idx[new_mask]
                h["key_hi"][new_idx] = np.array(
                    [int(keys[k][:16], 16) for k in np.flatnonzero(new_mask)], dtype=np.uint64
                )
                h["key_lo"][new_idx] = np.array(
                    [int(keys[k][16:], 16) for k in np.flatnonzero(new_mask)], dtype=np.uint64
                )
                gens = np.arange(self._gen_counter, self._gen_counter + len(new_idx))
                self._gen_counter += len(new_idx)
                h["gen"][new_idx] = gens
                self._rank_dirty = True
            self._st_dirty = True  # local entries map host uuids to rows
            self._static_cache.clear()

    def remove_host(self, uuid: str) -> None:
        with self._lock:
            i = self._index.pop(uuid, None)
            if i is None:
                raise UnknownResource("Host", uuid)
            # tombstone: the row stays (never matches), its uuid is free for a new host
            self.h["present"][i] = False
            self.h["base_ok"][i] = False
            self._static_cache.clear()
            self._uuids[i] = ""
            self._st_dirty = True
            for st, hu in [k for k in self._loc_res if k[1] == uuid]:
                del self._loc_res[(st, hu)]

    def _refresh(self, idx) -> None:
        """Recompute the derived per-host arrays of rows idx: the inputs of semantics.common_rule (memory, FT
        limits, CPU room) and the semantics.strategy_score of each strategy, vectorised."""
        h = self.h
        cfg = self.config
        h["base_ok"][idx] = (
            h["present"][idx] & h["enabled"][idx] & h["connected"][idx] & h["kvm"][idx] & h["ft_addr"][idx]
        )
        cap, used = h["cap"][idx], h["cpu_used"][idx]
        h["cpu_free"][idx] = cap - used
        free = h["mem_total"][idx] - cfg.reserved_memory - h["mem_used"][idx]
        # Memory passes when free >= 0 and float(free) * ratio >= float(memory): -inf encodes free < 0
        h["mem_ok_f"][idx] = np.where(free >= 0, free.astype(np.float64) * cfg.memory_overprovisioning_ratio, -np.inf)
        mfv, mfc = h["max_ft_vms"][idx], h["max_ft_vcpus"][idx]
        h["ft_vm_ok"][idx] = (mfv == 0) | (h["ft_vms"][idx] + 1 <= mfv)
        h["ft_vcpu_room"][idx] = np.where(mfc == 0, _I64_MAX, mfc - h["ft_vcpus"][idx])
        s_cpu = _shl40_div(used, np.maximum(cap, 1))
        s_cpu[cap == 0] = U64_MAX
        h["s_cpu"][idx] = s_cpu
        tot = h["mem_total"][idx]
        s_mem = _shl40_div(h["mem_used"][idx], np.maximum(tot, 1))
        s_mem[tot == 0] = U64_MAX
        h["s_mem"][idx] = s_mem
        h["s_def"][idx] = U64_MAX - np.maximum(free, 0).astype(np.uint64)

    def _ranks(self) -> np.ndarray:
        if self._rank_dirty or len(self._rank) != self._n:
            order = np.lexsort((self._view("key_lo"), self._view("key_hi")))
            rank = np.empty(self._n, dtype=np.int64)
            rank[order] = np.arange(self._n)
            self._rank = rank
            self._rank_dirty = False
        return self._rank

    # ---- networks ----------------------------------------------------------------------------------------

    def set_l3(self, l3_uuid: str, l2_uuid: str) -> None:
        with self._lock:
            self._l3_to_l2[l3_uuid] = l2_uuid
            self._static_cache.clear()

    def attach_l2(self, cluster_uuid: str, l2_uuid: str) -> None:
        with self._lock:
            self._cluster_l2.setdefault(cluster_uuid, set()).add(l2_uuid)
            self._intern(self._clusters, cluster_uuid)
            self._intern(self._l2_ids, l2_uuid)
            self._attach_dirty = True
            self._static_cache.clear()

    def detach_l2(self, cluster_uuid: str, l2_uuid: str) -> None:
        with self._lock:
            self._cluster_l2.get(cluster_uuid, set()).discard(l2_uuid)
            self._attach_dirty = True
            self._static_cache.clear()

    def _attach_matrix(self) -> np.ndarray:
        if self._attach_dirty:
            m = np.zeros((len(self._clusters), len(self._l2_ids)), dtype=bool)
            for c, l2s in self._cluster_l2.items():
                ci = self._clusters[c]
                for l2 in l2s:
                    m[ci, self._l2_ids[l2]] = True
            self._attach = m
            self._attach_dirty = False
        return self._attach

    # ---- storages ----------------------------------------------------------------------------------------

    def upsert_storage(self, spec: StorageSpec) -> None:
        with self._lock:
            uuid_order_key(spec.uuid)
            spec = _copy.copy(spec)
            spec.cluster_uuids = tuple(spec.cluster_uuids)
            spec.host_available = dict(spec.host_available)
            self._storages[spec.uuid] = spec
            for c in spec.cluster_uuids:
                self._intern(self._clusters, c)
            self._st_dirty = True

    def remove_storage(self, uuid: str) -> None:
        with self._lock:
            if self._storages.pop(uuid, None) is None:
                raise UnknownResource("PrimaryStorage", uuid)
            self._st_res.pop(uuid, None)
            for k in [k for k in self._loc_res if k[0] == uuid]:
                del self._loc_res[k]
            self._st_dirty = True

    def _build_storage(self) -> None:
        """Per-storage arrays, the cluster x storage incidence (sorted by uuid) and the local disk entries."""
        if not self._st_dirty:
            return
        sts = sorted(self._storages.values(), key=lambda s: uuid_order_key(s.uuid))
        self._st_list = sts
        self._st_idx = {s.uuid: k for k, s in enumerate(sts)}
        ns = len(sts)
        self._st_ok = np.array([s.state == "Enabled" and s.status == "Connected" for s in sts], dtype=bool)
        self._st_shared = np.array([s.kind != "Local" for s in sts], dtype=bool)
        self._st_avail = np.array(
            [s.available - self._st_res.get(s.uuid, 0) if s.kind != "Local" else 0 for s in sts], dtype=np.int64
        )
        nc = len(self._clusters)
        per_cluster: list[list[int]] = [[] for _ in range(nc)]
        pairs = []
        for k, s in enumerate(sts):  # sts is in uuid order, so each cluster's list is too
            for c in set(s.cluster_uuids):
                ci = self._clusters[c]
                pairs.append(ci * max(ns, 1) + k)
                if s.kind != "Local":
                    per_cluster[ci].append(k)
        width = max((len(x) for x in per_cluster), default=0)
        cs = np.full((nc, max(width, 1)), -1, dtype=np.int64)
        for ci, lst in enumerate(per_cluster):
            cs[ci, : len(lst)] = lst
        self._cs = cs  # shared storages of each cluster, by uuid order, -1 padded
        self._pairs = np.unique(np.array(pairs, dtype=np.int64))
        # local entries: (storage, host row) with the host's own available bytes
        ls, lh, la = [], [], []
        for k, s in enumerate(sts):
            if s.kind != "Local":
                continue
            for hu, avail in s.host_available.items():
                i = self._index.get(hu)
                if i is None:
                    continue
                ls.append(k)
                lh.append(i)
                la.append(avail - self._loc_res.get((s.uuid, hu), 0))
        self._loc_s = np.array(ls, dtype=np.int64)
        self._loc_h = np.array(lh, dtype=np.int64)
        self._loc_avail = np.array(la, dtype=np.int64)
        self._loc_pos = {(ls[e], lh[e]): e for e in range(len(ls))}
        self._loc_by_host: dict[int, list[int]] = {}
        for e in range(len(ls)):
            self._loc_by_host.setdefault(lh[e], []).append(e)
        # layer = occurrence number of the host among the entries, so that each layer has unique hosts
        layer = np.zeros(len(ls), dtype=np.int64)
        if len(ls):
            order = np.argsort(self._loc_h, kind="stable")
            sh = self._loc_h[order]
            start = np.flatnonzero(np.r_[True, sh[1:] != sh[:-1]])
            run_start = np.repeat(start, np.diff(np.r_[start, len(sh)]))
            layer[order] = np.arange(len(sh)) - run_start
        self._loc_layer = layer
        self._loc_layers = int(layer.max()) + 1 if len(ls) else 0
        self._loc_attached = (
            np.isin(self._view("cluster")[self._loc_h] * max(ns, 1) + self._loc_s, self._pairs)
            if len(ls)
            else np.zeros(0, dtype=bool)
        )
        self._st_dirty = False

    def _consume(self, nbytes: int) -> int:
        return semantics.consume(nbytes, self.config.storage_overprovisioning_ratio)

    def _best_storage(
        self,
        hosts: np.ndarray,
        need: np.ndarray,
        already: np.ndarray | None = None,
        same: np.ndarray | None = None,
        only: int = -1,
    ):
        """Best storage per host of `hosts` for per-storage consumptions `need` (bytes after the ratio).

        already/same: per storage, what the pair's other VM takes from it / whether it is "the same storage".
        only >= 0 restricts the choice to that storage. Returns (storage index or -1, same flag) per host.
        Vectorised semantics.storage_fits and storage_preference (storage index order is uuid order).
        """
        reserved = self.config.storage_reserved_capacity
        ns = len(self._st_list)
        if ns == 0 or len(self._cs) == 0:
            none = np.full(len(hosts), -1, dtype=np.int64)
            return none, np.zeros(len(hosts), dtype=bool)
        fit_s = (
            self._st_ok & self._st_shared & (self._st_avail - need - (0 if already is None else already) >= reserved)
        )
        if only >= 0:
            keep = np.zeros(ns, dtype=bool)
            keep[only] = True
            fit_s &= keep
        same_s = np.zeros(ns, dtype=bool) if same is None else same
        # per cluster (cheap: clusters x few storages), then broadcast to the hosts
        cs = self._cs
        valid = cs >= 0
        s = np.where(valid, cs, 0)
        fit = valid & fit_s[s]
        nonsame_any = (fit & ~same_s[s]).any(axis=1)
        fit &= ~same_s[s] | ~nonsame_any[:, None]
        a = np.where(fit, self._st_avail[s], _SENT)
        j = np.argmax(a, axis=1)
        rows = np.arange(len(cs))
        c_best = np.where(a[rows, j] != _SENT, cs[rows, j], -1)
        hc = self._view("cluster")[hosts]
        best = c_best[hc]
        best_avail = np.where(best >= 0, self._st_avail[np.maximum(best, 0)], _SENT)
        best_same = np.where(best >= 0, same_s[np.maximum(best, 0)], False)
        if self._loc_layers:
            pos = np.full(self._n, -1, dtype=np.int64)
            pos[hosts] = np.arange(len(hosts))
            ent_pos = pos[self._loc_h]
            e_ok = (
                (ent_pos >= 0)
                & self._loc_attached
                & self._st_ok[self._loc_s]
                & (self._loc_avail - need[self._loc_s] >= reserved)
            )
            if only >= 0:
                e_ok &= self._loc_s == only
            for layer in range(self._loc_layers):
                e = np.flatnonzero(e_ok & (self._loc_layer == layer))
                if not len(e):
                    continue
                p = ent_pos[e]
                ea, es = self._loc_avail[e], self._loc_s[e]
                cur, cura, curs = best[p], best_avail[p], best_same[p]
                # local disks are never "the same storage"; storage index order == uuid order
                better = (cur < 0) | curs | (ea > cura) | ((ea == cura) & (es < cur))
                best[p[better]] = es[better]
                best_avail[p[better]] = ea[better]
                best_same[p[better]] = False
        return best, best_same

    def _storage_ok(
        self,
        hosts: np.ndarray,
        need: np.ndarray,
        already: np.ndarray | None = None,
        same: np.ndarray | None = None,
        only: int = -1,
    ):
        """Fast path of `_best_storage`: per host of `hosts`, whether some storage fits and whether the best one
        is "the same storage" (only same storages fit). Decided per cluster, plus each host's local disks."""
        reserved = self.config.storage_reserved_capacity
        ns = len(self._st_list)
        if ns == 0 or len(self._cs) == 0:
            return np.zeros(len(hosts), dtype=bool), np.zeros(len(hosts), dtype=bool)
        fit_s = (
            self._st_ok & self._st_shared & (self._st_avail - need - (0 if already is None else already) >= reserved)
        )
        if only >= 0:
            keep = np.zeros(ns, dtype=bool)
            keep[only] = True
            fit_s &= keep
        cs = self._cs
        valid = cs >= 0
        s = np.where(valid, cs, 0)
        fit = valid & fit_s[s]
        if same is None:
            c_ok = fit.any(axis=1)
            c_only_same = None
        else:
            c_nonsame = (fit & ~same[s]).any(axis=1)
            c_ok = c_nonsame | (fit & same[s]).any(axis=1)
            c_only_same = c_ok & ~c_nonsame
        hc = self.h["cluster"][hosts]
        ok = c_ok[hc]
        loc = None
        if self._loc_layers:
            e_ok = self._loc_attached & self._st_ok[self._loc_s] & (self._loc_avail - need[self._loc_s] >= reserved)
            if only >= 0:
                e_ok &= self._loc_s == only
            loc_fit = np.zeros(self._n, dtype=bool)
            loc_fit[self._loc_h[e_ok]] = True
            loc = loc_fit[hosts]
            ok |= loc
        if c_only_same is None:
            return ok, None
        same_h = c_only_same[hc]
        if loc is not None:
            same_h &= ~loc
        return ok, same_h

    def _best_one(
        self,
        i: int,
        need: np.ndarray,
        already: np.ndarray | None = None,
        same: np.ndarray | None = None,
        only: int = -1,
    ) -> int:
        """Exact best storage index for one host (-1 if none) by semantics.storage_preference."""
        reserved = self.config.storage_reserved_capacity
        best = None
        c = int(self.h["cluster"][i])
        if c < len(self._cs):
            for st in self._cs[c].tolist():
                if st < 0 or (only >= 0 and st != only) or not self._st_ok[st]:
                    continue
                a = int(self._st_avail[st])
                if a - int(need[st]) - (0 if already is None else int(already[st])) < reserved:
                    continue
                k = semantics.storage_preference(a, st, bool(same[st]) if same is not None else False)
                if best is None or k < best:
                    best = k
        for e in self._loc_by_host.get(i, ()):
            st = int(self._loc_s[e])
            if (only >= 0 and st != only) or not self._st_ok[st] or not self._loc_attached[e]:
                continue
            a = int(self._loc_avail[e])
            if a - int(need[st]) < reserved:
                continue
            k = semantics.storage_preference(a, st)
            if best is None or k < best:
                best = k
        return -1 if best is None else best[2]

    # ---- requests ----------------------------------------------------------------------------------------

    def _l2_mask(self, q: Request) -> np.ndarray:
        """semantics.l2_attached per host, from the cluster x L2 attachment matrix."""
        n = self._n
        l2_ids = []
        for l3 in q.l3_uuids:
            l2 = self._l3_to_l2.get(l3)
            if l2 is None or l2 not in self._l2_ids:
                return np.zeros(n, dtype=bool)
            l2_ids.append(self._l2_ids[l2])
        if not l2_ids:
            return np.ones(n, dtype=bool)
        ok_c = self._attach_matrix()[:, l2_ids].all(axis=1)
        return ok_c[self.h["cluster"][:n]]

    def _rule_masks(self, q: Request):
        """Masks of rules 6-11 of semantics.common_rule, the same for both roles: L2, FT limits, max instances
        (None when not asked), CPU, memory. Straight from the raw columns (the failure and reserve paths use
        these; the fast path uses the columns _refresh derives)."""
        n = self._n
        h = self.h
        m_l2 = self._l2_mask(q)
        ftv, ftc = h["ft_vms"][:n], h["ft_vcpus"][:n]
        mfv, mfc = h["max_ft_vms"][:n], h["max_ft_vcpus"][:n]
        m_ftl = ((mfv == 0) | (ftv + 1 <= mfv)) & ((mfc == 0) | (ftc + q.vcpus <= mfc))
        if q.strategy == semantics.MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0:
            m_mi = h["vm_count"][:n] < q.max_instance_per_host
        else:
            m_mi = None
        m_cpu = h["cpu_used"][:n] + q.vcpus <= h["cap"][:n]
        free = h["mem_total"][:n] - self.config.reserved_memory - h["mem_used"][:n]
        m_mem = (free >= 0) & (free.astype(np.float64) * self.config.memory_overprovisioning_ratio >= float(q.memory))
        return m_l2, m_ftl, m_mi, m_cpu, m_mem

    def _loc_pin_mask(self, q: Request) -> np.ndarray:
        """semantics.pins_ok per host."""
        n = self._n
        m = np.ones(n, dtype=bool)
        if q.zone_uuid is not None:
            z = self._zones.get(q.zone_uuid)
            m &= self.h["zone"][:n] == (-1 if z is None else z)
        if q.cluster_uuid is not None:
            c = self._clusters.get(q.cluster_uuid)
            m &= self.h["cluster"][:n] == (-1 if c is None else c)
        return m

    def _static_mask(self, q: Request) -> np.ndarray:
        """Rules that only change with the inventory (state, status, hypervisor, FT address, zone / cluster pins,
        L2 attachment), cached per (L3s, zone pin, cluster pin)."""
        key = (q.l3_uuids, q.zone_uuid, q.cluster_uuid)
        m = self._static_cache.get(key)
        if m is None:
            m = self.h["base_ok"][: self._n] & self._l2_mask(q) & self._loc_pin_mask(q)
            if len(self._static_cache) >= 64:
                self._static_cache.pop(next(iter(self._static_cache)))
            self._static_cache[key] = m
        return m

    def _score(self, q: Request, idx: np.ndarray) -> np.ndarray:
        """semantics.strategy_score of the hosts idx (kept in step by _refresh)."""
        h = self.h
        st = q.strategy
        if st in semantics.VM_COUNT_STRATEGIES:
            return h["vm_count"][idx]
        if st == semantics.MIN_CPU_STRATEGY:
            return h["s_cpu"][idx]
        if st == semantics.MIN_MEMORY_STRATEGY:
            return h["s_mem"][idx]
        return h["s_def"][idx]  # Default

    def _primary_need(self, q: Request):
        """Per-storage consumption for the primary's root storage and the pin it must honour (the cases of
        semantics.choose_primary_storage)."""
        ns = len(self._st_list)
        r, d = q.root_bytes, q.data_bytes
        D = self._st_idx.get(q.data_storage_uuid, -2) if q.data_storage_uuid is not None else -1
        R = self._st_idx.get(q.root_storage_uuid, -2) if q.root_storage_uuid is not None else -1
        if D == -1:
            need = np.full(ns, self._consume(r + d), dtype=np.int64)
        else:
            need = np.full(ns, self._consume(r), dtype=np.int64)
            if D >= 0:
                need[D] = self._consume(r + d)
        return need, R, D

    def _primary_storage(self, q: Request, hosts: np.ndarray):
        """(root storage, data storage) per host of `hosts`, -1 where none."""
        need, R, D = self._primary_need(q)
        if R == -2 or D == -2:  # pin to an unknown storage: nothing fits
            neg = np.full(len(hosts), -1, dtype=np.int64)
            return neg, neg
        root, _ = self._best_storage(hosts, need, only=R)
        if D < 0:
            return root, root.copy()
        # D must hold d on its own (or r + d when it is also the root, which `need` already asks)
        dneed = np.full(len(self._st_list), self._consume(q.data_bytes), dtype=np.int64)
        dok, _ = self._best_storage(hosts, dneed, only=D)
        ok = (root >= 0) & (dok >= 0)
        return np.where(ok, root, -1), np.where(ok, D, -1)

    def _primary_take(self, q: Request, root: int, data: int) -> dict[int, int]:
        """Bytes (after the ratio) the primary takes from each storage index."""
        return semantics.primary_take(q, root, data, self.config.storage_overprovisioning_ratio)

    def _secondary_storage(self, q: Request, hosts: np.ndarray, p_take: dict[int, int]):
        ns = len(self._st_list)
        need = np.full(ns, self._consume(semantics.secondary_bytes(q)), dtype=np.int64)
        already = np.zeros(ns, dtype=np.int64)
        same = np.zeros(ns, dtype=bool)
        for s, b in p_take.items():
            if self._st_shared[s]:
                same[s] = True
                already[s] = b
        return self._best_storage(hosts, need, already=already, same=same)

    def place(self, request: Request) -> Placement:
        with self._lock:
            return self._place(request)[0]

    def _place(self, q: Request):
        semantics.validate_request(q)
        self._build_storage()
        n = self._n
        h = self.h
        rank = self._ranks()
        v = q.vcpus
        # rules 1-11 for both roles (the secondary's zone and anti-affinity come below)
        common = (
            self._static_mask(q)
            & h["ft_vm_ok"][:n]
            & (h["ft_vcpu_room"][:n] >= v)
            & (h["cpu_free"][:n] >= v)
            & (h["mem_ok_f"][:n] >= float(q.memory))
        )
        if q.strategy == semantics.MAX_INSTANCE_STRATEGY and q.max_instance_per_host > 0:
            common &= h["vm_count"][:n] < q.max_instance_per_host
        if q.host_uuid is not None:
            i = self._index.get(q.host_uuid)
            cand = np.array([i] if i is not None and common[i] else [], dtype=np.int64)
        else:
            cand = np.flatnonzero(common)
        need, R, D = self._primary_need(q)
        ns = len(self._st_list)
        if R == -2 or D == -2:  # pinned to an unknown storage
            cand = cand[:0]
        elif len(cand):
            ok, _ = self._storage_ok(cand, need, only=R)
            if D >= 0:
                dneed = np.full(ns, self._consume(q.data_bytes), dtype=np.int64)
                ok &= self._storage_ok(cand, dneed, only=D)[0]
            cand = cand[ok]
        if not len(cand):
            raise self._failure(q, "primary", None)
        score = self._score(q, cand)
        # first candidate by (score, uuid): argmin twice; the full order only if it has no secondary
        mn = score.min()
        ties = np.flatnonzero(score == mn)
        first = ties[np.argmin(rank[cand[ties]])]
        order = None
        k = 0
        zone = h["zone"][:n]
        fd = h["fd"][:n]
        s_need = np.full(ns, self._consume(semantics.secondary_bytes(q)), dtype=np.int64)
        while True:
            j = first if order is None else order[k]
            p = int(cand[j])
            root = self._best_one(p, need, only=R)
            data = root if D < 0 else D
            p_take = self._primary_take(q, root, data)
            already = np.zeros(ns, dtype=np.int64)
            same = np.zeros(ns, dtype=bool)
            for st, b in p_take.items():
                if self._st_shared[st]:
                    same[st] = True
                    already[st] = b
            sm = common & (zone == zone[p])
            sm[p] = False
            sc = np.flatnonzero(sm)
            ok, s_same = self._storage_ok(sc, s_need, already=already, same=same)
            sc, s_same = sc[ok], s_same[ok]
            if len(sc):
                # (same failure domain, same storage, score, uuid): staged minimums
                keep = np.arange(len(sc))
                for key in ((fd[sc] == fd[p]), s_same):
                    if not key[keep].all():
                        keep = keep[~key[keep]]
                ssc = self._score(q, sc[keep])
                keep = keep[ssc == ssc.min()]
                sel = keep[np.argmin(rank[sc[keep]])]
                s = int(sc[sel])
                s_st = self._best_one(s, s_need, already=already, same=same)
                placement = Placement(
                    self._uuids[p],
                    self._st_list[root].uuid,
                    self._st_list[data].uuid,
                    self._uuids[s],
                    self._st_list[s_st].uuid,
                )
                return placement, (p, s, p_take, s_st)
            if order is None:
                order = np.lexsort((rank[cand], score))  # order[0] is `first`
            k += 1
            if k >= len(order):
                raise self._failure(q, "secondary", int(cand[first]))

    def _failure(self, q: Request, phase: str, p: int | None) -> NoHostAvailable:
        """NoHostAvailable with the per-rule counts of the pipeline (slow path, only on failure)."""
        n = self._n
        h = self.h
        m_l2, m_ftl, m_mi, m_cpu, m_mem = self._rule_masks(q)
        loc = self._loc_pin_mask(q)
        if phase == "primary":
            if q.host_uuid is not None:
                hp = np.zeros(n, dtype=bool)
                i = self._index.get(q.host_uuid)
                if i is not None:
                    hp[i] = True
                loc = loc & hp
            anti = np.ones(n, dtype=bool)
        else:
            loc = loc & (h["zone"][:n] == h["zone"][p])
            anti = np.ones(n, dtype=bool)
            anti[p] = False
        masks = {
            "HostState": h["enabled"][:n],
            "HostStatus": h["connected"][:n],
            "Hypervisor": h["kvm"][:n],
            "Location": loc,
            "HostAntiAffinity": anti,
            "L2Attachment": m_l2,
            "FtNetwork": h["ft_addr"][:n],
            "FtLimits": m_ftl,
            "MaxInstancePerHost": m_mi,
            "Cpu": m_cpu,
            "Memory": m_mem,
        }
        alive = h["present"][:n].copy()
        removed = {}
        for rule in RULES[:-1]:
            m = masks[rule]
            if m is None:
                removed[rule] = 0
                continue
            removed[rule] = int(np.count_nonzero(alive & ~m))
            alive &= m
        cand = np.flatnonzero(alive)
        if phase == "primary":
            root, _ = self._primary_storage(q, cand)
            st_ok = root >= 0
        else:
            pr, pd = self._primary_storage(q, np.array([p]))
            s_st, _ = self._secondary_storage(q, cand, self._primary_take(q, int(pr[0]), int(pd[0])))
            st_ok = s_st >= 0
        removed["PrimaryStorage"] = int(np.count_nonzero(~st_ok))
        return semantics.no_host_available(phase, removed, len(self._index))

    # ---- reservations ------------------------------------------------------------------------------------

    def _take(self, key: str, q: Request, p: int, s: int, p_take: dict[int, int], s_storage: int) -> None:
        h = self.h
        delta = semantics.reservation_delta(q, self.config)
        res = _Res()
        for i in (p, s):
            for (f, rf), v in zip(_RESERVED_FIELDS, delta):
                h[f][i] += v
                h[rf][i] += v
            res.hosts.append((self._uuids[i], int(h["gen"][i]), delta))
        self._refresh(np.array([p, s]))
        takes = [(st, p, b) for st, b in p_take.items()]
        takes.append((s_storage, s, self._consume(semantics.secondary_bytes(q))))
        for st, i, b in takes:
            self._take_storage(st, i, b)
            spec = self._st_list[st]
            res.storage.append((spec.uuid, None if spec.kind != "Local" else self._uuids[i], b))
        self._reservations[key] = res

    def _take_storage(self, st: int, i: int, b: int) -> None:
        spec = self._st_list[st]
        if spec.kind != "Local":
            self._st_res[spec.uuid] = self._st_res.get(spec.uuid, 0) + b
            self._st_avail[st] -= b
        else:
            hu = self._uuids[i]
            self._loc_res[(spec.uuid, hu)] = self._loc_res.get((spec.uuid, hu), 0) + b
            self._loc_avail[self._loc_pos[(st, i)]] -= b

    def place_and_reserve(self, key: str, request: Request) -> Placement:
        with self._lock:
            if key in self._reservations:
                raise ReservationConflict(key)
            placement, (p, s, p_take, s_st) = self._place(request)
            self._take(key, request, p, s, p_take, s_st)
            return placement

    def reserve(self, key: str, request: Request, placement: Placement) -> None:
        with self._lock:
            if key in self._reservations:
                raise ReservationConflict(key)
            semantics.validate_request(request)
            self._build_storage()
            q = request
            p = self._index.get(placement.primary_host)
            s = self._index.get(placement.secondary_host)
            ids = [
                self._st_idx.get(u)
                for u in (placement.primary_storage, placement.primary_data_storage, placement.secondary_storage)
            ]
            if p is None or s is None or None in ids or p == s:
                raise StalePlacement(f"placement {placement} no longer fits: unknown or identical hosts/storages")
            root, data, s_st = ids
            n = self._n
            m_l2, m_ftl, m_mi, m_cpu, m_mem = self._rule_masks(q)
            common = (
                self.h["present"][:n]
                & self.h["enabled"][:n]
                & self.h["connected"][:n]
                & self.h["kvm"][:n]
                & self._loc_pin_mask(q)
                & m_l2
                & self.h["ft_addr"][:n]
                & m_ftl
                & m_cpu
                & m_mem
            )
            if m_mi is not None:
                common &= m_mi
            ok = bool(common[p]) and bool(common[s]) and self.h["zone"][p] == self.h["zone"][s]
            if q.host_uuid is not None and q.host_uuid != placement.primary_host:
                ok = False
            if q.root_storage_uuid is not None and q.root_storage_uuid != placement.primary_storage:
                ok = False
            if q.data_storage_uuid is not None and q.data_storage_uuid != placement.primary_data_storage:
                ok = False
            if q.data_storage_uuid is None and root != data:
                ok = False
            if ok:
                p_take = self._primary_take(q, root, data)
                ns = len(self._st_list)
                for st, b in p_take.items():
                    need = np.zeros(ns, dtype=np.int64)
                    need[st] = b
                    got, _ = self._best_storage(np.array([p]), need, only=st)
                    ok &= bool(got[0] == st)
                got, _ = self._secondary_storage_only(q, s, p_take, s_st)
                ok &= got
            if not ok:
                raise StalePlacement(f"placement {placement} no longer fits the inventory")
            self._take(key, q, p, s, self._primary_take(q, root, data), s_st)

    def _secondary_storage_only(self, q: Request, s: int, p_take: dict[int, int], st: int):
        ns = len(self._st_list)
        need = np.full(ns, self._consume(semantics.secondary_bytes(q)), dtype=np.int64)
        already = np.zeros(ns, dtype=np.int64)
        for k, b in p_take.items():
            if self._st_shared[k]:
                already[k] = b
        got, _ = self._best_storage(np.array([s]), need, already=already, only=st)
        return bool(got[0] == st), None

    def release(self, key: str) -> bool:
        with self._lock:
            res = self._reservations.pop(key, None)
            if res is None:
                return False
            h = self.h
            for uuid, gen, delta in res.hosts:
                i = self._index.get(uuid)
                if i is None or int(h["gen"][i]) != gen:
                    continue  # the host was removed since (maybe re-added): nothing of ours is on it
                for (f, rf), v in zip(_RESERVED_FIELDS, delta):
                    h[f][i] -= v
                    h[rf][i] -= v
                self._refresh(np.array([i]))
            for st_uuid, hu, b in res.storage:
                if st_uuid not in self._storages:
                    continue
                if hu is None:
                    if st_uuid in self._st_res:
                        self._st_res[st_uuid] -= b
                else:
                    k = (st_uuid, hu)
                    if k in self._loc_res:
                        self._loc_res[k] -= b
            self._st_dirty = True
            return True

    def place_many(self, keys: Sequence[str], requests: Sequence[Request]) -> list[Placement | PlacementError]:
        out: list[Placement | PlacementError] = []
        for key, q in zip(keys, requests):
            try:
                out.append(self.place_and_reserve(key, q))
            except PlacementError as e:
                out.append(e)
        return out

    # ---- introspection -----------------------------------------------------------------------------------

    def host_usage(self, uuid: str) -> dict[str, int]:
        with self._lock:
            i = self._index.get(uuid)
            if i is None:
                raise UnknownResource("Host", uuid)
            h = self.h
            return {
                "cpu_used": int(h["cpu_used"][i]),
                "memory_used": int(h["mem_used"][i]),
                "vm_count": int(h["vm_count"][i]),
                "ft_vm_count": int(h["ft_vms"][i]),
                "ft_vcpu_count": int(h["ft_vcpus"][i]),
            }

    def storage_available(self, uuid: str, host_uuid: str | None = None) -> int:
        with self._lock:
            spec = self._storages.get(uuid)
            if spec is None:
                raise UnknownResource("PrimaryStorage", uuid)
            if spec.kind != "Local":
                return spec.available - self._st_res.get(uuid, 0)
            if host_uuid is None or host_uuid not in spec.host_available:
                raise UnknownResource("Host", str(host_uuid))
            return spec.host_available[host_uuid] - self._loc_res.get((uuid, host_uuid), 0)

    def snapshot(self) -> Inventory:
        with self._lock:
            zones = {v: k for k, v in self._zones.items()}
            clusters = {v: k for k, v in self._clusters.items()}
            fds = {v: k for k, v in self._fds.items()}
            h = self.h
            hosts = []
            for uuid, i in self._index.items():
                hosts.append(
                    HostSpec(
                        uuid,
                        zones[int(h["zone"][i])],
                        clusters[int(h["cluster"][i])],
                        int(h["cpu_num"][i]),
                        int(h["mem_total"][i]),
                        "Enabled" if h["enabled"][i] else "Disabled",
                        "Connected" if h["connected"][i] else "Disconnected",
                        "KVM" if h["kvm"][i] else "Other",
                        int(h["cpu_used"][i]),
                        int(h["mem_used"][i]),
                        int(h["vm_count"][i]),
                        int(h["ft_vms"][i]),
                        int(h["ft_vcpus"][i]),
                        int(h["max_ft_vms"][i]),
                        int(h["max_ft_vcpus"][i]),
                        fds[int(h["fd"][i])],
                        bool(h["ft_addr"][i]),
                    )
                )
            storages = []
            for spec in self._storages.values():
                s = _copy.copy(spec)
                if s.kind != "Local":
                    s.available = spec.available - self._st_res.get(spec.uuid, 0)
                else:
                    s.host_available = {
                        hu: a - self._loc_res.get((spec.uuid, hu), 0) for hu, a in spec.host_available.items()
                    }
                storages.append(s)
            return Inventory(
                self.config,
                hosts,
                storages,
                dict(self._l3_to_l2),
                {c: sorted(l2s) for c, l2s in self._cluster_l2.items()},
            )

    def copy(self) -> NumpyEngine:
        with self._lock:
            lock = self._lock
            self._lock = None  # type: ignore[assignment]
            try:
                dup = _copy.deepcopy(self)
            finally:
                self._lock = lock
            dup._lock = threading.RLock()
            return dup
