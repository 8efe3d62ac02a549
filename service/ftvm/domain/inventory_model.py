"""The inventory model: every inventory resource (zone .. offering) and its rules, defined once for both ways in.

The admin API (`inventory.py`) validates each create's fields as the resource's spec (`KvmHostSpec`, ...) and asks
the rules between resources about the catalog and the database; an inventory file (`inventory_file.py`) validates
the whole document, the same specs nested by zone, and asks the same rules about the rest of the file. The rules:
- a value's own rules are its type: `Name`, `Description`, `ResourceUuid`, `Size`, `Cpus`, `Count`, `Ipv4`,
  `Netmask`, the storage urls, and the enumerations below;
- a resource's own rules are its model's validators: an IP range lies in its gateway's subnet, an ISO image has
  format iso and only an ISO has, a Ceph storage names its monitors or its url;
- rules between resources are the functions at the end (`host_address_problems`, `overlapping_range`,
  `attachment_problem`), which take what already exists as arguments.
Each spec's `row()` is the store row it becomes, the same from either way in.

Every problem is a `Problem(loc, kind, message)`: `loc` the path of the offending value (camelCase keys, list
indexes), `kind` one of KINDS (what tests assert), `message` what is wrong, never echoing a long value (an error
must fit gRPC's trailers). `problems_of` turns pydantic's ValidationError into Problems; a model validator raises
its problems with `raise_problems`, which puts each at its own path.

The create hot path (create.py) does not use these models.
"""

from __future__ import annotations

import difflib
import re
import socket
import types
import typing
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from ftvm.placement import DEFAULT_STRATEGY, Strategy
from ftvm.store import Row

from .catalog import MAX_SIZE, parse_size
from .common import MAX_DESCRIPTION, MAX_NAME, RESOURCE_UUID
from .limits import MAX_MON_URLS, MAX_UUID_LENGTH, text_problem

# The enumerated values (ZStack's; the admin API and inventory files accept the same).
HypervisorType = Literal["KVM"]
STORAGE_TYPES = {"local": "LocalStorage", "nfs": "NFS", "ceph": "Ceph"}
L3Type = Literal["L3BasicNetwork"]
L3Category = Literal["Private", "Public", "System"]
IpAllocationStrategy = Literal["Random", "FirstAvailable"]
MediaType = Literal["RootVolumeTemplate", "DataVolumeTemplate", "ISO"]
ImageFormat = Literal["qcow2", "raw", "iso", "vmdk"]
Platform = Literal["Linux", "Windows", "WindowsVirtio", "Paravirtualization", "Other"]
Architecture = Literal["x86_64", "aarch64", "mips64el", "loongarch64"]
InstanceOfferingType = Literal["UserVm"]
DISK_OFFERING_TYPE = "DefaultDiskOfferingType"  # what ZStack's DiskOfferingInventory.type says
DiskAllocatorStrategy = Literal["DefaultPrimaryStorageAllocationStrategy"]
INT32_MAX = (1 << 31) - 1
MAX_URL = 2048
LOCAL_STORAGE_DEFAULT_URL = "/zstack_ps"

# What a problem is about; tests assert these, not the wording.
KINDS = (
    "missing",  # a required value is absent or blank
    "unknown",  # a key no resource has
    "type",  # a value of the wrong type (a string for a number, ...)
    "value",  # a value its rules refuse (range, length, format, enumeration, subnet ...)
    "duplicate",  # a value that must be unique is already used (name, uuid, address, attachment)
    "reference",  # names a resource that does not exist
    "conflict",  # clashes with another resource (overlapping ranges, a second local storage on a cluster)
    "syntax",  # an inventory file that is not YAML or JSON
)

Loc = tuple[str | int, ...]


# -- problems -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    loc: Loc
    kind: str
    message: str

    @property
    def path(self) -> str:
        return path_of(self.loc)

    def at(self, *prefix: str | int) -> Problem:
        return Problem(prefix + self.loc, self.kind, self.message)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def path_of(loc: Loc) -> str:
    """`zones[0].clusters[1].hosts[3].cpuNum`; a key that is not an identifier in brackets (`globalConfigs[ft.enable]`);
    `(root)` for the document itself."""
    out = ""
    for part in loc:
        if isinstance(part, int) or not part.isidentifier():
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(root)"


