"""The system tags a create understands (spec §2), parsed and checked in one place.

    staticIp::{l3Uuid}::{ip}                  the NIC's address on that L3 (dotted IPv4)
    customMac::{l3Uuid}::{mac}                the NIC's MAC: six octets, unicast, not all zero; kept in lower case
    hostname::{name}                          the guest's hostname: RFC 1123 (labels of 1-63 letters, digits and
                                              hyphens, not starting or ending with a hyphen; 253 characters in all)
    createWithoutCdRom::{true|false}          no CD-ROM when true
    primaryStorageUuidForDataVolume::{uuid}   where the data volumes go
    maxInstancePerHost::{N}                   for MaxInstancePerHostHostAllocatorStrategy (1 .. 2^31-1)

Anything else is ZStack's `no system tag matches[...]`. A tag that takes one value per key (per L3 for staticIp
and customMac) may repeat only with the same value: two different values for one key are refused, never resolved
by order.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import invalid

T = TypeVar("T")
RESOURCE_TYPE = "VmInstanceVO"
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_HOSTNAME_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
_POSITIVE_INT = re.compile(r"[1-9][0-9]{0,9}")
MAX_HOSTNAME = 253
INT32_MAX = (1 << 31) - 1


@dataclass(slots=True)
class SystemTags:
    static_ips: dict[str, str] = field(default_factory=dict)  # l3 uuid -> dotted IPv4
    custom_macs: dict[str, str] = field(default_factory=dict)  # l3 uuid -> lower-case MAC
    hostname: str | None = None
    without_cdrom: bool | None = None  # None: not given (a CD-ROM is created)
    data_storage_uuid: str | None = None
    max_instance_per_host: int | None = None


def _no_match(tag: str) -> Exception:
    return invalid(f"no system tag matches[{tag}] for resourceType[{RESOURCE_TYPE}]")


def check_mac(mac: str, tag: str) -> str:
    normalized = mac.lower()
    if _MAC.fullmatch(normalized) is None:
        raise invalid(
            f"invalid mac address in system tag[{tag}]: six octets of two hex digits separated by "
            "colons, such as fa:16:3e:01:02:03"
        )
    first_octet = int(normalized[:2], 16)
    if first_octet & 1:
        raise invalid(
            f"invalid mac address in system tag[{tag}]: a multicast or broadcast address cannot be a NIC's address"
        )
    if normalized == "00:00:00:00:00:00":
        raise invalid(f"invalid mac address in system tag[{tag}]: the all-zero address")
    return normalized


def check_hostname(name: str, tag: str) -> str:
    labels = name.split(".")
    if len(name) > MAX_HOSTNAME or not all(_HOSTNAME_LABEL.fullmatch(label) for label in labels):
        raise invalid(
            f"invalid hostname in system tag[{tag}]: RFC 1123 labels of 1-63 letters, digits and "
            f"hyphens (not first or last), separated by dots, {MAX_HOSTNAME} characters at most"
        )
    return name


def _once(current: T | None, value: T, tag: str) -> T:
    if current is not None and current != value:
        raise invalid(f"system tag[{tag}] conflicts with an earlier tag that gives another value")
    return value


def parse_system_tags(tags: list[str]) -> SystemTags:
    out = SystemTags()
    for tag in tags:
        key, sep, rest = tag.partition("::")
        if not sep or not rest:
            raise _no_match(tag)
        if key in ("staticIp", "customMac"):
            l3, sep, value = rest.partition("::")
            if not l3 or not sep or not value:
                raise _no_match(tag)
            if key == "staticIp":
                try:
                    address = str(ipaddress.IPv4Address(value))
                except ValueError:
                    raise invalid(f"invalid static ip in system tag[{tag}]: a dotted IPv4 address") from None
                out.static_ips[l3] = _once(out.static_ips.get(l3), address, tag)
            else:
                out.custom_macs[l3] = _once(out.custom_macs.get(l3), check_mac(value, tag), tag)
        elif key == "hostname":
            out.hostname = _once(out.hostname, check_hostname(rest, tag), tag)
        elif key == "createWithoutCdRom":
            if rest not in ("true", "false"):
                raise invalid(f"invalid system tag[{tag}]: createWithoutCdRom is true or false")
            out.without_cdrom = _once(out.without_cdrom, rest == "true", tag)
        elif key == "primaryStorageUuidForDataVolume":
            out.data_storage_uuid = _once(out.data_storage_uuid, rest, tag)
        elif key == "maxInstancePerHost":
            if _POSITIVE_INT.fullmatch(rest) is None or int(rest) > INT32_MAX:
                raise invalid(f"invalid system tag[{tag}]: maxInstancePerHost is a whole number from 1 to {INT32_MAX}")
            out.max_instance_per_host = _once(out.max_instance_per_host, int(rest), tag)
        else:
            raise _no_match(tag)
    return out
