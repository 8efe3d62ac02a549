"""Brute-force oracle for docs/placement-semantics.md: the doc's search done naively over the rules of
``ftvm.placement.semantics`` (the one Python home of its formulas, shared with the CP-SAT engine).

Everything here is deliberately naive: it loops over every host (and every host pair), judges each one with the
per-host rules, and sorts, so it can judge any engine's answer; the Rust core, with rules of its own, is compared
with it by tests/test_differential.py.

- ``check_placement(inv, request, placement)`` asserts every hard rule for the pair and its storages, and every soft
  rule: given the chosen primary, no other secondary candidate is better on (same failure domain, same storage), and
  the secondary's storage is not the primary's when another storage on that host would do.
- ``brute_force_feasible(inv, request)`` says whether any pair exists under the doc's rules.
- ``brute_force_place(inv, request)`` returns the doc's exact answer: a Placement, or the tuple
  ``("primary" | "secondary", rule, removed_counts, considered)`` of the NoHostAvailable it must raise.
"""

from __future__ import annotations

from ftvm.placement import semantics
from ftvm.placement.model import RULES, HostSpec, Inventory, Placement, Request, uuid_order_key
from ftvm.placement.semantics import StorageState


class _Inv:
    def __init__(self, inv: Inventory) -> None:
        self.cfg = inv.config
        self.hosts = list(inv.hosts)
        self.by_uuid = {h.uuid: h for h in inv.hosts}
        self.storages = {
            s.uuid: StorageState(s, uuid_order_key(s.uuid), s.kind == "Local", frozenset(s.cluster_uuids))
            for s in inv.storages
        }
        self.l3_to_l2 = inv.l3_to_l2
        self.cluster_l2 = inv.cluster_l2

    # ---- storage (doc: "Storage") ----
    def fits(self, st: StorageState | None, h: HostSpec, nbytes: int, already: int = 0) -> bool:
        return semantics.storage_fits(st, h, nbytes, self.cfg, already)

    def attached(self, h: HostSpec) -> list[StorageState]:
        return [st for st in self.storages.values() if h.cluster_uuid in st.clusters]

    def primary_storages(self, h: HostSpec, q: Request):
        return semantics.choose_primary_storage(q, h, self.storages, self.attached(h), self.cfg)

    def primary_consumes_from(self, q: Request, root: str, data: str, storage_uuid: str) -> int:
        return semantics.primary_take(q, root, data, self.cfg.storage_overprovisioning_ratio).get(storage_uuid, 0)

    def is_same(self, storage_uuid: str, root: str, data: str) -> bool:
        st = self.storages.get(storage_uuid)
        return st is not None and semantics.is_same_storage(st, root, data)

    def secondary_options(self, h: HostSpec, q: Request, root: str, data: str) -> list[tuple[StorageState, bool]]:
        return semantics.secondary_storage_options(q, h, root, data, self.attached(h), self.cfg)

    def secondary_storage(self, h: HostSpec, q: Request, root: str, data: str):
        return semantics.choose_secondary_storage(q, h, root, data, self.attached(h), self.cfg)

    # ---- host filters (doc: "Host filters") ----
    def rejecting_rule(
        self, h: HostSpec, q: Request, role: str, p: HostSpec | None = None, p_storages: tuple[str, str] | None = None
    ):
        """Name of the first rule rejecting ``h`` for ``role`` ('P' or 'S'), or None; plus the storage choice."""
        l2_ok = semantics.l2_attached(q, self.l3_to_l2, self.cluster_l2.get(h.cluster_uuid, []))
        rule = semantics.host_rule(h, q, self.cfg, l2_ok, p if role == "S" else None)
        if rule >= 0:
            return RULES[rule], None
        if role == "P":
            st = self.primary_storages(h, q)
        else:
            st = self.secondary_storage(h, q, *p_storages)
        if st is None:
            return "PrimaryStorage", None
        return None, st

    def score(self, h: HostSpec, strategy: str) -> int:
        return semantics.strategy_score(strategy, h, self.cfg)

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