def shown(value: Any, limit: int = 64) -> str:
    """A value in a message: its repr, cut short (an error must never carry a long value back)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


_OURS = "ftvm_"  # the prefix of our error types (pydantic's own have types such as `missing`, `int_type`)


def fail(kind: str, message: str) -> PydanticCustomError:
    """The error a value type's check raises (`raise fail("value", "...")`): a problem of `kind` at the value."""
    return PydanticCustomError(_OURS + kind, message)


def raise_problems(problems: list[Problem]) -> None:
    """Raises the problems from a validator, each at its own path below the validated value."""
    if problems:
        raise ValidationError.from_exception_data(
            "inventory", [InitErrorDetails(type=fail(p.kind, p.message), loc=p.loc, input=None) for p in problems]
        )


# -- value types ----------------------------------------------------------------------------------------------------


def _text(limit: int, *, trim: bool = True) -> Callable[[str], str]:
    """Printable text of 1..limit characters, trimmed (or, with trim=False, kept as given and possibly empty)."""

    def check(value: str) -> str:
        if trim and not value.strip():
            raise fail("missing", "must not be empty")
        problem = text_problem(value, limit, trim=trim)
        if problem is not None:
            raise fail("value", problem)
        return value.strip() if trim else value

    return check


def _string_schema(limit: int, minimum: int = 1) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "minLength": minimum, "maxLength": limit})


Name = Annotated[StrictStr, AfterValidator(_text(MAX_NAME)), _string_schema(MAX_NAME)]
Description = Annotated[
    StrictStr, AfterValidator(_text(MAX_DESCRIPTION, trim=False)), _string_schema(MAX_DESCRIPTION, 0)
]
Url = Annotated[StrictStr, AfterValidator(_text(MAX_URL)), _string_schema(MAX_URL)]


def _resource_uuid(value: str) -> str:
    if len(value) > MAX_UUID_LENGTH:
        raise fail("value", f"exceeds max length of string[{MAX_UUID_LENGTH}]")
    if RESOURCE_UUID.match(value) is None:
        raise fail(
            "value",
            f"{shown(value)} is not a uuid: 32 lowercase hex characters of a UUID (version 1-5, variant 8, 9, a or b)",
        )
    return value


ResourceUuid = Annotated[
    StrictStr, AfterValidator(_resource_uuid), WithJsonSchema({"type": "string", "pattern": RESOURCE_UUID.pattern})
]


Cpus = Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]
Count = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]


def _size(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise fail(
                "type", f"must be a size (bytes, or a whole number with K/M/G/T such as 4G), got {type_name(value)}"
            )
        if isinstance(value, str):
            try:
                value = parse_size(value)
            except ValueError as e:
                raise fail("value", f"{shown(value)} is {e}") from None
        if value < minimum:
            raise fail("value", f"must be >= {minimum}")
        if value > MAX_SIZE:
            raise fail("value", f"must be <= {MAX_SIZE}")
        return value

    return check


def _size_schema(minimum: int) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": minimum, "maximum": MAX_SIZE},
                {"type": "string", "pattern": r"^\s*[0-9]+[BKMGTbkmgt]?\s*$"},
            ]
        }
    )


# Bytes: an integer, or a string such as `512M`, `4G`, `2T` (parse_size).
Size = Annotated[int, PlainValidator(_size(0)), _size_schema(0)]
PositiveSize = Annotated[int, PlainValidator(_size(1)), _size_schema(1)]


# Dotted decimal, each part 0..255 without leading zeros: the one text of each address.
_DOTTED = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)


class Ipv4Address(IPv4Address):
    """An IPv4Address that keeps its text: a file's 100,000 hosts write theirs to rows and compare them as text,
    and IPv4Address formats it anew each time."""

    __slots__ = ("_text",)
    _text: str

    def __str__(self) -> str:
        return self._text


def _ipv4(value: Any) -> Ipv4Address:
    """Parsed by a pattern and inet_aton: ~5x faster than IPv4Address(text), which 100,000 hosts notice."""
    if not isinstance(value, str):
        raise fail("type", f"must be an IPv4 address such as 192.168.0.1, got {type_name(value)}")
    text = value.strip()
    if _DOTTED.fullmatch(text) is None:
        raise fail("value", f"{shown(value)} is not an IPv4 address")
    address = Ipv4Address(int.from_bytes(socket.inet_aton(text), "big"))
    address._text = text
    return address


