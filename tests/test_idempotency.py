"""Retries are safe: a create retried under the same name (its resourceUuid, or an `idempotency-key`) gets the
original reply, on any replica, however many arrive at once; never a second pair, never ALREADY_EXISTS."""

from __future__ import annotations

import hashlib

import grpc
import pytest
from test_create_service import Names, basic
from test_create_validation import ROW_TABLES

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from service_support import inventory, log_in, rpc_error, start_server


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=64, memory_gib=129)
    with start_server(tmp_path_factory.mktemp("idempotency"), spec) as server:
        channel = grpc.insecure_channel(server.target)
        yield server, log_in(channel), Names(server)
        channel.close()


def _create(client, key: str | None, **fields):
    metadata = client.metadata + ((("idempotency-key", key),) if key is not None else ())
    return client.vm.CreateFaultToleranceVmInstance(
        pb.CreateFaultToleranceVmInstanceRequest(**fields), metadata=metadata
    )


def _rows(server) -> dict[str, int]:
    return server.running.store.read(lambda tx: {t: len(tx.select(t)) for t in ROW_TABLES})


def test_a_retry_under_the_same_key_gets_the_original_reply(env):
    server, client, names = env
    first = _create(client, "order-1", **basic(names, name="keyed"))
    rows = _rows(server)
    assert _create(client, "order-1", **basic(names, name="keyed")) == first
    assert _rows(server) == rows
    other = _create(client, "order-2", **basic(names, name="keyed"))
    assert other.fault_tolerance_vm_group_inventory.uuid != first.fault_tolerance_vm_group_inventory.uuid


def test_a_key_used_for_another_request_is_already_exists(env):
    server, client, names = env
    _create(client, "order-3", **basic(names, name="one"))
    rows = _rows(server)
    code, error = rpc_error(lambda: _create(client, "order-3", **basic(names, name="two")))
    assert (code, error.code) == (grpc.StatusCode.ALREADY_EXISTS, "SYS.1007")
    assert "another request" in error.details and _rows(server) == rows


def test_keys_belong_to_their_account(env):
    server, admin, names = env
    admin.account.CreateAccount(
        pb.CreateAccountRequest(name="bob", password=hashlib.sha512(b"bob-pw").hexdigest()), metadata=admin.metadata
    )
    bob = log_in(admin.channel, "bob", "bob-pw")
    mine = _create(admin, "shared-key", **basic(names, name="same"))
    his = _create(bob, "shared-key", **basic(names, name="same"))
    assert mine.fault_tolerance_vm_group_inventory.uuid != his.fault_tolerance_vm_group_inventory.uuid


def test_concurrent_retries_make_one_pair(env):
    server, client, names = env
    rows = _rows(server)
    request = pb.CreateFaultToleranceVmInstanceRequest(**basic(names, name="burst"))
    metadata = client.metadata + (("idempotency-key", "burst-1"),)
    calls = [client.vm.CreateFaultToleranceVmInstance.future(request, metadata=metadata) for _ in range(8)]
    replies = [call.result() for call in calls]
    assert len({r.fault_tolerance_vm_group_inventory.uuid for r in replies}) == 1
    assert all(r.primary_vm_inventory.vm_nics[0].ip == replies[0].primary_vm_inventory.vm_nics[0].ip for r in replies)
    after = _rows(server)
    assert after["ft_groups"] == rows["ft_groups"] + 1 and after["vm_instances"] == rows["vm_instances"] + 2
    assert server.running.domain.engine.reservation_count() == after["ft_groups"]


def test_a_retry_after_the_group_was_destroyed_says_so(env):
    server, client, names = env
    reply = _create(client, "gone", **basic(names, name="gone"))
    client.vm.DestroyVmInstance(
        pb.DestroyVmInstanceRequest(uuid=reply.fault_tolerance_vm_group_inventory.uuid), metadata=client.metadata
    )
    code, error = rpc_error(lambda: _create(client, "gone", **basic(names, name="gone")))
    assert (code, error.code) == (grpc.StatusCode.FAILED_PRECONDITION, "SYS.1006")
    assert "destroyed since" in error.details


@pytest.mark.parametrize("key", ["", "with space", "x" * 256])
def test_an_ill_formed_key_is_refused(env, key):
    server, client, names = env
    rows = _rows(server)
    code, error = rpc_error(lambda: _create(client, key, **basic(names, name="bad-key")))
    assert (code, error.code) == (grpc.StatusCode.INVALID_ARGUMENT, "SYS.1007") and "idempotency key" in error.details
    assert _rows(server) == rows


