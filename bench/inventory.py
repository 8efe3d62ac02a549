"""Synthetic, deterministic (by seed) placement inventories and FT request streams for the benchmark.

The shape is meant to look like a real ZStack deployment rather than a uniform grid:

* 2–4 zones; clusters of 20–200 hosts (fewer, smaller ones for tiny inventories), spread over the zones;
* host models of 32/64/96/128 cores with 256 GiB – 1 TiB (mostly one model per cluster);
* 30–90 % of memory already allocated (CPU proportionally less, it is over-provisioned 10×);
* failure domains = racks of ~20 hosts (a few clusters carry no rack label at all);
* a few Disabled / Maintenance / Disconnected / non-KVM hosts, a few hosts without an FT-network address,
  some hosts with per-host FT limits (max FT VMs / vCPUs) and some FT VMs already running;
* shared primary storages (NFS/Ceph) per group of 2–8 clusters, local storage in ~20 % of the clusters
  (alone or beside a shared one), a few disabled or disconnected storages;
* per zone a common L2 attached to almost every cluster plus a few VLAN L2s attached to a subset, 1–2 L3s each.

Everything is generated column-wise with numpy; `host_specs()` turns the columns into `HostSpec` objects in
chunks so that 1M hosts go into an engine through `upsert_hosts` in a few seconds.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ftvm.placement.model import GIB, STRATEGIES, Config, HostSpec, Request, StorageSpec

TIB = 1 << 40
MIB = 1 << 20

# (cores, memory GiB): the host models clusters are built from.
HOST_MODELS = np.array([(32, 256), (64, 384), (64, 512), (96, 768), (128, 1024)], dtype=np.int64)
HOST_MODEL_WEIGHTS = np.array([0.15, 0.25, 0.30, 0.20, 0.10])

# (vCPUs, memory GiB, weight): the VM size mix of the request stream.
VM_SIZES = (
    (1, 1, 5),
    (1, 2, 10),
    (2, 4, 25),
    (4, 8, 25),
    (8, 16, 15),
    (8, 32, 8),
    (16, 32, 6),
    (16, 64, 4),
    (32, 128, 2),
)
ROOT_GIB = (20, 40, 50, 100)
DATA_GIB = (50, 100, 200, 500, 1000)
DATA_P = (0.35, 0.30, 0.20, 0.10, 0.05)

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def make_uuids(rng: np.random.Generator, n: int) -> list[str]:
    """n random dash-less 32-hex UUIDs (version 4 bits set), vectorized."""
    if n == 0:
        return []
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    chars = np.empty((n, 32), dtype=np.uint8)
    chars[:, 0::2] = _HEX[raw >> 4]
    chars[:, 1::2] = _HEX[raw & 0x0F]
    return chars.view("S32").ravel().astype(str).tolist()


@dataclass
class SyntheticInventory:
    """Column-wise host facts plus storages and networks; see the module docstring."""

    seed: int
    config: Config
    # zones / clusters
    zone_uuids: list[str]
    cluster_uuids: list[str]
    cluster_zone: np.ndarray  # int, zone index of each cluster
    # hosts (one entry per host, same order everywhere)
    host_uuids: list[str]
    host_cluster: np.ndarray  # int, cluster index
    host_rack: np.ndarray  # int, -1 = no failure-domain label
    cpu_num: np.ndarray
    memory_total: np.ndarray
    cpu_used: np.ndarray
    memory_used: np.ndarray
    vm_count: np.ndarray
    ft_vm_count: np.ndarray
    ft_vcpu_count: np.ndarray
    max_ft_vms: np.ndarray
    max_ft_vcpus: np.ndarray
    state: np.ndarray  # index into HOST_STATES
    status: np.ndarray  # index into HOST_STATUSES
    hypervisor: np.ndarray  # index into HYPERVISORS
    ft_address: np.ndarray  # bool
    # storages / networks
    storages: list[StorageSpec]
    l3_to_l2: dict[str, str]
    cluster_l2: dict[str, list[str]]
    zone_l2: list[list[str]]  # per zone: its L2s, the common one first
    l2_l3: dict[str, list[str]]
    cluster_storages: list[list[int]] = field(default_factory=list)  # storage indices attached to each cluster

    HOST_STATES = ("Enabled", "Disabled", "Maintenance", "PreMaintenance")
    HOST_STATUSES = ("Connected", "Disconnected", "Connecting")
    HYPERVISORS = ("KVM", "ESX")

    @property
    def n_hosts(self) -> int:
        return len(self.host_uuids)

    def failure_domain(self, i: int) -> str:
        r = int(self.host_rack[i])
        return "" if r < 0 else f"rack-{r:06d}"

    def host_zone(self) -> np.ndarray:
        return self.cluster_zone[self.host_cluster]

    # ---- HostSpec / engine loading -------------------------------------------------------------------------

    def host_specs(self, start: int = 0, stop: int | None = None) -> list[HostSpec]:
        """HostSpec objects for hosts [start, stop), built from plain lists (fast, ~1 µs per host)."""
        stop = self.n_hosts if stop is None else min(stop, self.n_hosts)
        sl = slice(start, stop)
        zone_of = [self.zone_uuids[z] for z in self.cluster_zone.tolist()]
        clusters = self.host_cluster[sl].tolist()
        racks = self.host_rack[sl].tolist()
        states, statuses, hvs = self.HOST_STATES, self.HOST_STATUSES, self.HYPERVISORS
        cols = zip(
            self.host_uuids[sl],
            clusters,
            racks,
            self.cpu_num[sl].tolist(),
            self.memory_total[sl].tolist(),
            self.state[sl].tolist(),
            self.status[sl].tolist(),
            self.hypervisor[sl].tolist(),
            self.cpu_used[sl].tolist(),
            self.memory_used[sl].tolist(),
            self.vm_count[sl].tolist(),
            self.ft_vm_count[sl].tolist(),
            self.ft_vcpu_count[sl].tolist(),
            self.max_ft_vms[sl].tolist(),
            self.max_ft_vcpus[sl].tolist(),
            self.ft_address[sl].tolist(),
        )
        cu = self.cluster_uuids
        return [
            HostSpec(
                u,
                zone_of[c],
                cu[c],
                cpu,
                mem,
                states[st],
                statuses[ss],
                hvs[hv],
                cpu_u,
                mem_u,
                vms,
                ftv,
                ftc,
                mfv,
                mfc,
                "" if r < 0 else f"rack-{r:06d}",
                fta,
            )
            for (u, c, r, cpu, mem, st, ss, hv, cpu_u, mem_u, vms, ftv, ftc, mfv, mfc, fta) in cols
        ]

    def iter_host_chunks(self, chunk: int = 100_000) -> Iterator[list[HostSpec]]:
        for start in range(0, self.n_hosts, chunk):
            yield self.host_specs(start, start + chunk)

    def load(self, engine, chunk: int = 100_000) -> None:
        """Networks, storages, then every host through `upsert_hosts` in chunks.

        The cyclic GC is paused meanwhile: a million fresh HostSpec objects would otherwise trigger ~60 % more
        time in collections that find nothing."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for l3, l2 in self.l3_to_l2.items():
                engine.set_l3(l3, l2)
            for cluster, l2s in self.cluster_l2.items():
                for l2 in l2s:
                    engine.attach_l2(cluster, l2)
            for spec in self.storages:
                engine.upsert_storage(spec)
            for specs in self.iter_host_chunks(chunk):
                engine.upsert_hosts(specs)
        finally:
            if was_enabled:
                gc.enable()

    # ---- request stream ----------------------------------------------------------------------------------

    def requests(
        self,
        n: int,
        seed: int | None = None,
        *,
        sizes: Sequence[tuple[int, int, int]] = VM_SIZES,
        pins: bool = True,
        strategies: bool = True,
        data_disk_share: float = 0.3,
    ) -> list[Request]:
        """A stream of n FT requests: mostly unpinned, some zone/cluster (and rare host/storage) pins,
        a mix of VM sizes and allocator strategies, some with data disks.

        Generated in blocks of 1024 with their own RNG, so a shorter stream is a prefix of a longer one."""
        out: list[Request] = []
        block = 0
        while len(out) < n:
            rng = np.random.default_rng([self.seed, 7919 if seed is None else seed, block])
            out += self._request_block(rng, 1024, sizes, pins, strategies, data_disk_share)
            block += 1
        return out[:n]

    def _request_block(
        self, rng: np.random.Generator, n: int, sizes, pins: bool, strategies: bool, data_disk_share: float
    ) -> list[Request]:
        size_w = np.array([w for _, _, w in sizes], dtype=float)
        size_idx = rng.choice(len(sizes), size=n, p=size_w / size_w.sum())
        zone_hosts = np.bincount(self.host_zone(), minlength=len(self.zone_uuids)).astype(float)
        zone_idx = rng.choice(len(self.zone_uuids), size=n, p=zone_hosts / zone_hosts.sum())
        roots = rng.choice(ROOT_GIB, size=n)
        has_data = rng.random(n) < data_disk_share
        data = np.where(has_data, rng.choice(DATA_GIB, size=n, p=DATA_P), 0)
        pin_roll = rng.random(n) if pins else np.ones(n)
        strat_roll = rng.random(n) if strategies else np.zeros(n)
        two_l3 = rng.random(n) < 0.25
        clusters_of_zone = [np.flatnonzero(self.cluster_zone == z) for z in range(len(self.zone_uuids))]
        host_zone = self.host_zone()
        hosts_of_zone = [np.flatnonzero(host_zone == z) for z in range(len(self.zone_uuids))]
        # VLAN L2s that share at least one cluster with the zone's common L2
        vlans = [
            [
                l2
                for l2 in self.zone_l2[z][1:]
                if any(l2 in ls and self.zone_l2[z][0] in ls for ls in self.cluster_l2.values())
            ]
            for z in range(len(self.zone_uuids))
        ]
        out = []
        for i in range(n):
            z = int(zone_idx[i])
            vcpus, mem_gib, _ = sizes[int(size_idx[i])]
            l2s = self.zone_l2[z]
            chosen_l2 = [l2s[0]]
            if two_l3[i] and len(vlans[z]):
                chosen_l2.append(vlans[z][int(rng.integers(0, len(vlans[z])))])
            l3s = tuple(self.l2_l3[l2][int(rng.integers(0, len(self.l2_l3[l2])))] for l2 in chosen_l2)
            kw: dict = {}
            p = pin_roll[i]
            if p < 0.08:
                kw["zone_uuid"] = self.zone_uuids[z]
            elif p < 0.13:
                attached = [
                    c
                    for c in clusters_of_zone[z].tolist()
                    if all(l2 in self.cluster_l2.get(self.cluster_uuids[c], ()) for l2 in chosen_l2)
                ]
                pool = attached or clusters_of_zone[z].tolist()
                kw["cluster_uuid"] = self.cluster_uuids[pool[int(rng.integers(0, len(pool)))]]
            elif p < 0.14:
                hz = hosts_of_zone[z]
                kw["host_uuid"] = self.host_uuids[int(hz[int(rng.integers(0, len(hz)))])]
            elif p < 0.15:
                cs = clusters_of_zone[z]
                c = int(cs[int(rng.integers(0, len(cs)))])
                if self.cluster_storages[c]:
                    st = self.cluster_storages[c]
                    kw["root_storage_uuid"] = self.storages[st[int(rng.integers(0, len(st)))]].uuid
            s = strat_roll[i]
            if s >= 0.70:
                if s < 0.80:
                    kw["strategy"] = STRATEGIES[0]  # Default
                elif s < 0.88:
                    kw["strategy"] = STRATEGIES[2]  # MinimumCPUUsage
                elif s < 0.96:
                    kw["strategy"] = STRATEGIES[3]  # MinimumMemoryUsage
                else:
                    kw["strategy"] = STRATEGIES[4]  # MaxInstancePerHost
                    kw["max_instance_per_host"] = int(rng.integers(30, 80))
            out.append(
                Request(
                    vcpus=vcpus,
                    memory=mem_gib * GIB,
                    l3_uuids=l3s,
                    root_bytes=int(roots[i]) * GIB,
                    data_bytes=int(data[i]) * GIB,
                    **kw,
                )
            )
        return out