Ipv4 = Annotated[Ipv4Address, PlainValidator(_ipv4), WithJsonSchema({"type": "string", "format": "ipv4"})]


def _netmask(value: Any) -> Ipv4Address:
    """A dotted netmask: contiguous ones (`255.255.0.255` is none), /1 to /30 (a smaller subnet has no room for a
    gateway beside a range)."""
    mask = _ipv4(value)
    inverted = ~int(mask) & 0xFFFFFFFF
    if inverted & (inverted + 1) or not 2 <= inverted.bit_length() <= 31:
        raise fail("value", f"{shown(value)} is not a valid netmask (contiguous, /1 to /30, such as 255.255.255.0)")
    return mask


Netmask = Annotated[Ipv4Address, PlainValidator(_netmask), WithJsonSchema({"type": "string", "format": "ipv4"})]


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise fail("value", "must be an absolute path, such as /zstack_ps")
    return value


def _nfs_export(value: str) -> str:
    server, _, path = value.partition(":")
    if not server or not path.startswith("/"):
        raise fail("value", "must be nfs_server:/path, such as 192.168.0.5:/export/ps")
    return value


def _mon_url(value: str) -> str:
    """Not echoed: a monitor url carries the ssh password."""
    if not value.rpartition("@")[2].partition(":")[0].strip():
        raise fail("value", "is not a monitor url: the format is [sshUsername:sshPassword@]hostname[:sshPort]")
    return value


LocalPath = Annotated[Url, AfterValidator(_absolute_path)]
NfsExport = Annotated[Url, AfterValidator(_nfs_export)]
MonUrl = Annotated[Url, AfterValidator(_mon_url)]


# -- resources ------------------------------------------------------------------------------------------------------


class Spec(BaseModel):
    """Keys are camelCase (as on REST and in files), unknown keys are refused, a null value counts as absent."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            return {k: v for k, v in data.items() if v is not None}
        return data


class Resource(Spec):
    uuid: ResourceUuid | None = None  # the admin API's resourceUuid; generated when absent
    name: Name
    description: Description | None = None

    def _columns(self, uuid: str, now: int) -> Row:
        return dict(uuid=uuid, name=self.name, description=self.description, create_date=now, last_op_date=now)


class ZoneSpec(Resource):
    def row(self, uuid: str, now: int) -> Row:
        return {**self._columns(uuid, now), "state": "Enabled", "type": "zstack"}


class ClusterSpec(Resource):
    hypervisor_type: HypervisorType = "KVM"

    def row(self, uuid: str, zone_uuid: str, now: int) -> Row:
        return {
            **self._columns(uuid, now),
            "zone_uuid": zone_uuid,
            "state": "Enabled",
            "type": "zstack",
            "hypervisor_type": self.hypervisor_type,
        }


class KvmHostSpec(Resource):
    """A host as a real agent would report it: state Enabled, status Connected, hypervisor KVM."""

    management_ip: Ipv4
    ft_network_address: Ipv4 | None = None  # a host without one is never an FT candidate
    cpu_num: Cpus
    memory_size: PositiveSize
    failure_domain: Name | None = None  # a label such as a rack: the secondary avoids the primary's
    local_storage_capacity: Size = 0  # the host's own disk, for a LocalStorage attached to its cluster
    max_ft_vms: Count = 0  # 0 = unlimited
    max_ft_vcpus: Count = 0  # 0 = unlimited

    def row(self, uuid: str, zone_uuid: str, cluster_uuid: str, now: int) -> Row:
        ft = self.ft_network_address
        return {
            **self._columns(uuid, now),
            "zone_uuid": zone_uuid,
            "cluster_uuid": cluster_uuid,
            "management_ip": str(self.management_ip),
            "hypervisor_type": "KVM",
            "state": "Enabled",
            "status": "Connected",
            "cpu_num": self.cpu_num,
            "total_memory_capacity": self.memory_size,
            "ft_network_address": None if ft is None else str(ft),
            "failure_domain": self.failure_domain,
            "max_ft_vms": self.max_ft_vms,
            "max_ft_vcpus": self.max_ft_vcpus,
            "local_storage_capacity": self.local_storage_capacity,
        }


class _Storage(Resource):
    def _storage_row(self, uuid: str, zone_uuid: str, now: int, url: str, total_capacity: int) -> Row:
        return {
            **self._columns(uuid, now),
            "zone_uuid": zone_uuid,
            "url": url,
            "type": self.type,  # type: ignore
            "state": "Enabled",
            "status": "Connected",
            "total_capacity": total_capacity,
        }


class LocalStorageSpec(_Storage):
    """Its capacity is the disks of its clusters' hosts (their localStorageCapacity): the row's total stays 0 and
    queries sum the hosts."""

    type: Literal["LocalStorage"]
    url: LocalPath = LOCAL_STORAGE_DEFAULT_URL

    def row(self, uuid: str, zone_uuid: str, now: int) -> Row:
        return self._storage_row(uuid, zone_uuid, now, self.url, 0)


class NfsStorageSpec(_Storage):
    type: Literal["NFS"]
    url: NfsExport
    total_capacity: PositiveSize

    def row(self, uuid: str, zone_uuid: str, now: int) -> Row:
        return self._storage_row(uuid, zone_uuid, now, self.url, self.total_capacity)


class CephStorageSpec(_Storage):
    """The monitor urls (which carry credentials) are checked but not kept: the simulated storage never talks to
    them. The url names the root-volume pool, ZStack's `ceph://pri-v-r-<uuid>` unless given."""

    type: Literal["Ceph"]
    url: Url | None = None
    mon_urls: Annotated[list[MonUrl], Field(min_length=1, max_length=MAX_MON_URLS)] | None = None
    total_capacity: PositiveSize

    @model_validator(mode="after")
    def _monitors_or_url(self) -> CephStorageSpec:
        if self.url is None and self.mon_urls is None:
            raise_problems([Problem(("monUrls",), "missing", "is required (or give the pool's url)")])
        return self

    def row(self, uuid: str, zone_uuid: str, now: int) -> Row:
        return self._storage_row(uuid, zone_uuid, now, self.url or f"ceph://pri-v-r-{uuid}", self.total_capacity)


