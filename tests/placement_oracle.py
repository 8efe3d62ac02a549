"""Brute-force oracle for docs/placement-semantics.md, written from the doc alone (no engine code).

Everything here is deliberately naive: it loops over every host (and every host pair) and re-derives each rule
from the doc's text, so it can judge any engine's answer.

- ``check_placement(inv, request, placement)`` asserts every hard rule for the pair and its storages, and every soft
  rule: given the chosen primary, no other secondary candidate is better on (same failure domain, same storage), and
  the secondary's storage is not the primary's when another storage on that host would do.
- ``brute_force_feasible(inv, request)`` says whether any pair exists under the doc's rules.
- ``brute_force_place(inv, request)`` returns the doc's exact answer: a Placement, or the tuple
  ``("primary" | "secondary", rule, removed_counts, considered)`` of the NoHostAvailable it must raise.
"""

from __future__ import annotations

import math

from ftvm.placement.model import (
    RULES,
    SECONDARY_STORAGE_FACTOR,
    HostSpec,
    Inventory,
    Placement,
    Request,
    StorageSpec,
    uuid_order_key,
)

MAXU64 = 2**64 - 1


class _Inv:
    def __init__(self, inv: Inventory) -> None:
        self.cfg = inv.config
        self.hosts = list(inv.hosts)
        self.by_uuid = {h.uuid: h for h in inv.hosts}
        self.storages = {s.uuid: s for s in inv.storages}
        self.l3_to_l2 = inv.l3_to_l2
        self.cluster_l2 = inv.cluster_l2

    # ---- storage (doc: "Storage") ----
    def raw_avail(self, s: StorageSpec, h: HostSpec):
        if s.kind == "Local":
            if h.uuid not in s.host_available:
                return None
            return s.host_available[h.uuid]
        return s.available

    def consume(self, nbytes: int) -> int:
        return math.ceil(nbytes / self.cfg.storage_overprovisioning_ratio)

    def fits(self, s: StorageSpec | None, h: HostSpec, nbytes: int, already: int = 0) -> bool:
        if s is None:
            return False
        if s.state != "Enabled" or s.status != "Connected":
            return False
        if h.cluster_uuid not in s.cluster_uuids:
            return False
        avail = self.raw_avail(s, h)
        if avail is None:
            return False
        return avail - already - self.consume(nbytes) >= self.cfg.storage_reserved_capacity

    def attached(self, h: HostSpec) -> list[StorageSpec]:
        return [s for s in self.storages.values() if h.cluster_uuid in s.cluster_uuids]

    def best(self, h: HostSpec, options: list[StorageSpec]) -> StorageSpec | None:
        if not options:
            return None
        return sorted(options, key=lambda s: (-self.raw_avail(s, h), uuid_order_key(s.uuid)))[0]

    def primary_storages(self, h: HostSpec, q: Request):
        r, d = q.root_bytes, q.data_bytes
        if q.data_storage_uuid is not None:
            D = self.storages.get(q.data_storage_uuid)
            if D is None:
                return None
            if q.root_storage_uuid is not None:
                R = self.storages.get(q.root_storage_uuid)
                if R is None:
                    return None
                if R.uuid == D.uuid:
                    ok = self.fits(D, h, r + d)
                else:
                    ok = self.fits(D, h, d) and self.fits(R, h, r)
                return (R.uuid, D.uuid) if ok else None
            if not self.fits(D, h, d):
                return None
            options = []
            for s in self.attached(h):
                need = r + d if s.uuid == D.uuid else r
                if self.fits(s, h, need):
                    options.append(s)
            b = self.best(h, options)
            return None if b is None else (b.uuid, D.uuid)
        if q.root_storage_uuid is not None:
            R = self.storages.get(q.root_storage_uuid)
            if R is None or not self.fits(R, h, r + d):
                return None
            return (R.uuid, R.uuid)
        b = self.best(h, [s for s in self.attached(h) if self.fits(s, h, r + d)])
        return None if b is None else (b.uuid, b.uuid)

    def primary_consumes_from(self, q: Request, root: str, data: str, storage_uuid: str) -> int:
        r, d = q.root_bytes, q.data_bytes
        mine = 0
        if root == storage_uuid:
            mine += r
        if data == storage_uuid:
            mine += d
        if root != storage_uuid and data != storage_uuid:
            return 0
        return self.consume(mine)

    def is_same(self, storage_uuid: str, root: str, data: str) -> bool:
        s = self.storages.get(storage_uuid)
        return s is not None and s.kind == "Shared" and storage_uuid in (root, data)

    def secondary_options(self, h: HostSpec, q: Request, root: str, data: str) -> list[tuple[bool, StorageSpec]]:
        n = SECONDARY_STORAGE_FACTOR * (q.root_bytes + q.data_bytes)
        out = []
        for s in self.attached(h):
            same = self.is_same(s.uuid, root, data)
            already = self.primary_consumes_from(q, root, data, s.uuid) if same else 0
            if self.fits(s, h, n, already):
                out.append((same, s))
        return out

    def secondary_storage(self, h: HostSpec, q: Request, root: str, data: str):
        opts = self.secondary_options(h, q, root, data)
        if not opts:
            return None
        opts.sort(key=lambda t: (t[0], -self.raw_avail(t[1], h), uuid_order_key(t[1].uuid)))
        return opts[0][1].uuid, opts[0][0]

    # ---- host filters (doc: "Host filters") ----
    def rejecting_rule(self, h: HostSpec, q: Request, role: str, p: HostSpec | None = None,
                       p_storages: tuple[str, str] | None = None):
        """Name of the first rule rejecting ``h`` for ``role`` ('P' or 'S'), or None; plus the storage choice."""
        cfg = self.cfg
        if h.state != "Enabled":
            return "HostState", None
        if h.status != "Connected":
            return "HostStatus", None
        if h.hypervisor != "KVM":
            return "Hypervisor", None
        loc = True
        if q.zone_uuid is not None and h.zone_uuid != q.zone_uuid:
            loc = False
        if q.cluster_uuid is not None and h.cluster_uuid != q.cluster_uuid:
            loc = False
        if role == "P" and q.host_uuid is not None and h.uuid != q.host_uuid:
            loc = False
        if role == "S" and h.zone_uuid != p.zone_uuid:
            loc = False
        if not loc:
            return "Location", None
        if role == "S" and h.uuid == p.uuid:
            return "HostAntiAffinity", None
        attached_l2 = self.cluster_l2.get(h.cluster_uuid, [])
        for l3 in q.l3_uuids:
            l2 = self.l3_to_l2.get(l3)
            if l2 is None or l2 not in attached_l2:
                return "L2Attachment", None
        if not h.ft_address:
            return "FtNetwork", None
        if h.max_ft_vms != 0 and h.ft_vm_count + 1 > h.max_ft_vms:
            return "FtLimits", None
        if h.max_ft_vcpus != 0 and h.ft_vcpu_count + q.vcpus > h.max_ft_vcpus:
            return "FtLimits", None
        if q.strategy == "MaxInstancePerHostHostAllocatorStrategy" and q.max_instance_per_host > 0:
            if h.vm_count >= q.max_instance_per_host:
                return "MaxInstancePerHost", None
        if h.cpu_used + q.vcpus > math.floor(h.cpu_num * cfg.cpu_overprovisioning_ratio):
            return "Cpu", None
        free = h.memory_total - cfg.reserved_memory - h.memory_used
        if free < 0 or float(free) * cfg.memory_overprovisioning_ratio < float(q.memory):
            return "Memory", None
        if role == "P":
            st = self.primary_storages(h, q)
        else:
            st = self.secondary_storage(h, q, *p_storages)
        if st is None:
            return "PrimaryStorage", None
        return None, st

    def score(self, h: HostSpec, strategy: str) -> int:
        cfg = self.cfg
        if strategy in ("LeastVmPreferredHostAllocatorStrategy", "MaxInstancePerHostHostAllocatorStrategy"):
            return h.vm_count
        if strategy == "MinimumCPUUsageHostAllocatorStrategy":
            cap = math.floor(h.cpu_num * cfg.cpu_overprovisioning_ratio)
            if cap == 0:
                return MAXU64
            return (h.cpu_used << 40) // cap
        if strategy == "MinimumMemoryUsageHostAllocatorStrategy":
            if h.memory_total == 0:
                return MAXU64
            return min((h.memory_used << 40) // h.memory_total, MAXU64)
        return MAXU64 - max(0, h.memory_total - cfg.reserved_memory - h.memory_used)

    def primary_candidates(self, q: Request):
        out = []
        for h in self.hosts:
            rule, st = self.rejecting_rule(h, q, "P")
            if rule is None:
                out.append((h, st))
        out.sort(key=lambda t: (self.score(t[0], q.strategy), uuid_order_key(t[0].uuid)))
        return out

    def secondary_candidates(self, q: Request, p: HostSpec, p_st: tuple[str, str]):
        """[(sort key, host, (storage uuid, same))] in the doc's secondary order."""
        out = []
        for h in self.hosts:
            rule, st = self.rejecting_rule(h, q, "S", p, p_st)
            if rule is None:
                key = (h.failure_domain == p.failure_domain, st[1], self.score(h, q.strategy), uuid_order_key(h.uuid))
                out.append((key, h, st))
        out.sort(key=lambda t: t[0])
        return out

    def counts(self, q: Request, role: str, p=None, p_st=None) -> dict[str, int]:
        c = {r: 0 for r in RULES}
        for h in self.hosts:
            rule, _ = self.rejecting_rule(h, q, role, p, p_st)
            if rule is not None:
                c[rule] += 1
        return c


def _last_rule(counts: dict[str, int]) -> str:
    last = "Location"
    for r in RULES:
        if counts[r]:
            last = r
    return last


def brute_force_place(inv: Inventory, request: Request):
    """The doc's answer: a Placement, or ("primary"|"secondary", rule, counts, considered) for NoHostAvailable."""
    I = _Inv(inv)
    prim = I.primary_candidates(request)
    if not prim:
        c = I.counts(request, "P")
        return ("primary", _last_rule(c), c, len(I.hosts))
    for p, p_st in prim:
        sec = I.secondary_candidates(request, p, p_st)
        if sec:
            _, s, (s_st, _) = sec[0]
            return Placement(p.uuid, p_st[0], p_st[1], s.uuid, s_st)
    p, p_st = prim[0]
    c = I.counts(request, "S", p, p_st)
    return ("secondary", _last_rule(c), c, len(I.hosts))


def brute_force_feasible(inv: Inventory, request: Request) -> bool:
    """Whether some (primary, secondary) pair satisfies every hard rule of the doc (primary storage as the doc picks it)."""
    I = _Inv(inv)
    for p in I.hosts:
        rule, p_st = I.rejecting_rule(p, request, "P")
        if rule is not None:
            continue
        for s in I.hosts:
            rule, _ = I.rejecting_rule(s, request, "S", p, p_st)
            if rule is None:
                return True
    return False


def check_placement(inv: Inventory, request: Request, placement: Placement) -> None:
    """Assert that ``placement`` satisfies every hard rule and every soft rule of the doc on ``inv``."""
    I = _Inv(inv)
    q = request
    p = I.by_uuid.get(placement.primary_host)
    s = I.by_uuid.get(placement.secondary_host)
    assert p is not None, f"primary host {placement.primary_host} not in the inventory"
    assert s is not None, f"secondary host {placement.secondary_host} not in the inventory"

    # Hard rules, primary host (all host filters; storage checked below for the storages actually chosen).
    rule, _ = I.rejecting_rule(p, q, "P")
    assert rule in (None, "PrimaryStorage"), f"primary host fails {rule}"
    root, data = placement.primary_storage, placement.primary_data_storage
    r, d = q.root_bytes, q.data_bytes
    if q.root_storage_uuid is not None:
        assert root == q.root_storage_uuid, "root volume not on the pinned storage"
    if q.data_storage_uuid is not None:
        assert data == q.data_storage_uuid, "data volumes not on the pinned storage"
    else:
        assert data == root, "without a data pin the data volumes go with the root volume"
    if root == data:
        assert I.fits(I.storages.get(root), p, r + d), "primary storage cannot hold root + data"
    else:
        assert I.fits(I.storages.get(root), p, r), "root storage cannot hold the root volume"
        assert I.fits(I.storages.get(data), p, d), "data storage cannot hold the data volumes"
    # The doc's storage choice for the primary is deterministic: check it too.
    assert I.primary_storages(p, q) == (root, data), "primary storages are not the doc's choice"

    # Hard rules, secondary host and storage.
    assert s.uuid != p.uuid, "anti-affinity violated"
    assert s.zone_uuid == p.zone_uuid, "secondary not in the primary's zone"
    rule, _ = I.rejecting_rule(s, q, "S", p, (root, data))
    assert rule in (None, "PrimaryStorage"), f"secondary host fails {rule}"
    st = I.storages.get(placement.secondary_storage)
    n = SECONDARY_STORAGE_FACTOR * (r + d)
    same = I.is_same(placement.secondary_storage, root, data)
    already = I.primary_consumes_from(q, root, data, placement.secondary_storage) if same else 0
    assert I.fits(st, s, n, already), "secondary storage cannot hold the secondary's volumes (+ what the primary takes)"

    # Soft rules, given the chosen primary.
    if same:
        others = [o for o in I.secondary_options(s, q, root, data) if not o[0]]
        assert not others, "secondary storage is the primary's although another storage on that host would do"
    chosen = (s.failure_domain == p.failure_domain, same)
    for key, h, (_, h_same) in I.secondary_candidates(q, p, (root, data)):
        assert (key[0], key[1]) >= chosen, (
            f"soft rule violated: host {h.uuid} (same_fd={key[0]}, same_storage={key[1]}) beats the chosen "
            f"secondary (same_fd={chosen[0]}, same_storage={chosen[1]})"
        )
