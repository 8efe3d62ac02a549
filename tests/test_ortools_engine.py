"""OrToolsEngine (CP-SAT) against docs/placement-semantics.md: every rule, capacities, soft rules, reservations.

Every successful placement is also judged by the brute-force oracle (tests/placement_oracle.py).
"""

from __future__ import annotations

import threading

import pytest

from ftvm.placement import (
    RULES,
    Config,
    InvalidRequest,
    NoHostAvailable,
    Placement,
    ReservationConflict,
    StalePlacement,
    UnknownResource,
)
from ftvm.placement.ortools_engine import OrToolsEngine
from placement_builders import CLUSTER, GIB, L2, L3, O, U, host, load, local, req, shared
from placement_oracle import brute_force_feasible, brute_force_place, check_placement


def engine(hosts, storages=None, config=None, **kw) -> OrToolsEngine:
    return load(OrToolsEngine(config or Config()), hosts, [shared("nfs")] if storages is None else storages, **kw)


def place_checked(e: OrToolsEngine, q) -> Placement:
    inv = e.snapshot()
    pl = e.place(q)
    check_placement(inv, q, pl)
    assert pl == brute_force_place(inv, q)
    return pl


def no_host(e: OrToolsEngine, q) -> NoHostAvailable:
    inv = e.snapshot()
    with pytest.raises(NoHostAvailable) as ei:
        e.place(q)
    err = ei.value
    assert not brute_force_feasible(inv, q)
    phase, rule, counts, considered = brute_force_place(inv, q)
    assert (err.phase, err.rule, err.removed, err.considered) == (phase, rule, counts, considered)
    assert list(err.removed) == list(RULES)
    return err


def test_name_and_basic_pair():
    e = engine([host("a"), host("b")])
    assert e.name == "ortools"
    pl = place_checked(e, req())
    assert {pl.primary_host, pl.secondary_host} == {U("a"), U("b")}
    assert pl.primary_storage == pl.primary_data_storage == pl.secondary_storage == U("nfs")


@pytest.mark.parametrize(
    "field,value,rule",
    [
        ("state", "Disabled", "HostState"),
        ("state", "Maintenance", "HostState"),
        ("status", "Disconnected", "HostStatus"),
        ("hypervisor", "ESX", "Hypervisor"),
        ("ft_address", False, "FtNetwork"),
        ("cpu_used", 80, "Cpu"),
        ("memory_used", 31 * GIB, "Memory"),
    ],
)
def test_each_host_rule_removes_and_counts(field, value, rule):
    # Two good hosts and one bad: the bad one is counted against its rule in the secondary phase? No: it is never a
    # candidate, so with only one good host the secondary phase fails on anti-affinity, and the bad host is counted.
    e = engine([host("good"), host("bad", **{field: value})])
    err = no_host(e, req())
    assert err.phase == "secondary"
    assert err.removed[rule] == 1 and err.removed["HostAntiAffinity"] == 1
    assert err.considered == 2
    # Primary phase: every host bad.
    e = engine([host("bad1", **{field: value}), host("bad2", **{field: value})])
    err = no_host(e, req())
    assert (err.phase, err.rule, err.removed[rule]) == ("primary", rule, 2)


def test_first_rejecting_rule_counts_and_last_rule_named():
    hosts = [
        host("disabled", state="Disabled", status="Disconnected"),  # HostState first
        host("esx", hypervisor="ESX", ft_address=False),  # Hypervisor first
        host("nocpu", cpu_used=80, memory_used=40 * GIB),  # Cpu first
        host("nomem", memory_used=40 * GIB),
    ]
    err = no_host(engine(hosts), req())
    assert err.phase == "primary"
    assert {k: v for k, v in err.removed.items() if v} == {"HostState": 1, "Hypervisor": 1, "Cpu": 1, "Memory": 1}
    assert err.rule == "Memory"  # the last rule in pipeline order with a non-zero count
    assert "Memory=1" in str(err)


def test_empty_inventory_is_location_with_no_counts():
    err = no_host(engine([]), req())
    assert (err.phase, err.rule, err.considered) == ("primary", "Location", 0)
    assert not any(err.removed.values())


