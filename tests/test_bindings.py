"""The compiled engine seen from Python: types in and out, typed errors with their data, the GIL released."""

import itertools
import threading
import time
import uuid

import pytest

from ftvm.placement import (
    RULES,
    Config,
    HostSpec,
    InvalidRequest,
    NoHostAvailable,
    Placement,
    PlacementError,
    Request,
    ReservationConflict,
    StalePlacement,
    StorageSpec,
    UnknownResource,
    create_engine,
)
from ftvm.placement.rust_engine import RustEngine

GIB = 1 << 30


def new_uuid() -> str:
    return uuid.uuid4().hex


def small_inventory(engine, hosts=4, cpu_num=8, memory=17 * GIB):
    zone, cluster, l2, l3 = new_uuid(), new_uuid(), new_uuid(), new_uuid()
    specs = [HostSpec(new_uuid(), zone, cluster, cpu_num, memory, failure_domain=f"rack{i}") for i in range(hosts)]
    engine.upsert_hosts(specs)
    engine.upsert_storage(StorageSpec(new_uuid(), zone, (cluster,), available=1 << 42))
    engine.set_l3(l3, l2)
    engine.attach_l2(cluster, l2)
    return specs, l3


def test_default_engine_is_rust():
    engine = create_engine()
    assert isinstance(engine, RustEngine)
    assert engine.name == "rust"
    assert engine.config == Config()


def test_place_reserve_release_round_trip():
    engine = create_engine()
    specs, l3 = small_inventory(engine)
    request = Request(vcpus=2, memory=2 * GIB, l3_uuids=(l3,), root_bytes=10 * GIB)
    placement = engine.place_and_reserve("group-1", request)
    assert isinstance(placement, Placement)
    assert placement.primary_host != placement.secondary_host
    assert {placement.primary_host, placement.secondary_host} <= {s.uuid for s in specs}
    usage = engine.host_usage(placement.primary_host)
    assert usage == {"cpu_used": 2, "memory_used": 2 * GIB, "vm_count": 1, "ft_vm_count": 1, "ft_vcpu_count": 2}
    assert engine.reservation_count() == 1
    assert engine.release("group-1") is True
    assert engine.release("group-1") is False
    assert engine.host_usage(placement.primary_host)["cpu_used"] == 0


def test_no_host_available_carries_per_rule_counts():
    engine = create_engine()
    specs, l3 = small_inventory(engine)
    disabled = specs[0]
    disabled.state = "Disabled"
    engine.upsert_host(disabled)
    with pytest.raises(NoHostAvailable) as caught:
        engine.place(Request(vcpus=81, memory=GIB, l3_uuids=(l3,)))
    err = caught.value
    assert isinstance(err, PlacementError)
    assert err.phase == "primary"
    assert err.rule == "Cpu"
    assert list(err.removed) == list(RULES)
    assert err.removed["HostState"] == 1 and err.removed["Cpu"] == 3
    assert sum(err.removed.values()) == err.considered == 4
    assert "Cpu" in str(err)


def test_secondary_phase_error():
    engine = create_engine()
    _, l3 = small_inventory(engine, hosts=1)
    with pytest.raises(NoHostAvailable) as caught:
        engine.place(Request(vcpus=1, memory=GIB, l3_uuids=(l3,)))
    assert (caught.value.phase, caught.value.rule) == ("secondary", "HostAntiAffinity")


@pytest.mark.parametrize(
    "bad",
    [
        dict(vcpus=0),
        dict(vcpus=-3),
        dict(memory=0),
        dict(root_bytes=-1),
        dict(strategy="FastestHostAllocatorStrategy"),
        dict(max_instance_per_host=-1),
        dict(vcpus=1 << 40),
    ],
)
def test_invalid_requests_raise_invalid_request(bad):
    engine = create_engine()
    _, l3 = small_inventory(engine)
    fields = dict(vcpus=1, memory=GIB, l3_uuids=(l3,)) | bad
    with pytest.raises(InvalidRequest):
        engine.place(Request(**fields))