def _cluster_sizes(rng: np.random.Generator, n_hosts: int) -> np.ndarray:
    lo = min(20, max(4, n_hosts // 8))
    hi = max(lo + 1, min(200, max(8, n_hosts // 4)))
    sizes = rng.integers(lo, hi + 1, size=n_hosts // lo + 2)
    cum = np.cumsum(sizes)
    k = int(np.searchsorted(cum, n_hosts)) + 1
    sizes = sizes[:k].copy()
    sizes[-1] -= int(cum[k - 1]) - n_hosts
    return sizes[sizes > 0]


def generate(
    n_hosts: int, seed: int = 0, config: Config | None = None, *, utilization: tuple[float, float] = (0.30, 0.90)
) -> SyntheticInventory:
    """A deterministic synthetic inventory of n_hosts hosts (see the module docstring)."""
    config = config or Config()
    rng = np.random.default_rng([seed, n_hosts])
    n_zones = int(rng.integers(2, 5))
    zone_uuids = make_uuids(rng, n_zones)

    # clusters, spread so that every zone has some
    csize = _cluster_sizes(rng, n_hosts)
    n_clusters = len(csize)
    cluster_uuids = make_uuids(rng, n_clusters)
    cluster_zone = rng.permutation(np.arange(n_clusters) % n_zones)
    host_cluster = np.repeat(np.arange(n_clusters), csize)
    first_of_cluster = np.concatenate(([0], np.cumsum(csize)[:-1]))
    pos_in_cluster = np.arange(n_hosts) - first_of_cluster[host_cluster]

    # racks of ~20 hosts; ~5 % of the clusters have no rack labels
    rack_size = rng.integers(16, 25, size=n_clusters)
    racks_per_cluster = (csize + rack_size - 1) // rack_size
    rack_base = np.concatenate(([0], np.cumsum(racks_per_cluster)[:-1]))
    host_rack = rack_base[host_cluster] + pos_in_cluster // rack_size[host_cluster]
    unlabelled = rng.random(n_clusters) < 0.05
    host_rack = np.where(unlabelled[host_cluster], -1, host_rack)

    # hardware: mostly one model per cluster
    cluster_model = rng.choice(len(HOST_MODELS), size=n_clusters, p=HOST_MODEL_WEIGHTS)
    host_model = np.where(
        rng.random(n_hosts) < 0.85,
        cluster_model[host_cluster],
        rng.choice(len(HOST_MODELS), size=n_hosts, p=HOST_MODEL_WEIGHTS),
    )
    cpu_num = HOST_MODELS[host_model, 0]
    memory_total = HOST_MODELS[host_model, 1] * GIB

    # usage
    lo, hi = utilization
    u = rng.uniform(lo, hi, size=n_hosts)
    usable = np.maximum(memory_total - config.reserved_memory, 0)
    memory_used = (np.floor(u * usable / MIB).astype(np.int64)) * MIB
    cap = np.floor(cpu_num * config.cpu_overprovisioning_ratio).astype(np.int64)
    cpu_used = np.floor(u * rng.uniform(0.2, 0.6, size=n_hosts) * cap).astype(np.int64)
    vm_count = np.maximum(1, memory_used // (rng.integers(4, 9, size=n_hosts) * GIB)).astype(np.int64)
    ft_vm_count = np.where(rng.random(n_hosts) < 0.2, rng.integers(1, 7, size=n_hosts), 0).astype(np.int64)
    ft_vcpu_count = ft_vm_count * rng.integers(2, 9, size=n_hosts)
    max_ft_vms = np.where(rng.random(n_hosts) < 0.10, 8, 0).astype(np.int64)
    max_ft_vcpus = np.where(rng.random(n_hosts) < 0.05, 64, 0).astype(np.int64)

    roll = rng.random(n_hosts)
    state = np.select([roll < 0.010, roll < 0.013, roll < 0.015], [1, 2, 3], 0).astype(np.int8)
    roll = rng.random(n_hosts)
    status = np.select([roll < 0.010, roll < 0.012], [1, 2], 0).astype(np.int8)
    hypervisor = (rng.random(n_hosts) < 0.005).astype(np.int8)
    ft_address = rng.random(n_hosts) >= 0.03

    host_uuids = make_uuids(rng, n_hosts)

    # networks: per zone a common L2 (on ~97 % of its clusters) and a few VLAN L2s on a subset
    zone_l2: list[list[str]] = []
    l2_l3: dict[str, list[str]] = {}
    l3_to_l2: dict[str, str] = {}
    cluster_l2: dict[str, list[str]] = {c: [] for c in cluster_uuids}
    for z in range(n_zones):
        cz = np.flatnonzero(cluster_zone == z)
        n_l2 = 3 + len(cz) // 20
        l2s = make_uuids(rng, n_l2)
        zone_l2.append(l2s)
        for j, l2 in enumerate(l2s):
            share = 0.97 if j == 0 else rng.uniform(0.2, 0.6)
            attached = cz[rng.random(len(cz)) < share]
            if j == 0 and len(attached) == 0 and len(cz):
                attached = cz[:1]
            for c in attached.tolist():
                cluster_l2[cluster_uuids[c]].append(l2)
            l3s = make_uuids(rng, int(rng.integers(1, 3)))
            l2_l3[l2] = l3s
            for l3 in l3s:
                l3_to_l2[l3] = l2
    cluster_l2 = {c: l2s for c, l2s in cluster_l2.items() if l2s}

    # storages: shared per group of 2-8 clusters of one zone; local storage in ~20 % of the clusters
    storages: list[StorageSpec] = []
    cluster_storages: list[list[int]] = [[] for _ in range(n_clusters)]
    local_kind = rng.random(n_clusters)  # < 0.12: local only, < 0.20: local + shared, else shared only
    for z in range(n_zones):
        cz = np.flatnonzero(cluster_zone == z)
        shared = cz[local_kind[cz] >= 0.12]
        k = 0
        while k < len(shared):
            g = shared[k : k + int(rng.integers(2, 9))]
            k += len(g)
            group_hosts = int(csize[g].sum())
            for _ in range(int(rng.integers(1, 3))):
                cap_b = int(group_hosts * rng.uniform(2.0, 8.0) * TIB)
                avail = int(cap_b * rng.uniform(0.3, 0.7)) // GIB * GIB
                st_roll = rng.random()
                spec = StorageSpec(
                    uuid="",
                    zone_uuid=zone_uuids[z],
                    cluster_uuids=tuple(cluster_uuids[c] for c in g.tolist()),
                    available=avail,
                    kind="Shared",
                    state="Disabled" if st_roll < 0.02 else "Enabled",
                    status="Disconnected" if 0.02 <= st_roll < 0.03 else "Connected",
                )
                for c in g.tolist():
                    cluster_storages[c].append(len(storages))
                storages.append(spec)
        for c in cz[local_kind[cz] < 0.20].tolist():
            hosts = np.arange(first_of_cluster[c], first_of_cluster[c] + csize[c])
            hosts = hosts[rng.random(len(hosts)) >= 0.02]  # a few hosts without a local disk entry
            disk = rng.choice([2, 4, 8, 16], size=len(hosts)) * TIB
            avail = (disk * rng.uniform(0.1, 0.7, size=len(hosts))).astype(np.int64) // GIB * GIB
            spec = StorageSpec(
                uuid="",
                zone_uuid=zone_uuids[z],
                cluster_uuids=(cluster_uuids[c],),
                kind="Local",
                host_available=dict(zip((host_uuids[h] for h in hosts.tolist()), avail.tolist())),
            )
            cluster_storages[c].append(len(storages))
            storages.append(spec)
    for spec, u_ in zip(storages, make_uuids(rng, len(storages))):
        spec.uuid = u_

    return SyntheticInventory(
        seed=seed,
        config=config,
        zone_uuids=zone_uuids,
        cluster_uuids=cluster_uuids,
        cluster_zone=cluster_zone,
        host_uuids=host_uuids,
        host_cluster=host_cluster,
        host_rack=host_rack,
        cpu_num=cpu_num,
        memory_total=memory_total,
        cpu_used=cpu_used,
        memory_used=memory_used,
        vm_count=vm_count,
        ft_vm_count=ft_vm_count,
        ft_vcpu_count=ft_vcpu_count,
        max_ft_vms=max_ft_vms,
        max_ft_vcpus=max_ft_vcpus,
        state=state,
        status=status,
        hypervisor=hypervisor,
        ft_address=ft_address,
        storages=storages,
        l3_to_l2=l3_to_l2,
        cluster_l2=cluster_l2,
        zone_l2=zone_l2,
        l2_l3=l2_l3,
        cluster_storages=cluster_storages,
    )