def test_l2_attachment_every_l3_and_unknown_l3():
    other = U("cluster2")
    hosts = [host("a"), host("b"), host("c", cluster_uuid=other), host("d", cluster_uuid=other)]
    l3b, l2b = U("l3b"), U("l2b")
    e = engine(
        hosts,
        [shared("nfs", clusters=(CLUSTER, other))],
        l3_to_l2={L3: L2, l3b: l2b},
        cluster_l2={CLUSTER: [L2, l2b], other: [L2]},
    )
    pl = place_checked(e, req(l3_uuids=(L3, l3b)))
    assert {pl.primary_host, pl.secondary_host} == {U("a"), U("b")}
    err = no_host(e, req(l3_uuids=(L3, U("unknown-l3"))))
    assert err.removed["L2Attachment"] == 4


def test_location_pins_zone_cluster_host_and_unknown_pins():
    z2, c2 = U("zone2"), U("cluster2")
    hosts = [host("a"), host("b"), host("c", zone_uuid=z2, cluster_uuid=c2), host("d", zone_uuid=z2, cluster_uuid=c2)]
    e = engine(hosts, [shared("nfs", clusters=(CLUSTER, c2))])
    pl = place_checked(e, req(zone_uuid=z2))
    assert {pl.primary_host, pl.secondary_host} == {U("c"), U("d")}
    pl = place_checked(e, req(cluster_uuid=CLUSTER))
    assert {pl.primary_host, pl.secondary_host} == {U("a"), U("b")}
    # host pin: the primary only; the secondary goes to the primary's zone
    pl = place_checked(e, req(host_uuid=U("c")))
    assert (pl.primary_host, pl.secondary_host) == (U("c"), U("d"))
    for pin in (dict(zone_uuid=U("nowhere")), dict(cluster_uuid=U("nocluster")), dict(host_uuid=U("nohost"))):
        err = no_host(e, req(**pin))
        assert (err.phase, err.rule, err.removed["Location"]) == ("primary", "Location", 4)


def test_secondary_same_zone_as_primary_and_anti_affinity():
    z2, c2 = U("zone2"), U("cluster2")
    hosts = [host("a"), host("c", zone_uuid=z2, cluster_uuid=c2)]
    err = no_host(engine(hosts, [shared("nfs", clusters=(CLUSTER, c2))]), req())
    assert err.phase == "secondary"
    assert err.removed["Location"] == 1 and err.removed["HostAntiAffinity"] == 1
    assert err.rule == "HostAntiAffinity"


def test_cpu_exact_fit_and_overprovisioning():
    # cap = floor(3 * 2.5) = 7
    cfg = Config(cpu_overprovisioning_ratio=2.5)
    e = engine([host("a", cpu_num=3, cpu_used=5), host("b", cpu_num=3, cpu_used=5)], config=cfg)
    place_checked(e, req(vcpus=2))  # 5 + 2 == 7: exact fit
    err = no_host(e, req(vcpus=3))
    assert err.removed["Cpu"] == 2


