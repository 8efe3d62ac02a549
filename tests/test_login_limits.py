"""Login hardening over real gRPC and REST: every login costs one scrypt whatever the name (no timing oracle),
hashing has its own bounded threads (a burst of logins never stalls reads), and repeated failures lock the account
name and the client address (Keystone's lockout), driven by the server's injectable clock.

scrypt is instrumented, never replaced: `ScryptGauge` counts the real `hashlib.scrypt` calls, how many run at once,
and can hold them at a gate so that hashes are deterministically "still running" while the test looks. Each test
logs in from addresses of its own (`x-forwarded-for`, trusted from this loopback client) so their limits never
meet.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import grpc
import pytest

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm._proto.zstack.ft.v1 import services_pb2_grpc as pb_grpc
from ftvm.api.base import client_address
from ftvm.api.errors import error_from_status_details
from ftvm.domain import login_limits
from ftvm.domain.accounts import HASH_THREADS, MAX_LOGINS_HASHING
from ftvm.domain.login_limits import (
    ACCOUNT_FAILURES,
    ACCOUNT_LOCKOUT_MS,
    ADDRESS_FAILURES,
    ADDRESS_LOCKOUT_MS,
    MAX_ACCOUNT_LOCKOUT_MS,
    MAX_TRACKED,
    LoginLimits,
)
from service_support import ADMIN_PASSWORD, log_in, start_server

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
SECOND = 1000
WRONG = "wrong account name or password"
HANG_GUARD = 60  # seconds: only so that a broken server fails the test instead of hanging it


def sha512(password: str) -> str:
    return hashlib.sha512(password.encode()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with start_server(tmp_path_factory.mktemp("login"), None, http_port=0) as server:
        yield server


@pytest.fixture(scope="module")
def channel(server):
    channel = grpc.insecure_channel(server.target)
    yield channel
    channel.close()


@pytest.fixture(scope="module")
def admin(channel):
    return log_in(channel)


@pytest.fixture
def clock(server):
    """The server's clock, frozen at the real time and moved by the test (`clock[0] += ms`)."""
    domain = server.running.domain
    real = domain.clock
    now = [real()]
    domain.clock = lambda: now[0]
    yield now
    domain.clock = real


class ScryptGauge:
    """Wraps the real hashlib.scrypt: counts calls and the most running at once; `gate.clear()` holds new calls
    before they hash until `gate.set()`."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls = self.running = self.peak = 0
        self.gate = threading.Event()
        self.gate.set()
        self._changed = threading.Condition()

    def __call__(self, *args, **kwargs):
        with self._changed:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            self._changed.notify_all()
        try:
            self.gate.wait()
            return self.real(*args, **kwargs)
        finally:
            with self._changed:
                self.running -= 1

    def wait_running(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.running >= count, HANG_GUARD)


@pytest.fixture
def scrypt(monkeypatch):
    gauge = ScryptGauge(hashlib.scrypt)
    monkeypatch.setattr(hashlib, "scrypt", gauge)
    yield gauge
    gauge.gate.set()


def create_account(admin, name: str, password: str) -> None:
    admin.account.CreateAccount(pb.CreateAccountRequest(name=name, password=sha512(password)), metadata=admin.metadata)


def login_request(name: str, password_hex: str) -> pb.LogInByAccountRequest:
    return pb.LogInByAccountRequest(log_in_by_account=pb.LogInByAccountParams(account_name=name, password=password_hex))


def attempt(channel, name: str, password: str, address: str, hex_digest: bool = True) -> str:
    """Logs in from `address` and answers "ok" or the ErrorCode's details (after checking it is a typed ID.1000)."""
    stub = pb_grpc.AccountServiceStub(channel)
    request = login_request(name, sha512(password) if hex_digest else password)
    try:
        stub.LogInByAccount(request, metadata=(("x-forwarded-for", address),), timeout=HANG_GUARD)
    except grpc.RpcError as e:
        error = error_from_status_details(dict(e.trailing_metadata())["grpc-status-details-bin"])
        assert (e.code(), error.code) == (UNAUTHENTICATED, "ID.1000"), (e.code(), error)
        return error.details
    return "ok"


