"""Joint batch placement (ftvm.placement.batch): never worse than greedy, better where greedy is stuck, exact pruning,
apply() reserving all or nothing."""

from __future__ import annotations

import random

import pytest

from ftvm.placement import (
    STRATEGIES,
    Config,
    InvalidRequest,
    Placement,
    StalePlacement,
    create_engine,
)
from ftvm.placement.batch import BatchResult, solve_batch
from placement_builders import CLUSTER, GIB, L2, ZONE, O, U, host, load, req, shared


def _engine(hosts, storages=None, config=None, kind="rust"):
    return load(create_engine(config or Config(), kind=kind), hosts, [shared("nfs")] if storages is None else storages)


def _random_case(seed: int, n_hosts: int, n_req: int):
    rng = random.Random(seed)
    zones = [U(f"z{seed}-{k}") for k in range(2)]
    clusters = [(U(f"c{seed}-{k}"), zones[k % 2]) for k in range(4)]
    hosts = []
    for k in range(n_hosts):
        c, z = rng.choice(clusters)
        hosts.append(
            host(
                f"h{seed}-{k}",
                zone_uuid=z,
                cluster_uuid=c,
                cpu_num=rng.choice([1, 2]),
                memory_total=rng.choice([8, 12, 16]) * GIB,
                cpu_used=rng.randint(0, 8),
                memory_used=rng.randint(0, 6) * GIB,
                vm_count=rng.randint(0, 4),
                failure_domain=rng.choice(["r1", "r2", "r3", ""]),
                max_ft_vms=rng.choice([0, 0, 0, 2]),
            )
        )
    storages = [
        shared(f"s{seed}-{k}", available=rng.randint(60, 300) * GIB, clusters=tuple(c for c, _ in clusters[k::2]))
        for k in range(2)
    ]
    requests = [
        req(
            vcpus=rng.choice([1, 2, 4, 6]),
            memory=rng.choice([1, 2, 4, 6]) * GIB,
            root_bytes=rng.choice([5, 10, 20]) * GIB,
            strategy=rng.choice(STRATEGIES),
            max_instance_per_host=rng.choice([0, 3, 5]),
        )
        for _ in range(n_req)
    ]
    e = load(
        create_engine(Config(cpu_overprovisioning_ratio=4.0), kind="rust"),
        hosts,
        storages,
        cluster_l2={c: [L2] for c, _ in clusters},
    )
    return e, requests


def _check_applies(engine, res: BatchResult):
    """The answer passes every hard-rule re-check of reserve(), pair after pair, on a copy."""
    copy = engine.copy()
    before = copy.reservation_count()
    done = res.apply(copy)
    assert copy.reservation_count() == before + res.placed == before + len(done)


@pytest.mark.parametrize("seed", range(6))
def test_never_worse_than_greedy_and_always_reservable(seed):
    e, requests = _random_case(seed, n_hosts=24, n_req=14)
    keys = [f"k{i}" for i in range(len(requests))]
    res = solve_batch(e, keys, requests, time_limit_s=1.5)
    assert res.objective >= res.greedy_objective
    assert res.placed >= res.greedy_placed
    assert res.status in ("OPTIMAL", "FEASIBLE")
    assert res.best_bound >= res.objective
    assert res.gap >= 0.0
    assert res.source in ("cpsat", "greedy")
    if res.source == "greedy":
        assert [p if isinstance(p, Placement) else None for p in e.copy().place_many(keys, requests)] == res.placements
    assert len(res.placements) == len(res.errors) == len(requests)
    for pl, err in zip(res.placements, res.errors):
        assert (pl is None) != (err is None)
    _check_applies(e, res)
    assert e.reservation_count() == 0  # solve_batch itself never reserves


def _stuck_greedy():
    # C and D (8 vCPUs) have fewer VMs, so greedy gives them to the first (4 vCPU) request and the second request
    # (6 vCPUs per VM) finds no pair; jointly the first goes to A and B (4 vCPUs each, exact fit).
    hosts = [
        host("A", uuid=O(1), cpu_num=4, vm_count=1),
        host("B", uuid=O(2), cpu_num=4, vm_count=1),
        host("C", uuid=O(3), cpu_num=8, vm_count=0),
        host("D", uuid=O(4), cpu_num=8, vm_count=0),
    ]
    return hosts, [req(vcpus=4), req(vcpus=6)]


@pytest.mark.parametrize("kind", ["rust", "ortools"])
def test_joint_model_places_more_than_greedy(kind):
    hosts, requests = _stuck_greedy()
    e = _engine(hosts, config=Config(cpu_overprovisioning_ratio=1.0), kind=kind)
    res = solve_batch(e, ["a", "b"], requests, time_limit_s=5)
    assert (res.greedy_placed, res.placed) == (1, 2)
    assert res.source == "cpsat" and res.status == "OPTIMAL" and res.gap == 0.0
    assert res.objective > res.greedy_objective
    first, second = res.placements
    assert {first.primary_host, first.secondary_host} == {O(1), O(2)}
    assert {second.primary_host, second.secondary_host} == {O(3), O(4)}
    assert res.errors == [None, None]
    # apply() reserves through engine.reserve
    assert res.apply(e) == ["a", "b"]
    assert e.reservation_count() == 2
    for h in (O(1), O(2)):
        assert e.host_usage(h)["cpu_used"] == 4
    for h in (O(3), O(4)):
        assert e.host_usage(h)["cpu_used"] == 6
    assert e.release("a") and e.release("b")