def test_memory_reserved_memory_ratio_and_exact_fit():
    # free = 16 - 1 (reserved) - 7 = 8 GiB
    e = engine([host("a", memory_total=16 * GIB, memory_used=7 * GIB)] * 1 + [host("b")])
    place_checked(e, req(memory=8 * GIB))
    half_full = dict(memory_total=16 * GIB, memory_used=7 * GIB)
    e = engine([host("a", **half_full), host("b", **half_full)])
    err = no_host(e, req(memory=8 * GIB + 1))
    assert err.removed["Memory"] == 2
    # reserved memory from the config
    e = engine([host("a", **half_full), host("b")], config=Config(reserved_memory=2 * GIB))
    err = no_host(e, req(memory=8 * GIB))
    assert err.phase == "secondary" and err.removed["Memory"] == 1
    # over-provisioning: 8 GiB free * 1.5 >= 12 GiB; a VM then uses ceil(12 GiB / 1.5) = 8 GiB
    cfg = Config(memory_overprovisioning_ratio=1.5)
    e = engine([host("a", **half_full), host("b", **half_full)], config=cfg)
    pl = e.place_and_reserve("k", req(memory=12 * GIB))
    assert e.host_usage(pl.primary_host)["memory_used"] == 15 * GIB
    # negative free memory never fits
    e = engine([host("a", memory_total=GIB // 2), host("b", memory_total=GIB // 2)], config=cfg)
    assert no_host(e, req(memory=1)).removed["Memory"] == 2


def test_storage_exact_fit_reserved_capacity_and_ratio():
    r = 10 * GIB
    # the secondary needs 3 * 10 GiB on a storage; the primary 10 GiB. One shared storage: 1 (reserved) + 10 + 30.
    e = engine([host("a"), host("b")], [shared("nfs", available=41 * GIB)])
    pl = place_checked(e, req(root_bytes=r))
    assert pl.secondary_storage == U("nfs")
    e = engine([host("a"), host("b")], [shared("nfs", available=41 * GIB - 1)])
    err = no_host(e, req(root_bytes=r))
    assert err.phase == "secondary" and err.removed["PrimaryStorage"] == 1
    # over-provisioning 2.0: consume = ceil(bytes / 2)
    e = engine(
        [host("a"), host("b")], [shared("nfs", available=21 * GIB)], config=Config(storage_overprovisioning_ratio=2.0)
    )
    pl = e.place_and_reserve("k", req(root_bytes=r))
    assert e.storage_available(U("nfs")) == 21 * GIB - 5 * GIB - 15 * GIB


def test_storage_state_status_and_attachment():
    for bad in (dict(state="Disabled"), dict(status="Disconnected"), dict(clusters=(U("elsewhere"),))):
        err = no_host(engine([host("a"), host("b")], [shared("nfs", **bad)]), req())
        assert (err.phase, err.rule, err.removed["PrimaryStorage"]) == ("primary", "PrimaryStorage", 2)


def test_local_storage_per_host_disk():
    a, b, c = U("a"), U("b"), U("c")
    st = local("disks", {a: 50 * GIB, b: 30 * GIB})  # c has no disk
    e = engine([host("a"), host("b"), host("c")], [st])
    pl = place_checked(e, req(root_bytes=10 * GIB))
    # the secondary needs 30 GiB + 1 reserved: only a has room for it, so the first primary (a) has no pair
    assert (pl.primary_host, pl.secondary_host) == (b, a)
    e.reserve("k", req(root_bytes=10 * GIB), pl)
    assert e.storage_available(U("disks"), a) == 20 * GIB
    assert e.storage_available(U("disks"), b) == 20 * GIB
    with pytest.raises(UnknownResource):
        e.storage_available(U("disks"), c)


def test_storage_pins_root_and_data():
    s1 = shared("s1", available=100 * GIB)
    s2 = shared("s2", available=500 * GIB)
    e = engine([host("a"), host("b")], [s1, s2])
    pl = place_checked(e, req())
    assert pl.primary_storage == U("s2")  # best = largest available
    pl = place_checked(e, req(root_storage_uuid=U("s1")))
    assert (pl.primary_storage, pl.primary_data_storage) == (U("s1"), U("s1"))
    assert pl.secondary_storage == U("s2")  # prefers a storage that is not the primary's
    pl = place_checked(e, req(data_bytes=5 * GIB, data_storage_uuid=U("s1")))
    assert (pl.primary_storage, pl.primary_data_storage) == (U("s2"), U("s1"))
    pl = place_checked(e, req(data_bytes=5 * GIB, data_storage_uuid=U("s1"), root_storage_uuid=U("s1")))
    assert (pl.primary_storage, pl.primary_data_storage, pl.secondary_storage) == (U("s1"), U("s1"), U("s2"))
    # data pin that cannot hold the data volumes; unknown pins
    for pin in (
        dict(data_bytes=200 * GIB, data_storage_uuid=U("s1")),
        dict(root_storage_uuid=U("nope")),
        dict(data_storage_uuid=U("nope")),
    ):
        err = no_host(e, req(**pin))
        assert (err.phase, err.rule) == ("primary", "PrimaryStorage")


def test_soft_failure_domain_and_storage_honoured_when_possible():
    # Primary is "a" (fewest VMs). Secondary candidates: b same rack but fewer VMs, c other rack.
    hosts = [
        host("a", failure_domain="r1", vm_count=0),
        host("b", failure_domain="r1", vm_count=1),
        host("c", failure_domain="r2", vm_count=5),
    ]
    pl = place_checked(engine(hosts), req())
    assert (pl.primary_host, pl.secondary_host) == (U("a"), U("c"))
    # only the same rack left: the soft rule gives way
    pl = place_checked(engine(hosts[:2]), req())
    assert (pl.primary_host, pl.secondary_host) == (U("a"), U("b"))
    # storage: c2's hosts only see the primary's storage; b (other storage) wins although it has more VMs
    c2 = U("cluster2")
    hosts = [host("a", vm_count=0), host("b", vm_count=9), host("c", vm_count=1, cluster_uuid=c2)]
    st = [shared("nfs", clusters=(CLUSTER, c2), available=900 * GIB), shared("nfs2", available=100 * GIB)]
    pl = place_checked(engine(hosts, st), req())
    assert (pl.primary_host, pl.primary_storage, pl.secondary_host, pl.secondary_storage) == (
        U("a"),
        U("nfs"),
        U("b"),
        U("nfs2"),
    )
    # the empty failure domain label is a failure domain too
    hosts = [host("a", vm_count=0), host("b", vm_count=1), host("c", vm_count=2, failure_domain="r9")]
    pl = place_checked(engine(hosts), req())
    assert pl.secondary_host == U("c")


def test_same_storage_counts_what_the_primary_takes():
    # one shared storage: 1 reserved + 10 (primary) + 30 (secondary) = 41 GiB needed in all
    e = engine([host("a"), host("b")], [shared("nfs", available=40 * GIB)])
    err = no_host(e, req(root_bytes=10 * GIB))
    assert err.phase == "secondary" and err.removed["PrimaryStorage"] == 1


def test_ft_limits():
    hosts = [host("a", max_ft_vms=2, ft_vm_count=2), host("b", max_ft_vcpus=8, ft_vcpu_count=7), host("c"), host("d")]
    e = engine(hosts)
    pl = place_checked(e, req(vcpus=1))
    assert U("a") not in (pl.primary_host, pl.secondary_host)
    e = engine(hosts[:2])
    err = no_host(e, req(vcpus=2))
    assert err.removed["FtLimits"] == 2
    # limits count reservations: one more FT VM allowed on each
    e = engine([host("a", max_ft_vms=1), host("b", max_ft_vms=1)])
    e.place_and_reserve("k1", req())
    assert no_host(e, req()).removed["FtLimits"] == 2
    assert e.release("k1")
    place_checked(e, req())


def test_max_instance_per_host_strategy():
    strat = "MaxInstancePerHostHostAllocatorStrategy"
    e = engine([host("a", vm_count=3), host("b", vm_count=1), host("c", vm_count=2)])
    err = no_host(e, req(strategy=strat, max_instance_per_host=2))
    assert err.phase == "secondary" and err.removed["MaxInstancePerHost"] == 2
    pl = place_checked(e, req(strategy=strat, max_instance_per_host=3))
    assert (pl.primary_host, pl.secondary_host) == (U("b"), U("c"))
    place_checked(e, req(strategy=strat, max_instance_per_host=0))  # 0: no limit
    # other strategies ignore max_instance_per_host
    place_checked(e, req(max_instance_per_host=1))


@pytest.mark.parametrize(
    "strategy,expect",
    [
        ("LeastVmPreferredHostAllocatorStrategy", ("few_vms", "cpu_light")),
        ("MinimumCPUUsageHostAllocatorStrategy", ("cpu_light", "mem_light")),
        ("MinimumMemoryUsageHostAllocatorStrategy", ("mem_light", "few_vms")),
        ("DefaultHostAllocatorStrategy", ("mem_light", "few_vms")),
    ],
)
def test_strategies_order_hosts(strategy, expect):
    hosts = [
        host("few_vms", vm_count=0, cpu_used=40, memory_used=8 * GIB),
        host("cpu_light", vm_count=2, cpu_used=0, memory_used=20 * GIB),
        host("mem_light", vm_count=5, cpu_used=20, memory_used=0),
    ]
    for h, fd in zip(hosts, ("r1", "r2", "r3")):
        h.failure_domain = fd
    pl = place_checked(engine(hosts), req(strategy=strategy))
    assert (pl.primary_host, pl.secondary_host) == (U(expect[0]), U(expect[1]))


def test_ties_break_by_uuid_order_key():
    hosts = [host("x", uuid=O(3)), host("y", uuid=O(1)), host("z", uuid=O(2))]
    pl = place_checked(engine(hosts), req())
    assert (pl.primary_host, pl.secondary_host) == (O(1), O(2))
    # dashes are ignored
    dashed = "00000000-0000-0000-0000-000000000005"
    e = engine([host("p", uuid=dashed), host("q", uuid=O(9))])
    assert e.place(req()).primary_host == dashed


def test_invalid_requests():
    e = engine([host("a"), host("b")])
    for bad in (
        dict(vcpus=0),
        dict(memory=0),
        dict(memory=-1),
        dict(root_bytes=-1),
        dict(data_bytes=-5),
        dict(strategy="Nope"),
    ):
        with pytest.raises(InvalidRequest):
            e.place(req(**bad))
        with pytest.raises(InvalidRequest):
            e.place_and_reserve("k", req(**bad))
    with pytest.raises(InvalidRequest):
        e.upsert_host(host("bad", uuid="not-a-uuid"))


def test_reserve_takes_and_release_gives_back_idempotently():
    e = engine([host("a"), host("b")], [shared("nfs", available=100 * GIB)])
    q = req(vcpus=3, memory=5 * GIB, root_bytes=4 * GIB, data_bytes=2 * GIB)
    pl = e.place_and_reserve("k", q)
    for hu in (pl.primary_host, pl.secondary_host):
        assert e.host_usage(hu) == dict(cpu_used=3, memory_used=5 * GIB, vm_count=1, ft_vm_count=1, ft_vcpu_count=3)
    assert e.storage_available(U("nfs")) == 100 * GIB - 6 * GIB - 18 * GIB
    assert e.reservation_count() == 1
    with pytest.raises(ReservationConflict):
        e.place_and_reserve("k", q)
    with pytest.raises(ReservationConflict):
        e.reserve("k", q, pl)
    assert e.release("k") is True
    assert e.release("k") is False
    assert e.release("never") is False
    for hu in (pl.primary_host, pl.secondary_host):
        assert e.host_usage(hu) == dict(cpu_used=0, memory_used=0, vm_count=0, ft_vm_count=0, ft_vcpu_count=0)
    assert e.storage_available(U("nfs")) == 100 * GIB


def test_reservations_change_the_next_answer_and_snapshot_shows_effective_usage():
    e = engine([host("a", uuid=O(1)), host("b", uuid=O(2)), host("c", uuid=O(3)), host("d", uuid=O(4))])
    p1 = e.place_and_reserve("k1", req())
    p2 = e.place_and_reserve("k2", req())
    assert {p1.primary_host, p1.secondary_host}.isdisjoint({p2.primary_host, p2.secondary_host})
    snap = {h.uuid: h for h in e.snapshot().hosts}
    assert snap[p1.primary_host].vm_count == 1 and snap[p1.primary_host].cpu_used == 2


def test_reserve_rechecks_every_hard_rule():
    e = engine([host("a"), host("b"), host("c")])
    q = req(vcpus=4)
    pl = e.place(q)
    e.upsert_host(host("a", cpu_used=80))
    e.upsert_host(host("b", cpu_used=80))
    e.upsert_host(host("c", cpu_used=80))
    with pytest.raises(StalePlacement):
        e.reserve("k", q, pl)
    e = engine([host("a"), host("b")])
    pl = e.place(q)
    for bad in (
        Placement(pl.primary_host, pl.primary_storage, pl.primary_data_storage, pl.primary_host, pl.secondary_storage),
        Placement(U("ghost"), pl.primary_storage, pl.primary_data_storage, pl.secondary_host, pl.secondary_storage),
        Placement(pl.primary_host, U("ghost"), U("ghost"), pl.secondary_host, pl.secondary_storage),
    ):
        with pytest.raises(StalePlacement):
            e.reserve("k", q, bad)
    with pytest.raises(StalePlacement):
        e.reserve("k", req(host_uuid=U("nope")), pl)
    e.reserve("k", q, pl)


def test_upsert_keeps_reservations_and_remove_host_drops_them_with_generations():
    e = engine([host("a"), host("b"), host("c")])
    pl = e.place_and_reserve("k", req())
    p = pl.primary_host
    e.upsert_host(host("a", cpu_used=1) if p == U("a") else host({U("b"): "b", U("c"): "c"}[p], cpu_used=1))
    assert e.host_usage(p)["cpu_used"] == 3  # base 1 + reserved 2
    name = {U("a"): "a", U("b"): "b", U("c"): "c"}[p]
    e.remove_host(p)
    with pytest.raises(UnknownResource):
        e.host_usage(p)
    with pytest.raises(UnknownResource):
        e.remove_host(p)
    e.upsert_host(host(name))  # same uuid, new host
    assert e.host_usage(p)["cpu_used"] == 0
    assert e.release("k") is True  # skips the removed host, gives back the other
    assert e.host_usage(p)["cpu_used"] == 0
    assert e.host_usage(pl.secondary_host)["cpu_used"] == 0


def test_storage_upsert_keeps_and_remove_drops_reservations():
    e = engine([host("a"), host("b")], [shared("nfs", available=100 * GIB)])
    e.place_and_reserve("k", req(root_bytes=GIB))
    e.upsert_storage(shared("nfs", available=200 * GIB))
    assert e.storage_available(U("nfs")) == 200 * GIB - 4 * GIB
    e.remove_storage(U("nfs"))
    with pytest.raises(UnknownResource):
        e.storage_available(U("nfs"))
    with pytest.raises(UnknownResource):
        e.remove_storage(U("nfs"))
    e.upsert_storage(shared("nfs", available=200 * GIB))
    assert e.release("k")
    assert e.storage_available(U("nfs")) == 200 * GIB


def test_detach_l2_and_set_l3():
    e = engine([host("a"), host("b")])
    place_checked(e, req())
    e.detach_l2(CLUSTER, L2)
    assert no_host(e, req()).removed["L2Attachment"] == 2
    e.attach_l2(CLUSTER, U("l2-new"))
    e.set_l3(L3, U("l2-new"))
    place_checked(e, req())


def test_copy_is_independent():
    e = engine([host("a"), host("b"), host("c"), host("d")])
    e.place_and_reserve("k1", req())
    c = e.copy()
    assert c.snapshot() == e.snapshot()
    c.place_and_reserve("k2", req())
    assert e.reservation_count() == 1 and c.reservation_count() == 2
    assert c.release("k1") and e.reservation_count() == 1
    c.upsert_host(host("z"))
    assert len(e.snapshot().hosts) == 4


def test_place_many_reports_errors_in_place():
    e = engine([host("a", cpu_num=1), host("b", cpu_num=1)], config=Config(cpu_overprovisioning_ratio=4.0))
    out = e.place_many(["k1", "k2", "k3", "k1"], [req(), req(), req(vcpus=0), req()])
    assert isinstance(out[0], Placement) and isinstance(out[1], Placement)
    assert isinstance(out[2], InvalidRequest)
    assert isinstance(out[3], ReservationConflict)
    with pytest.raises(ValueError):
        e.place_many(["k"], [])


def test_concurrent_place_and_reserve_never_oversubscribes():
    hosts = [host(f"h{i}", cpu_num=1) for i in range(6)]
    e = engine(hosts, config=Config(cpu_overprovisioning_ratio=4.0))  # 2 VMs of 2 vCPUs per host
    results = []

    def worker(n):
        for j in range(4):
            try:
                results.append(e.place_and_reserve(f"w{n}-{j}", req()))
            except NoHostAvailable:
                results.append(None)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    placed = [r for r in results if r is not None]
    assert len(placed) == 6  # 12 VM slots, 2 per pair
    for h in hosts:
        assert e.host_usage(h.uuid)["cpu_used"] <= 4
