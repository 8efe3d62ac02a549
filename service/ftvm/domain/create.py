"""CreateFaultToleranceVmInstance: validate -> place -> take addresses -> start -> one commit.

Steps (each a failpoint name; a failure at any of them leaves nothing behind):
  validate            the size limits of `limits.py`, then spec §2 rules in the contract's order (SYS.1007,
                      then SYS.1003, then SYS.1006 state rules)
  place               the Rust core places and reserves both VMs in one step (`place_and_reserve`)
  allocate_network    IPs, MACs, COLO ports, internal ids (in memory; the rows' UNIQUE constraints back them)
  start_primary       the host agent starts the primary (InstantStart only) ...
  start_secondary     ... and, at the same time, the secondary
  commit              one transaction (group-committed) writes every row and re-checks both hosts' and every
                      touched storage's usage against capacity; the failpoint fires after the inserts
The agent starts the VMs *before* the commit so the database only ever holds finished creates: a create that
fails, or a process that dies mid-way, leaves no row to clean up. Undo runs in reverse order; it destroys both VMs
whatever their starts answered (a start that timed out may have started its VM). A VM the undo cannot destroy (the
agent does not answer) is logged at WARNING and left on its host for the reconciler.

With several replicas on one database, the commit is where a stale memory shows: the capacity re-check or a
UNIQUE constraint refuses what another replica took first (`StaleView`). The create is then undone, the replica
catches up with the change feed, and places again, at most MAX_ATTEMPTS times in all.

Each create logs one INFO line (the group, the hosts and storages of both VMs; or the error code, and for a
placement failure the rule and the hosts each rule removed) and counts in the `ftvm_create_*`, `ftvm_placement*`
and `ftvm_replica_conflicts_total` metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ftvm.agent import HostAgent, HostAgentError, VmSpec
from ftvm.observability import metrics
from ftvm.placement import (
    DEFAULT_STRATEGY,
    RULES,
    STRATEGIES,
    NoHostAvailable,
    Placement,
    PlacementError,
    Request,
    ReservationConflict,
)
from ftvm.store import Conflict, Row, Tx

from .accounts import Account
from .catalog import Catalog
from .common import Domain, check_description, check_name, check_resource_uuid, new_uuid
from .errors import FtError, already_exists, invalid, mandatory, not_found, operation_failed
from .holdings import Holdings
from .limits import (
    MAX_DATA_DISKS,
    MAX_KEYWORD_LENGTH,
    MAX_L3_NETWORKS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_UUID_LENGTH,
    check_list,
    check_text,
)
from .network import ensure_internal_ids, int_to_ip
from .records import Disk, VolumeMaker, build_vm_view, group_view, nic_row, pair_views, shadow_view
from .system_tags import parse_system_tags

log = logging.getLogger(__name__)

MSG = "CreateFaultToleranceVmInstanceMsg"
STRATEGY_VALUES = ("InstantStart", "CreateStopped", "JustCreate")
GROUP_TYPE = "FaultToleranceVmGroup"
# Placements tried when the commit finds another replica took first what this one's memory showed free.
MAX_ATTEMPTS = 3
MAX_IDEMPOTENCY_KEY = 255
_IDEMPOTENCY_KEY = re.compile(f"[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")

Failpoint = Callable[[str], None]


@dataclass(slots=True)
class CreateFtVm:
    """The request, as the API layer hands it over (None = absent)."""

    name: str | None
    image_uuid: str | None
    l3_network_uuids: list[str]
    description: str | None = None
    instance_offering_uuid: str | None = None
    cpu_num: int | None = None
    memory_size: int | None = None
    reserved_memory_size: int | None = None
    default_l3_network_uuid: str | None = None
    data_disk_offering_uuids: list[str] = field(default_factory=list)
    zone_uuid: str | None = None
    cluster_uuid: str | None = None
    host_uuid: str | None = None
    primary_storage_uuid_for_root_volume: str | None = None
    root_volume_system_tags: list[str] = field(default_factory=list)
    data_volume_system_tags: list[str] = field(default_factory=list)
    resource_uuid: str | None = None
    tag_uuids: list[str] = field(default_factory=list)
    system_tags: list[str] = field(default_factory=list)
    user_tags: list[str] = field(default_factory=list)
    strategy: str | None = None
    type: str | None = None


@dataclass(slots=True)
class _Plan:
    """A validated request, resolved against the catalog."""

    name: str
    description: str | None
    strategy: str
    cpu_num: int
    memory_size: int
    reserved_memory_size: int
    cpu_speed: int
    allocator_strategy: str
    max_instance_per_host: int
    offering_uuid: str | None
    image: dict
    l3_uuids: list[str]
    default_l3: str
    data_offerings: list[dict]
    zone_uuid: str | None
    cluster_uuid: str | None
    host_uuid: str | None
    root_storage_uuid: str | None
    data_storage_uuid: str | None
    static_ips: dict[str, str]
    custom_macs: dict[str, str]
    with_cdrom: bool
    group_uuid: str
    system_tags: list[str]
    user_tags: list[str]
    root_volume_tags: list[str]
    data_volume_tags: list[str]


@dataclass(slots=True)
class CreateResult:
    primary: dict
    secondary: dict | None  # None: a retry's reply while the group recovers without one
    group: dict


_UUID_FIELDS = (
    ("instanceOfferingUuid", "instance_offering_uuid"),
    ("imageUuid", "image_uuid"),
    ("defaultL3NetworkUuid", "default_l3_network_uuid"),
    ("zoneUuid", "zone_uuid"),
    ("clusterUuid", "cluster_uuid"),
    ("hostUuid", "host_uuid"),
    ("primaryStorageUuidForRootVolume", "primary_storage_uuid_for_root_volume"),
    ("resourceUuid", "resource_uuid"),
)
_LISTS = (
    ("l3NetworkUuids", "l3_network_uuids", MAX_L3_NETWORKS, MAX_UUID_LENGTH),
    ("dataDiskOfferingUuids", "data_disk_offering_uuids", MAX_DATA_DISKS, MAX_UUID_LENGTH),
    ("rootVolumeSystemTags", "root_volume_system_tags", MAX_TAGS, MAX_TAG_LENGTH),
    ("dataVolumeSystemTags", "data_volume_system_tags", MAX_TAGS, MAX_TAG_LENGTH),
    ("tagUuids", "tag_uuids", MAX_TAGS, MAX_UUID_LENGTH),
    ("systemTags", "system_tags", MAX_TAGS, MAX_TAG_LENGTH),
    ("userTags", "user_tags", MAX_TAGS, MAX_TAG_LENGTH),
)


def _check_limits(req: CreateFtVm) -> None:
    """The size limits (`limits.py`), before any rule that echoes a value back."""
    for field_name, attribute in _UUID_FIELDS:
        check_text(getattr(req, attribute), field_name, MSG, MAX_UUID_LENGTH)
    check_text(req.strategy, "strategy", MSG, MAX_KEYWORD_LENGTH)
    check_text(req.type, "type", MSG, MAX_KEYWORD_LENGTH)
    for field_name, attribute, max_items, max_length in _LISTS:
        check_list(getattr(req, attribute), field_name, MSG, max_items, max_length)


class CreateFlow:
    def __init__(
        self,
        domain: Domain,
        agent: HostAgent,
        refresh: Callable[[], Awaitable[None]],
        failpoint: Failpoint | None = None,
    ) -> None:
        """`refresh` catches up with the other replicas' commits (the change feed) before a create places again."""
        self._domain = domain
        self._agent = agent
        self._refresh = refresh
        self._failpoint = failpoint or (lambda step: None)
        self._named: dict[str, list] = {}  # group uuid of a named create in flight -> [lock, users]
        self.stale_retries = 0
        # Metric children bound once: labels() on every create would cost more than the counting.
        self._step_seconds = {step: metrics.CREATE_STEP_SECONDS.labels(step) for step in metrics.CREATE_STEPS}
        self._placed = metrics.PLACEMENTS.labels("placed", "")
        self._refused = metrics.PLACEMENTS.labels("refused", "")
        self._no_host = {rule: metrics.PLACEMENTS.labels("no_host", rule) for rule in RULES}
        self._removed = {rule: metrics.HOSTS_REMOVED.labels(rule) for rule in RULES}
        self._conflicts = {outcome: metrics.REPLICA_CONFLICTS.labels(outcome) for outcome in ("retried", "failed")}

    def _timed(self, step: str, since: float) -> float:
        """Counts the step's time since `since`; answers now, the next step's start."""
        now = time.perf_counter()
        self._step_seconds[step].observe(now - since)
        return now

    # -- validation ----------------------------------------------------------------------------------------------
    def _validate(self, req: CreateFtVm) -> _Plan:
        cat = self._domain.catalog
        _check_limits(req)
        # 1. Field rules (SYS.1007), in the table order of spec §2.
        name = check_name(req.name, "name", MSG)
        description = check_description(req.description, MSG)
        if req.cpu_num is not None and req.cpu_num <= 0:
            raise invalid(f"field[cpuNum] of message[{MSG}] must be greater than 0, but got {req.cpu_num}")
        if req.memory_size is not None and req.memory_size <= 0:
            raise invalid(f"field[memorySize] of message[{MSG}] must be greater than 0, but got {req.memory_size}")
        if req.reserved_memory_size is not None and req.reserved_memory_size < 0:
            raise invalid(f"field[reservedMemorySize] of message[{MSG}] must not be negative")
        if not req.image_uuid:
            raise mandatory("imageUuid", MSG)
        if not req.l3_network_uuids:
            raise invalid(f"field[l3NetworkUuids] of message[{MSG}] must be a nonempty list")
        if len(set(req.l3_network_uuids)) != len(req.l3_network_uuids):
            raise invalid(f"field[l3NetworkUuids] of message[{MSG}] has duplicate uuids {req.l3_network_uuids}")
        default_l3 = req.default_l3_network_uuid
        if default_l3 is None:
            if len(req.l3_network_uuids) > 1:
                raise invalid("defaultL3NetworkUuid is required when more than one l3NetworkUuids is given")
            default_l3 = req.l3_network_uuids[0]
        elif default_l3 not in req.l3_network_uuids:
            raise invalid(f"defaultL3NetworkUuid[{default_l3}] is not in l3NetworkUuids {req.l3_network_uuids}")
        group_uuid = check_resource_uuid(req.resource_uuid) or new_uuid()
        tags = parse_system_tags(req.system_tags)
        strategy = req.strategy or "InstantStart"
        if strategy not in STRATEGY_VALUES:
            raise invalid(
                f"valid value for field[strategy] of message[{MSG}] are {list(STRATEGY_VALUES)}, "
                f"but {strategy} is given"
            )
        vm_type = req.type or GROUP_TYPE
        if vm_type != GROUP_TYPE:
            raise invalid(f"valid value for field[type] of message[{MSG}] are [{GROUP_TYPE}], but {vm_type} is given")
        # 2. FT prerequisites (global config).
        if not cat.ft_enabled:
            raise operation_failed("Failed to create ft vm, please enable ft in GlobalConfig")
        if cat.ft_network is None:
            raise operation_failed("Ft network is not set")
        # 3. Referenced resources exist (SYS.1003), then their state (SYS.1006) and kind (SYS.1007).
        offering = None
        if req.instance_offering_uuid is not None:
            offering = cat.instance_offerings.get(req.instance_offering_uuid)
            if offering is None:
                raise not_found("instanceOfferingUuid", req.instance_offering_uuid, "InstanceOfferingVO")
        image = cat.images.get(req.image_uuid)
        if image is None:
            raise not_found("imageUuid", req.image_uuid, "ImageVO")
        for l3 in req.l3_network_uuids:
            if l3 not in cat.l3_networks:
                raise not_found("l3NetworkUuids", l3, "L3NetworkVO")
        data_offerings = []
        for uuid in req.data_disk_offering_uuids:
            if uuid not in cat.disk_offerings:
                raise not_found("dataDiskOfferingUuids", uuid, "DiskOfferingVO")
            data_offerings.append(cat.disk_offerings[uuid])
        pins = (
            ("zoneUuid", req.zone_uuid, cat.zones, "ZoneVO"),
            ("clusterUuid", req.cluster_uuid, cat.clusters, "ClusterVO"),
            ("hostUuid", req.host_uuid, cat.hosts, "HostVO"),
            (
                "primaryStorageUuidForRootVolume",
                req.primary_storage_uuid_for_root_volume,
                cat.storages,
                "PrimaryStorageVO",
            ),
        )
        for field_name, pinned, table, kind in pins:
            if pinned is not None and pinned not in table:
                raise not_found(field_name, pinned, kind)
        if tags.data_storage_uuid is not None and tags.data_storage_uuid not in cat.storages:
            raise not_found("systemTags", tags.data_storage_uuid, "PrimaryStorageVO")

        if offering is not None:
            if offering["state"] != "Enabled":
                raise operation_failed(f"instance offering[uuid:{offering['uuid']}] is not Enabled")
            if offering["type"] != "UserVm":
                raise operation_failed(f"instance offering[uuid:{offering['uuid']}] is not of type UserVm")
            cpu_num, memory_size = offering["cpu_num"], offering["memory_size"]
            cpu_speed, allocator = offering["cpu_speed"], offering["allocator_strategy"] or DEFAULT_STRATEGY
        else:
            if req.cpu_num is None:
                raise mandatory("cpuNum", MSG)
            if req.memory_size is None:
                raise mandatory("memorySize", MSG)
            cpu_num, memory_size, cpu_speed, allocator = req.cpu_num, req.memory_size, 0, DEFAULT_STRATEGY
        reserved_memory = req.reserved_memory_size or 0
        if reserved_memory > memory_size:
            raise invalid(f"reservedMemorySize[{reserved_memory}] must not exceed memorySize[{memory_size}]")
        if allocator not in STRATEGIES:
            raise operation_failed(f"allocator strategy[{allocator}] is not supported")
        max_per_host = 0
        if allocator == "MaxInstancePerHostHostAllocatorStrategy":
            max_per_host = tags.max_instance_per_host or 0

        if image["media_type"] == "ISO":
            raise invalid(f"image[uuid:{image['uuid']}] is an ISO; an FT VM needs a RootVolumeTemplate image")
        if image["system"]:
            raise invalid(f"image[uuid:{image['uuid']}] is a system image and cannot create a user VM")
        if image["state"] != "Enabled":
            raise operation_failed(f"image[uuid:{image['uuid']}] is not Enabled")
        if image["status"] != "Ready":
            raise operation_failed(f"image[uuid:{image['uuid']}] is not Ready")
        if image["media_type"] != "RootVolumeTemplate":
            raise invalid(f"image[uuid:{image['uuid']}] has mediaType {image['media_type']}, not RootVolumeTemplate")
        if image["format"] != "qcow2":
            raise operation_failed(f"image[uuid:{image['uuid']}] has format {image['format']}; FT needs qcow2")
        for l3 in req.l3_network_uuids:
            row = cat.l3_networks[l3]
            if row["system"]:
                raise invalid(f"l3Network[uuid:{l3}] is a system network and cannot be used for a user VM")
            if row["state"] != "Enabled":
                raise operation_failed(f"l3Network[uuid:{l3}] is not Enabled")
        for offering_row in data_offerings:
            if offering_row["state"] != "Enabled":
                raise operation_failed(f"disk offering[uuid:{offering_row['uuid']}] is not Enabled")
        for kind, table, pinned in (
            ("zone", cat.zones, req.zone_uuid),
            ("cluster", cat.clusters, req.cluster_uuid),
            ("host", cat.hosts, req.host_uuid),
        ):
            if pinned is not None and table[pinned]["state"] != "Enabled":
                raise operation_failed(f"{kind}[uuid:{pinned}] is not Enabled")
        for kind, by_l3 in (("staticIp", tags.static_ips), ("customMac", tags.custom_macs)):
            for l3 in by_l3:
                if l3 not in req.l3_network_uuids:
                    raise invalid(f"system tag {kind} names l3Network[uuid:{l3}] that is not in l3NetworkUuids")
        # The smaller location pin wins (host > cluster > zone); the engine applies every pin it is given.
        zone, cluster, host = req.zone_uuid, req.cluster_uuid, req.host_uuid
        if host is not None:
            zone = cluster = None
        elif cluster is not None:
            zone = None
        return _Plan(
            name=name,
            description=description,
            strategy=strategy,
            cpu_num=cpu_num,
            memory_size=memory_size,
            reserved_memory_size=reserved_memory,
            cpu_speed=cpu_speed,
            allocator_strategy=allocator,
            max_instance_per_host=max_per_host,
            offering_uuid=req.instance_offering_uuid,
            image=image,
            l3_uuids=list(req.l3_network_uuids),
            default_l3=default_l3,
            data_offerings=data_offerings,
            zone_uuid=zone,
            cluster_uuid=cluster,
            host_uuid=host,
            root_storage_uuid=req.primary_storage_uuid_for_root_volume,
            data_storage_uuid=tags.data_storage_uuid,
            static_ips=tags.static_ips,
            custom_macs=tags.custom_macs,
            with_cdrom=not tags.without_cdrom,
            group_uuid=group_uuid,
            system_tags=list(req.system_tags),
            user_tags=list(req.user_tags),
            root_volume_tags=list(req.root_volume_system_tags),
            data_volume_tags=list(req.data_volume_system_tags),
        )

    # -- the flow ------------------------------------------------------------------------------------------------
    async def create(self, account: Account, req: CreateFtVm, idempotency_key: str | None = None) -> CreateResult:
        """`idempotency_key`: the caller's name for this create (with a resourceUuid, or alone: the group's uuid is
        then derived from it). A retry of the same request under the same name gets the original reply."""
        try:
            return await self._create_named(account, req, idempotency_key)
        except FtError as e:
            if log.isEnabledFor(logging.INFO):
                _log_failed(e)
            raise

    async def _create_named(self, account: Account, req: CreateFtVm, idempotency_key: str | None) -> CreateResult:
        started = time.perf_counter()
        self._failpoint("validate")
        plan = self._validate(req)
        retry = _Retryable.of(account, req, idempotency_key, plan)
        self._timed("validate", started)
        if retry is None:
            return await self._create(account, plan, None)
        # Creates under one name run one at a time in this process (the later ones then find the first's rows);
        # across replicas the group's primary key decides (DuplicateCreate).
        entry = self._named.setdefault(plan.group_uuid, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                # Early answer, so a retry never starts VMs; the commit's own insert closes the race.
                earlier = await self._domain.read(lambda tx: _earlier_create(tx, retry))
                if earlier is not None:
                    log.info("create of FT group %s answered from its earlier create", plan.group_uuid)
                    return earlier
                return await self._create(account, plan, retry)
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._named[plan.group_uuid]

    async def _create(self, account: Account, plan: _Plan, retry: _Retryable | None) -> CreateResult:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await self._attempt(account, plan, retry)
            except DuplicateCreate as duplicate:
                # A create under the same name committed first (a retry racing its original, on any replica).
                named = duplicate.retry
                earlier = await self._domain.read(lambda tx: _earlier_create(tx, named))
                if earlier is None:  # the winner was destroyed meanwhile
                    raise already_exists(GROUP_TYPE, plan.group_uuid) from None
                return earlier
            except StaleView as stale:
                # Another replica committed first what this one's memory still showed free: catch up with the
                # change feed and place again (the client sees a success or a typed error, never the conflict).
                self.stale_retries += 1
                if attempt == MAX_ATTEMPTS:
                    self._conflicts["failed"].inc()
                    raise stale.error from None
                self._conflicts["retried"].inc()
                await self._refresh()
        raise AssertionError("unreachable")

    async def _attempt(self, account: Account, plan: _Plan, retry: _Retryable | None) -> CreateResult:
        domain = self._domain
        await ensure_internal_ids(domain, 2)
        await domain.gate.acquire_shared()
        undo: list[Callable[[], Any]] = []
        try:
            step_started = time.perf_counter()
            placement = None
            if plan.strategy != "JustCreate":
                self._failpoint("place")
                placement = self._place(plan)
                engine = domain.engine
                undo.append(lambda: engine.release(plan.group_uuid))
                step_started = self._timed("place", step_started)
            self._failpoint("allocate_network")
            records = self._build_records(account, plan, placement, undo)
            step_started = self._timed("allocate", step_started)
            if plan.strategy == "InstantStart":
                await self._start_pair(records, undo)
                step_started = self._timed("start", step_started)
            self._failpoint("commit")
            checks = capacity_checks(self._domain.catalog, placement) if placement else None
            await domain.write(lambda tx: self._commit(tx, records, checks, retry))
            self._timed("commit", step_started)
        except BaseException as error:
            for action in reversed(undo):
                try:
                    result = action()
                    if hasattr(result, "__await__"):
                        await result
                except HostAgentError as e:
                    log.warning(
                        "create of FT group[uuid:%s] failed (%s) and its undo could not destroy what it "
                        "started: %s; left on the host for the reconciler",
                        plan.group_uuid,
                        error,
                        e,
                    )
            raise
        finally:
            await domain.gate.release_shared()
        if log.isEnabledFor(logging.INFO):
            _log_created(plan, placement)
        return records.result()

    def _place(self, plan: _Plan) -> Placement:
        image_bytes = plan.image["size"]
        data_bytes = sum(o["disk_size"] for o in plan.data_offerings)
        request = Request(
            vcpus=plan.cpu_num,
            memory=plan.memory_size,
            l3_uuids=tuple(plan.l3_uuids),
            root_bytes=image_bytes,
            data_bytes=data_bytes,
            zone_uuid=plan.zone_uuid,
            cluster_uuid=plan.cluster_uuid,
            host_uuid=plan.host_uuid,
            root_storage_uuid=plan.root_storage_uuid,
            data_storage_uuid=plan.data_storage_uuid if data_bytes else None,
            strategy=plan.allocator_strategy,
            max_instance_per_host=plan.max_instance_per_host,
        )
        try:
            placement = self._domain.engine.place_and_reserve(plan.group_uuid, request)
        except NoHostAvailable as e:
            self._count_no_host(e)
            cause = FtError(
                "HOST_ALLOCATION.1000",
                str(e),
                opaque={
                    "phase": e.phase,
                    "rule": e.rule,
                    "hostsConsidered": e.considered,
                    "hostsRemovedByRule": {k: v for k, v in e.removed.items() if v},
                },
            )
            raise operation_failed("failed to place the fault-tolerant VM pair", cause=cause) from e
        except ReservationConflict as e:
            raise already_exists(GROUP_TYPE, plan.group_uuid) from e
        except PlacementError as e:
            self._refused.inc()
            raise operation_failed(f"placement refused the request: {e}") from e
        self._placed.inc()
        return placement

    def _count_no_host(self, e: NoHostAvailable) -> None:
        (self._no_host.get(e.rule) or metrics.PLACEMENTS.labels("no_host", e.rule)).inc()
        for rule, removed in e.removed.items():
            if removed:
                (self._removed.get(rule) or metrics.HOSTS_REMOVED.labels(rule)).inc(removed)

    async def _start_pair(self, r: _Records, undo: list) -> None:
        """Both starts at once; the undo destroys both VMs, whatever their starts answered (destroying a VM the host
        does not hold is a success), once both starts are over."""
        vms = (r.primary_vm, r.secondary_vm)
        undo.append(lambda: self._destroy_started(vms))
        outcomes = await asyncio.gather(
            self._start("start_primary", r.primary_vm),
            self._start("start_secondary", r.secondary_vm),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _start(self, step: str, vm: dict) -> None:
        self._failpoint(step)
        try:
            await self._agent.start_vm(vm["host_uuid"], VmSpec.of_row(vm))
        except HostAgentError as e:
            raise operation_failed(f"host[uuid:{vm['host_uuid']}] failed to start vm[uuid:{vm['uuid']}]: {e}") from e

    async def _destroy_started(self, vms: tuple[dict, ...]) -> None:
        outcomes = await asyncio.gather(
            *(self._agent.destroy_vm(vm["host_uuid"], vm["uuid"]) for vm in vms), return_exceptions=True
        )
        left = []
        for vm, outcome in zip(vms, outcomes):
            if isinstance(outcome, HostAgentError):
                left.append(f"vm[uuid:{vm['uuid']}] on host[uuid:{vm['host_uuid']}] ({outcome})")
            elif isinstance(outcome, BaseException):
                raise outcome
        if left:
            raise HostAgentError("; ".join(left))

    # -- records ---------------------------------------------------------------------------------------------------
    def _build_records(self, account: Account, plan: _Plan, placement: Placement | None, undo: list) -> _Records:
        cat = self._domain.catalog
        net = self._domain.network
        group = plan.group_uuid
        now = self._domain.clock()
        config = cat.placement_config()
        storage_ratio = config.storage_overprovisioning_ratio
        running = plan.strategy == "InstantStart"
        state = {"InstantStart": "Running", "CreateStopped": "Stopped", "JustCreate": "Created"}[plan.strategy]
        status = "Protected" if running else "Unprotected"
        r = _Records(group_uuid=plan.group_uuid)
        image = plan.image

        def vm_row(role: str, name: str, host_uuid: str | None) -> dict:
            host = cat.hosts[host_uuid] if host_uuid else None
            return dict(
                uuid=new_uuid(),
                name=name,
                description=plan.description,
                zone_uuid=host["zone_uuid"] if host else None,
                cluster_uuid=host["cluster_uuid"] if host else None,
                image_uuid=image["uuid"],
                host_uuid=host_uuid,
                last_host_uuid=host_uuid,
                instance_offering_uuid=plan.offering_uuid,
                root_volume_uuid=None,
                platform=image["platform"],
                architecture=image["architecture"],
                default_l3_network_uuid=plan.default_l3,
                type="UserVm",
                hypervisor_type=host["hypervisor_type"] if host else "KVM",
                memory_size=plan.memory_size,
                cpu_num=plan.cpu_num,
                cpu_speed=plan.cpu_speed,
                allocator_strategy=plan.allocator_strategy,
                create_date=now,
                last_op_date=now,
                state=state,
                guest_os_type=image["guest_os_type"],
                role=role,
                group_uuid=plan.group_uuid,
                account_uuid=account.uuid,
                internal_id=net.take_internal_id(),
                reserved_memory_size=plan.reserved_memory_size,
                allocated_memory=math.ceil(plan.memory_size / config.memory_overprovisioning_ratio) if host else 0,
            )

        primary_host = placement.primary_host if placement else None
        secondary_host = placement.secondary_host if placement else None
        r.primary_vm = vm_row("Primary", plan.name, primary_host)
        r.secondary_vm = vm_row("Secondary", plan.name + "-svm", secondary_host)
        disks = [Disk("Root", image["size"], 0, None, image["uuid"])]
        disks += [Disk("Data", o["disk_size"], i, o["uuid"], None) for i, o in enumerate(plan.data_offerings, start=1)]
        volumes = VolumeMaker(cat, account.uuid, plan.group_uuid, now, storage_ratio if placement else None)
        r.primary_volumes = volumes.of(
            r.primary_vm,
            disks,
            placement.primary_storage if placement else None,
            placement.primary_data_storage if placement else None,
            caches=False,
        )
        r.secondary_volumes = volumes.of(
            r.secondary_vm,
            disks,
            placement.secondary_storage if placement else None,
            placement.secondary_storage if placement else None,
            caches=True,
        )
        r.primary_vm["root_volume_uuid"] = r.primary_volumes[0]["uuid"]
        r.secondary_vm["root_volume_uuid"] = r.secondary_volumes[0]["uuid"]

        # NICs: one per L3 in request order. The secondary reuses the primary's IP and MAC (COLO).
        for device_id, l3 in enumerate(plan.l3_uuids):
            mac = net.take_mac(device_id, group, plan.custom_macs.get(l3))
            undo.append(lambda mac=mac: net.give_back_mac(mac, group))
            r.macs.append(dict(mac=mac, group_uuid=plan.group_uuid))
            ip_range, ip = None, None
            if placement:
                ip_range, address = net.take_ip(l3, group, plan.static_ips.get(l3))
                undo.append(lambda l3=l3, address=address: net.give_back_ip(l3, address, group))
                ip = int_to_ip(address)
            for vm, nics in ((r.primary_vm, r.primary_nics), (r.secondary_vm, r.secondary_nics)):
                nics.append(
                    nic_row(
                        vm,
                        l3,
                        ip,
                        mac,
                        ip_range["netmask"] if ip_range else None,
                        ip_range["gateway"] if ip_range else None,
                        device_id,
                        now,
                    )
                )
            if ip_range:
                r.used_ips.append(
                    dict(
                        uuid=new_uuid(),
                        ip_range_uuid=ip_range["uuid"],
                        l3_network_uuid=l3,
                        ip_version=4,
                        ip=ip,
                        netmask=ip_range["netmask"],
                        gateway=ip_range["gateway"],
                        used_for="Vm",
                        ip_in_long=address,
                        vm_nic_uuid=r.primary_nics[-1]["uuid"],
                        create_date=now,
                        last_op_date=now,
                        group_uuid=plan.group_uuid,
                    )
                )
        if placement:
            for host in (placement.primary_host, placement.secondary_host):
                ports = net.take_colo_ports(host, group, len(plan.l3_uuids))
                undo.append(lambda ports=ports: net.give_back_ports(ports, group))
                r.ports += ports
        if plan.with_cdrom:
            for vm, cdroms in ((r.primary_vm, r.primary_cdroms), (r.secondary_vm, r.secondary_cdroms)):
                cdroms.append(
                    dict(
                        uuid=new_uuid(),
                        vm_instance_uuid=vm["uuid"],
                        device_id=0,
                        iso_uuid=None,
                        iso_install_path=None,
                        name=f"vm-{vm['uuid']}-cdRom",
                        description=None,
                        create_date=now,
                        last_op_date=now,
                        group_uuid=plan.group_uuid,
                    )
                )
        r.group = dict(
            uuid=plan.group_uuid,
            account_uuid=account.uuid,
            name=plan.name,
            description=plan.description,
            primary_vm_instance_uuid=r.primary_vm["uuid"],
            secondary_vm_instance_uuid=r.secondary_vm["uuid"],
            status=status,
            strategy=plan.strategy,
            create_date=now,
            last_op_date=now,
        )
        tags = [("System", t, plan.group_uuid, GROUP_TYPE + "VO") for t in plan.system_tags]
        tags += [("User", t, plan.group_uuid, GROUP_TYPE + "VO") for t in plan.user_tags]
        for vm_volumes in (r.primary_volumes, r.secondary_volumes):
            tags += [
                ("System", t, v["uuid"], "VolumeVO")
                for v in vm_volumes
                if v["type"] == "Root"
                for t in plan.root_volume_tags
            ]
            tags += [
                ("System", t, v["uuid"], "VolumeVO")
                for v in vm_volumes
                if v["type"] == "Data"
                for t in plan.data_volume_tags
            ]
        r.tags = [
            dict(
                uuid=new_uuid(),
                resource_uuid=res,
                resource_type=kind,
                tag=t,
                type=tag_type,
                group_uuid=plan.group_uuid,
                create_date=now,
            )
            for tag_type, t, res, kind in tags
        ]
        return r

    def _commit(self, tx: Tx, r: _Records, checks: CapacityChecks | None, retry: _Retryable | None) -> None:
        try:
            tx.insert("ft_groups", [r.group])
        except Conflict as e:  # a create with the same resourceUuid committed first
            if retry is not None:
                raise DuplicateCreate(retry) from e
            raise already_exists(GROUP_TYPE, r.group["uuid"]) from e
        if retry is not None:
            tx.insert(
                "create_requests",
                [
                    dict(
                        group_uuid=r.group_uuid,
                        account_uuid=retry.account_uuid,
                        idempotency_key=retry.key,
                        fingerprint=retry.fingerprint,
                        create_date=r.group["create_date"],
                    )
                ],
            )
        try:
            tx.insert("vm_instances", [r.primary_vm, r.secondary_vm])
            tx.insert("volumes", r.primary_volumes + r.secondary_volumes)
            tx.insert("vm_nics", r.primary_nics + r.secondary_nics)
            tx.insert("used_ips", r.used_ips)
            tx.insert("mac_allocations", r.macs)
            tx.insert("vm_cdroms", r.primary_cdroms + r.secondary_cdroms)
            tx.insert("colo_ports", r.ports)
        except Conflict as e:  # an address, MAC, port or internal id another replica took first
            raise StaleView(
                operation_failed(f"another replica took an address of this create first ({e.table}); please retry")
            ) from e
        tx.insert("tags", r.tags)
        tx.emit(r.holdings().change(taken=True))
        self._failpoint("commit_rows_written")
        if checks is not None:
            tx.after_writes(checks.verify)


def _log_created(plan: _Plan, placement: Placement | None) -> None:
    where: dict[str, Any] = {}
    text = "not placed (JustCreate)"
    if placement is not None:
        where = dict(
            primary_host=placement.primary_host,
            primary_storage=placement.primary_storage,
            primary_data_storage=placement.primary_data_storage,
            secondary_host=placement.secondary_host,
            secondary_storage=placement.secondary_storage,
        )
        text = (
            f"primary on host {placement.primary_host} storage {placement.primary_storage}, "
            f"secondary on host {placement.secondary_host} storage {placement.secondary_storage}"
        )
    log.info(
        "created FT group %s: %s",
        plan.group_uuid,
        text,
        extra=dict(event="create", outcome="created", group_uuid=plan.group_uuid, strategy=plan.strategy, **where),
    )


def _log_failed(error: FtError) -> None:
    placement = error.cause if error.cause is not None and error.cause.code == "HOST_ALLOCATION.1000" else None
    rule = placement.opaque.get("rule") if placement is not None else None
    removed = placement.opaque.get("hostsRemovedByRule") if placement is not None else None
    log.info(
        "create failed: %s%s",
        error.code,
        f" (rule {rule} removed the last hosts; removed by rule: {removed})" if rule else "",
        extra=dict(event="create", outcome="failed", code=error.code, rule=rule, hosts_removed_by_rule=removed),
    )


def capacity_checks(cat: Catalog, placement: Placement) -> CapacityChecks:
    """The limits of the pair's hosts and storages, for the commit to re-check against the rows."""
    config = cat.placement_config()
    hosts = {}
    for uuid in {placement.primary_host, placement.secondary_host}:
        h = cat.hosts[uuid]
        hosts[uuid] = (
            h["cpu_num"] * config.cpu_overprovisioning_ratio,
            h["total_memory_capacity"] - config.reserved_memory,
            h["max_ft_vms"],
            h["max_ft_vcpus"],
        )
    storages: dict[tuple[str, str | None], int] = {}
    for storage, host in (
        (placement.primary_storage, placement.primary_host),
        (placement.primary_data_storage, placement.primary_host),
        (placement.secondary_storage, placement.secondary_host),
    ):
        if cat.is_local(storage):
            storages[(storage, host)] = cat.hosts[host]["local_storage_capacity"]
        else:
            storages[(storage, None)] = cat.storages[storage]["total_capacity"]
    return CapacityChecks(hosts, storages, config.storage_reserved_capacity)


@dataclass(slots=True)
class CapacityChecks:
    """Capacity limits of the touched hosts and storages, computed on the loop thread, verified against the rows
    inside the commit (the engine is the fast path; the rows have the last word)."""

    hosts: dict[str, tuple[float, int, int, int]]  # cpu capacity, usable memory, max FT VMs, max FT vCPUs
    storages: dict[tuple[str, str | None], int]  # (storage, host for local) -> capacity
    reserved_capacity: int

    def verify(self, tx: Tx) -> None:
        for host, usage in tx.host_usage(list(self.hosts)).items():
            cpu_cap, memory_cap, max_vms, max_vcpus = self.hosts[host]
            if (
                usage.cpu_used > cpu_cap
                or usage.memory_used > memory_cap
                or (max_vms and usage.vm_count > max_vms)
                or (max_vcpus and usage.cpu_used > max_vcpus)
            ):
                raise _over(f"host[uuid:{host}]")
        for (storage, local_host), capacity in self.storages.items():
            if capacity - tx.storage_used(storage, local_host) < self.reserved_capacity:
                where = f" on host[uuid:{local_host}]" if local_host else ""
                raise _over(f"primary storage[uuid:{storage}]{where}")


def _over(what: str) -> StaleView:
    cause = FtError("HOST_ALLOCATION.1000", f"{what} has no capacity left for this pair (re-checked at commit)")
    return StaleView(operation_failed("failed to place the fault-tolerant VM pair", cause=cause))


class DuplicateCreate(Exception):
    """The commit found the group's uuid taken by a create under the same name."""

    def __init__(self, retry: _Retryable) -> None:
        super().__init__(retry.group_uuid)
        self.retry = retry


@dataclass(frozen=True, slots=True)
class _Retryable:
    """A create the caller named (resourceUuid, idempotency key, or both), so that a retry is recognised."""

    account_uuid: str
    group_uuid: str
    key: str | None
    fingerprint: str  # of the whole request: the same name with another request is refused, not answered

    @classmethod
    def of(cls, account: Account, req: CreateFtVm, key: str | None, plan: _Plan) -> _Retryable | None:
        """None for an unnamed create. A key without a resourceUuid names the group (`plan.group_uuid` is set)."""
        if key is None:
            if req.resource_uuid is None:
                return None
        else:
            if not _IDEMPOTENCY_KEY.fullmatch(key):
                raise invalid(f"the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters")
            if req.resource_uuid is None:
                plan.group_uuid = _uuid_of_key(account.uuid, key)
        request = json.dumps(dataclasses.asdict(req), sort_keys=True, separators=(",", ":"))
        return cls(account.uuid, plan.group_uuid, key, hashlib.sha256(request.encode()).hexdigest())


def _uuid_of_key(account_uuid: str, key: str) -> str:
    """A version-5-shaped uuid from the account and its key: every replica derives the same group uuid, so the
    group's primary key makes two creates under one key a conflict, whichever replicas they reach."""
    digest = bytearray(hashlib.sha256(f"{account_uuid}\0{key}".encode()).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50
    digest[8] = digest[8] & 0x3F | 0x80
    return digest.hex()


def _earlier_create(tx: Tx, retry: _Retryable) -> CreateResult | None:
    """The reply of an earlier create under the same name: rebuilt from its rows (as they are now). None when there
    was none; ALREADY_EXISTS when the name was used by another account or for another request."""
    groups = tx.select("ft_groups", {"uuid": retry.group_uuid})
    requests = tx.select("create_requests", {"group_uuid": retry.group_uuid})
    if not requests:
        if groups:  # a group created without a name (or whose request record expired)
            raise already_exists(GROUP_TYPE, retry.group_uuid)
        return None
    earlier = requests[0]
    if earlier["account_uuid"] != retry.account_uuid or earlier["fingerprint"] != retry.fingerprint:
        raise FtError(
            "SYS.1007",
            f"resource[uuid:{retry.group_uuid}, type:{GROUP_TYPE}] was created by another "
            "request under the same resourceUuid or idempotency key",
            already_exists=True,
        )
    if not groups:
        raise operation_failed(
            f"the create of fault-tolerant VM group[uuid:{retry.group_uuid}] succeeded earlier, "
            "but the group has been destroyed since"
        )
    return read_create_result(tx, groups[0])


class StaleView(Exception):
    """The commit found that another replica took first what this replica's memory still showed free. `error`
    is what the client gets if catching up and placing again does not help."""

    def __init__(self, error: FtError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(slots=True)
class _Records:
    group_uuid: str
    primary_vm: dict = field(default_factory=dict)
    secondary_vm: dict = field(default_factory=dict)
    group: dict = field(default_factory=dict)
    primary_volumes: list[dict] = field(default_factory=list)
    secondary_volumes: list[dict] = field(default_factory=list)
    primary_nics: list[dict] = field(default_factory=list)
    secondary_nics: list[dict] = field(default_factory=list)
    used_ips: list[dict] = field(default_factory=list)
    macs: list[dict] = field(default_factory=list)
    primary_cdroms: list[dict] = field(default_factory=list)
    secondary_cdroms: list[dict] = field(default_factory=list)
    ports: list[dict] = field(default_factory=list)
    tags: list[dict] = field(default_factory=list)

    def holdings(self) -> Holdings:
        return Holdings.from_rows(
            self.group_uuid,
            [self.primary_vm, self.secondary_vm],
            self.primary_volumes + self.secondary_volumes,
            self.used_ips,
            self.macs,
            self.ports,
        )

    def result(self) -> CreateResult:
        primary = build_vm_view(
            self.primary_vm, self.primary_nics, self.used_ips, self.primary_volumes, self.primary_cdroms
        )
        secondary = shadow_view(
            build_vm_view(
                self.secondary_vm, self.secondary_nics, self.used_ips, self.secondary_volumes, self.secondary_cdroms
            ),
            self.group,
        )
        return CreateResult(primary=primary, secondary=secondary, group=group_view(primary, self.group))


def read_create_result(tx: Tx, group: Row) -> CreateResult:
    """A create's reply rebuilt from the rows of its group (as they are now: a recovering group has no secondary)."""
    primary, secondary = pair_views(tx, group)
    return CreateResult(primary=primary, secondary=secondary, group=group_view(primary, group))