def test_apply_is_all_or_nothing():
    hosts, requests = _stuck_greedy()
    e = _engine(hosts, config=Config(cpu_overprovisioning_ratio=1.0))
    res = solve_batch(e, ["a", "b"], requests)
    e.upsert_host(host("D", uuid=O(4), cpu_num=2))  # the second pair no longer fits
    with pytest.raises(StalePlacement):
        res.apply(e)
    assert e.reservation_count() == 0
    assert e.host_usage(O(1))["cpu_used"] == 0


def test_soft_rules_counted_and_avoided():
    # One VM per host; two pairs can straddle the racks (r2 has two hosts) and use two storages.
    hosts = [
        host("a", uuid=O(1), failure_domain="r1", vm_count=0, cpu_num=1),
        host("b", uuid=O(2), failure_domain="r2", vm_count=0, cpu_num=1),
        host("c", uuid=O(3), failure_domain="r1", vm_count=1, cpu_num=1),
        host("d", uuid=O(4), failure_domain="r1", vm_count=1, cpu_num=1),
        host("e", uuid=O(5), failure_domain="r2", vm_count=2, cpu_num=1),
    ]
    e = _engine(hosts, [shared("nfs"), shared("nfs2")], config=Config(cpu_overprovisioning_ratio=2.0))
    res = solve_batch(e, ["a", "b"], [req(), req()])
    assert res.placed == 2
    assert res.soft_violations <= res.greedy_soft_violations
    assert res.soft_violations == 0
    _check_applies(e, res)
    # a single storage: every pair shares it, a soft violation each that nothing can avoid
    e = _engine(hosts, [shared("nfs")], config=Config(cpu_overprovisioning_ratio=2.0))
    res = solve_batch(e, ["a", "b"], [req(), req()])
    assert res.placed == 2 and res.soft_violations == 2 and res.status == "OPTIMAL"


def test_invalid_and_impossible_requests_are_reported_not_placed():
    e = _engine([host("a"), host("b")])
    res = solve_batch(e, ["ok", "bad", "huge"], [req(), req(vcpus=0), req(vcpus=1000)])
    assert res.placements[0] is not None and res.placements[1] is None and res.placements[2] is None
    assert isinstance(res.errors[1], InvalidRequest)
    assert type(res.errors[2]).__name__ == "NoHostAvailable"
    assert res.placed == 1 and res.status == "OPTIMAL"
    with pytest.raises(ValueError):
        solve_batch(e, ["x"], [])
    with pytest.raises(ValueError):
        solve_batch(e, ["x"], [req()], solver="gurobi")


def test_empty_batch():
    res = solve_batch(_engine([host("a"), host("b")]), [], [])
    assert res.placed == 0 and res.objective == 0 and res.status == "OPTIMAL"


def _contended(seed: int):
    """Many roomy hosts (so pruning cuts), distinct load levels (so the best hosts are contended)."""
    rng = random.Random(seed)
    z2, c2 = U("zone-2"), U("cluster-2")
    hosts = []
    for k in range(90):
        zone, cluster = (ZONE, CLUSTER) if k % 3 else (z2, c2)
        hosts.append(
            host(
                f"h{k}",
                uuid=O(100 + k),
                zone_uuid=zone,
                cluster_uuid=cluster,
                cpu_num=4,
                memory_total=rng.choice([12, 16, 20]) * GIB,
                vm_count=rng.randint(0, 40),
                failure_domain=f"rack{k % 7}",
            )
        )
    storages = [
        shared("nfs", available=5000 * GIB, clusters=(CLUSTER, c2)),
        shared("nfs-b", available=800 * GIB, clusters=(c2,)),
    ]
    e = load(
        create_engine(Config(cpu_overprovisioning_ratio=2.0), kind="rust"),
        hosts,
        storages,
        cluster_l2={CLUSTER: [L2], c2: [L2]},
    )
    reqs = [req(vcpus=rng.choice([2, 3, 4]), memory=rng.choice([2, 4, 6]) * GIB, root_bytes=10 * GIB) for _ in range(5)]
    return e, reqs


@pytest.mark.parametrize("seed", range(3))
def test_pruning_is_exact(seed):
    e, reqs = _contended(seed)
    keys = [f"k{i}" for i in range(len(reqs))]
    pruned = solve_batch(e, keys, reqs, time_limit_s=20)
    full = solve_batch(e, keys, reqs, time_limit_s=20, prune=False)
    assert pruned.stats["pruning"] == "exact"
    assert pruned.stats["kept_hosts"] < full.stats["kept_hosts"]
    assert pruned.status == full.status == "OPTIMAL"
    assert pruned.objective == full.objective


def test_highs_side_by_side():
    hosts, requests = _stuck_greedy()
    e = _engine(hosts, config=Config(cpu_overprovisioning_ratio=1.0))
    cp = solve_batch(e, ["a", "b"], requests, solver="cpsat")
    hi = solve_batch(e, ["a", "b"], requests, solver="highs")
    assert hi.placed == cp.placed == 2
    assert hi.objective == cp.objective
    assert hi.status == "OPTIMAL"
