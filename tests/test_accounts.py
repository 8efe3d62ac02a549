"""AccountService over real gRPC: CreateAccount (admin only, field rules, typed ALREADY_EXISTS), logins, logout,
and session expiry (idle and absolute) driven by the server's injectable clock."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm._proto.zstack.ft.v1 import types_pb2
from ftvm.domain.accounts import SESSION_IDLE_MS, SESSION_MAX_MS
from service_support import log_in, rpc_error, start_server

INVALID, EXISTS = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS
DENIED, UNAUTHENTICATED = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED
SECOND = 1000


def sha512(password: str) -> str:
    return hashlib.sha512(password.encode()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with start_server(tmp_path_factory.mktemp("accounts"), None) as server:
        yield server


@pytest.fixture(scope="module")
def admin(server):
    channel = grpc.insecure_channel(server.target)
    yield log_in(channel)
    channel.close()


@pytest.fixture
def clock(server):
    """The server's clock, frozen at the real time and moved by the test (`clock[0] += ms`)."""
    domain = server.running.domain
    real = domain.clock
    now = [real()]
    domain.clock = lambda: now[0]
    yield now
    domain.clock = real


def create_account(client, **fields) -> pb.CreateAccountResponse:
    return client.account.CreateAccount(pb.CreateAccountRequest(**fields), metadata=client.metadata)


def account_rows(server) -> list[dict]:
    return server.running.store.read(lambda tx: tx.select("accounts"))


def zones(client) -> int:
    return len(client.query("QueryZone"))


def test_created_account_answers_its_inventory_without_the_password_and_can_log_in(server, admin):
    password = sha512("alice-pw")
    reply = create_account(
        admin,
        name="  alice  ",
        password=password,
        description="the web team",
        resource_uuid="0a1b2c3d4e5f4a1b8c2d3e4f5a6b7c8d",
        user_tags=["team::web"],
    )
    inventory = reply.inventory
    assert inventory.uuid == "0a1b2c3d4e5f4a1b8c2d3e4f5a6b7c8d"
    assert (inventory.name, inventory.type, inventory.description) == ("alice", "Normal", "the web team")
    assert inventory.create_date.seconds > 0 and inventory.last_op_date == inventory.create_date
    assert not any("password" in f.name for f in types_pb2.AccountInventory.DESCRIPTOR.fields)
    stored = next(r for r in account_rows(server) if r["name"] == "alice")
    wire = reply.SerializeToString()
    assert password.encode() not in wire and stored["password_hash"].encode() not in wire
    assert stored["password_hash"].startswith("scrypt$") and password not in stored["password_hash"]

    alice = log_in(admin.channel, "alice", "alice-pw")
    assert zones(alice) == zones(admin)
    code, error = rpc_error(lambda: alice.inventory.CreateZone(pb.CreateZoneRequest(name="z"), metadata=alice.metadata))
    assert (code, error.code) == (DENIED, "ID.1002")


def test_a_system_admin_account_may_write_the_inventory(admin):
    create_account(admin, name="ops", password=sha512("ops-pw"), type="SystemAdmin")
    ops = log_in(admin.channel, "ops", "ops-pw")
    zone = ops.inventory.CreateZone(pb.CreateZoneRequest(name="ops-zone"), metadata=ops.metadata).inventory
    assert [z.uuid for z in admin.query("QueryZone", "name=ops-zone")] == [zone.uuid]


def test_create_account_is_admin_only(server, admin):
    create_account(admin, name="bob", password=sha512("bob-pw"))
    bob = log_in(admin.channel, "bob", "bob-pw")
    before = len(account_rows(server))
    code, error = rpc_error(lambda: create_account(bob, name="bobs-friend", password=sha512("x")))
    assert (code, error.code) == (DENIED, "ID.1002")
    code, error = rpc_error(
        lambda: bob.account.CreateAccount(pb.CreateAccountRequest(name="anonymous", password=sha512("x")))
    )  # no session at all
    assert (code, error.code) == (UNAUTHENTICATED, "ID.1001")
    assert len(account_rows(server)) == before


def test_a_taken_name_or_uuid_is_already_exists_never_a_database_error(server, admin):
    first = create_account(admin, name="carol", password=sha512("c")).inventory
    code, error = rpc_error(lambda: create_account(admin, name="carol", password=sha512("other")))
    assert (code, error.code) == (EXISTS, "SYS.1007") and "account[name:carol] already exists" in error.details
    code, error = rpc_error(
        lambda: create_account(admin, name="carol-2", password=sha512("c"), resource_uuid=first.uuid)
    )
    assert (code, error.code) == (EXISTS, "SYS.1007") and first.uuid in error.details
    # The same name from 8 callers at once (group-committed together): exactly one wins, the rest are typed.
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(
            pool.map(lambda i: _outcome(lambda: create_account(admin, name="dave", password=sha512(f"d{i}"))), range(8))
        )
    assert (outcomes.count(grpc.StatusCode.OK), outcomes.count(EXISTS)) == (1, 7)
    assert [r["name"] for r in account_rows(server)].count("dave") == 1