class L2NetworkSpec(Resource):
    physical_interface: Name

    def row(self, uuid: str, zone_uuid: str, now: int) -> Row:
        return {
            **self._columns(uuid, now),
            "zone_uuid": zone_uuid,
            "physical_interface": self.physical_interface,
            "type": "L2NoVlanNetwork",
        }


class L3NetworkSpec(Resource):
    type: L3Type = "L3BasicNetwork"
    category: L3Category = "Private"
    system: StrictBool = False  # a system network cannot carry a user VM's NIC
    ip_allocation_strategy: IpAllocationStrategy = "Random"

    def row(self, uuid: str, zone_uuid: str, l2_uuid: str, now: int) -> Row:
        return {
            **self._columns(uuid, now),
            "zone_uuid": zone_uuid,
            "l2_network_uuid": l2_uuid,
            "type": self.type,
            "state": "Enabled",
            "system": self.system,
            "category": self.category,
            "ip_allocation_strategy": self.ip_allocation_strategy,
        }


class IpRangeSpec(Resource):
    """IPv4. The range and the gateway lie in the gateway's subnet and are not its network or broadcast address;
    the gateway is outside the range."""

    name: Name | None = None  # type: ignore[assignment]  # the admin API requires it; a file's default is `<l3 name>-range-<n>`
    start_ip: Ipv4
    end_ip: Ipv4
    netmask: Netmask
    gateway: Ipv4

    @property
    def subnet(self) -> IPv4Network:
        return IPv4Network(f"{self.gateway}/{self.netmask}", strict=False)

    @model_validator(mode="after")
    def _in_one_subnet(self) -> IpRangeSpec:
        subnet, problems = self.subnet, []
        if self.start_ip > self.end_ip:
            problems.append(Problem(("endIp",), "value", f"{self.end_ip} is below startIp {self.start_ip}"))
        for key, address in (("startIp", self.start_ip), ("endIp", self.end_ip), ("gateway", self.gateway)):
            if address not in subnet:
                problems.append(Problem((key,), "value", f"{address} is not in the gateway's subnet {subnet}"))
            elif address in (subnet.network_address, subnet.broadcast_address):
                which = "network" if address == subnet.network_address else "broadcast"
                problems.append(Problem((key,), "value", f"{address} is the {which} address of {subnet}"))
        if self.start_ip <= self.gateway <= self.end_ip:
            problems.append(
                Problem(("gateway",), "value", f"{self.gateway} is inside the range {self.start_ip}-{self.end_ip}")
            )
        raise_problems(problems)
        return self

    def row(self, uuid: str, l3_uuid: str, now: int) -> Row:
        return {
            **self._columns(uuid, now),
            "l3_network_uuid": l3_uuid,
            "start_ip": str(self.start_ip),
            "end_ip": str(self.end_ip),
            "netmask": str(self.netmask),
            "gateway": str(self.gateway),
            "ip_version": 4,
        }


