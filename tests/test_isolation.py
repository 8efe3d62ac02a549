"""Who may call what: every RPC of the contract x every kind of caller, over real gRPC and over the REST gateway.

The RPCs come from the descriptor, so a new RPC without a row in `MATRIX` fails here. Callers: the owner (normal
account A, which created the FT group the VM RPCs name), another normal account B, the admin, no session, A's
expired session, and two malformed headers. Each cell checks the status (gRPC; HTTP on REST) and the ZStack code,
and what the call did: another account's Get/Destroy leaves the group in place, its queries never list A's
records, a logout ends the session. REST requests are built from the same `google.api.http` annotations the
gateway serves."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.api import annotations_pb2
from google.protobuf import json_format
from google.protobuf.message import Message
from test_create_service import Names, basic

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm.domain.accounts import SESSION_IDLE_MS
from service_support import Client, inventory, log_in, rpc_error, start_server

SERVICES = pb.DESCRIPTOR.services_by_name
ALL_RPCS = [m.name for s in SERVICES.values() for m in s.methods]
CALLERS = ("owner", "other", "admin", "no-session", "expired-session", "bearer-header", "oauth-without-token")
LOGGED_IN = ("owner", "other", "admin")
OK, UNAUTHENTICATED, DENIED = (grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}


def sha512(password: str) -> str:
    return hashlib.sha512(password.encode()).hexdigest()


@dataclass
class World:
    server: object
    admin: Client
    owner: Client  # alice
    other: Client  # bob
    group: pb.CreateFaultToleranceVmInstanceResponse  # alice's FT group, read by the VM RPCs
    names: Names
    numbers: itertools.count

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.numbers)}"

    def expired_session(self) -> str:
        """A session of the owner that expired (logged in with the server's clock set back past the idle limit)."""
        domain = self.server.running.domain
        real = domain.clock
        domain.clock = lambda: real() - SESSION_IDLE_MS - 1000
        try:
            return log_in(self.admin.channel, "alice", PASSWORDS["alice"]).session
        finally:
            domain.clock = real

    def owners_group(self) -> pb.CreateFaultToleranceVmInstanceResponse:
        return self.owner.create(**basic(self.names, name=self.unique("alice-vm")))

    def group_exists(self, group_uuid: str) -> bool:
        return bool(self.admin.query("QueryFaultToleranceVm", f"uuid={group_uuid}"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=64, memory_gib=257)
    with start_server(tmp_path_factory.mktemp("isolation"), spec, http_port=0) as server:
        channel = grpc.insecure_channel(server.target)
        admin = log_in(channel)
        for name, password in PASSWORDS.items():
            admin.account.CreateAccount(
                pb.CreateAccountRequest(name=name, password=sha512(password)), metadata=admin.metadata
            )
        owner, other = (log_in(channel, name, password) for name, password in PASSWORDS.items())
        names = Names(server)
        group = owner.create(**basic(names, name="alice-vm", data_disk_offering_uuids=[names.disk["data-20g"]]))
        yield World(server, admin, owner, other, group, names, itertools.count())
        channel.close()


# -- requests: one valid request per RPC ---------------------------------------------------------------------------


def _first(table: dict) -> str:
    return next(iter(table.values()))


def _site(w: World) -> dict[str, str]:
    n = w.names
    l3 = n.l3["l3-0"]
    return dict(
        zone=n.zone["zone-0"],
        cluster=n.cluster["z0-c0"],
        host=_first(n.host),
        l3=l3,
        l2=w.server.running.domain.catalog.l3_networks[l3]["l2_network_uuid"],
        image=n.image["centos"],
        offering=n.offering["small"],
        disk=n.disk["data-20g"],
        storage=n.storage["nfs-0"],
    )


def _fresh_storage(w: World) -> str:
    reply = w.admin.inventory.AddNfsPrimaryStorage(
        pb.AddNfsPrimaryStorageRequest(
            zone_uuid=_site(w)["zone"],
            name=w.unique("nfs"),
            url=f"nfs-server:/{w.unique('export')}",
            total_capacity=1 << 40,
        ),
        metadata=w.admin.metadata,
    )
    return reply.inventory.uuid


def _fresh_l2(w: World) -> str:
    reply = w.admin.inventory.CreateL2NoVlanNetwork(
        pb.CreateL2NoVlanNetworkRequest(zone_uuid=_site(w)["zone"], name=w.unique("l2"), physical_interface="eth1"),
        metadata=w.admin.metadata,
    )
    return reply.inventory.uuid


def _throwaway_session(w: World) -> str:
    return log_in(w.admin.channel, "bob", PASSWORDS["bob"]).session


def _enable(rpc: str, site_key: str, params: str) -> Callable[[World], Message]:
    def request(w: World) -> Message:
        params_type = getattr(pb, f"{rpc}Params")
        return getattr(pb, f"{rpc}Request")(uuid=_site(w)[site_key], **{params: params_type(state_event="enable")})

    return request


def _unique_subnet(w: World) -> str:
    """`10.a.b`: a /24 no other call of this module uses."""
    n = next(w.numbers)
    return f"10.{n // 256}.{n % 256}"


def _ip_range(w: World) -> pb.AddIpRangeRequest:
    subnet = _unique_subnet(w)
    return pb.AddIpRangeRequest(
        l3_network_uuid=_site(w)["l3"],
        name=w.unique("range"),
        start_ip=f"{subnet}.10",
        end_ip=f"{subnet}.20",
        netmask="255.255.255.0",
        gateway=f"{subnet}.1",
    )


def _query(rpc: str) -> Callable[[World], Message]:
    return lambda w: getattr(pb, f"{rpc}Request")()


# Which group of callers may run an RPC:
PUBLIC = "public"  # anyone, even without a session
ANY_ACCOUNT = "any account"  # any valid session
OWNER_OR_ADMIN = "owner or admin"  # the FT group's account, or the admin; another account is ID.1002
ADMIN = "admin"  # the admin; a normal account is ID.1002


@dataclass(frozen=True)
class Row:
    who: str
    request: Callable[[World], Message]


MATRIX: dict[str, Row] = {
    "LogInByAccount": Row(
        PUBLIC,
        lambda w: pb.LogInByAccountRequest(
            log_in_by_account=pb.LogInByAccountParams(account_name="bob", password=sha512(PASSWORDS["bob"]))
        ),
    ),
    "LogOut": Row(PUBLIC, lambda w: pb.LogOutRequest(session_uuid=_throwaway_session(w))),
    "CreateAccount": Row(ADMIN, lambda w: pb.CreateAccountRequest(name=w.unique("account"), password=sha512("x"))),
    "CreateFaultToleranceVmInstance": Row(
        ANY_ACCOUNT, lambda w: pb.CreateFaultToleranceVmInstanceRequest(**basic(w.names, name=w.unique("vm")))
    ),
    "GetFaultToleranceVms": Row(
        OWNER_OR_ADMIN,
        lambda w: pb.GetFaultToleranceVmsRequest(
            fault_tolerance_vm_uuid=w.group.fault_tolerance_vm_group_inventory.uuid
        ),
    ),
    "DestroyVmInstance": Row(
        OWNER_OR_ADMIN,
        lambda w: pb.DestroyVmInstanceRequest(uuid=w.owners_group().fault_tolerance_vm_group_inventory.uuid),
    ),
    # The owner's records by uuid: the owner and the admin find them, another account finds nothing.
    "QueryVmInstance": Row(
        ANY_ACCOUNT, lambda w: pb.QueryVmInstanceRequest(q=[f"uuid={w.group.primary_vm_inventory.uuid}"])
    ),
    "QueryVolume": Row(
        ANY_ACCOUNT, lambda w: pb.QueryVolumeRequest(q=[f"uuid={w.group.secondary_vm_inventory.all_volumes[1].uuid}"])
    ),
    "QueryFaultToleranceVm": Row(
        ANY_ACCOUNT,
        lambda w: pb.QueryFaultToleranceVmRequest(q=[f"uuid={w.group.fault_tolerance_vm_group_inventory.uuid}"]),
    ),
    **{
        rpc: Row(ANY_ACCOUNT, _query(rpc))
        for rpc in (
            "QueryZone",
            "QueryCluster",
            "QueryHost",
            "QueryPrimaryStorage",
            "QueryL2Network",
            "QueryL3Network",
            "QueryIpRange",
            "QueryImage",
            "QueryInstanceOffering",
            "QueryDiskOffering",
            "QueryGlobalConfig",
        )
    },
    "QueryManagementNode": Row(ADMIN, _query("QueryManagementNode")),
    "FailoverFaultToleranceVm": Row(
        OWNER_OR_ADMIN,
        lambda w: pb.FailoverFaultToleranceVmRequest(
            failover_fault_tolerance_vm=pb.FailoverFaultToleranceVmParams(
                fault_tolerance_vm_uuid=w.owners_group().fault_tolerance_vm_group_inventory.uuid
            )
        ),
    ),
    "ReconnectHost": Row(
        ADMIN, lambda w: pb.ReconnectHostRequest(uuid=_site(w)["host"], reconnect_host=pb.ReconnectHostParams())
    ),
    "CreateZone": Row(ADMIN, lambda w: pb.CreateZoneRequest(name=w.unique("zone"))),
    "CreateCluster": Row(
        ADMIN, lambda w: pb.CreateClusterRequest(zone_uuid=_site(w)["zone"], name=w.unique("cluster"))
    ),
    "AddKVMHost": Row(
        ADMIN,
        lambda w: pb.AddKVMHostRequest(
            cluster_uuid=_site(w)["cluster"],
            name=w.unique("host"),
            management_ip=f"{_unique_subnet(w)}.1",
            cpu_num=8,
            memory_size=16 << 30,
        ),
    ),
    "AddLocalPrimaryStorage": Row(
        ADMIN,
        lambda w: pb.AddLocalPrimaryStorageRequest(
            zone_uuid=_site(w)["zone"], name=w.unique("local"), url=f"/{w.unique('local')}"
        ),
    ),
    "AddNfsPrimaryStorage": Row(
        ADMIN,
        lambda w: pb.AddNfsPrimaryStorageRequest(
            zone_uuid=_site(w)["zone"], name=w.unique("nfs"), url="nfs-server:/export", total_capacity=1 << 40
        ),
    ),
    "AddCephPrimaryStorage": Row(
        ADMIN,
        lambda w: pb.AddCephPrimaryStorageRequest(
            zone_uuid=_site(w)["zone"], name=w.unique("ceph"), mon_urls=["mon-1"], total_capacity=1 << 40
        ),
    ),
    "CreateL2NoVlanNetwork": Row(
        ADMIN,
        lambda w: pb.CreateL2NoVlanNetworkRequest(
            zone_uuid=_site(w)["zone"], name=w.unique("l2"), physical_interface="eth1"
        ),
    ),
    "CreateL3Network": Row(
        ADMIN, lambda w: pb.CreateL3NetworkRequest(l2_network_uuid=_site(w)["l2"], name=w.unique("l3"))
    ),
    "AddIpRange": Row(ADMIN, _ip_range),
    "AddImage": Row(
        ADMIN, lambda w: pb.AddImageRequest(name=w.unique("image"), url="http://images/x.qcow2", size=1 << 30)
    ),
    "CreateInstanceOffering": Row(
        ADMIN, lambda w: pb.CreateInstanceOfferingRequest(name=w.unique("offering"), cpu_num=1, memory_size=1 << 30)
    ),
    "CreateDiskOffering": Row(ADMIN, lambda w: pb.CreateDiskOfferingRequest(name=w.unique("disk"), disk_size=1 << 30)),
    "AttachPrimaryStorageToCluster": Row(
        ADMIN,
        lambda w: pb.AttachPrimaryStorageToClusterRequest(
            cluster_uuid=_site(w)["cluster"], primary_storage_uuid=_fresh_storage(w)
        ),
    ),
    "AttachL2NetworkToCluster": Row(
        ADMIN,
        lambda w: pb.AttachL2NetworkToClusterRequest(l2_network_uuid=_fresh_l2(w), cluster_uuid=_site(w)["cluster"]),
    ),
    "ChangeHostState": Row(ADMIN, _enable("ChangeHostState", "host", "change_host_state")),
    "ChangeZoneState": Row(ADMIN, _enable("ChangeZoneState", "zone", "change_zone_state")),
    "ChangeClusterState": Row(ADMIN, _enable("ChangeClusterState", "cluster", "change_cluster_state")),
    "ChangeL3NetworkState": Row(ADMIN, _enable("ChangeL3NetworkState", "l3", "change_l3_network_state")),
    "ChangeImageState": Row(ADMIN, _enable("ChangeImageState", "image", "change_image_state")),
    "ChangeInstanceOfferingState": Row(
        ADMIN, _enable("ChangeInstanceOfferingState", "offering", "change_instance_offering_state")
    ),
    "ChangeDiskOfferingState": Row(ADMIN, _enable("ChangeDiskOfferingState", "disk", "change_disk_offering_state")),
    "ChangePrimaryStorageState": Row(
        ADMIN, _enable("ChangePrimaryStorageState", "storage", "change_primary_storage_state")
    ),
    "UpdateGlobalConfig": Row(
        ADMIN,
        lambda w: pb.UpdateGlobalConfigRequest(
            category="ft", name="enable", update_global_config=pb.UpdateGlobalConfigParams(value="true")
        ),
    ),
}


def expected(who: str, caller: str) -> str | None:
    """The ZStack code the cell answers with, None for success."""
    if who == PUBLIC:
        return None
    if caller not in LOGGED_IN:
        return "ID.1001"
    if (who == ADMIN and caller != "admin") or (who == OWNER_OR_ADMIN and caller == "other"):
        return "ID.1002"
    return None


GRPC_STATUS = {None: OK, "ID.1001": UNAUTHENTICATED, "ID.1002": DENIED}
# REST: a missing or ill-formed header is the gateway's own 400 (spec §5), before any session is looked at.
HEADER_ERRORS = {
    "no-session": "missing header 'Authorization'",
    "bearer-header": "Authorization type must be 'OAuth'",
    "oauth-without-token": "Authorization type must be 'OAuth'",
}


# -- the matrix over gRPC ------------------------------------------------------------------------------------------


def authorization(w: World, caller: str) -> str | None:
    """The `authorization` header (gRPC metadata, or HTTP header) the caller sends."""
    sessions = {"owner": w.owner.session, "other": w.other.session, "admin": w.admin.session}
    if caller in sessions:
        return f"OAuth {sessions[caller]}"
    return {
        "no-session": None,
        "expired-session": f"OAuth {w.expired_session()}",
        "bearer-header": "Bearer x",
        "oauth-without-token": "OAuth",
    }[caller]


def grpc_call(w: World, rpc: str, request: Message, metadata: tuple):
    service = next(s.name for s in SERVICES.values() if rpc in s.methods_by_name)
    stub = {"AccountService": w.admin.account, "VmService": w.admin.vm, "InventoryService": w.admin.inventory}
    return getattr(stub[service], rpc)(request, metadata=metadata)


def test_every_rpc_has_exactly_one_row():
    assert sorted(MATRIX) == sorted(ALL_RPCS)
    assert len(ALL_RPCS) == len(set(ALL_RPCS)) == 46


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("rpc", ALL_RPCS)
def test_grpc_cell(world, rpc, caller):
    row = MATRIX.get(rpc)
    assert row is not None, f"{rpc} has no row in MATRIX: say who may call it"
    request = row.request(world)
    header = authorization(world, caller)
    metadata = () if header is None else (("authorization", header),)
    want = expected(row.who, caller)
    if want is None:
        reply = json_format.MessageToDict(grpc_call(world, rpc, request, metadata))
    else:
        status, error = rpc_error(lambda: grpc_call(world, rpc, request, metadata))
        assert (status, error.code) == (GRPC_STATUS[want], want), (rpc, caller, error)
        reply = None
    check_effect(world, rpc, caller, request, reply)


# -- the matrix over REST ----------------------------------------------------------------------------------------


def http_rule(rpc: str) -> tuple[str, str, str]:
    """(verb, path template, body) of the RPC's google.api.http annotation."""
    method = next(s.methods_by_name[rpc] for s in SERVICES.values() if rpc in s.methods_by_name)
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    return verb.upper(), getattr(rule, verb), rule.body


def rest_call(w: World, rpc: str, request: Message, header: str | None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON reply) of the request sent as the annotation says: path variables from the request,
    the other fields as the JSON body (body routes) or the query string."""
    verb, template, body = http_rule(rpc)
    fields = json_format.MessageToDict(request)
    path = template
    for name in re.findall(r"\{(\w+)\}", template):
        path = path.replace(f"{{{name}}}", urllib.parse.quote(getattr(request, name), safe=""))
        fields.pop(request.DESCRIPTOR.fields_by_name[name].json_name, None)
    data = None
    if body:
        data = json.dumps(fields).encode()
    elif fields:
        pairs = [(k, v) for k, values in fields.items() for v in (values if isinstance(values, list) else [values])]
        path += "?" + urllib.parse.urlencode([(k, str(v).lower() if isinstance(v, bool) else v) for k, v in pairs])
    http = urllib.request.Request(
        w.server.http_url + path, data=data, method=verb, headers={"Content-Type": "application/json"}
    )
    if header is not None:
        http.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(http, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("rpc", ALL_RPCS)
def test_rest_cell(world, rpc, caller):
    row = MATRIX.get(rpc)
    assert row is not None, f"{rpc} has no row in MATRIX: say who may call it"
    request = row.request(world)
    want = expected(row.who, caller)
    status, reply = rest_call(world, rpc, request, authorization(world, caller))
    if want is None:
        assert status == 200, (rpc, caller, reply)
    elif caller in HEADER_ERRORS:
        assert (status, reply["error"]["code"]) == (400, "SYS.1007"), (rpc, caller, reply)
        assert reply["error"]["details"] == HEADER_ERRORS[caller]
    else:
        assert (status, reply["error"]["code"]) == (503, want), (rpc, caller, reply)
    if status != 200:
        assert reply["success"] is False
        reply = None
    check_effect(world, rpc, caller, request, reply)


def check_effect(w: World, rpc: str, caller: str, request: Message, reply: dict[str, Any] | None) -> None:
    """What the call did (or did not do) beyond its status. `reply`: the reply as camelCase JSON, None if the
    call was refused."""
    allowed = reply is not None
    if rpc == "DestroyVmInstance":
        assert w.group_exists(request.uuid) != allowed, (caller, "the group must stay unless its destroy was allowed")
    elif rpc == "GetFaultToleranceVms":
        if allowed:
            assert reply["primaryVmInventory"]["uuid"] == w.group.primary_vm_inventory.uuid
        else:
            assert w.group_exists(request.fault_tolerance_vm_uuid)
    elif rpc == "CreateAccount" and allowed:
        assert reply["inventory"]["type"] == "Normal"
    elif rpc in ("QueryVmInstance", "QueryVolume", "QueryFaultToleranceVm") and allowed:
        found = [i["uuid"] for i in reply.get("inventories", [])]  # gRPC JSON omits an empty list
        wanted = request.q[0].partition("=")[2]
        assert found == ([] if caller == "other" else [wanted]), (rpc, caller, found)
    elif rpc == "LogOut":
        code, error = rpc_error(
            lambda: w.admin.inventory.QueryZone(
                pb.QueryZoneRequest(), metadata=(("authorization", f"OAuth {request.session_uuid}"),)
            )
        )
        assert (code, error.code) == (UNAUTHENTICATED, "ID.1001")
    elif rpc == "LogInByAccount":
        assert len(reply["inventory"]["uuid"]) == 32


# -- cross-account reads, beyond one query per cell ----------------------------------------------------------------


def owner_account_uuid(w: World) -> str:
    return w.server.running.store.read(lambda tx: tx.select("accounts", {"name": "alice"}))[0]["uuid"]


def owners_uuids(w: World) -> set[str]:
    """Every uuid of the owner's records, as the admin sees them."""
    alice = owner_account_uuid(w)
    groups = [g.uuid for g in w.admin.query("QueryFaultToleranceVm", f"accountUuid={alice}")]
    vms = [v.uuid for v in w.admin.query("QueryVmInstance", f"accountUuid={alice}")]
    volumes = [v.uuid for v in w.admin.query("QueryVolume", f"accountUuid={alice}")]
    assert w.group.fault_tolerance_vm_group_inventory.uuid in groups
    assert len(groups) <= len(vms) <= 2 * len(groups) and volumes  # a failed-over group may still recover
    return set(groups) | set(vms) | set(volumes)


def test_another_account_reads_nothing_of_the_owners(world):
    w = world
    mine = owners_uuids(w)
    g = w.group
    group_uuid = g.fault_tolerance_vm_group_inventory.uuid
    host = g.primary_vm_inventory.host_uuid
    w.other.create(**basic(w.names, name="bob-vm", host_uuid=host))  # bob has records of his own on the same host
    probes = [
        (),
        (f"uuid={group_uuid}",),
        (f"groupUuid={group_uuid}",),
        (f"uuid?={','.join(sorted(mine)[:120])}",),
        (f"hostUuid={host}",),
        ("name~=%alice%",),
        (f"accountUuid={owner_account_uuid(w)}",),
        (f"vmInstanceUuid={g.primary_vm_inventory.uuid}",),
        ("uuid!=null",),
    ]
    views = {
        "QueryVmInstance": "vm_instances",
        "QueryVolume": "volume_inventory",
        "QueryFaultToleranceVm": "ft_group_inventory",
    }
    reads = 0
    for rpc, view in views.items():
        columns = w.server.running.store.columns(view)
        for q in probes:
            request = getattr(pb, f"{rpc}Request")(q=list(q), reply_with_count=True)
            call = lambda: getattr(w.other.vm, rpc)(request, metadata=w.other.metadata)  # noqa: E731
            field = q[0].partition("=")[0].rstrip("!?~") if q else "uuid"
            if re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower() not in columns:
                code, error = rpc_error(call)
                assert (code, error.code) == (grpc.StatusCode.INVALID_ARGUMENT, "SYS.1007"), (rpc, q)
                continue
            reply = call()
            reads += 1
            leaked = {i.uuid for i in reply.inventories} & mine
            assert not leaked, (rpc, q, leaked)
            assert reply.total == len(reply.inventories), (rpc, q, "the count must not count the owner's")
            if not q:
                assert reply.inventories, (rpc, "another account still sees its own records")
    assert reads == 24  # probes x views, less those naming a column the view lacks (answered SYS.1007 above)
    for uuid in (group_uuid, g.primary_vm_inventory.uuid, g.secondary_vm_inventory.uuid):
        for call in (
            lambda: w.other.vm.GetFaultToleranceVms(
                pb.GetFaultToleranceVmsRequest(fault_tolerance_vm_uuid=uuid), metadata=w.other.metadata
            ),
            lambda: w.other.vm.DestroyVmInstance(pb.DestroyVmInstanceRequest(uuid=uuid), metadata=w.other.metadata),
        ):
            code, error = rpc_error(call)
            assert (code, error.code) == (DENIED, "ID.1002"), uuid
    assert owners_uuids(w) == mine  # nothing of the owner's was destroyed
    everything = {v.uuid for v in w.admin.query("QueryVmInstance")}
    assert {g.primary_vm_inventory.uuid, g.secondary_vm_inventory.uuid} <= everything  # the admin sees all
