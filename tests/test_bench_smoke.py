"""Smoke test of `ftvm bench placement`: a tiny run end to end, its JSON shape, and numpy == Rust on a stream."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ftvm
from bench import inventory as inv_mod
from bench import nova_peer
from bench import placement as bench
from bench.numpy_engine import NumpyEngine
from ftvm.cli import build_parser, main
from ftvm.placement import NoHostAvailable, PlacementError, Request, create_engine
from ftvm.placement.model import GIB, STRATEGIES


def _outcome(engine, key, q):
    try:
        return engine.place_and_reserve(key, q)
    except NoHostAvailable as e:
        return ("NoHostAvailable", e.phase, e.rule, e.removed, e.considered)


def _run_json(capsys, args) -> dict:
    assert bench.main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


# ---- the benchmark end to end -------------------------------------------------------------------------------


def test_tiny_run_json_shape_and_numpy_agrees(capsys):
    engines = ["rust", "numpy", "cpsat"]
    args = [
        "--hosts",
        "200",
        "--requests",
        "50",
        "--engines",
        ",".join(engines),
        "--seed",
        "3",
        "--json",
        "--no-progress",
        "--cpsat-requests",
        "5",
        "--batch-requests",
        "8",
        "--batch-hosts",
        "200",
        "--batch-time-limit",
        "2",
    ]
    res = _run_json(capsys, args)
    assert res["hosts"] == 200 and res["seed"] == 3 and res["requests"] == 50
    assert len(res["runs"]) == 1 and res["runs"][0]["engines"] == res["engines"]
    assert set(res["engines"]) == set(engines)
    for name in engines:
        e = res["engines"][name]
        assert {"p50_us", "p99_us", "per_s", "n", "placed", "failed", "load_s"} <= set(e), (name, e)
        assert e["p50_us"] > 0 and e["p99_us"] >= e["p50_us"] and e["per_s"] > 0
        assert e["placed"] + e["failed"] == e["n"]
    assert res["engines"]["rust"]["n"] == 50 and res["engines"]["rust"]["placed"] > 0
    numpy_ = res["engines"]["numpy"]
    assert numpy_["compared"] == 50 and numpy_["agree_with_rust"] == 50, numpy_.get("first_disagreement")
    assert numpy_["rust_speedup_p50"] > 0 and numpy_["rust_speedup_per_s"] > 0
    cp = res["engines"]["cpsat"]
    assert cp["n"] == 5
    assert cp["agree_with_rust"] == cp["compared"] == 5, cp.get("first_disagreement")
    assert res["batch"]["requests"] == 8 and res["batch"]["hosts"] == 200
    assert set(res["batch"]["solvers"]) == {"cpsat", "highs"}
    for solver, r in res["batch"]["solvers"].items():
        assert "error" not in r and "skipped" not in r, (solver, r)
        assert {"placed", "objective", "greedy_objective", "gap", "seconds"} <= set(r), (solver, r)
        assert 0 <= r["placed"] <= 8 and r["objective"] >= r["greedy_objective"]


def test_several_sizes_give_runs(capsys):
    res = _run_json(
        capsys,
        ["--hosts", "60,120", "--requests", "10", "--engines", "rust,numpy", "--no-batch", "--json", "--no-progress"],
    )
    assert [r["hosts"] for r in res["runs"]] == [60, 120]
    assert "engines" not in res and "batch" not in res
    for r in res["runs"]:
        assert r["engines"]["numpy"]["agree_with_rust"] == 10


def test_nova_skipped_with_install_hint_when_not_importable(capsys, monkeypatch):
    monkeypatch.setattr(nova_peer, "nova_unavailable_reason", lambda: "ModuleNotFoundError: No module named 'nova'")
    monkeypatch.setattr(bench, "PEERS_VENV_PYTHON", "/nonexistent/python")
    res = _run_json(
        capsys, ["--hosts", "50", "--requests", "5", "--engines", "numpy,nova", "--no-batch", "--json", "--no-progress"]
    )
    assert "not importable" in res["engines"]["nova"]["skipped"]
    assert "pip install" in res["engines"]["nova"]["skipped"]
    assert res["engines"]["numpy"]["n"] == 5


def test_nova_peer_places_pairs_on_distinct_hosts():
    reason = nova_peer.nova_unavailable_reason()
    assert reason is None, reason
    inv = inv_mod.generate(120, seed=5)
    peer = nova_peer.NovaPeer(inv)
    zone_of = {u: inv.zone_uuids[int(inv.cluster_zone[int(c)])] for u, c in zip(inv.host_uuids, inv.host_cluster)}
    placed = 0
    for i, q in enumerate(inv.requests(6)):
        got = peer.place_and_reserve(f"k{i}", q)
        if got is not None:
            placed += 1
            p, s = got
            assert p != s and zone_of[p] == zone_of[s]
    assert placed > 0


# ---- pieces -------------------------------------------------------------------------------------------------


def test_inventory_is_deterministic_and_stream_prefix_stable():
    a, b = inv_mod.generate(300, seed=9), inv_mod.generate(300, seed=9)
    assert a.host_uuids == b.host_uuids and a.host_specs() == b.host_specs()
    assert [s.uuid for s in a.storages] == [s.uuid for s in b.storages]
    assert a.requests(1500)[:40] == b.requests(40)
    assert inv_mod.generate(300, seed=10).host_uuids != a.host_uuids
    specs = a.host_specs()
    assert len(specs) == 300 and len({h.uuid for h in specs}) == 300
    assert 2 <= len(a.zone_uuids) <= 4 and any(h.failure_domain for h in specs)
    assert {s.kind for s in a.storages} <= {"Shared", "Local"}


@pytest.mark.parametrize("seed,util", [(1, (0.3, 0.9)), (2, (0.85, 0.99)), (3, (0.9, 0.995))])
def test_numpy_engine_matches_rust_including_failures(seed, util):
    """Same placements and the same NoHostAvailable (phase, rule, per-rule counts) on a stream with pins."""
    inv = inv_mod.generate(150, seed=seed, utilization=util)
    rust, npe = create_engine(inv.config, kind="rust"), NumpyEngine(inv.config)
    inv.load(rust)
    inv.load(npe)
    stream = inv.requests(120, seed=seed)
    st = inv.storages
    # storage pins (root, data, both) on top of the generated zone / cluster / host pins
    for k, q in enumerate(stream[:30]):
        root = st[k % len(st)].uuid if k % 3 != 1 else None
        data = st[(k * 7) % len(st)].uuid if k % 3 != 0 else None
        stream.append(
            Request(
                q.vcpus,
                q.memory,
                q.l3_uuids,
                q.root_bytes,
                max(q.data_bytes, 50 * GIB),
                root_storage_uuid=root,
                data_storage_uuid=data,
                strategy=STRATEGIES[k % 5],
                max_instance_per_host=40,
            )
        )
    outcomes = []
    for i, q in enumerate(stream):
        a, b = _outcome(rust, f"k{i}", q), _outcome(npe, f"k{i}", q)
        assert a == b, (i, q)
        outcomes.append(a)
    placed = sum(1 for o in outcomes if not isinstance(o, tuple))
    assert placed > 0
    for i in range(0, len(stream), 17):
        assert rust.release(f"k{i}") == npe.release(f"k{i}")
    for h in inv.host_uuids[::25]:
        assert rust.host_usage(h) == npe.host_usage(h)


def test_numpy_engine_reservations_and_errors():
    inv = inv_mod.generate(80, seed=4)
    e = NumpyEngine(inv.config)
    inv.load(e)
    q = inv.requests(1)[0]
    p = e.place(q)
    before = e.host_usage(p.primary_host)
    e.reserve("a", q, p)
    after = e.host_usage(p.primary_host)
    assert after["cpu_used"] == before["cpu_used"] + q.vcpus and after["vm_count"] == before["vm_count"] + 1
    with pytest.raises(PlacementError):
        e.place_and_reserve("a", q)  # key taken
    assert e.release("a") is True and e.release("a") is False
    assert e.host_usage(p.primary_host) == before
    with pytest.raises(PlacementError):
        e.place(Request(0, GIB, q.l3_uuids))
    with pytest.raises(NoHostAvailable) as ei:
        e.place(Request(1, GIB, q.l3_uuids, zone_uuid="0" * 32))
    assert ei.value.phase == "primary" and ei.value.rule == "Location" and ei.value.considered == 80


def test_bench_placement_options():
    a = bench.add_arguments(argparse.ArgumentParser()).parse_args(
        ["--hosts", "1k,10000,1m", "--engines", "rust,nova", "--no-batch", "--json", "--seed", "7"]
    )
    assert a.hosts == [1000, 10000, 1_000_000] and a.engines == ["rust", "nova"]
    assert a.batch is False and a.json and a.seed == 7
    with pytest.raises(SystemExit):
        bench.add_arguments(argparse.ArgumentParser()).parse_args(["--engines", "bogus"])


# ---- `ftvm bench`: the CLI finds the checkout's bench/ package, or says how to get it -------------------------


def test_cli_hands_every_argument_to_the_benchmark():
    a = build_parser().parse_args(["bench", "placement", "--hosts", "1k", "-h", "--json"])
    assert a.bench_command == "placement" and a.bench_args == ["--hosts", "1k", "-h", "--json"]


def test_cli_runs_the_placement_benchmark_from_the_checkout(capsys):
    assert (
        main(
            [
                "bench",
                "placement",
                "--hosts",
                "50",
                "--requests",
                "5",
                "--engines",
                "rust",
                "--no-batch",
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["hosts"] == 50 and res["engines"]["rust"]["n"] == 5


def _ftvm_bench(python_code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", python_code], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_cli_without_the_bench_package_says_how_to_get_it(tmp_path):
    # an installed wheel: the ftvm package alone, with no checkout (and no bench/) around it
    site = tmp_path / "site"
    shutil.copytree(Path(ftvm.__file__).parent, site / "ftvm", ignore=shutil.ignore_patterns("__pycache__"))
    r = _ftvm_bench(
        f"import sys; sys.path.insert(0, {str(site)!r}); from ftvm.cli import main; "
        "sys.exit(main(['bench', 'placement', '--hosts', '50']))",
        cwd=tmp_path,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not part of the installed ftvm package" in r.stderr and "pip install -e '.[bench,bench-peers]'" in r.stderr


@pytest.mark.parametrize("dependency", ["numpy", "tqdm"])
def test_cli_without_the_bench_extra_says_how_to_get_it(dependency, tmp_path):
    r = _ftvm_bench(
        f"import sys; sys.modules[{dependency!r}] = None; from ftvm.cli import main; "
        "sys.exit(main(['bench', 'placement', '--hosts', '50']))",
        cwd=tmp_path,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{dependency} is missing" in r.stderr and "pip install -e '.[bench,bench-peers]'" in r.stderr