class ImageSpec(Resource):
    """Ready at once (nothing is downloaded): state Enabled, status Ready, actual size = size."""

    url: Url
    size: PositiveSize
    media_type: MediaType = "RootVolumeTemplate"
    format: ImageFormat | None = None  # default: iso for an ISO, else qcow2
    platform: Platform = "Linux"
    guest_os_type: Name | None = None
    architecture: Architecture = "x86_64"
    system: StrictBool = False

    @model_validator(mode="after")
    def _iso_is_iso(self) -> ImageSpec:
        iso = self.media_type == "ISO"
        if self.format is None:
            self.format = "iso" if iso else "qcow2"
        elif iso != (self.format == "iso"):
            raise_problems(
                [
                    Problem(
                        ("format",),
                        "value",
                        f"mediaType ISO needs format iso, not {self.format}"
                        if iso
                        else f"format iso needs mediaType ISO, not {self.media_type}",
                    )
                ]
            )
        return self

    def row(self, uuid: str, now: int) -> Row:
        return {
            **self._columns(uuid, now),
            "state": "Enabled",
            "status": "Ready",
            "size": self.size,
            "actual_size": self.size,
            "url": self.url,
            "media_type": self.media_type,
            "guest_os_type": self.guest_os_type,
            "platform": self.platform,
            "architecture": self.architecture,
            "format": self.format,
            "system": self.system,
        }


class InstanceOfferingSpec(Resource):
    cpu_num: Cpus
    memory_size: PositiveSize
    cpu_speed: Count = 0
    type: InstanceOfferingType = "UserVm"
    allocator_strategy: Strategy = DEFAULT_STRATEGY
    sort_key: Count = 0

    def row(self, uuid: str, now: int) -> Row:
        return {
            **self._columns(uuid, now),
            "cpu_num": self.cpu_num,
            "memory_size": self.memory_size,
            "cpu_speed": self.cpu_speed,
            "type": self.type,
            "allocator_strategy": self.allocator_strategy,
            "state": "Enabled",
            "sort_key": self.sort_key,
        }


class DiskOfferingSpec(Resource):
    disk_size: PositiveSize
    allocator_strategy: DiskAllocatorStrategy = "DefaultPrimaryStorageAllocationStrategy"
    sort_key: Count = 0

    def row(self, uuid: str, now: int) -> Row:
        return {
            **self._columns(uuid, now),
            "disk_size": self.disk_size,
            "type": DISK_OFFERING_TYPE,
            "state": "Enabled",
            "allocator_strategy": self.allocator_strategy,
            "sort_key": self.sort_key,
        }


# -- rules between resources ----------------------------------------------------------------------------------------


def host_address_problems(
    host: KvmHostSpec,
    management_ip_owner: Callable[[str], str | None],
    ft_address_owner: Callable[[str], str | None],
    ft_network: IPv4Network | None,
) -> list[Problem]:
    """A management IP and an FT address belong to one host each (`*_owner(address)` names the host that has it,
    None if none); an FT address lies inside the FT network when one is set, else placement would never use it."""
    problems = []
    ip = str(host.management_ip)
    owner = management_ip_owner(ip)
    if owner is not None:
        problems.append(Problem(("managementIp",), "duplicate", f"{ip} is already the management IP of {owner}"))
    if host.ft_network_address is not None:
        ft = str(host.ft_network_address)
        owner = ft_address_owner(ft)
        if owner is not None:
            problems.append(Problem(("ftNetworkAddress",), "duplicate", f"{ft} is already the FT address of {owner}"))
        elif ft_network is not None and host.ft_network_address not in ft_network:
            problems.append(
                Problem(
                    ("ftNetworkAddress",),
                    "value",
                    f"{ft} is outside the FT network {ft_network} (global config "
                    "ft.fault.tolerance.network.cidr); leave it out for a host without an FT address",
                )
            )
    return problems