def test_a_retry_on_another_replica_gets_the_original_reply(tmp_path, database_url):
    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=129)
    with (
        start_server(tmp_path, spec, database_url=database_url) as a,
        start_server(tmp_path, None, database_url=database_url) as b,
    ):
        names = Names(a)
        on_a, on_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
        first = _create(on_a, "cross", **basic(names, name="cross"))
        assert _create(on_b, "cross", **basic(names, name="cross")) == first
        uuid = "5d2a6a1d3e7b4c1f9a0b1c2d3e4f5a6b"
        first = on_b.create(**basic(names, name="by-uuid", resource_uuid=uuid))
        assert on_a.create(**basic(names, name="by-uuid", resource_uuid=uuid)) == first
        assert len(on_a.query("QueryFaultToleranceVm")) == 2


def test_rest_idempotency_key_header(tmp_path):
    """The gateway passes `Idempotency-Key` on: a retried REST create answers the same body."""
    import json
    import urllib.request

    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=129)
    with start_server(tmp_path, spec, http_port=0) as server:
        client = log_in(grpc.insecure_channel(server.target))
        names = Names(server)
        body = json.dumps(
            {
                "name": "rest",
                "imageUuid": names.image["centos"],
                "instanceOfferingUuid": names.offering["small"],
                "l3NetworkUuids": [names.l3["l3-0"]],
            }
        ).encode()

        def post(key: str) -> tuple[int, dict]:
            request = urllib.request.Request(
                f"{server.http_url}/zstack/v1/vm-instances/fault-tolerance",
                data=body,
                method="POST",
                headers={
                    "Authorization": f"OAuth {client.session}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": key,
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        first, again = post("rest-1"), post("rest-1")
        assert first[0] == again[0] == 200 and first[1] == again[1]
        status, envelope = post("bad key")
        assert status == 503 and envelope["error"]["code"] == "SYS.1007"
        assert len(client.query("QueryFaultToleranceVm")) == 1


def test_a_create_is_remembered_for_24_hours(tmp_path):
    """After the retention, the name of a create is forgotten: its group's uuid is then simply taken."""
    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=129)
    with start_server(tmp_path, spec) as server:
        client, names = log_in(grpc.insecure_channel(server.target)), Names(server)
        first = _create(client, "day-1", **basic(names, name="daily"))
        domain, replication = server.running.domain, server.running.replication
        clock = domain.clock
        domain.clock = lambda: clock() + 23 * 3600 * 1000
        server.running.store.write(replication.retention_sweep)
        client = log_in(client.channel)  # the session expired meanwhile
        assert _create(client, "day-1", **basic(names, name="daily")) == first
        domain.clock = lambda: clock() + 25 * 3600 * 1000
        server.running.store.write(replication.retention_sweep)
        client = log_in(client.channel)
        code, error = rpc_error(lambda: _create(client, "day-1", **basic(names, name="daily")))
        assert (code, error.code) == (grpc.StatusCode.ALREADY_EXISTS, "SYS.1007")


def test_a_retry_on_another_replica_while_the_original_runs_makes_one_pair(tmp_path, database_url):
    """The original is still starting its VMs on A when the retry reaches B: whichever commits first wins, and
    both calls answer the same group."""
    from test_create_failures import SlowHypervisor

    spec = inventory(hosts_per_cluster=4, clusters=1, cpu=64, memory_gib=129)
    with (
        start_server(tmp_path, spec, database_url=database_url, agent=SlowHypervisor()) as a,
        start_server(tmp_path, None, database_url=database_url) as b,
    ):
        names = Names(a)
        on_a, on_b = log_in(grpc.insecure_channel(a.target)), log_in(grpc.insecure_channel(b.target))
        rows = _rows(a)
        request = pb.CreateFaultToleranceVmInstanceRequest(**basic(names, name="racing"))
        original = on_a.vm.CreateFaultToleranceVmInstance.future(
            request, metadata=on_a.metadata + (("idempotency-key", "racing"),)
        )
        retry = _create(on_b, "racing", **basic(names, name="racing"))
        assert original.result() == retry
        assert _rows(a)["ft_groups"] == rows["ft_groups"] + 1
