"""OpenStack Nova's filter scheduler as a benchmark peer (optional: needs `nova` from PyPI).

Nova's real filters and weighers run in-process over `nova.tests.unit.scheduler.fakes.FakeHostState` host states,
driven through `HostFilterHandler.get_filtered_objects` / `HostWeightHandler.get_weighed_objects` the way Nova's
own unit tests and `SchedulerManager._get_sorted_hosts` do, then the chosen host is claimed with the real
`HostState.consume_from_request`. An FT pair is two scheduling passes: the primary, then the secondary with a
`different_host` hint (hard anti-affinity) and the primary's zone.

How the FT rules map onto Nova (Nova >= 19 has no RamFilter/CoreFilter/DiskFilter: capacity moved to the
Placement service, which is not in this process, so capacity is expressed with the real `JsonFilter`):

| FT rule | Nova filter |
|---|---|
| HostState, HostStatus | `ComputeFilter` (service disabled / heartbeat too old) |
| Hypervisor | `ImagePropertiesFilter` (image `img_hv_type=kvm` vs the host's supported_instances) |
| Location (zone / cluster pins, secondary in the primary's zone), L2Attachment | `AggregateInstanceExtraSpecsFilter` over one aggregate per cluster with metadata zone / cluster / l2_<uuid> |
| HostAntiAffinity | `DifferentHostFilter` (scheduler hint different_host = the primary's instance uuid) |
| FtNetwork, FtLimits, MaxInstancePerHost, Cpu, Memory, PrimaryStorage | `JsonFilter` query on host-state attributes (free_ram_mb, free vCPUs, FT counters, best free storage) |
| host pin | the host list is cut to that host first (Nova's force_hosts) |
| strategy | weighers `NumInstancesWeigher` (multiplier -10, fewest VMs first), `RAMWeigher`, `CPUWeigher` |

Not modelled by Nova and therefore left out: the soft rules (other rack, other storage for the secondary), root /
data storage pins, and the exact storage choice (the best attached storage is consumed, like the others do).
The Nova peer therefore does comparable work per decision but does not give identical answers.

Runs in-process when nova imports here; otherwise `run_subprocess` runs this module under another interpreter
(e.g. a `.venv-peers/` venv) that regenerates the same inventory from the seed.
"""  # noqa: E501 -- the rows of the FT rule -> Nova filter table cannot wrap

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
import uuid as uuid_mod
import warnings
from collections.abc import Sequence

INSTALL_HINT = (
    "pip install -e '.[bench-peers]' from a checkout (nova==34.0.0), "
    "or put nova in a separate venv and pass --nova-python .venv-peers/bin/python"
)

_nova = None  # the imported modules, once


def _import_nova():
    global _nova
    if _nova is not None:
        return _nova
    # Nova >= 2025 monkey patches eventlet when nova.tests.unit is imported unless told not to; native threads
    # keep the other engines of this process unaffected.
    os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
    with warnings.catch_warnings():  # nova's dependencies warn about their own deprecations on import
        warnings.simplefilter("ignore")
        _nova = _do_import_nova()
    return _nova