def overlapping_range(spec: IpRangeSpec, others: Iterable[tuple[IPv4Address, IPv4Address, str]]) -> Problem | None:
    """The ranges of one L3 do not overlap. `others`: (start, end, name) of its other ranges."""
    for start, end, other in others:
        if spec.start_ip <= end and start <= spec.end_ip:
            return Problem(
                (),
                "conflict",
                f"{spec.start_ip}-{spec.end_ip} overlaps {other} (both hold "
                f"{max(start, spec.start_ip)}-{min(end, spec.end_ip)})",
            )
    return None


def attachment_problem(
    cluster: str, attached: Collection[str], other_local_storage: str | None = None
) -> Problem | None:
    """A storage or L2 network is attached to a cluster once; a cluster has at most one local storage, as two would
    each count its hosts' whole disks (`other_local_storage`: the one the cluster has, when attaching a local
    storage)."""
    if cluster in attached:
        return Problem((), "duplicate", f"cluster {cluster} is attached already")
    if other_local_storage is not None:
        return Problem(
            (),
            "conflict",
            f"cluster {cluster} already has a local primary storage "
            f"({other_local_storage}); a cluster can have only one",
        )
    return None


# -- pydantic's errors as problems ----------------------------------------------------------------------------------

_TYPE_NAMES = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
}


def problems_of(error: ValidationError, root: type) -> list[Problem]:
    """Each error of validating `root` (a model, or a type such as list[Model]) as a Problem."""
    return [_problem(e, root) for e in error.errors(include_url=False)]


def _problem(error: Any, root: type) -> Problem:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    loc, model = _resolve(root, error["loc"])
    if kind.startswith(_OURS):
        return Problem(loc, kind.removeprefix(_OURS), error["msg"])
    if kind == "missing":
        return Problem(loc, "missing", "is required")
    if kind == "extra_forbidden":
        return Problem(loc, "unknown", f"unknown key ({_hint(loc[-1], model)})")
    if kind == "union_tag_not_found":
        return Problem(loc + ("type",), "missing", "is required")
    if kind == "union_tag_invalid":
        return Problem(loc + ("type",), "value", f"{shown(ctx.get('tag'))} is not one of {ctx.get('expected_tags')}")
    if kind in _TYPE_NAMES:
        quote = " (quote it)" if kind == "string_type" and isinstance(value, (bool, int, float)) else ""
        return Problem(loc, "type", f"must be {_TYPE_NAMES[kind]}, got {type_name(value)}{quote}")
    if kind == "literal_error":
        return Problem(loc, "value", f"{shown(value)} is not one of {ctx['expected']}")
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        return Problem(loc, "value", f"must be {'>=' if kind == 'greater_than_equal' else '<='} {bound}")
    if kind == "too_long":
        return Problem(loc, "value", f"has {ctx['actual_length']} entries; at most {ctx['max_length']} are allowed")
    if kind == "too_short":
        return Problem(loc, "value", f"must have at least {ctx['min_length']} entries")
    return Problem(loc, "value", error["msg"])


def _hint(key: str | int, model: type[BaseModel] | None) -> str:
    keys = [f.alias or name for name, f in model.model_fields.items()] if model is not None else []
    close = difflib.get_close_matches(str(key), keys, n=1)
    return f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(keys)}"


def _resolve(root: Any, loc: tuple) -> tuple[Loc, type[BaseModel] | None]:
    """pydantic's loc without the tags of discriminated unions (`primaryStorages[1].NFS.url` is
    `primaryStorages[1].url`), and the model that holds the last key."""
    out: list[str | int] = []
    tp, model = root, None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            model = tp
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            tp = field.annotation if field is not None else Any
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        else:
            member = (
                next(
                    (m for m in _union_members(tp) if part in typing.get_args(m.model_fields["type"].annotation)), None
                )
                if isinstance(part, str)
                else None
            )
            if member is not None:  # a discriminated union's tag: not part of the path
                tp = member
                continue
            tp = Any
        out.append(part)
    return tuple(out), model


def _unwrap(tp: Any) -> Any:
    """Annotated[X, ...] -> X; X | None -> X."""
    while True:
        if typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _union_members(tp: Any) -> list[type[BaseModel]]:
    if typing.get_origin(tp) not in (Union, types.UnionType):
        return []
    return [
        m for m in typing.get_args(tp) if isinstance(m, type) and issubclass(m, BaseModel) and "type" in m.model_fields
    ]
