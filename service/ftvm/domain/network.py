"""Addresses the create flow hands out: IPs per L3, MACs, COLO ports per host, VM internal ids.

In memory for speed and rebuilt from the rows at start; the store's UNIQUE constraints (used_ips per L3, MAC,
host+port, internal id) stay the last line of defence. Taken values are given back when a create fails or a group
is destroyed (after its delete committed). Other replicas' groups are marked taken as the change feed brings them.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftvm.store import Row, Tx

from .catalog import Catalog
from .errors import FtError, invalid, operation_failed

if TYPE_CHECKING:
    from .common import Domain

COLO_PORT_BASE = 10000
COLO_PORT_MAX = 65535
# Replicas sharing a database place on the same hosts at the same time; striping each host's ports by the replica's
# ordinal (blocks of PORT_BLOCK ports, dealt round-robin to PORT_STRIPES ordinals) keeps their choices apart, so
# the UNIQUE constraint on (host, port) never has to refuse one. Within its stripe a replica takes the lowest free.
PORT_BLOCK = 16
PORT_STRIPES = 16
# VM internal ids are unique across replicas: each takes blocks of this many from the store's counter.
INTERNAL_ID_BLOCK = 1000
PAIR_PORT_PURPOSES = ("nbd-server", "block-replication", "primary-monitor", "secondary-monitor", "migration")
NIC_PORT_PURPOSES = ("mirror", "primary-in", "secondary-in", "primary-out")


def ip_to_int(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def int_to_ip(value: int) -> str:
    return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def l3_exhausted(l3_uuid: str) -> FtError:
    return FtError("L3.1000", f"no free ip address left in l3Network[uuid:{l3_uuid}]")


def _nth_address(ranges: list[tuple[int, int, dict]], index: int) -> tuple[dict, int]:
    """(range row, address) of the index-th address counted across the ranges in order."""
    for first, last, row in ranges:
        span = last - first + 1
        if index < span:
            return row, first + index
        index -= span
    raise IndexError(index)


@dataclass
class _PortPool:
    """One host's COLO ports: every taken port (any replica's) with the group holding it, and lowest-free-first
    within this replica's stripe (`free` holds stripe indexes below `high` that were given back; an index whose
    port is taken is skipped). A full stripe overflows into the lowest free port of the whole range (`overflow`:
    ports below `overflow_next` given back), where another replica may pick the same port: then the UNIQUE
    constraint refuses one commit and its create places again."""

    stripe: int
    taken: dict[int, str] = field(default_factory=dict)
    high: int = 0
    free: list[int] = field(default_factory=list)
    overflow_next: int = COLO_PORT_BASE
    overflow: list[int] = field(default_factory=list)

    def _port(self, index: int) -> int:
        block, offset = divmod(index, PORT_BLOCK)
        return COLO_PORT_BASE + (block * PORT_STRIPES + self.stripe) * PORT_BLOCK + offset

    def _index(self, port: int) -> int | None:
        block, offset = divmod(port - COLO_PORT_BASE, PORT_BLOCK)
        if port < COLO_PORT_BASE or block % PORT_STRIPES != self.stripe:
            return None
        return block // PORT_STRIPES * PORT_BLOCK + offset

    def _stripe_port(self) -> int | None:
        while True:
            if self.free:
                port = self._port(heapq.heappop(self.free))
            else:
                port = self._port(self.high)
                if port > COLO_PORT_MAX:
                    return None
                self.high += 1
            if port not in self.taken:
                return port

    def _overflow_port(self) -> int | None:
        while self.overflow:
            port = heapq.heappop(self.overflow)
            if port not in self.taken:
                return port
        while self.overflow_next <= COLO_PORT_MAX:
            port = self.overflow_next
            self.overflow_next += 1
            if port not in self.taken:
                return port
        return None

    def take(self, host_uuid: str, holder: str) -> int:
        port = self._stripe_port()
        if port is None:
            port = self._overflow_port()
        if port is None:
            raise operation_failed(f"host[uuid:{host_uuid}] has no free COLO port left")
        self.taken[port] = holder
        return port

    def mark(self, port: int, holder: str) -> None:
        self.taken[port] = holder
        index = self._index(port)
        if index is not None and index >= self.high:
            self.free.extend(range(self.high, index))
            heapq.heapify(self.free)
            self.high = index + 1

    def give_back(self, port: int, holder: str) -> None:
        if self.taken.get(port) != holder:
            return
        del self.taken[port]
        index = self._index(port)
        if index is not None and index < self.high:
            heapq.heappush(self.free, index)
        elif index is None and port < self.overflow_next:
            heapq.heappush(self.overflow, port)


class NetworkAllocator:
    """Every taken address is kept with the group that holds it. A replica's create may take an address that another
    replica's commit took first: the feed marks it as the other group's, and the refused create's give-back then
    leaves it alone (a give-back frees only what its own group holds)."""

    def __init__(self, catalog: Catalog, port_stripe: int = 0) -> None:
        self._catalog = catalog
        self._used_ips: dict[str, dict[int, str]] = {}  # l3 -> address -> group
        self._ranges: dict[str, tuple[tuple[str, ...], list, set[int]]] = {}
        self._macs: dict[str, str] = {}  # mac -> group
        self._ports: dict[str, _PortPool] = {}
        self._port_stripe = port_stripe
        self._internal_ids: list[int] = []  # [next, last] of the block being handed out
        self._random = random.Random()

    @staticmethod
    def read_rows(tx: Tx) -> tuple[list[Row], list[Row], list[Row]]:
        """What `load` needs, read in the caller's snapshot (start-up reads everything in one)."""
        return tx.select("used_ips"), tx.select("mac_allocations"), tx.select("colo_ports")

    @classmethod
    def load(
        cls, catalog: Catalog, rows: tuple[list[Row], list[Row], list[Row]], port_stripe: int = 0
    ) -> NetworkAllocator:
        used_ips, macs, ports = rows
        allocator = cls(catalog, port_stripe)
        for r in used_ips:
            allocator.mark_ip(r["l3_network_uuid"], r["ip_in_long"], r["group_uuid"])
        for r in macs:
            allocator.mark_mac(r["mac"], r["group_uuid"])
        for r in ports:
            allocator.mark_port(r["host_uuid"], r["port"], r["group_uuid"])
        return allocator

    def reset_from(self, fresh: NetworkAllocator) -> None:
        """Takes the addresses of an allocator loaded anew from the rows (an engine rebuild reloads everything),
        keeping this one's port stripe and the internal ids in hand."""
        self._used_ips, self._macs, self._ranges = fresh._used_ips, fresh._macs, {}
        self._ports = {}
        for host, pool in fresh._ports.items():
            for port, holder in pool.taken.items():
                self.mark_port(host, port, holder)

    def set_port_stripe(self, stripe: int) -> None:
        """A new ordinal (a replica whose lease lapsed takes another): later ports come from its stripe."""
        self._port_stripe = stripe
        for host, pool in list(self._ports.items()):
            fresh = _PortPool(stripe)
            for port, holder in pool.taken.items():
                fresh.mark(port, holder)
            self._ports[host] = fresh

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

    def take_ip(self, l3_uuid: str, holder: str, static_ip: str | None = None) -> tuple[dict, int]:
        """(range row, address) of a free address: `static_ip` if given, else per the L3's strategy (Random, ZStack's
        default, or FirstAvailable)."""
        used = self._used_ips.setdefault(l3_uuid, {})
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
                    used[address] = holder
                    return r, address
            raise invalid(f"static ip[{static_ip}] is not in any ip range of l3Network[uuid:{l3_uuid}]")
        size = sum(last - first + 1 for first, last, _ in ranges)
        reserved = sum(1 for g in gateways if any(first <= g <= last for first, last, _ in ranges))
        if len(used) + reserved >= size:
            raise l3_exhausted(l3_uuid)
        first_available = self._catalog.l3_networks[l3_uuid]["ip_allocation_strategy"] == "FirstAvailable"
        start = 0 if first_available else self._random.randrange(size)
        for step in range(size):
            row, address = _nth_address(ranges, (start + step) % size)
            if address not in used and address not in gateways:
                used[address] = holder
                return row, address
        raise l3_exhausted(l3_uuid)

    def mark_ip(self, l3_uuid: str, address: int, holder: str) -> None:
        self._used_ips.setdefault(l3_uuid, {})[address] = holder

    def give_back_ip(self, l3_uuid: str, address: int, holder: str) -> None:
        used = self._used_ips.get(l3_uuid, {})
        if used.get(address) == holder:
            del used[address]

    # -- MACs ----------------------------------------------------------------------------------------------------
    def take_mac(self, device_id: int, holder: str, custom: str | None = None) -> str:
        """`custom` (a checked, lower-case MAC) or `fa:XX:XX:XX:XX:DD`: four random octets, DD = the NIC's device id
        in hex."""
        if custom is not None:
            if custom in self._macs:
                raise invalid(f"mac address[{custom}] is already in use")
            self._macs[custom] = holder
            return custom
        while True:
            octets = self._random.getrandbits(32).to_bytes(4, "big")
            mac = "fa:" + ":".join(f"{b:02x}" for b in octets) + f":{device_id & 0xFF:02x}"
            if mac not in self._macs:
                self._macs[mac] = holder
                return mac

    def mark_mac(self, mac: str, holder: str) -> None:
        self._macs[mac] = holder

    def give_back_mac(self, mac: str, holder: str) -> None:
        if self._macs.get(mac) == holder:
            del self._macs[mac]

    # -- COLO ports ------------------------------------------------------------------------------------------------
    def _pool(self, host_uuid: str) -> _PortPool:
        pool = self._ports.get(host_uuid)
        if pool is None:
            pool = self._ports[host_uuid] = _PortPool(self._port_stripe)
        return pool

    def take_ports(self, host_uuid: str, count: int, holder: str) -> list[int]:
        pool = self._pool(host_uuid)
        taken: list[int] = []
        try:
            for _ in range(count):
                taken.append(pool.take(host_uuid, holder))
        except FtError:
            for port in taken:
                pool.give_back(port, holder)
            raise
        return taken

    def take_colo_ports(self, host_uuid: str, group_uuid: str, nic_count: int) -> list[Row]:
        """The COLO ports one VM of a pair needs on its host (per pair, and per NIC), as colo_ports rows."""
        purposes = list(PAIR_PORT_PURPOSES) + [f"{p}-{i}" for i in range(nic_count) for p in NIC_PORT_PURPOSES]
        ports = self.take_ports(host_uuid, len(purposes), group_uuid)
        return [
            dict(host_uuid=host_uuid, port=p, group_uuid=group_uuid, purpose=why) for p, why in zip(ports, purposes)
        ]

    def mark_port(self, host_uuid: str, port: int, holder: str) -> None:
        self._pool(host_uuid).mark(port, holder)

    def give_back_port(self, host_uuid: str, port: int, holder: str) -> None:
        self._pool(host_uuid).give_back(port, holder)

    def give_back_ports(self, ports: Sequence[Mapping[str, Any]], holder: str) -> None:
        """Gives back colo_ports rows taken by take_colo_ports (an undone create or re-protection)."""
        for p in ports:
            self.give_back_port(p["host_uuid"], p["port"], holder)

    def in_use(self) -> dict[str, int]:
        """How many addresses are taken (for health reports and tests)."""
        return {
            "ips": sum(len(u) for u in self._used_ips.values()),
            "macs": len(self._macs),
            "ports": sum(len(p.taken) for p in self._ports.values()),
        }

    def snapshot(self) -> dict[str, Any]:
        """Every taken address, to compare a replica's memory with one rebuilt from the rows."""
        return {
            "ips": {l3: dict(sorted(u.items())) for l3, u in self._used_ips.items() if u},
            "macs": dict(sorted(self._macs.items())),
            "ports": {h: dict(sorted(p.taken.items())) for h, p in self._ports.items() if p.taken},
        }

    # -- internal ids ----------------------------------------------------------------------------------------------
    def internal_ids_left(self) -> int:
        return self._internal_ids[1] - self._internal_ids[0] + 1 if self._internal_ids else 0

    def add_internal_ids(self, last: int, size: int) -> None:
        """The block [last - size + 1, last], taken from the store's counter."""
        self._internal_ids = [last - size + 1, last]

    def take_internal_id(self) -> int:
        if not self.internal_ids_left():
            raise RuntimeError("no VM internal id left: refill with add_internal_ids first")
        self._internal_ids[0] += 1
        return self._internal_ids[0] - 1


async def ensure_internal_ids(domain: Domain, count: int) -> None:
    """At least `count` VM internal ids in hand, taking a new block from the store's counter when needed (one
    refill at a time; the ids left of the old block are dropped, as a restart drops them)."""
    network = domain.network
    async with domain.internal_id_refill:
        if network.internal_ids_left() < count:
            size = max(count, INTERNAL_ID_BLOCK)
            last = await domain.write(lambda tx: tx.take_counter("vm_internal_id", size))
            network.add_internal_ids(last, size)
