"""Addresses the create flow hands out: IPs per L3, MACs, COLO ports per host, VM internal ids.

In memory for speed and rebuilt from the rows at start; the store's UNIQUE constraints (used_ips per L3, MAC,
host+port, internal id) stay the last line of defence. Taken values are given back when a create fails or a group
is destroyed (after its delete committed).
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from dataclasses import dataclass, field

from ftvm.store import Store, Tx

from .catalog import Catalog
from .errors import FtError, invalid

COLO_PORT_BASE = 10000
PAIR_PORT_PURPOSES = ("nbd-server", "block-replication", "primary-monitor", "secondary-monitor", "migration")
NIC_PORT_PURPOSES = ("mirror", "primary-in", "secondary-in", "primary-out")


def ip_to_int(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def int_to_ip(value: int) -> str:
    return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def l3_exhausted(l3_uuid: str) -> FtError:
    return FtError("L3.1000", f"no free ip address left in l3Network[uuid:{l3_uuid}]")


@dataclass
class _PortPool:
    """Lowest free port first: ports below `high` that are free sit in a heap."""

    high: int = COLO_PORT_BASE
    free: list[int] = field(default_factory=list)

    def take(self) -> int:
        if self.free:
            return heapq.heappop(self.free)
        self.high += 1
        return self.high - 1

    def give_back(self, port: int) -> None:
        heapq.heappush(self.free, port)


class NetworkAllocator:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._used_ips: dict[str, set[int]] = {}
        self._ranges: dict[str, tuple[tuple[str, ...], list, set[int]]] = {}
        self._macs: set[str] = set()
        self._ports: dict[str, _PortPool] = {}
        self._next_internal_id = 1
        self._random = random.Random()

    @classmethod
    def load(cls, catalog: Catalog, store: Store) -> "NetworkAllocator":
        def rows(tx: Tx):
            return (tx.select("used_ips"), tx.select("mac_allocations"), tx.select("colo_ports"),
                    tx.max_value("vm_instances", "internal_id"))

        used_ips, macs, ports, last_internal_id = store.read(rows)
        allocator = cls(catalog)
        for r in used_ips:
            allocator._used_ips.setdefault(r["l3_network_uuid"], set()).add(r["ip_in_long"])
        allocator._macs = {r["mac"] for r in macs}
        by_host: dict[str, set[int]] = {}
        for r in ports:
            by_host.setdefault(r["host_uuid"], set()).add(r["port"])
        for host, taken in by_host.items():
            high = max(taken) + 1
            pool = _PortPool(high, [p for p in range(COLO_PORT_BASE, high) if p not in taken])
            heapq.heapify(pool.free)
            allocator._ports[host] = pool
        allocator._next_internal_id = (last_internal_id or 0) + 1
        return allocator

    # -- IPs -----------------------------------------------------------------------------------------------------
    def _candidates(self, l3_uuid: str) -> tuple[list[tuple[int, int, dict]], set[int]]:
        """(first, last, range row) of each range of the L3, and the gateways; parsed once per set of ranges."""
        rows = self._catalog.ip_ranges.get(l3_uuid, [])
        key = tuple(r["uuid"] for r in rows)
        cached = self._ranges.get(l3_uuid)
        if cached is None or cached[0] != key:
            ranges = [(ip_to_int(r["start_ip"]), ip_to_int(r["end_ip"]), r) for r in rows]
            cached = self._ranges[l3_uuid] = (key, ranges, {ip_to_int(r["gateway"]) for r in rows})
        return cached[1], cached[2]

    def take_ip(self, l3_uuid: str, static_ip: str | None = None) -> tuple[dict, int]:
        """(range row, address) of a free address: `static_ip` if given, else per the L3's strategy (Random, ZStack's
        default, or FirstAvailable)."""
        used = self._used_ips.setdefault(l3_uuid, set())
        ranges, gateways = self._candidates(l3_uuid)
        if static_ip is not None:
            try:
                address = ip_to_int(static_ip)
            except ValueError:
                raise invalid(f"invalid static ip[{static_ip}] for l3Network[uuid:{l3_uuid}]") from None
            for first, last, r in ranges:
                if first <= address <= last:
                    if address in used or address in gateways:
                        raise invalid(f"static ip[{static_ip}] of l3Network[uuid:{l3_uuid}] is already in use")
                    used.add(address)
                    return r, address
            raise invalid(f"static ip[{static_ip}] is not in any ip range of l3Network[uuid:{l3_uuid}]")
        size = sum(last - first + 1 for first, last, _ in ranges)
        reserved = sum(1 for g in gateways if any(f <= g <= l for f, l, _ in ranges))
        if len(used) + reserved >= size:
            raise l3_exhausted(l3_uuid)
        first_available = self._catalog.l3_networks[l3_uuid]["ip_allocation_strategy"] == "FirstAvailable"
        start = 0 if first_available else self._random.randrange(size)
        for step in range(size):
            index = (start + step) % size
            for first, last, r in ranges:
                span = last - first + 1
                if index < span:
                    address = first + index
                    break
                index -= span
            if address not in used and address not in gateways:
                used.add(address)
                return r, address
        raise l3_exhausted(l3_uuid)

    def give_back_ip(self, l3_uuid: str, address: int) -> None:
        self._used_ips.get(l3_uuid, set()).discard(address)

    # -- MACs ----------------------------------------------------------------------------------------------------
    def take_mac(self, device_id: int, custom: str | None = None) -> str:
        """`custom` (a checked, lower-case MAC) or `fa:XX:XX:XX:XX:DD`: four random octets, DD = the NIC's device id
        in hex."""
        if custom is not None:
            if custom in self._macs:
                raise invalid(f"mac address[{custom}] is already in use")
            self._macs.add(custom)
            return custom
        while True:
            octets = self._random.getrandbits(32).to_bytes(4, "big")
            mac = "fa:" + ":".join(f"{b:02x}" for b in octets) + f":{device_id & 0xFF:02x}"
            if mac not in self._macs:
                self._macs.add(mac)
                return mac

    def give_back_mac(self, mac: str) -> None:
        self._macs.discard(mac)

    # -- COLO ports ------------------------------------------------------------------------------------------------
    def take_ports(self, host_uuid: str, count: int) -> list[int]:
        pool = self._ports.setdefault(host_uuid, _PortPool())
        return [pool.take() for _ in range(count)]

    def give_back_ports(self, host_uuid: str, ports: list[int]) -> None:
        pool = self._ports.setdefault(host_uuid, _PortPool())
        for port in ports:
            pool.give_back(port)

    def in_use(self) -> dict[str, int]:
        """How many addresses are taken (for health reports and tests)."""
        return {"ips": sum(len(u) for u in self._used_ips.values()), "macs": len(self._macs),
                "ports": sum(p.high - COLO_PORT_BASE - len(p.free) for p in self._ports.values())}

    # -- internal ids ----------------------------------------------------------------------------------------------
    def take_internal_id(self) -> int:
        self._next_internal_id += 1
        return self._next_internal_id - 1