def _do_import_nova():
    import logging

    # The order matters: nova decides on import how it threads (eventlet or not); sorted, it refuses to start.
    # isort: off
    from nova import objects
    from nova.tests.unit.scheduler import fakes
    from nova.scheduler import filters as nova_filters
    from nova.scheduler import weights as nova_weights
    from nova.scheduler.filters import (
        affinity_filter,
        aggregate_instance_extra_specs,
        compute_filter,
        image_props_filter,
        json_filter,
    )
    from nova.scheduler.weights import cpu, num_instances, ram
    import nova.conf
    # isort: on

    objects.register_all()
    # ComputeFilter warns about every down host on every pass; keep the benchmark's output readable
    logging.getLogger("nova").setLevel(logging.ERROR)
    conf = nova.conf.CONF
    conf.set_override("num_instances_weight_multiplier", -10.0, group="filter_scheduler")
    conf.set_override("ram_weight_multiplier", 1.0, group="filter_scheduler")
    conf.set_override("cpu_weight_multiplier", 1.0, group="filter_scheduler")
    # No nova-compute sends heartbeats here: "up" hosts carry the build time as last_seen_up, so the down time is
    # stretched to a week (a 1M-host pass takes minutes) and "down" hosts were last seen a year ago.
    conf.set_override("service_down_time", 7 * 24 * 3600)

    class FtHostState(fakes.FakeHostState):
        """FakeHostState plus the FT facts the JsonFilter query reads (derived from Nova's own fields)."""

        @property
        def vcpus_free(self):
            return math.floor(self.vcpus_total * self.cpu_allocation_ratio) - self.vcpus_used

        @property
        def ft_vms_left(self):
            return self.max_ft_vms - self.ft_vms if self.max_ft_vms else 1 << 30

        @property
        def ft_vcpus_left(self):
            return self.max_ft_vcpus - self.ft_vcpus if self.max_ft_vcpus else 1 << 30

        @property
        def storage_free_gb(self):
            best = -1
            for st in self.ft_storages:
                if st.ok:
                    a = st.avail(self.host)
                    if a is not None and a > best:
                        best = a
            return (best - self.ft_reserved_capacity) // (1 << 30) if best >= 0 else -1

        def _locked_consume_from_request(self, spec_obj):
            super()._locked_consume_from_request(spec_obj)
            self.ft_vms += 1
            self.ft_vcpus += spec_obj.vcpus

    return {
        "objects": objects,
        "fakes": fakes,
        "HostState": FtHostState,
        "FilterHandler": nova_filters.HostFilterHandler,
        "WeightHandler": nova_weights.HostWeightHandler,
        "filters": [
            compute_filter.ComputeFilter,
            image_props_filter.ImagePropertiesFilter,
            aggregate_instance_extra_specs.AggregateInstanceExtraSpecsFilter,
            affinity_filter.DifferentHostFilter,
            json_filter.JsonFilter,
        ],
        "weighers": [num_instances.NumInstancesWeigher, ram.RAMWeigher, cpu.CPUWeigher],
        "version": _nova_version(),
    }


def _nova_version() -> str:
    try:
        from importlib.metadata import version

        return version("nova")
    except Exception:  # noqa: BLE001 -- the version only labels the report: '?' when nova's metadata is unreadable
        return "?"


def nova_unavailable_reason() -> str | None:
    """None when nova's scheduler imports in this interpreter, else why not."""
    try:
        _import_nova()
        return None
    except Exception as e:  # noqa: BLE001 -- ImportError mostly, but nova's import side effects can raise anything
        return f"{type(e).__name__}: {e}"


class _Storage:
    __slots__ = ("uuid", "ok", "shared", "available", "host_available")

    def __init__(self, spec) -> None:
        self.uuid = spec.uuid
        self.ok = spec.state == "Enabled" and spec.status == "Connected"
        self.shared = spec.kind != "Local"
        self.available = spec.available
        self.host_available = dict(spec.host_available)

    def avail(self, host: str):
        return self.available if self.shared else self.host_available.get(host)

    def take(self, host: str, nbytes: int) -> None:
        if self.shared:
            self.available -= nbytes
        else:
            self.host_available[host] -= nbytes


