"""What an FT group holds: CPU and memory on its hosts, bytes on its storages, its addresses, MACs and COLO ports.

One shape for every path that takes or gives them back: a create's commit (the change it emits), a destroy, and
the change feed that tells the other replicas. `take` and `give_back` change what this process holds in memory;
the rows are the store's business.

Usage of a group this process placed since it started is an engine reservation (released by key); anything else
(groups from before the start, or placed by another replica) is *base* usage in the catalog (see catalog.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ftvm.store import Row

from .catalog import Usage
from .common import Domain


@dataclass(slots=True)
class Holdings:
    group_uuid: str
    vms: list[tuple[str, int, int]] = field(default_factory=list)  # (host, vCPUs, allocated memory) of placed VMs
    volumes: list[tuple[str, str | None, int]] = field(default_factory=list)  # (storage, local host, bytes)
    ips: list[tuple[str, int]] = field(default_factory=list)  # (l3, address)
    macs: list[str] = field(default_factory=list)
    ports: list[tuple[str, int]] = field(default_factory=list)  # (host, port)

    @classmethod
    def from_rows(
        cls,
        group_uuid: str,
        vms: Sequence[Row],
        volumes: Sequence[Row],
        used_ips: Sequence[Row],
        macs: Sequence[Row],
        ports: Sequence[Row],
    ) -> Holdings:
        return cls(
            group_uuid,
            vms=[(v["host_uuid"], v["cpu_num"], v["allocated_memory"]) for v in vms if v["host_uuid"] is not None],
            volumes=[
                (v["primary_storage_uuid"], v["host_uuid"], v["allocated_size"])
                for v in volumes
                if v["primary_storage_uuid"] is not None and v["allocated_size"]
            ],
            ips=[(u["l3_network_uuid"], u["ip_in_long"]) for u in used_ips],
            macs=[m["mac"] for m in macs],
            ports=[(p["host_uuid"], p["port"]) for p in ports],
        )

    def plus(self, other: Holdings) -> Holdings:
        return Holdings(
            self.group_uuid,
            vms=self.vms + other.vms,
            volumes=self.volumes + other.volumes,
            ips=self.ips + other.ips,
            macs=self.macs + other.macs,
            ports=self.ports + other.ports,
        )

    def change(self, taken: bool) -> dict[str, Any]:
        """The change feed entry: `group+` when the group took these, `group-` when it gave them back."""
        return {"t": "group+" if taken else "group-", **self.as_json()}

    def as_json(self) -> dict[str, Any]:
        return {
            "uuid": self.group_uuid,
            "vms": self.vms,
            "volumes": self.volumes,
            "ips": self.ips,
            "macs": self.macs,
            "ports": self.ports,
        }

    @classmethod
    def from_change(cls, change: dict[str, Any]) -> Holdings:
        return cls(
            change["uuid"],
            vms=[(h, c, m) for h, c, m in change["vms"]],
            volumes=[(s, h, b) for s, h, b in change["volumes"]],
            ips=[(l3, a) for l3, a in change["ips"]],
            macs=list(change["macs"]),
            ports=[(h, p) for h, p in change["ports"]],
        )


def take(domain: Domain, holdings: Holdings) -> None:
    """Another replica's group: its addresses are taken and its usage joins the base."""
    network, group = domain.network, holdings.group_uuid
    for l3, address in holdings.ips:
        network.mark_ip(l3, address, group)
    for mac in holdings.macs:
        network.mark_mac(mac, group)
    for host, port in holdings.ports:
        network.mark_port(host, port, group)
    _change_base(domain, [holdings], +1)


def give_back(domain: Domain, holdings: Holdings) -> None:
    """A destroyed group's addresses and usage are free again (its engine reservation, or its base usage)."""
    network, group = domain.network, holdings.group_uuid
    for l3, address in holdings.ips:
        network.give_back_ip(l3, address, group)
    for mac in holdings.macs:
        network.give_back_mac(mac, group)
    for host, port in holdings.ports:
        network.give_back_port(host, port, group)
    release_usage(domain, [holdings])
    domain.capacity_generation += 1


def reshape_change(before: Holdings, after: Holdings) -> dict[str, Any]:
    """The change feed entry of a group that lost a VM or got a new secondary: what it held, what it holds."""
    return {"t": "group~", "before": before.as_json(), "after": after.as_json()}


def reshape_many(domain: Domain, changes: Sequence[tuple[Holdings, Holdings]]) -> None:
    """Each group holds `after` now instead of `before` (recovery: a VM lost, or a new secondary). Their usage is
    released whole (an engine reservation, or base usage) and `after` is taken as base usage; the addresses a group
    no longer holds are given back, the new ones marked."""
    network = domain.network
    for before, after in changes:
        group = before.group_uuid
        for l3, address in set(before.ips) - set(after.ips):
            network.give_back_ip(l3, address, group)
        for mac in set(before.macs) - set(after.macs):
            network.give_back_mac(mac, group)
        for host, port in set(before.ports) - set(after.ports):
            network.give_back_port(host, port, group)
        for l3, address in after.ips:
            network.mark_ip(l3, address, group)
        for mac in after.macs:
            network.mark_mac(mac, group)
        for host, port in after.ports:
            network.mark_port(host, port, group)
    release_usage(domain, [before for before, _ in changes])
    _change_base(domain, [after for _, after in changes], +1)


def release_usage(domain: Domain, groups: Sequence[Holdings]) -> None:
    """The groups' CPU, memory and storage are free in memory (their engine reservations, or their base usage)."""
    _change_base(domain, [h for h in groups if not domain.engine.release(h.group_uuid)], -1)


def take_base_usage(domain: Domain, groups: Sequence[Holdings]) -> None:
    _change_base(domain, groups, +1)


def _change_base(domain: Domain, groups: Sequence[Holdings], sign: int) -> None:
    """Base usage of many groups at once: each touched host and storage is given to the engine once."""
    cat, engine = domain.catalog, domain.engine
    hosts, storages = set(), set()
    for holdings in groups:
        for host, cpu, memory in holdings.vms:
            if host not in cat.hosts:
                continue
            base = cat.host_base.setdefault(host, Usage())
            base.cpu += sign * cpu
            base.memory += sign * memory
            base.vms += sign
            hosts.add(host)
        for storage, volume_host, size in holdings.volumes:
            if storage not in cat.storages:
                continue
            cat.add_storage_use(storage, volume_host, sign * size)
            storages.add(storage)
    if hosts:
        engine.upsert_hosts([cat.host_spec(h) for h in hosts])
    for storage in storages:
        engine.upsert_storage(cat.storage_spec(storage))