def _outcome(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    "fields, text",
    [
        (dict(name="", password=sha512("x")), "field[name] of message[APICreateAccountMsg] is mandatory"),
        (dict(name="   ", password=sha512("x")), "field[name] of message[APICreateAccountMsg] is mandatory"),
        (dict(name="n" * 256, password=sha512("x")), "exceeds max length of string[255]"),
        (dict(name="plain", password=""), "field[password]"),
        (dict(name="plain", password="hunter2"), "field[password]"),
        (dict(name="plain", password=sha512("x")[:-1]), "field[password]"),
        (dict(name="plain", password=sha512("x")[:-1] + "g"), "field[password]"),
        (
            dict(name="typed", password=sha512("x"), type="Root"),
            "valid value for field[type] of message[APICreateAccountMsg] are ['Normal', 'SystemAdmin']",
        ),
        (dict(name="typed", password=sha512("x"), type="R" * 300_000), "field[type]"),
        (dict(name="described", password=sha512("x"), description="d" * 2049), "field[description]"),
        (dict(name="uuid", password=sha512("x"), resource_uuid="not-a-uuid"), "invalid resourceUuid[not-a-uuid]"),
        (dict(name="uuid", password=sha512("x"), resource_uuid="a" * 1_000_000), "field[resourceUuid]"),
        (dict(name="tagged", password=sha512("x"), system_tags=["quota::1"]), "no system tag matches[quota::1]"),
        (dict(name="tagged", password=sha512("x"), user_tags=["t"] * 65), "at most 64 are allowed"),
        (dict(name="tagged", password=sha512("x"), user_tags=["t" * 1025]), "exceeds max length of string[1024]"),
    ],
)
def test_bad_create_account_requests_are_invalid_argument_and_store_nothing(server, admin, fields, text):
    before = len(account_rows(server))
    code, error = rpc_error(lambda: create_account(admin, **fields))
    assert (code, error.code) == (INVALID, "SYS.1007") and text in error.details, error.details
    assert len(account_rows(server)) == before


def test_the_largest_valid_fields_are_accepted(admin):
    reply = create_account(
        admin, name="n" * 255, password=sha512("x").upper(), description="d" * 2048, user_tags=["t" * 1024] * 64
    )
    assert len(reply.inventory.name) == 255
    assert log_in(admin.channel, "n" * 255, "x").session  # the hex is kept lowercase, as logins send it


def test_logins_and_logout(admin):
    create_account(admin, name="erin", password=sha512("erin-pw"))
    for name, password in (("erin", "wrong"), ("nobody", "erin-pw"), ("erin", "")):
        code, error = rpc_error(lambda: log_in(admin.channel, name, password))
        assert (code, error.code) == (UNAUTHENTICATED, "ID.1000"), (name, password)
    erin = log_in(admin.channel, "erin", "erin-pw")
    assert zones(erin) == zones(admin)  # the session is now cached as valid
    erin.account.LogOut(pb.LogOutRequest(session_uuid=erin.session))
    code, error = rpc_error(lambda: zones(erin))
    assert (code, error.code) == (UNAUTHENTICATED, "ID.1001")
    erin.account.LogOut(pb.LogOutRequest(session_uuid=erin.session))  # idempotent
    assert zones(admin) >= 0  # other sessions are untouched


def test_a_session_expires_after_7200_idle_seconds(admin, clock):
    used, idle = log_in(admin.channel), log_in(admin.channel)
    assert SESSION_IDLE_MS == 7200 * SECOND
    clock[0] += SESSION_IDLE_MS - 1
    zones(used)  # one millisecond before expiry: valid, and its idle timer restarts
    clock[0] += 1
    code, error = rpc_error(lambda: zones(idle))  # 7200 s after its last use
    assert (code, error.code) == (UNAUTHENTICATED, "ID.1001")
    zones(used)
    clock[0] -= SESSION_IDLE_MS  # back to the start: the expired session was removed, not just out of date
    code, error = rpc_error(lambda: zones(idle))
    assert error.code == "ID.1001"


def test_a_session_in_constant_use_still_ends_24_hours_after_login(admin, clock):
    login_time = clock[0]
    session = log_in(admin.channel)
    assert SESSION_MAX_MS == 24 * 3600 * SECOND
    while clock[0] + 7000 * SECOND < login_time + SESSION_MAX_MS:
        clock[0] += 7000 * SECOND  # never idle for 7200 s
        zones(session)
    clock[0] = login_time + SESSION_MAX_MS - 1
    zones(session)
    clock[0] += 1
    code, error = rpc_error(lambda: zones(session))
    assert (code, error.code) == (UNAUTHENTICATED, "ID.1001")


def test_a_session_reports_when_it_expires(admin, clock):
    reply = admin.account.LogInByAccount(
        pb.LogInByAccountRequest(
            log_in_by_account=pb.LogInByAccountParams(account_name="admin", password=sha512("test-admin-password"))
        )
    )
    assert reply.inventory.create_date.ToMilliseconds() == clock[0]
    assert reply.inventory.expired_date.ToMilliseconds() == clock[0] + SESSION_IDLE_MS