# -- equal cost -----------------------------------------------------------------------------------------------------
def test_every_login_costs_one_scrypt_whether_the_account_exists_or_not(channel, admin, scrypt):
    create_account(admin, "hana", "hana-pw")
    cases = [
        ("hana", "wrong", True, WRONG),
        ("nobody-by-this-name", "wrong", True, WRONG),
        ("hana", "hunter2", False, WRONG),
        ("nobody-by-this-name", "hunter2", False, WRONG),
        ("hana", "x" * 100_000, False, WRONG),
        ("hana", "hana-pw", True, "ok"),
    ]
    for i, (name, password, hex_digest, outcome) in enumerate(cases):
        before = scrypt.calls
        assert attempt(channel, name, password, f"10.1.0.{i}", hex_digest) == outcome
        assert scrypt.calls - before == 1, (name, password[:10])


# -- the hashing threads --------------------------------------------------------------------------------------------
def test_a_burst_of_logins_hashes_on_its_own_bounded_threads_and_never_stalls_reads(channel, admin, scrypt):
    """200 wrong logins for existing accounts at once, every hash held at the gate: a read (QueryZone) completes
    while they are pending, the hashing queue takes MAX_LOGINS_HASHING and refuses the rest at once, and no more
    than HASH_THREADS hashes ever run together."""
    names = [f"burst-{i}" for i in range(200 // ACCOUNT_FAILURES)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: create_account(admin, name, "right"), names))
    scrypt.gate.clear()
    calls_before = scrypt.calls
    with ThreadPoolExecutor(200) as pool:
        logins = [
            pool.submit(attempt, channel, names[i % len(names)], "wrong", f"10.2.{i // 250}.{i % 250}")
            for i in range(200)
        ]
        try:
            scrypt.wait_running(HASH_THREADS)  # every hashing thread is busy
            assert (
                admin.inventory.QueryZone(
                    pb.QueryZoneRequest(), metadata=admin.metadata, timeout=HANG_GUARD
                ).inventories
                == []
            )
            refused = [
                f.result() for _, f in zip(range(200 - MAX_LOGINS_HASHING), as_completed(logins, timeout=HANG_GUARD))
            ]
            assert refused == [f"the server is already checking {MAX_LOGINS_HASHING} logins; try again in a moment"] * (
                200 - MAX_LOGINS_HASHING
            )
            assert sum(not f.done() for f in logins) == MAX_LOGINS_HASHING  # none answered while held
        finally:
            scrypt.gate.set()
        assert [f.result() for f in logins].count(WRONG) == MAX_LOGINS_HASHING
    assert scrypt.calls - calls_before == MAX_LOGINS_HASHING
    assert scrypt.peak == HASH_THREADS


def test_logins_sent_at_once_cannot_get_past_the_account_limit(channel, admin, scrypt):
    create_account(admin, "iris", "iris-pw")
    before = scrypt.calls
    scrypt.gate.clear()
    with ThreadPoolExecutor(40) as pool:
        logins = [pool.submit(attempt, channel, "iris", "wrong", f"10.3.0.{i}") for i in range(40)]
        try:
            early = [f.result() for _, f in zip(range(40 - 5), as_completed(logins, timeout=HANG_GUARD))]
        finally:
            scrypt.gate.set()
        assert early == ["account[name:iris] has 5 logins failed or still being checked; try again in a moment"] * 35
        assert [f.result() for f in logins].count(WRONG) == ACCOUNT_FAILURES
    assert scrypt.calls - before == ACCOUNT_FAILURES
    assert attempt(channel, "iris", "iris-pw", "10.3.1.0") == (
        "account[name:iris] is locked for 60 s after 5 failed logins"
    )


# -- account lockout ------------------------------------------------------------------------------------------------
def lockout_transcript(channel, clock, scrypt, name: str, address_prefix: str) -> list[tuple[str, int]]:
    """(answer, scrypt calls it took) of: 5 wrong, 1 more, 59.999 s later 1 more, at 60 s 5 wrong and 1 more."""
    transcript = []
    addresses = iter(f"{address_prefix}.{i}" for i in range(100))  # one each: the address limit stays out of it

    def one(password: str = "wrong") -> None:
        before = scrypt.calls
        transcript.append(
            (attempt(channel, name, password, next(addresses)).replace(name, "NAME"), scrypt.calls - before)
        )

    for _ in range(ACCOUNT_FAILURES + 1):
        one()
    clock[0] += ACCOUNT_LOCKOUT_MS - 1
    one()
    clock[0] += 1
    for _ in range(ACCOUNT_FAILURES + 1):
        one()
    return transcript


def test_five_failures_lock_an_account_name_known_or_not_in_the_same_way(channel, admin, clock, scrypt):
    create_account(admin, "jack", "jack-pw")
    known = lockout_transcript(channel, clock, scrypt, "jack", "10.4.0")
    locked = "account[name:NAME] is locked for {} s after 5 failed logins"
    assert known == [(WRONG, 1)] * 5 + [(locked.format(60), 0), (locked.format(1), 0)] + [(WRONG, 1)] * 5 + [
        (locked.format(120), 0)
    ]  # the second lockout lasts twice as long
    assert lockout_transcript(channel, clock, scrypt, "no-account-jack", "10.4.1") == known


def test_a_locked_account_refuses_the_right_password_until_the_lockout_ends(channel, admin, clock, scrypt):
    create_account(admin, "kate", "kate-pw")
    for i in range(ACCOUNT_FAILURES):
        assert attempt(channel, "kate", "wrong", f"10.5.0.{i}") == WRONG
    before = scrypt.calls
    assert attempt(channel, "kate", "kate-pw", "10.5.1.0") == (
        "account[name:kate] is locked for 60 s after 5 failed logins"
    )
    assert scrypt.calls == before  # refused without hashing
    clock[0] += ACCOUNT_LOCKOUT_MS
    assert attempt(channel, "kate", "kate-pw", "10.5.1.0") == "ok"
    # The success cleared the failures and the lockout count: four more wrong ones lock nothing, the next lockout
    # is the first one's length again.
    for i in range(ACCOUNT_FAILURES - 1):
        assert attempt(channel, "kate", "wrong", f"10.5.2.{i}") == WRONG
    assert attempt(channel, "kate", "kate-pw", "10.5.1.0") == "ok"
    for i in range(ACCOUNT_FAILURES):
        assert attempt(channel, "kate", "wrong", f"10.5.3.{i}") == WRONG
    assert attempt(channel, "kate", "kate-pw", "10.5.1.0") == (
        "account[name:kate] is locked for 60 s after 5 failed logins"
    )


def test_lockouts_grow_up_to_fifteen_minutes(channel, clock):
    lengths = []
    for round_ in range(7):
        for i in range(ACCOUNT_FAILURES):
            assert attempt(channel, "nobody-at-all", "wrong", f"10.6.{round_}.{i}") == WRONG
        details = attempt(channel, "nobody-at-all", "wrong", f"10.6.{round_}.99")
        lengths.append(int(details.split(" for ")[1].split(" s ")[0]))
        clock[0] += lengths[-1] * SECOND
    assert lengths == [60, 120, 240, 480, 900, 900, 900] and MAX_ACCOUNT_LOCKOUT_MS == 900 * SECOND


# -- address limit --------------------------------------------------------------------------------------------------
def test_twenty_failures_from_one_address_lock_it_for_every_name(channel, admin, clock, scrypt):
    spray = "10.7.0.1"
    for i in range(ADDRESS_FAILURES // 2):
        assert attempt(channel, f"sprayed-{i}", "wrong", spray) == WRONG
    assert attempt(channel, "admin", ADMIN_PASSWORD, spray) == "ok"  # a success does not reset the address
    for i in range(ADDRESS_FAILURES // 2, ADDRESS_FAILURES):
        assert attempt(channel, f"sprayed-{i}", "wrong", spray) == WRONG
    before = scrypt.calls
    locked = "client[address:10.7.0.1] is locked for 60 s after 20 failed logins"
    assert attempt(channel, "admin", ADMIN_PASSWORD, spray) == locked
    assert attempt(channel, "sprayed-new", "wrong", spray) == locked
    assert scrypt.calls == before
    assert attempt(channel, "admin", ADMIN_PASSWORD, "10.7.0.2") == "ok"  # another client is not concerned
    clock[0] += ADDRESS_LOCKOUT_MS
    assert attempt(channel, "admin", ADMIN_PASSWORD, spray) == "ok"


def test_failures_older_than_the_window_are_forgotten(channel, clock):
    for i in range(ADDRESS_FAILURES - 1):
        assert attempt(channel, f"slow-{i}", "wrong", "10.8.0.1") == WRONG
    clock[0] += login_limits.ADDRESS_WINDOW_MS
    for i in range(ADDRESS_FAILURES - 1):
        assert attempt(channel, f"slow-{i}", "wrong", "10.8.0.1") == WRONG
    assert attempt(channel, "admin", ADMIN_PASSWORD, "10.8.0.1") == "ok"


def test_an_ipv6_client_counts_by_its_64_network(channel, scrypt):
    for i in range(ADDRESS_FAILURES):
        assert attempt(channel, f"six-{i}", "wrong", f"2001:db8:1:2::{i + 1:x}") == WRONG
    assert attempt(channel, "admin", ADMIN_PASSWORD, "2001:db8:1:2:ffff::1") == (
        "client[address:2001:db8:1:2::/64] is locked for 60 s after 20 failed logins"
    )
    assert attempt(channel, "admin", ADMIN_PASSWORD, "2001:db8:1:3::1") == "ok"


@pytest.mark.parametrize(
    "peer, forwarded, counted",
    [
        ("ipv4:127.0.0.1:50000", None, "127.0.0.1"),
        ("ipv4:127.0.0.1:50000", "203.0.113.9", "203.0.113.9"),  # the gateway on this machine forwards for a client
        ("ipv4:127.0.0.1:50000", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the last hop counts, not the claim
        ("ipv4:127.0.0.1:50000", "not an address", "127.0.0.1"),
        ("ipv6:[::1]:50000", "2001:db8::5", "2001:db8::5"),
        ("ipv6:%5B::1%5D:50000", "203.0.113.9", "203.0.113.9"),
        ("ipv6:[::ffff:127.0.0.1]:50000", "203.0.113.9", "203.0.113.9"),
        ("ipv4:192.0.2.7:50000", "203.0.113.9", "192.0.2.7"),  # a remote peer cannot pick its address
        ("ipv6:[2001:db8::7]:50000", "203.0.113.9", "2001:db8::7"),
        ("ipv6:[::ffff:192.0.2.7]:50000", None, "192.0.2.7"),
        ("unix:/run/ftvm.sock", "203.0.113.9", "203.0.113.9"),  # the in-process gateway's socket
        ("unix:/run/ftvm.sock", None, "unix:/run/ftvm.sock"),
    ],
)
def test_the_address_counted_is_the_peer_unless_a_local_peer_forwards_for_a_client(peer, forwarded, counted):
    metadata = [("user-agent", "grpc")] + ([("x-forwarded-for", forwarded)] if forwarded else [])
    assert client_address(peer, metadata) == counted


# -- memory bound ---------------------------------------------------------------------------------------------------
def test_names_and_addresses_remembered_are_bounded():
    limits = LoginLimits()
    now = 0
    for i in range(3 * MAX_TRACKED):
        limits.admit(f"random-name-{i}" * 100, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", now).failed(now)
    assert len(limits.accounts) == MAX_TRACKED and len(limits.addresses) == MAX_TRACKED


# -- over REST: the gateway forwards its HTTP client's address -------------------------------------------------------
def rest_login(server, name: str, password: str, source: str) -> tuple[int, dict]:
    """PUT /zstack/v1/accounts/login from the local address `source` (any 127.x.y.z is this machine)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.http_port, timeout=HANG_GUARD, source_address=(source, 0)
    )
    try:
        body = json.dumps({"logInByAccount": {"accountName": name, "password": sha512(password)}})
        connection.request("PUT", "/zstack/v1/accounts/login", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def rest_refusal(server, name: str, password: str, source: str) -> str:
    status, document = rest_login(server, name, password, source)
    assert status == 503 and document["error"]["code"] == "ID.1000", (status, document)
    return document["error"]["details"]


def test_rest_logins_lock_an_account_and_count_against_the_http_clients_address(server, channel, admin, clock):
    create_account(admin, "lena", "lena-pw")
    for _ in range(ACCOUNT_FAILURES):
        assert rest_refusal(server, "lena", "wrong", "127.0.0.2") == WRONG
    assert rest_refusal(server, "lena", "lena-pw", "127.0.0.3") == (
        "account[name:lena] is locked for 60 s after 5 failed logins"
    )
    clock[0] += ACCOUNT_LOCKOUT_MS
    assert rest_login(server, "lena", "lena-pw", "127.0.0.3")[0] == 200

    for i in range(ADDRESS_FAILURES):  # the lockout's 60 s also ended the address's window with 5 failures
        assert rest_refusal(server, f"rest-sprayed-{i}", "wrong", "127.0.0.2") == WRONG
    assert rest_refusal(server, "admin", ADMIN_PASSWORD, "127.0.0.2") == (
        "client[address:127.0.0.2] is locked for 60 s after 20 failed logins"
    )
    # Other HTTP clients, and gRPC clients, of the same gateway and server are not concerned.
    assert rest_login(server, "admin", ADMIN_PASSWORD, "127.0.0.3")[0] == 200
    assert log_in(channel).session
    clock[0] += ADDRESS_LOCKOUT_MS
    assert rest_login(server, "admin", ADMIN_PASSWORD, "127.0.0.2")[0] == 200