def test_bad_specs_and_unknown_resources():
    engine = create_engine()
    with pytest.raises(InvalidRequest):
        engine.upsert_host(HostSpec("h-1", "z", "c", 4, GIB))
    with pytest.raises(InvalidRequest):
        engine.upsert_host(HostSpec(new_uuid(), "z", "c", -4, GIB))
    with pytest.raises(InvalidRequest):
        engine.upsert_storage(StorageSpec(new_uuid(), "z", ("c",), kind="Tape"))
    with pytest.raises(InvalidRequest):
        engine.upsert_storage(StorageSpec(new_uuid(), "z", ("c",), kind="Local", host_available={"host-1": 1}))
    with pytest.raises(UnknownResource) as caught:
        engine.remove_host(new_uuid())
    assert caught.value.kind == "Host"
    with pytest.raises(UnknownResource):
        engine.host_usage(new_uuid())
    with pytest.raises(InvalidRequest):
        create_engine(Config(cpu_overprovisioning_ratio=0))


def test_reserve_errors_are_typed():
    engine = create_engine()
    _, l3 = small_inventory(engine, hosts=2)
    request = Request(vcpus=40, memory=GIB, l3_uuids=(l3,))
    placement = engine.place(request)
    engine.reserve("a", request, placement)
    with pytest.raises(ReservationConflict) as caught:
        engine.reserve("a", request, placement)
    assert caught.value.key == "a"
    with pytest.raises(StalePlacement):
        engine.reserve("b", Request(vcpus=41, memory=GIB, l3_uuids=(l3,)), placement)


def test_place_many_returns_errors_in_place():
    engine = create_engine()
    _, l3 = small_inventory(engine, hosts=2)
    requests = [Request(vcpus=40, memory=GIB, l3_uuids=(l3,)) for _ in range(3)]
    results = engine.place_many(["a", "b", "c"], requests)
    assert [type(r).__name__ for r in results] == ["Placement", "Placement", "NoHostAvailable"]
    assert results[2].rule == "Cpu"


def test_snapshot_and_copy_are_independent():
    engine = create_engine()
    specs, l3 = small_inventory(engine)
    engine.place_and_reserve("a", Request(vcpus=2, memory=GIB, l3_uuids=(l3,), root_bytes=GIB))
    twin = engine.copy()
    twin.place_and_reserve("b", Request(vcpus=2, memory=GIB, l3_uuids=(l3,)))
    assert engine.reservation_count() == 1 and twin.reservation_count() == 2
    inv = engine.snapshot()
    assert sorted(h.uuid for h in inv.hosts) == sorted(s.uuid for s in specs)
    assert sum(h.vm_count for h in inv.hosts) == 2
    assert inv.l3_to_l2[l3] in inv.cluster_l2[specs[0].cluster_uuid]
    assert inv.storages[0].available == (1 << 42) - GIB - 3 * GIB


def test_threads_progress_while_a_placement_runs():
    """The engine releases the GIL: Python code in another thread runs *during* one long engine call."""
    engine = create_engine()
    zone, cluster = new_uuid(), new_uuid()
    engine.upsert_hosts([HostSpec(new_uuid(), zone, cluster, 4, 2 * GIB) for _ in range(200_000)])
    # No host has the memory: every request is a full scan that ends in an error, all in one call.
    requests = [Request(vcpus=1, memory=64 * GIB, l3_uuids=())] * 30
    keys = [str(i) for i in range(len(requests))]
    done = threading.Event()
    ticks: list[float] = []

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())

    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.01)
    start = time.perf_counter()
    results = engine.place_many(keys, requests)
    end = time.perf_counter()
    done.set()
    counter.join()
    assert all(isinstance(r, NoHostAvailable) for r in results)
    duration = end - start
    assert duration > 0.05, "the call must be long enough to observe"
    # Holding the GIL, the engine would leave the counter a gap as long as the whole scan: it can only run
    # around the call (while the call takes the GIL and while errors are built). Released, it runs throughout.
    inside = [start] + [t for t in ticks if start < t < end] + [end]
    longest_gap = max(b - a for a, b in itertools.pairwise(inside))
    assert longest_gap < duration / 3


def test_place_many_answers_a_malformed_request_in_its_slot():
    engine = create_engine()
    _, l3 = small_inventory(engine, hosts=2)
    requests = [
        Request(vcpus=1, memory=GIB, l3_uuids=(l3,)),
        Request(vcpus=0, memory=GIB, l3_uuids=(l3,)),
        Request(vcpus=1, memory=GIB, l3_uuids=(l3,)),
    ]
    results = engine.place_many(["a", "b", "c"], requests)
    assert [type(r).__name__ for r in results] == ["Placement", "InvalidRequest", "Placement"]
    assert engine.reservation_count() == 2