def brute_force_place(inv: Inventory, request: Request):
    """The doc's answer: a Placement, or ("primary"|"secondary", rule, counts, considered) for NoHostAvailable."""
    view = _Inv(inv)
    prim = view.primary_candidates(request)
    if not prim:
        c = view.counts(request, "P")
        return ("primary", semantics.blocking_rule(c), c, len(view.hosts))
    for p, p_st in prim:
        sec = view.secondary_candidates(request, p, p_st)
        if sec:
            _, s, (s_st, _) = sec[0]
            return Placement(p.uuid, p_st[0], p_st[1], s.uuid, s_st)
    p, p_st = prim[0]
    c = view.counts(request, "S", p, p_st)
    return ("secondary", semantics.blocking_rule(c), c, len(view.hosts))


def brute_force_feasible(inv: Inventory, request: Request) -> bool:
    """Whether some (primary, secondary) pair satisfies every hard rule of the doc (primary storage as the doc picks
    it)."""
    view = _Inv(inv)
    for p in view.hosts:
        rule, p_st = view.rejecting_rule(p, request, "P")
        if rule is not None:
            continue
        for s in view.hosts:
            rule, _ = view.rejecting_rule(s, request, "S", p, p_st)
            if rule is None:
                return True
    return False


def check_placement(inv: Inventory, request: Request, placement: Placement) -> None:
    """Assert that ``placement`` satisfies every hard rule and every soft rule of the doc on ``inv``."""
    view = _Inv(inv)
    q = request
    p = view.by_uuid.get(placement.primary_host)
    s = view.by_uuid.get(placement.secondary_host)
    assert p is not None, f"primary host {placement.primary_host} not in the inventory"
    assert s is not None, f"secondary host {placement.secondary_host} not in the inventory"

    # Hard rules, primary host (all host filters; storage checked below for the storages actually chosen).
    rule, _ = view.rejecting_rule(p, q, "P")
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
        assert view.fits(view.storages.get(root), p, r + d), "primary storage cannot hold root + data"
    else:
        assert view.fits(view.storages.get(root), p, r), "root storage cannot hold the root volume"
        assert view.fits(view.storages.get(data), p, d), "data storage cannot hold the data volumes"
    # The doc's storage choice for the primary is deterministic: check it too.
    assert view.primary_storages(p, q) == (root, data), "primary storages are not the doc's choice"

    # Hard rules, secondary host and storage.
    assert s.uuid != p.uuid, "anti-affinity violated"
    assert s.zone_uuid == p.zone_uuid, "secondary not in the primary's zone"
    rule, _ = view.rejecting_rule(s, q, "S", p, (root, data))
    assert rule in (None, "PrimaryStorage"), f"secondary host fails {rule}"
    st = view.storages.get(placement.secondary_storage)
    n = semantics.secondary_bytes(q)
    same = view.is_same(placement.secondary_storage, root, data)
    already = view.primary_consumes_from(q, root, data, placement.secondary_storage) if same else 0
    assert view.fits(st, s, n, already), (
        "secondary storage cannot hold the secondary's volumes (+ what the primary takes)"
    )

    # Soft rules, given the chosen primary.
    if same:
        others = [o for o in view.secondary_options(s, q, root, data) if not o[1]]
        assert not others, "secondary storage is the primary's although another storage on that host would do"
    chosen = (s.failure_domain == p.failure_domain, same)
    for key, h, _ in view.secondary_candidates(q, p, (root, data)):
        assert (key[0], key[1]) >= chosen, (
            f"soft rule violated: host {h.uuid} (same_fd={key[0]}, same_storage={key[1]}) beats the chosen "
            f"secondary (same_fd={chosen[0]}, same_storage={chosen[1]})"
        )