class NovaPeer:
    """Nova's filter scheduler over FakeHostStates of a SyntheticInventory (see the module docstring)."""

    name = "nova"

    def __init__(self, inv) -> None:
        nv = _import_nova()
        objects = nv["objects"]
        cfg = inv.config
        self.config = cfg
        self._objects = objects
        self.filters = [f() for f in nv["filters"]]
        self.weighers = [w() for w in nv["weighers"]]
        self.filter_handler = nv["FilterHandler"]()
        self.weight_handler = nv["WeightHandler"]()
        self.version = nv["version"]
        self._l3_to_l2 = dict(inv.l3_to_l2)
        self._seq = 0
        now = datetime.datetime.utcnow()
        stale = now - datetime.timedelta(days=365)
        mib = 1 << 20
        storages = [_Storage(s) for s in inv.storages]
        self.storages = {s.uuid: s for s in storages}
        aggs = []
        for c, cu in enumerate(inv.cluster_uuids):
            md = {"zone": inv.zone_uuids[int(inv.cluster_zone[c])], "cluster": cu}
            for l2 in inv.cluster_l2.get(cu, ()):
                md["l2_" + l2] = "true"
            aggs.append(objects.Aggregate(id=c + 1, name=f"cluster-{c}", metadata=md))
        cl_st = [[storages[k] for k in ks] for ks in inv.cluster_storages]
        kvm = [("x86_64", "kvm", "hvm")]
        esx = [("x86_64", "vmware", "hvm")]
        HS = nv["HostState"]
        self.hosts = []
        self.zone_of = {}
        cols = zip(
            inv.host_uuids,
            inv.host_cluster.tolist(),
            inv.cpu_num.tolist(),
            inv.memory_total.tolist(),
            inv.cpu_used.tolist(),
            inv.memory_used.tolist(),
            inv.vm_count.tolist(),
            inv.ft_vm_count.tolist(),
            inv.ft_vcpu_count.tolist(),
            inv.max_ft_vms.tolist(),
            inv.max_ft_vcpus.tolist(),
            inv.state.tolist(),
            inv.status.tolist(),
            inv.hypervisor.tolist(),
            inv.ft_address.tolist(),
        )
        for u, c, cpu, mem, cpu_u, mem_u, vms, ftv, ftc, mfv, mfc, st, ss, hv, fta in cols:
            hs = HS(
                u,
                u,
                {
                    "uuid": u,
                    "service": {
                        "disabled": st != 0,
                        "disabled_reason": None,
                        "forced_down": False,
                        "last_seen_up": now if ss == 0 else stale,
                        "created_at": stale,
                    },
                    "hypervisor_type": "QEMU" if hv == 0 else "VMware vCenter Server",
                    "supported_instances": kvm if hv == 0 else esx,
                    "hypervisor_version": 9002000,
                    "total_usable_ram_mb": mem // mib,
                    "free_ram_mb": (mem - cfg.reserved_memory - mem_u) // mib,
                    "vcpus_total": cpu,
                    "vcpus_used": cpu_u,
                    "cpu_allocation_ratio": cfg.cpu_overprovisioning_ratio,
                    "ram_allocation_ratio": cfg.memory_overprovisioning_ratio,
                    "num_instances": vms,
                    "aggregates": [aggs[c]],
                    "ft_address": bool(fta),
                    "ft_vms": ftv,
                    "ft_vcpus": ftc,
                    "max_ft_vms": mfv,
                    "max_ft_vcpus": mfc,
                    "ft_storages": cl_st[c],
                    "ft_reserved_capacity": cfg.storage_reserved_capacity,
                },
            )
            self.hosts.append(hs)
            self.zone_of[u] = aggs[c].metadata["zone"]
        self.by_uuid = {h.host: h for h in self.hosts}

    # ---- one decision ------------------------------------------------------------------------------------

    def _spec(self, q, instance_uuid: str, extra: dict, query: list, different_host: str | None):
        objects = self._objects
        gib = 1 << 30
        flavor = objects.Flavor(
            memory_mb=q.memory >> 20,
            vcpus=q.vcpus,
            root_gb=q.root_bytes // gib,
            ephemeral_gb=q.data_bytes // gib,
            swap=0,
            extra_specs=extra,
        )
        hints = {"query": [json.dumps(query)]}
        if different_host:
            hints["different_host"] = [different_host]
        return objects.RequestSpec(
            flavor=flavor,
            instance_uuid=instance_uuid,
            num_instances=1,
            scheduler_hints=hints,
            image=objects.ImageMeta(properties=objects.ImageMetaProps(img_hv_type="kvm")),
            pci_requests=None,
            numa_topology=None,
            instance_group=None,
        )

    def _query(self, q, need_bytes: int) -> list:
        query = [
            "and",
            ["=", "$ft_address", True],
            [">=", "$ft_vms_left", 1],
            [">=", "$ft_vcpus_left", q.vcpus],
            [">=", "$vcpus_free", q.vcpus],
            [">=", "$free_ram_mb", q.memory >> 20],
            [">=", "$storage_free_gb", -(-need_bytes // (1 << 30))],
        ]
        if q.strategy.startswith("MaxInstancePerHost") and q.max_instance_per_host > 0:
            query.append(["<", "$num_instances", q.max_instance_per_host])
        return query

    def _extra_specs(self, q, zone: str | None) -> dict:
        extra = {}
        if zone is not None:
            extra["aggregate_instance_extra_specs:zone"] = zone
        if q.cluster_uuid is not None:
            extra["aggregate_instance_extra_specs:cluster"] = q.cluster_uuid
        for l3 in q.l3_uuids:
            l2 = self._l3_to_l2.get(l3, "unknown-" + l3)
            extra["aggregate_instance_extra_specs:l2_" + l2] = "true"
        return extra

    def _sorted(self, hosts, spec):
        """SchedulerManager._get_sorted_hosts with host_subset_size = 1: filter, weigh, best first."""
        filtered = self.filter_handler.get_filtered_objects(self.filters, hosts, spec, 0)
        if not filtered:
            return None
        weighed = self.weight_handler.get_weighed_objects(self.weighers, filtered, spec)
        return weighed[0].obj

    def _best_storage(self, host, need: int, avoid: Sequence[str] = ()):
        best = None
        for st in host.ft_storages:
            a = st.avail(host.host) if st.ok else None
            if a is None or a - need < self.config.storage_reserved_capacity:
                continue
            k = (st.uuid in avoid, -a, st.uuid)
            if best is None or k < best[0]:
                best = (k, st)
        return None if best is None else best[1]

    def place_and_reserve(self, key: str, q):
        """(primary host, secondary host) claimed, or None when Nova finds no valid host pair."""
        r, d = q.root_bytes, q.data_bytes
        hosts = self.hosts
        if q.host_uuid is not None:  # force_hosts
            hosts = [self.by_uuid[q.host_uuid]] if q.host_uuid in self.by_uuid else []
        self._seq += 1
        p_uuid = str(uuid_mod.UUID(int=2 * self._seq))
        s_uuid = str(uuid_mod.UUID(int=2 * self._seq + 1))
        spec_p = self._spec(q, p_uuid, self._extra_specs(q, q.zone_uuid), self._query(q, r + d), None)
        primary = self._sorted(hosts, spec_p)
        if primary is None:
            return None
        # The secondary may not land where the primary's instance is (DifferentHostFilter reads host.instances)
        primary.instances[p_uuid] = None
        spec_s = self._spec(
            q, s_uuid, self._extra_specs(q, self.zone_of[primary.host]), self._query(q, 3 * (r + d)), p_uuid
        )
        secondary = self._sorted(self.hosts, spec_s)
        if secondary is None:
            del primary.instances[p_uuid]
            return None
        primary.consume_from_request(spec_p)
        secondary.consume_from_request(spec_s)
        secondary.instances[s_uuid] = None
        pst = self._best_storage(primary, r + d)
        if pst is not None:
            pst.take(primary.host, r + d)
        sst = self._best_storage(secondary, 3 * (r + d), avoid=(pst.uuid,) if pst else ())
        if sst is not None:
            sst.take(secondary.host, 3 * (r + d))
        return primary.host, secondary.host


def run_stream(inv, requests, progress=None) -> dict:
    """Build the Nova peer and time place+reserve over `requests`; returns build_s, latencies_us, placed."""
    _import_nova()  # not part of the build time
    t0 = time.perf_counter()
    peer = NovaPeer(inv)
    build_s = time.perf_counter() - t0
    lat = []
    placed = 0
    for i, q in enumerate(requests):
        t = time.perf_counter_ns()
        got = peer.place_and_reserve(f"bench-{i}", q)
        lat.append((time.perf_counter_ns() - t) / 1000)
        placed += got is not None
        if progress is not None:
            progress(1)
    return {"build_s": build_s, "latencies_us": lat, "placed": placed, "version": peer.version}


def run_subprocess(python: str, n_hosts: int, seed: int, n_requests: int, utilization, timeout: float) -> dict:
    """Run this module under another interpreter (e.g. .venv-peers/bin/python) on the same seeded inventory."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout: bench/ and service/ftvm/
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, os.path.join(root, "service"), env.get("PYTHONPATH", "")])
    cmd = [
        python,
        "-m",
        "bench.nova_peer",
        "--hosts",
        str(n_hosts),
        "--seed",
        str(seed),
        "--requests",
        str(n_requests),
        "--utilization",
        f"{utilization[0]},{utilization[1]}",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"nova peer subprocess failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """Subprocess entry: regenerate the seeded inventory and stream, print one JSON line."""
    from .inventory import generate

    ap = argparse.ArgumentParser(prog="python -m bench.nova_peer")
    ap.add_argument("--hosts", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--utilization", default="0.3,0.9")
    a = ap.parse_args(argv)
    lo, hi = (float(x) for x in a.utilization.split(","))
    inv = generate(a.hosts, seed=a.seed, utilization=(lo, hi))
    res = run_stream(inv, inv.requests(a.requests))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
