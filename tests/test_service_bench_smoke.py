"""Smoke tests of `ftvm bench service` and `ftvm call` against a real `ftvm serve` subprocess.

No mocks: every test talks gRPC to the server the benchmark itself starts (`ServerProcess`), loaded with the
benchmark's generated inventory file. Speeds are printed by the benchmark, never asserted here.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sqlite3
import subprocess
import sys

import pytest
import yaml

from bench import service as bench
from ftvm import client
from ftvm.cli import build_parser
from ftvm.domain import inventory_file


def _run_json(capsys, args) -> dict:
    assert bench.main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


# ---- the benchmark end to end ------------------------------------------------------------------------------


def _only(res: dict) -> dict:
    (conf,) = res["configurations"]
    return conf


def test_tiny_benchmark_run_json(capsys):
    res = _run_json(
        capsys,
        ["--concurrency", "1,4", "--requests", "20", "--warmup", "4", "--hosts", "20", "--json", "--no-progress"],
    )
    assert res["config"]["requests"] == 20 and res["config"]["concurrency"] == [1, 4]
    assert len(res["machine"]["loadavg_start"]) == len(res["machine"]["loadavg_end"]) == 3
    conf = _only(res)
    assert (conf["key"], conf["backend"], conf["processes"]) == ("sqlite-w1", "sqlite", 1)
    assert conf["server"]["hosts"] == 20 and conf["server"]["exit_codes"] == [0]
    assert [lv["concurrency"] for lv in conf["levels"]] == [1, 4]
    for lv in conf["levels"]:
        for phase in ("create", "noop"):
            ph = lv[phase]
            assert ph["n"] == 20 and ph["ok"] == 20, (lv["concurrency"], phase, ph)
            assert ph["errors"] == {} and ph["error_count"] == 0, ph.get("error_details")
            assert ph["per_s"] > 0 and ph["wall_s"] > 0
            assert 0 < ph["p50_ms"] <= ph["p90_ms"] <= ph["p99_ms"] <= ph["max_ms"]
            assert ph["client_cpu_s"] >= 0
        create = lv["create"]
        assert create["server_cpu_s"] == create["app_cpu_s"] > 0 and create["db_cpu_s"] is None  # SQLite: in-process
        assert create["server_cpu_ms_per_call"] == pytest.approx(1000 * create["server_cpu_s"] / 20)
        assert lv["warmup"] == {"n": 4, "ok": 4, "errors": {}}
        assert lv["ratio"] == pytest.approx(lv["create"]["per_s"] / lv["noop"]["per_s"])
        assert lv["groups"] == 24  # warm-up + timed creates, each a group with its own uuid
        assert lv["destroy"]["n"] == 24 and lv["destroy"]["ok"] == 24 and lv["destroy"]["errors"] == {}
        assert lv["connections"] == 1 and "replicas" not in lv and "kill" not in lv  # one process: nothing to follow
    g = res["goals"]
    assert g["errors"] == {"value": 0, "goal": "0", "met": True, "where": "every level without a kill"}
    assert {"creates_per_s", "ratio", "p99_ms"} <= set(g) and g["p99_ms"]["where"] == "sqlite, 1 worker, 4 in flight"
    assert not {"workers_speedup", "postgres_creates_per_s", "conflict_retry_rate", "feed_lag_p99_ms"} & set(g)
    table = bench.format_table(res)
    assert "sqlite, 1 worker" in table and "goals (printed, not asserted)" in table


def test_benchmark_with_two_client_processes_and_no_destroy(capsys):
    res = _run_json(
        capsys,
        [
            "--concurrency",
            "4",
            "--requests",
            "12",
            "--warmup",
            "2",
            "--hosts",
            "8",
            "--client-procs",
            "2",
            "--no-destroy",
            "--no-noop",
            "--strategy",
            "CreateStopped",
            "--json",
            "--no-progress",
        ],
    )
    (lv,) = _only(res)["levels"]
    assert lv["client_procs"] == 2 and lv["create"]["ok"] == 12 and lv["create"]["error_count"] == 0
    assert lv["create"]["p50_ms"] <= lv["create"]["p99_ms"] and lv["create"]["server_cpu_s"] > 0
    assert lv["groups"] == 14 and "destroy" not in lv and "noop" not in lv and lv.get("ratio") is None


def test_benchmark_with_the_agent_process(capsys, tmp_path):
    # `ftvm serve --agent-url` as a subprocess, its VMs started and destroyed by an `ftvm agent --simulate` process
    res = _run_json(
        capsys,
        [
            "--concurrency",
            "4",
            "--requests",
            "12",
            "--warmup",
            "2",
            "--hosts",
            "6",
            "--no-noop",
            "--agent",
            "simulate-process",
            "--data-dir",
            str(tmp_path),
            "--json",
            "--no-progress",
        ],
    )
    conf = _only(res)
    (lv,) = conf["levels"]
    assert lv["create"]["ok"] == 12 and lv["destroy"]["ok"] == 14 and lv["agent_cpu_s"] >= 0
    assert conf["server"]["agent"].startswith("http://127.0.0.1:") and "--agent-url" in conf["server"]["argv"]
    with sqlite3.connect(tmp_path / "agent-state.db") as state:  # the agent started every VM and destroyed it again
        assert state.execute("SELECT COUNT(*) FROM hosts").fetchone() == (6,)
        assert state.execute("SELECT COUNT(*) FROM vms").fetchone() == (0,)


def test_benchmark_on_100k_hosts_serves_a_create(capsys):
    # above 62,500 hosts the generator once wrote addresses like 10.100.399.231, and the server refused the file
    res = _run_json(
        capsys,
        [
            "--hosts",
            "100000",
            "--concurrency",
            "1",
            "--requests",
            "1",
            "--warmup",
            "0",
            "--no-noop",
            "--json",
            "--no-progress",
        ],
    )
    conf = _only(res)
    assert conf["server"]["hosts"] == 100_000 and conf["server"]["exit_codes"] == [0]
    (lv,) = conf["levels"]
    assert lv["create"]["ok"] == 1 and lv["create"]["errors"] == {} and lv["destroy"]["ok"] == 1
    print(f"ftvm serve started on 100,000 hosts in {conf['server']['start_s']:.1f} s")  # for -s; not asserted


# ---- server configurations: workers, PostgreSQL replicas, a replica killed ------------------------------------


def _replica_figures_are_published(lv: dict, processes: int) -> None:
    rep = lv["replicas"]
    assert len(rep["nodes"]) == processes and len({n["uuid"] for n in rep["nodes"]}) == processes
    assert rep["stale_retries"] >= 0 and rep["conflict_retry_rate"] == rep["stale_retries"] / lv["create"]["ok"]
    # every process applied the others' commits (the calls reached each of them), so each has a lag
    assert all(n["applied_entries"] > 0 and n["feed_lag_p99_ms"] is not None for n in rep["nodes"]), rep["nodes"]
    assert rep["feed_lag_p99_ms"] == max(n["feed_lag_p99_ms"] for n in rep["nodes"])


def test_sqlite_workers_get_one_connection_each(capsys):
    res = _run_json(
        capsys,
        [
            "--workers",
            "2",
            "--concurrency",
            "4",
            "--requests",
            "40",
            "--warmup",
            "4",
            "--hosts",
            "8",
            "--no-noop",
            "--json",
            "--no-progress",
        ],
    )
    conf = _only(res)
    assert (conf["key"], conf["name"], conf["processes"]) == ("sqlite-w2", "sqlite, 2 workers", 2)
    assert "--workers" in conf["server"]["argv"] and conf["server"]["exit_codes"] == [0]
    (lv,) = conf["levels"]
    assert lv["connections"] == 2  # one on each worker (the kernel picks; the client closes a second one to one)
    assert lv["create"]["ok"] == 40 and lv["create"]["error_count"] == 0 and lv["destroy"]["ok"] == 44
    assert lv["create"]["server_cpu_s"] > 0 and lv["create"]["db_cpu_s"] is None
    _replica_figures_are_published(lv, 2)
    assert res["goals"]["feed_lag_p99_ms"]["where"] == "sqlite, 2 workers, 4 in flight"
    assert "creates_per_s" not in res["goals"]  # the 1-worker goals need the 1-worker run


def test_postgres_replicas_beside_the_sqlite_baseline(capsys):
    res = _run_json(
        capsys,
        [
            "--postgres",
            "--replicas",
            "1,2",
            "--concurrency",
            "4",
            "--requests",
            "40",
            "--warmup",
            "4",
            "--hosts",
            "8",
            "--json",
            "--no-progress",
        ],
    )
    assert [c["key"] for c in res["configurations"]] == ["sqlite-w1", "postgresql-r1", "postgresql-r2"]
    assert res["config"]["postgres"].startswith("local PostgreSQL ")
    sqlite1, pg1, pg2 = res["configurations"]
    for conf in (pg1, pg2):
        assert conf["backend"] == "postgresql" and conf["server"]["database"].startswith("postgresql://")
        assert conf["server"]["postmaster_pid"] > 0 and conf["server"]["exit_codes"] == [0] * conf["processes"]
        (lv,) = conf["levels"]
        c = lv["create"]
        assert c["ok"] == 40 and c["error_count"] == 0 and lv["noop"]["ok"] == 40 and lv["destroy"]["ok"] == 44
        # the replicas' and PostgreSQL's processes are both measured
        assert c["app_cpu_s"] > 0 and c["db_cpu_s"] > 0 and c["server_cpu_s"] == c["app_cpu_s"] + c["db_cpu_s"]
        assert lv["connections"] == 1  # one channel, round robin over the replicas
    assert pg1["server"]["database"] != pg2["server"]["database"]  # each configuration on a new database
    assert len(pg2["server"]["targets"]) == 2 and "replicas" not in pg1["levels"][0]
    _replica_figures_are_published(pg2["levels"][0], 2)
    g = res["goals"]
    assert {
        "creates_per_s",
        "postgres_creates_per_s",
        "postgres_p99_ms",
        "cpu_per_create_r2",
        "conflict_retry_rate",
        "feed_lag_p99_ms",
    } <= set(g)
    assert g["cpu_per_create_r2"]["value"] == pytest.approx(
        pg2["levels"][0]["create"]["server_cpu_ms_per_call"] / pg1["levels"][0]["create"]["server_cpu_ms_per_call"]
    )
    assert g["conflict_retry_rate"]["where"] == "postgresql, 2 replicas, 4 in flight"
    table = bench.format_table(res)
    assert all(name in table for name in ("sqlite, 1 worker", "postgresql, 1 replica", "postgresql, 2 replicas"))


def test_an_existing_postgresql_gets_a_database_per_configuration_dropped_after_it(capsys, postgres_cluster):
    res = _run_json(
        capsys,
        [
            "--database-url",
            postgres_cluster.url(),
            "--no-sqlite",
            "--replicas",
            "1",
            "--concurrency",
            "2",
            "--requests",
            "10",
            "--warmup",
            "2",
            "--hosts",
            "4",
            "--no-noop",
            "--json",
            "--no-progress",
        ],
    )
    conf = _only(res)
    assert res["config"]["postgres"] == "url" and conf["key"] == "postgresql-r1"
    assert conf["server"]["database"].startswith(f"postgresql://postgres@127.0.0.1:{postgres_cluster.port}/ftvm_bench_")
    assert conf["server"]["postmaster_pid"] == postgres_cluster.pid  # found by its port: its processes are measured
    assert conf["levels"][0]["create"]["ok"] == 10 and conf["levels"][0]["create"]["db_cpu_s"] > 0
    with postgres_cluster.admin() as conn:
        assert conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'ftvm_bench_%'").fetchall() == []


def test_killing_a_replica_or_a_worker_under_load_fails_no_call_and_loses_no_create(capsys):
    res = _run_json(
        capsys,
        [
            "--workers",
            "1,2",
            "--postgres",
            "--replicas",
            "2",
            "--kill-replica-after",
            "15",
            "--concurrency",
            "4",
            "--requests",
            "60",
            "--warmup",
            "4",
            "--hosts",
            "8",
            "--no-noop",
            "--json",
            "--no-progress",
        ],
    )
    single, workers, replicas = res["configurations"]
    assert single["levels"][0]["kill"] == {"skipped": "one server process"}
    for conf, killed in ((workers, "worker pid "), (replicas, "replica 2 (")):
        (lv,) = conf["levels"]
        kill = lv["kill"]
        assert kill["killed"].startswith(killed) and kill["after"] == 15, kill
        assert kill["failed_calls"] == lv["create"]["error_count"] == 60 - lv["create"]["ok"]
        assert kill["acknowledged"] == 64 - kill["failed_calls"] and kill["lost"] == 0
        assert 0 <= kill["extra_groups"] <= kill["failed_calls"]  # a failed call's create may have committed
        assert kill["in_flight"]["n"] >= 1 and kill["in_flight"]["max_ms"] > 0
        assert kill["started_within_1s"]["n"] >= 1 and 0 < kill["at_s"] < lv["create"]["wall_s"]
        assert lv["destroy"]["ok"] == kill["acknowledged"]
        assert conf["server"]["exit_codes"] == [0] * len(conf["server"]["exit_codes"])  # the killed one came back
    # over two addresses the channel retries on the surviving replica at once: no call fails. (A single address
    # shared by workers reconnects after gRPC's reconnect backoff, which may outlast the retry policy: not asserted.)
    kill = replicas["levels"][0]["kill"]
    assert kill["failed_calls"] == 0 and kill["extra_groups"] == 0, kill.get("error_details")
    g = res["goals"]
    assert g["kill_lost_creates"]["value"] == 0 and g["kill_lost_creates"]["met"] is True
    assert g["kill_failed_calls"]["value"] == workers["levels"][0]["kill"]["failed_calls"]
    assert g["errors"]["where"] == "every level without a kill"
    assert "killed replica 2" in bench.format_table(res)


def test_replica_figures_per_level_count_a_restarted_replica_from_zero():
    before = [
        {"uuid": "a", "stale_retries": 5, "feed_lag_p50_ms": 1.0, "feed_lag_p99_ms": 4.0},
        {"uuid": "b", "stale_retries": 2, "feed_lag_p50_ms": 2.0, "feed_lag_p99_ms": 3.0},
    ]
    after = [
        {"uuid": "a", "stale_retries": 9, "feed_lag_p50_ms": 1.5, "feed_lag_p99_ms": 7.0},
        {"uuid": "b", "stale_retries": 2, "feed_lag_p50_ms": 3.0, "feed_lag_p99_ms": 6.0},
        {"uuid": "c", "stale_retries": 3, "feed_lag_p50_ms": None, "feed_lag_p99_ms": None},
    ]  # restarted
    figures = bench._replica_figures(before, after, 700)
    assert figures["stale_retries"] == 4 + 0 + 3 and figures["conflict_retry_rate"] == pytest.approx(7 / 700)
    assert (figures["feed_lag_p50_ms"], figures["feed_lag_p99_ms"]) == (3.0, 7.0)  # the worst replica's


@pytest.mark.parametrize(
    "args, message",
    [
        (["--replicas", "2"], "--replicas needs --postgres or --database-url"),
        (["--no-sqlite"], "--no-sqlite needs --postgres or --database-url"),
        (["--postgres", "--kill-replica-after", "5", "--client-procs", "2"], "needs one client process"),
        (["--postgres", "--kill-replica-after", "5", "--no-idempotency-keys"], "needs idempotency keys"),
        (["--kill-replica-after", "0"], "--kill-replica-after must be at least 1"),
    ],
)
def test_configuration_options_that_cannot_work_are_refused(capsys, args, message):
    assert bench.main([*args, "--requests", "1"]) == 2
    assert message in capsys.readouterr().err


def test_host_addresses_are_valid_and_inside_their_networks_up_to_the_limit():
    for h in (0, 62_499, 62_500, 999_999, bench.MAX_HOSTS - 1):
        management_ip, ft_address = map(ipaddress.IPv4Address, bench.host_addresses(h))
        assert management_ip in bench.MANAGEMENT_NETWORK and ft_address in bench.FT_NETWORK
    assert bench.host_addresses(bench.MAX_HOSTS - 1) == ("10.15.255.254", "10.31.255.254")
    with pytest.raises(ValueError):
        bench.make_inventory(bench.MAX_HOSTS + 1)


def test_inventory_is_big_enough_and_deterministic():
    inv = bench.make_inventory(200)
    assert inv == bench.make_inventory(200)
    (zone,) = inv["zones"]
    # the server's own reader accepts it: every host with an FT address, storage and L2 on every cluster
    rows = inventory_file.inventory_rows(inv, 0)
    assert len(rows["hosts"]) == 200 and len({h["uuid"] for h in rows["hosts"]}) == 200
    assert all(h["ft_network_address"] and h["cpu_num"] == 64 for h in rows["hosts"])
    assert len(rows["ps_cluster_refs"]) == len(rows["l2_cluster_refs"]) == len(rows["clusters"]) == 4
    (rng,) = rows["ip_ranges"]
    assert rng["netmask"] == "255.255.0.0"
    configs = {(g["category"], g["name"]): g["value"] for g in rows["global_configs"]}
    assert configs[("ft", "enable")] == "true" and configs[("ft", "fault.tolerance.network.cidr")] == "10.16.0.0/12"
    assert inventory_file.parse_inventory_text(yaml.safe_dump(inv)) == inventory_file.validate_inventory(inv)  # as read
    with pytest.raises(ValueError):
        bench.make_inventory(1)


def test_bench_service_options_and_cli_call():
    a = bench.add_arguments(argparse.ArgumentParser()).parse_args(
        ["--concurrency", "1,8", "--requests", "50", "--json"]
    )
    assert a.concurrency == [1, 8] and a.requests == 50 and a.json and a.destroy
    with pytest.raises(SystemExit):
        bench.add_arguments(argparse.ArgumentParser()).parse_args(["--concurrency", "0,x"])
    a = build_parser().parse_args(["bench", "service", "--concurrency", "1,8"])
    assert a.bench_command == "service" and a.bench_args == ["--concurrency", "1,8"]
    a = build_parser().parse_args(["call", "--target", "h:1", "--login", "admin:pw", "QueryHost", '{"limit": 1}'])
    assert (a.target, a.login, a.method, a.json) == ("h:1", "admin:pw", "QueryHost", '{"limit": 1}')
    with pytest.raises(SystemExit):
        build_parser().parse_args(["call", "--session", "s", "--login", "admin:pw", "QueryHost"])


def test_method_lookup_from_descriptors():
    m = client.find_method("CreateFaultToleranceVmInstance")
    assert m.full_name == "zstack.ft.v1.VmService/CreateFaultToleranceVmInstance"
    assert (m.http_method, m.http_path, m.http_body) == ("POST", "/zstack/v1/vm-instances/fault-tolerance", "*")
    assert client.find_method("zstack.ft.v1.VmService/QueryVmInstance").name == "QueryVmInstance"
    assert client.find_method("/zstack.ft.v1.VmService/QueryVmInstance").name == "QueryVmInstance"
    assert client.find_method("VmService/QueryVmInstance").path == "/zstack.ft.v1.VmService/QueryVmInstance"
    assert client.find_method("Check").full_name == "grpc.health.v1.Health/Check"
    with pytest.raises(client.UnknownMethod, match="QueryHost"):
        client.find_method("QueryHosts")
    names = {m.full_name for m in client.methods()}
    assert "zstack.ft.v1.AccountService/LogInByAccount" in names and "grpc.health.v1.Health/Watch" not in names


# ---- `ftvm call` against a running server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("ftvm-call")
    inventory = d / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(bench.make_inventory(6), sort_keys=False))
    with bench.ServerProcess(str(d / "data"), inventory=str(inventory)) as srv:
        yield srv


def _call(server, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("FTVM_SESSION", None)
    env.pop("FTVM_TARGET", None)
    return subprocess.run(
        [sys.executable, "-m", "ftvm.cli", "call", "--target", server.target, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        input=stdin,
    )


def test_call_list_needs_no_server():
    r = subprocess.run(
        [sys.executable, "-m", "ftvm.cli", "call", "--list", "--target", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(
        line.split()
        == ["zstack.ft.v1.VmService/CreateFaultToleranceVmInstance", "POST", "/zstack/v1/vm-instances/fault-tolerance"]
        for line in lines
    )
    assert any(line.split()[:2] == ["zstack.ft.v1.InventoryService/QueryHost", "GET"] for line in lines)
    assert len(lines) == len(client.methods())


def test_call_query_with_login(server):
    r = _call(server, "--login", f"admin:{server.password}", "QueryHost", '{"limit": 2, "replyWithCount": true}')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["total"] == "6"  # int64 in proto JSON is a string
    assert len(out["inventories"]) == 2 and all(h["name"].startswith("bench-host-") for h in out["inventories"])
    assert "clusterUuid" in out["inventories"][0]  # proto JSON names (camelCase)


def test_call_create_with_session_then_query_and_destroy(server):
    r = _call(
        server,
        "--login",
        f"admin:{server.password}",
        "LogInByAccount",
        json.dumps({"logInByAccount": {"accountName": "admin", "password": client.password_hash(server.password)}}),
    )
    assert r.returncode == 0, r.stderr
    session = json.loads(r.stdout)["inventory"]["uuid"]
    ids = {}
    for method, name in (
        ("QueryImage", "bench-image"),
        ("QueryInstanceOffering", "bench-1c1g"),
        ("QueryL3Network", "bench-l3"),
    ):
        r = _call(server, "--session", session, method, json.dumps({"q": [f"name={name}"]}))
        assert r.returncode == 0, r.stderr
        ids[method] = json.loads(r.stdout)["inventories"][0]["uuid"]
    body = {
        "name": "call-vm",
        "instanceOfferingUuid": ids["QueryInstanceOffering"],
        "imageUuid": ids["QueryImage"],
        "l3NetworkUuids": [ids["QueryL3Network"]],
    }
    r = _call(
        server,
        "--session",
        session,
        "zstack.ft.v1.VmService/CreateFaultToleranceVmInstance",
        "-",
        stdin=json.dumps(body),
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    group = out["faultToleranceVmGroupInventory"]
    assert out["success"] is True and group["name"] == "call-vm"
    assert out["primaryVmInventory"]["hostUuid"] != out["secondaryVmInventory"]["hostUuid"]
    r = _call(server, "--session", session, "QueryFaultToleranceVm", json.dumps({"q": [f"uuid={group['uuid']}"]}))
    assert r.returncode == 0, r.stderr
    assert [g["uuid"] for g in json.loads(r.stdout)["inventories"]] == [group["uuid"]]
    r = _call(server, "--session", session, "DestroyVmInstance", json.dumps({"uuid": group["uuid"]}))
    assert r.returncode == 0, r.stderr


def test_call_errors_exit_nonzero_with_the_code(server):
    # a business error: the image does not exist -> NOT_FOUND with SYS.1003 in the rich details
    r = _call(
        server,
        "--login",
        f"admin:{server.password}",
        "CreateFaultToleranceVmInstance",
        json.dumps(
            {"name": "x", "cpuNum": 1, "memorySize": str(1 << 30), "imageUuid": "0" * 32, "l3NetworkUuids": ["1" * 32]}
        ),
    )
    assert r.returncode == 1
    assert "NOT_FOUND" in r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "NOT_FOUND" and out["error"]["code"] == "SYS.1003"
    # no session -> UNAUTHENTICATED / ID.1001
    r = _call(server, "QueryVmInstance")
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "ID.1001"
    # wrong password -> the login fails with ID.1000
    r = _call(server, "--login", "admin:wrong", "QueryVmInstance")
    assert r.returncode == 1 and json.loads(r.stdout)["status"] == "UNAUTHENTICATED"
    assert json.loads(r.stdout)["error"]["code"] == "ID.1000"
    # usage errors: unknown method, malformed JSON
    r = _call(server, "--session", "s", "NoSuchMethod")
    assert r.returncode == 2 and "unknown method" in r.stderr
    r = _call(server, "--session", "s", "QueryHost", '{"limit": "many"}')
    assert r.returncode == 2 and "bad request JSON" in r.stderr
    # a no-op without a session works (health checking)
    r = _call(server, "grpc.health.v1.Health/Check")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "SERVING"
