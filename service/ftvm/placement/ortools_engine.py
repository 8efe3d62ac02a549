"""OR-Tools CP-SAT placement engine: the fallback when the Rust core is missing (``FTVM_PLACEMENT_ENGINE=ortools``).

It follows ``docs/placement-semantics.md`` exactly (every rule and formula from ``ftvm.placement.semantics``) and
answers the same as the Rust core. The inventory lives in plain Python structures (dicts of specs plus
reserved-usage aggregates) guarded by one lock.

How ``place()`` works:

1. The per-host filters run in Python over every host, once per role, counting the hosts each rule removes (the
   counts ``NoHostAvailable`` carries). Rules 1-3 and 5-11 do not depend on the role, so they are evaluated once.
   The survivors are the primary candidates ``P`` (with their storage choice, which is fixed per host by the doc)
   and the secondary *base* candidates ``S`` (every rule that does not depend on the chosen primary, with ``A(s)``,
   the storages that would hold the secondary's volumes if nothing else were on them).
2. A CP-SAT model picks the pair: one Boolean per kept primary ``x_p``, one per kept secondary ``y_s``,
   ``sum x = sum y = 1``; per zone ``sum x_z = sum y_z`` (same zone); ``x_h + y_h <= 1`` (anti-affinity); for every
   primary storage signature ``sigma = (root, data)`` and secondary whose storages could all be "the same" as
   ``sigma``'s: ``sum x_sigma + y_s <= 1`` when ``s`` has no storage left given ``sigma`` (the doc's ``already``),
   and ``sst >= sum x_sigma + y_s - 1`` when its storage would be the same; ``sfd >= sum x_f + sum y_f - 1`` per
   failure domain. The objective is the doc's lexicographic order made one integer:
   ``rank(p) * 4W + sfd * 2W + sst * W + rank(s)`` with ``W > max rank(s)``, ranks being positions in the
   ``(score, uuid_order_key)`` orders, so the optimum is unique and equals the doc's choice.
3. Model reduction (lossless), so that a place() at 1k hosts costs a few milliseconds:
   - hosts are grouped into classes the model cannot tell apart. Primaries with the same
     ``(zone, failure domain, storage signature)`` have the same compatible secondaries except themselves, so only
     the two best-ranked of each class can be the doc's primary. Secondaries with the same
     ``(zone, failure domain, storage profile)`` (profile = their fitting shared storages when there are at most two
     and none is local, else "free": some storage is always left that is not the primary's) get the same
     ``(same_fd, same_storage)`` for any primary and are compatible with the same primaries except themselves, so
     only the two best-ranked of each class can be the doc's secondary;
   - primaries ranked after the first one that has a compatible secondary (checked per class: same zone, another
     host, a storage left given its signature) can never be chosen and are left out. In the common case the
     primary is then fixed before the solve, and CP-SAT picks the secondary by the soft rules and the score; when
     the best primaries have no partner (zones, anti-affinity, storages) CP-SAT chooses among them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ortools.sat.python import cp_model

from .errors import (
    InvalidRequest,
    PlacementError,
    ReservationConflict,
    StalePlacement,
    UnknownResource,
)
from .model import (
    RULES,
    Config,
    HostSpec,
    Inventory,
    Placement,
    Request,
    StorageSpec,
    uuid_order_key,
)
from .semantics import (
    R_STORAGE,
    StorageState,
    choose_primary_storage,
    choose_secondary_storage,
    common_rule,
    consume,
    first_rule_for,
    l2_attached,
    location_ok,
    no_host_available,
    pins_ok,
    primary_take,
    reservation_delta,
    secondary_bytes,
    storage_fits,
    strategy_score,
    validate_request,
)


def _no_host_available(phase: str, counts: list[int], considered: int):
    return no_host_available(phase, dict(zip(RULES, counts)), considered)


# ----------------------------------------------------------------------------------------------------------------
# Engine state


@dataclass(slots=True)
class _Host:
    spec: HostSpec  # base facts
    key: int
    gen: int
    res: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])  # cpu, mem, vm, ft_vm, ft_vcpu

    def effective(self) -> HostSpec:
        s, r = self.spec, self.res
        if not any(r):
            return s
        return replace(
            s,
            cpu_used=s.cpu_used + r[0],
            memory_used=s.memory_used + r[1],
            vm_count=s.vm_count + r[2],
            ft_vm_count=s.ft_vm_count + r[3],
            ft_vcpu_count=s.ft_vcpu_count + r[4],
        )


@dataclass(slots=True)
class _Storage(StorageState):
    gen: int = 0  # which upsert made it: a release skips what a removed (maybe re-added) storage held


@dataclass(frozen=True, slots=True)
class _Reservation:
    request: Request
    placement: Placement
    # (host uuid, host generation, (cpu, mem, vm, ft_vm, ft_vcpu))
    host_parts: tuple
    # (storage uuid, storage generation, host uuid or None for shared, host generation or None, bytes)
    storage_parts: tuple


class _View:
    """Read-only helpers over the engine state for one call (lock held)."""

    __slots__ = ("eng", "cfg", "eff")

    def __init__(self, eng: OrToolsEngine) -> None:
        self.eng = eng
        self.cfg = eng.config
        self.eff: dict[str, HostSpec] = {}

    def host(self, uuid: str) -> HostSpec | None:
        rec = self.eng._hosts.get(uuid)
        return None if rec is None else self.effective(rec)

    def effective(self, rec: _Host) -> HostSpec:
        h = self.eff.get(rec.spec.uuid)
        if h is None:
            h = self.eff[rec.spec.uuid] = rec.effective()
        return h

    def l2_ok(self, q: Request, cluster: str) -> bool:
        return l2_attached(q, self.eng._l3_to_l2, self.eng._cluster_l2.get(cluster, ()))

    # -- storage: the rules of ftvm.placement.semantics over this engine's storages ------------------------
    def fits(self, st: _Storage | None, h: HostSpec, nbytes: int, already: int = 0) -> bool:
        return storage_fits(st, h, nbytes, self.cfg, already)

    def attached(self, h: HostSpec) -> list[_Storage]:
        return self.eng._cluster_storages().get(h.cluster_uuid, [])

    def primary_storage(self, h: HostSpec, q: Request) -> tuple[str, str] | None:
        return choose_primary_storage(q, h, self.eng._storages, self.attached(h), self.cfg)

    def primary_take(self, q: Request, root: str, data: str) -> dict[str, int]:
        return primary_take(q, root, data, self.cfg.storage_overprovisioning_ratio)

    def secondary_storage(self, h: HostSpec, q: Request, root: str, data: str) -> tuple[str, bool] | None:
        return choose_secondary_storage(q, h, root, data, self.attached(h), self.cfg)


def _key(uuid: str, what: str) -> int:
    try:
        return uuid_order_key(uuid)
    except ValueError:
        raise InvalidRequest(f"{what} uuid {uuid!r} is not a UUID") from None


class OrToolsEngine:
    """The placement engine of the semantics doc, choosing the pair with OR-Tools CP-SAT."""

    name = "ortools"

    def __init__(self, config: Config | None = None, *, num_workers: int = 1) -> None:
        self.config = config or Config()
        self.num_workers = num_workers
        self._lock = threading.RLock()
        self._hosts: dict[str, _Host] = {}
        self._storages: dict[str, _Storage] = {}
        self._l3_to_l2: dict[str, str] = {}
        self._cluster_l2: dict[str, set[str]] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._next_gen = 1
        self._cs_cache: dict[str, list[_Storage]] | None = None

    # -- inventory ---------------------------------------------------------------------------------------------
    def _gen(self) -> int:
        g = self._next_gen
        self._next_gen += 1
        return g

    def _upsert_host_locked(self, spec: HostSpec) -> None:
        key = _key(spec.uuid, "host")
        spec = replace(spec)
        rec = self._hosts.get(spec.uuid)
        if rec is None:
            self._hosts[spec.uuid] = _Host(spec, key, self._gen())
        else:
            rec.spec = spec

    def upsert_host(self, spec: HostSpec) -> None:
        with self._lock:
            self._upsert_host_locked(spec)

    def upsert_hosts(self, specs: Sequence[HostSpec]) -> None:
        with self._lock:
            for spec in specs:
                self._upsert_host_locked(spec)

    def remove_host(self, uuid: str) -> None:
        """Forget a host and what is reserved on it (its CPU, memory and VM counts); storage takes stay with the
        storages, local disks included, until released."""
        with self._lock:
            if self._hosts.pop(uuid, None) is None:
                raise UnknownResource("Host", uuid)

    def upsert_storage(self, spec: StorageSpec) -> None:
        with self._lock:
            key = _key(spec.uuid, "storage")
            spec = replace(spec, cluster_uuids=tuple(spec.cluster_uuids), host_available=dict(spec.host_available))
            rec = self._storages.get(spec.uuid)
            local = spec.kind == "Local"
            if rec is None:
                self._storages[spec.uuid] = _Storage(spec, key, local, frozenset(spec.cluster_uuids), gen=self._gen())
            else:
                rec.spec, rec.local, rec.clusters = spec, local, frozenset(spec.cluster_uuids)
            self._cs_cache = None

    def remove_storage(self, uuid: str) -> None:
        with self._lock:
            if self._storages.pop(uuid, None) is None:
                raise UnknownResource("PrimaryStorage", uuid)
            self._cs_cache = None

    def set_l3(self, l3_uuid: str, l2_uuid: str) -> None:
        with self._lock:
            self._l3_to_l2[l3_uuid] = l2_uuid

    def attach_l2(self, cluster_uuid: str, l2_uuid: str) -> None:
        with self._lock:
            self._cluster_l2.setdefault(cluster_uuid, set()).add(l2_uuid)

    def detach_l2(self, cluster_uuid: str, l2_uuid: str) -> None:
        with self._lock:
            s = self._cluster_l2.get(cluster_uuid)
            if s is not None:
                s.discard(l2_uuid)
                if not s:
                    del self._cluster_l2[cluster_uuid]

    def _cluster_storages(self) -> dict[str, list[_Storage]]:
        if self._cs_cache is None:
            cs: dict[str, list[_Storage]] = {}
            for st in sorted(self._storages.values(), key=lambda s: s.key):
                for c in st.clusters:
                    cs.setdefault(c, []).append(st)
            self._cs_cache = cs
        return self._cs_cache

    # -- queries -----------------------------------------------------------------------------------------------
    def host_usage(self, uuid: str) -> dict[str, int]:
        with self._lock:
            rec = self._hosts.get(uuid)
            if rec is None:
                raise UnknownResource("Host", uuid)
            h = rec.effective()
            return {
                "cpu_used": h.cpu_used,
                "memory_used": h.memory_used,
                "vm_count": h.vm_count,
                "ft_vm_count": h.ft_vm_count,
                "ft_vcpu_count": h.ft_vcpu_count,
            }

    def storage_available(self, uuid: str, host_uuid: str | None = None) -> int:
        with self._lock:
            st = self._storages.get(uuid)
            if st is None:
                raise UnknownResource("PrimaryStorage", uuid)
            if not st.local:
                return st.spec.available - st.res_shared
            avail = None if host_uuid is None else st.avail(host_uuid)
            if avail is None:  # no host given, or the local storage has no disk on it
                raise UnknownResource("PrimaryStorage", uuid)
            return avail

    def reservation_count(self) -> int:
        with self._lock:
            return len(self._reservations)

    def snapshot(self) -> Inventory:
        with self._lock:
            hosts = [replace(rec.effective()) for rec in sorted(self._hosts.values(), key=lambda r: r.key)]
            storages = []
            for st in sorted(self._storages.values(), key=lambda s: s.key):
                s = st.spec
                if st.local:
                    ha = {h: v - st.res_local.get(h, 0) for h, v in s.host_available.items()}
                    storages.append(replace(s, host_available=ha))
                else:
                    storages.append(
                        replace(s, available=s.available - st.res_shared, host_available=dict(s.host_available))
                    )
            return Inventory(
                config=self.config,
                hosts=hosts,
                storages=storages,
                l3_to_l2=dict(self._l3_to_l2),
                cluster_l2={c: sorted(l2s) for c, l2s in self._cluster_l2.items()},
            )

    def copy(self) -> OrToolsEngine:
        with self._lock:
            other = OrToolsEngine(self.config, num_workers=self.num_workers)
            other._hosts = {u: _Host(r.spec, r.key, r.gen, list(r.res)) for u, r in self._hosts.items()}
            other._storages = {
                u: _Storage(s.spec, s.key, s.local, s.clusters, s.res_shared, dict(s.res_local), gen=s.gen)
                for u, s in self._storages.items()
            }
            other._l3_to_l2 = dict(self._l3_to_l2)
            other._cluster_l2 = {c: set(v) for c, v in self._cluster_l2.items()}
            other._reservations = dict(self._reservations)
            other._next_gen = self._next_gen
            return other

    # -- placement ---------------------------------------------------------------------------------------------
    def place(self, request: Request) -> Placement:
        with self._lock:
            return self._place_locked(request)

    def _place_locked(self, q: Request) -> Placement:
        validate_request(q)
        v = _View(self)
        cfg = self.config
        considered = len(self._hosts)

        primaries = []  # (score, key, host, (root, data))
        base = []  # (score, key, host, A) secondary base candidates
        pcounts = [0] * len(RULES)
        common = {}  # uuid -> common rule
        n = secondary_bytes(q)
        # Per-cluster facts: L2 attachment, and the storage answers when no local storage makes them per host.
        cluster_cache: dict[str, list] = {}
        cs = self._cluster_storages()
        for rec in self._hosts.values():
            h = v.effective(rec)
            cc = cluster_cache.get(h.cluster_uuid)
            if cc is None:
                attached = cs.get(h.cluster_uuid, [])
                shared_only = not any(st.local for st in attached)
                cc = cluster_cache[h.cluster_uuid] = [v.l2_ok(q, h.cluster_uuid), shared_only, False, None, None]
            c = common_rule(h, q, cfg, cc[0])
            common[h.uuid] = c
            # primary pipeline
            rule = first_rule_for(location_ok(h, q), True, c)
            if c >= 0 or not pins_ok(h, q):  # neither a primary nor a secondary anywhere
                if rule >= 0:
                    pcounts[rule] += 1
                continue
            if cc[1] and cc[2]:
                choice, A = cc[3], cc[4]
            else:
                choice = v.primary_storage(h, q)
                A = [st for st in v.attached(h) if v.fits(st, h, n)]
                if cc[1]:
                    cc[2], cc[3], cc[4] = True, choice, A
            if rule < 0 and choice is None:
                rule = R_STORAGE
            if rule >= 0:
                pcounts[rule] += 1
            score = None
            if rule < 0:
                score = strategy_score(q.strategy, h, cfg)
                primaries.append((score, rec.key, h, choice))
            # secondary base (everything not depending on the primary)
            if A:
                if score is None:
                    score = strategy_score(q.strategy, h, cfg)
                base.append((score, rec.key, h, A))
        if not primaries:
            raise _no_host_available("primary", pcounts, considered)
        primaries.sort(key=lambda t: (t[0], t[1]))
        base.sort(key=lambda t: (t[0], t[1]))

        pair = self._solve_pair(v, q, primaries, base)
        if pair is None:
            p = primaries[0][2]
            root, data = primaries[0][3]
            scounts = [0] * len(RULES)
            for rec in self._hosts.values():
                h = v.effective(rec)
                rule = first_rule_for(location_ok(h, q, p), h.uuid != p.uuid, common[h.uuid])
                if rule < 0 and v.secondary_storage(h, q, root, data) is None:
                    rule = R_STORAGE
                if rule >= 0:
                    scounts[rule] += 1
            raise _no_host_available("secondary", scounts, considered)
        (p, (root, data)), s = pair
        sst = v.secondary_storage(s, q, root, data)
        assert sst is not None
        return Placement(p.uuid, root, data, s.uuid, sst[0])

    def _solve_pair(self, v: _View, q: Request, primaries: list, base: list):
        """CP-SAT over the reduced candidate sets; returns ((p, (root, data)), s) or None when no pair exists."""
        if not base:
            return None
        # -- reduction: keep the two best of each class ------------------------------------------------------
        kept_p = []  # (rank, host, choice)
        seen: dict[tuple, int] = {}
        for rank, (_, _, h, choice) in enumerate(primaries):
            k = (h.zone_uuid, h.failure_domain, choice)
            if seen.get(k, 0) < 2:
                seen[k] = seen.get(k, 0) + 1
                kept_p.append((rank, h, choice))
        kept_s = []  # (rank, host, profile)
        seen = {}
        for rank, (_, _, h, A) in enumerate(base):
            if len(A) >= 3 or any(st.local for st in A):
                profile = None  # free: never the same storage, always compatible storage-wise
            else:
                profile = tuple(st.spec.uuid for st in A)
            k = (h.zone_uuid, h.failure_domain, profile)
            if seen.get(k, 0) < 2:
                seen[k] = seen.get(k, 0) + 1
                kept_s.append((rank, h, profile))
        zones_p = {h.zone_uuid for _, h, _ in kept_p}
        kept_s = [t for t in kept_s if t[1].zone_uuid in zones_p]
        if not kept_s:
            return None

        # Storage outcome of a secondary profile given a primary storage signature:
        # 0 no storage left, 1 a storage that is not the primary's, 2 only the primary's (same storage).
        outcome_cache: dict[tuple, int] = {}
        rep: dict[tuple, HostSpec] = {}
        for _, h, profile in kept_s:
            if profile is not None:
                rep.setdefault(profile, h)

        def outcome(profile, sig) -> int:
            if profile is None:
                return 1
            ck = (profile, sig)
            out = outcome_cache.get(ck)
            if out is None:
                r = v.secondary_storage(rep[profile], q, sig[0], sig[1])
                out = outcome_cache[ck] = 0 if r is None else (2 if r[1] else 1)
            return out

        # Primaries ranked after the first one that has a compatible secondary cannot be the doc's choice: drop them.
        by_zone_profile: dict[str, dict] = {}
        for _, h, profile in kept_s:
            by_zone_profile.setdefault(h.zone_uuid, {}).setdefault(profile, []).append(h.uuid)
        cut = None
        for i, (_, h, sig) in enumerate(kept_p):
            for profile, uuids in by_zone_profile.get(h.zone_uuid, {}).items():
                if (len(uuids) > 1 or uuids[0] != h.uuid) and outcome(profile, sig):
                    cut = i
                    break
            if cut is not None:
                break
        if cut is None:
            return None  # no primary has a compatible secondary
        kept_p = kept_p[: cut + 1]
        zones_p = {h.zone_uuid for _, h, _ in kept_p}
        kept_s = [t for t in kept_s if t[1].zone_uuid in zones_p]

        m = cp_model.CpModel()
        x = [m.new_bool_var(f"p{i}") for i in range(len(kept_p))]
        y = [m.new_bool_var(f"s{i}") for i in range(len(kept_s))]
        m.add_exactly_one(x)
        m.add_exactly_one(y)
        # same zone
        by_zone: dict[str, tuple[list, list]] = {}
        for i, (_, h, _) in enumerate(kept_p):
            by_zone.setdefault(h.zone_uuid, ([], []))[0].append(x[i])
        for j, (_, h, _) in enumerate(kept_s):
            by_zone.setdefault(h.zone_uuid, ([], []))[1].append(y[j])
        if len(by_zone) > 1:
            for xs, ys in by_zone.values():
                m.add(sum(xs) == sum(ys))
        # anti-affinity
        sidx = {h.uuid: j for j, (_, h, _) in enumerate(kept_s)}
        for i, (_, h, _) in enumerate(kept_p):
            same_host = sidx.get(h.uuid)
            if same_host is not None:
                m.add_at_most_one([x[i], y[same_host]])
        # failure domains
        sfd = m.new_bool_var("same_fd")
        by_fd: dict[str, tuple[list, list]] = {}
        for i, (_, h, _) in enumerate(kept_p):
            by_fd.setdefault(h.failure_domain, ([], []))[0].append(x[i])
        for j, (_, h, _) in enumerate(kept_s):
            by_fd.setdefault(h.failure_domain, ([], []))[1].append(y[j])
        for xs, ys in by_fd.values():
            if xs and ys:
                m.add(sfd >= sum(xs) + sum(ys) - 1)
        # storage: incompatibility and "same storage" per primary storage signature
        sst = m.new_bool_var("same_storage")
        by_sig: dict[tuple, list] = {}
        for i, (_, _, choice) in enumerate(kept_p):
            by_sig.setdefault(choice, []).append(x[i])
        for j, (_, _, profile) in enumerate(kept_s):
            if profile is None:
                continue
            for sig, xs in by_sig.items():
                out = outcome(profile, sig)
                if out == 0:
                    m.add(sum(xs) + y[j] <= 1)
                elif out == 2:
                    m.add(sst >= sum(xs) + y[j] - 1)
        W = len(base) + 1
        m.minimize(
            cp_model.LinearExpr.weighted_sum(x, [4 * W * r for r, _, _ in kept_p])
            + cp_model.LinearExpr.weighted_sum(y, [r for r, _, _ in kept_s])
            + 2 * W * sfd
            + W * sst
        )
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = self.num_workers
        # Probing and symmetry detection cost more than they save on these small pure-Boolean models.
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.symmetry_level = 0
        status = solver.solve(m)
        if status == cp_model.INFEASIBLE:
            return None
        if status != cp_model.OPTIMAL:  # pragma: no cover - tiny models are always solved
            raise RuntimeError(f"CP-SAT ended {solver.status_name(status)} on a placement model")
        i = next(i for i in range(len(x)) if solver.boolean_value(x[i]))
        j = next(j for j in range(len(y)) if solver.boolean_value(y[j]))
        return (kept_p[i][1], kept_p[i][2]), kept_s[j][1]

    # -- reservations ------------------------------------------------------------------------------------------
    def _check_placement(self, v: _View, q: Request, pl: Placement) -> str | None:
        """Why ``pl`` breaks a hard rule now (None: it does not)."""
        cfg = self.config
        p = v.host(pl.primary_host)
        s = v.host(pl.secondary_host)
        if p is None:
            return f"primary host {pl.primary_host} is unknown"
        if s is None:
            return f"secondary host {pl.secondary_host} is unknown"
        for role, h in (("primary", p), ("secondary", s)):
            c = common_rule(h, q, cfg, v.l2_ok(q, h.cluster_uuid))
            if c >= 0:
                return f"{role} host {h.uuid} fails rule {RULES[c]}"
            if not pins_ok(h, q):
                return f"{role} host {h.uuid} fails rule Location"
        if q.host_uuid is not None and p.uuid != q.host_uuid:
            return "primary host is not the pinned host"
        if s.zone_uuid != p.zone_uuid:
            return "secondary host is not in the primary's zone"
        if s.uuid == p.uuid:
            return "primary and secondary are on the same host"
        r, d = q.root_bytes, q.data_bytes
        root, data = pl.primary_storage, pl.primary_data_storage
        if q.root_storage_uuid is not None and root != q.root_storage_uuid:
            return "root storage is not the pinned one"
        if q.data_storage_uuid is not None and data != q.data_storage_uuid:
            return "data storage is not the pinned one"
        R, D = self._storages.get(root), self._storages.get(data)
        if root == data:
            if not v.fits(R, p, r + d):
                return f"primary storage {root} cannot hold the primary's volumes"
        elif not v.fits(R, p, r) or not v.fits(D, p, d):
            return f"primary storages {root}/{data} cannot hold the primary's volumes"
        n = secondary_bytes(q)
        S = self._storages.get(pl.secondary_storage)
        already = 0
        if S is not None and not S.local:
            already = v.primary_take(q, root, data).get(S.spec.uuid, 0)
        if not v.fits(S, s, n, already):
            return f"secondary storage {pl.secondary_storage} cannot hold the secondary's volumes"
        return None

    def _reserve_locked(self, key: str, q: Request, pl: Placement) -> None:
        validate_request(q)
        if key in self._reservations:
            raise ReservationConflict(key)
        v = _View(self)
        why = self._check_placement(v, q, pl)
        if why is not None:
            raise StalePlacement(f"placement no longer fits: {why}")
        cfg = self.config
        delta = reservation_delta(q, cfg)
        host_parts = []
        for hu in (pl.primary_host, pl.secondary_host):
            rec = self._hosts[hu]
            for i in range(5):
                rec.res[i] += delta[i]
            host_parts.append((hu, rec.gen, delta))
        takes = list(v.primary_take(q, pl.primary_storage, pl.primary_data_storage).items())
        storage_parts: list[tuple[str, int, str | None, int | None, int]] = []
        secondary_take = [(pl.secondary_storage, consume(secondary_bytes(q), cfg.storage_overprovisioning_ratio))]
        for host_uuid, items in ((pl.primary_host, takes), (pl.secondary_host, secondary_take)):
            for su, amount in items:
                st = self._storages[su]
                if st.local:
                    st.res_local[host_uuid] = st.res_local.get(host_uuid, 0) + amount
                    storage_parts.append((su, st.gen, host_uuid, self._hosts[host_uuid].gen, amount))
                else:
                    st.res_shared += amount
                    storage_parts.append((su, st.gen, None, None, amount))
        self._reservations[key] = _Reservation(q, pl, tuple(host_parts), tuple(storage_parts))

    def reserve(self, key: str, request: Request, placement: Placement) -> None:
        with self._lock:
            self._reserve_locked(key, request, placement)

    def place_and_reserve(self, key: str, request: Request) -> Placement:
        with self._lock:
            validate_request(request)
            if key in self._reservations:
                raise ReservationConflict(key)
            pl = self._place_locked(request)
            self._reserve_locked(key, request, pl)
            return pl

    def release(self, key: str) -> bool:
        with self._lock:
            res = self._reservations.pop(key, None)
            if res is None:
                return False
            for hu, gen, delta in res.host_parts:
                rec = self._hosts.get(hu)
                if rec is None or rec.gen != gen:
                    continue  # the host was removed since: its reservations went with it
                for i in range(5):
                    rec.res[i] -= delta[i]
            for su, sgen, hu, _, amount in res.storage_parts:
                st = self._storages.get(su)
                if st is None or st.gen != sgen:
                    continue
                if hu is None:
                    st.res_shared -= amount
                else:
                    left = st.res_local.get(hu, 0) - amount
                    if left:
                        st.res_local[hu] = left
                    else:
                        st.res_local.pop(hu, None)
            return True

    def place_many(self, keys: Sequence[str], requests: Sequence[Request]) -> list[Placement | PlacementError]:
        if len(keys) != len(requests):
            raise ValueError(f"{len(keys)} keys for {len(requests)} requests")
        out: list[Placement | PlacementError] = []
        with self._lock:
            for k, q in zip(keys, requests):
                try:
                    out.append(self.place_and_reserve(k, q))
                except PlacementError as e:
                    out.append(e)
        return out


__all__ = ["OrToolsEngine"]
