"""`ftvm bench placement`: the placement engines side by side on synthetic inventories.

For every `--hosts` size one deterministic inventory and one FT request stream are generated (by `--seed`) and
every engine gets a fresh copy of the inventory and the same stream, each request followed by its reserve
(`place_and_reserve`). Reported per engine: p50/p99 µs per place+reserve (Python call included), decisions/s,
and for the peers the ratio of Rust's speed to theirs. Engines:

* rust   — the Rust core (`create_engine(kind="rust")`);
* numpy  — `bench.numpy_engine`, same semantics vectorized with numpy (its placements are compared to Rust's);
* cpsat  — the OR-Tools CP-SAT engine, one model per request; only on a prefix of the stream and at sizes up to
           `--cpsat-max-hosts` (its placements are compared to Rust's too);
* nova   — OpenStack Nova's filter scheduler (`bench.nova_peer`), on a few decisions at 1k/10k hosts.

The batch section compares the greedy order with the batch optimisers (`ftvm.placement.batch.solve_batch`, CP-SAT
and HiGHS when highspy imports) on N requests x M hosts at high utilization.

`--json` prints one JSON object as the last line of stdout. Its shape: `{"seed", "requests", "runs": [{"hosts",
"requests", "engines": {name: {...}}}, ...], "batch": {...}}`; with a single `--hosts` size the keys `hosts` and
`engines` of that run are also at the top level.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from ftvm.placement import Config, PlacementError, create_engine
from ftvm.placement.model import STRATEGIES

from . import inventory as inv_mod
from . import nova_peer

ENGINES = ("rust", "numpy", "cpsat", "nova")
PEERS_VENV_PYTHON = os.path.join(".venv-peers", "bin", "python")


# ---- argument parsing ------------------------------------------------------------------------------------------


def _int_list(s: str) -> list[int]:
    out = []
    for part in s.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        mult = 1
        if part.endswith("k"):
            mult, part = 1000, part[:-1]
        elif part.endswith("m"):
            mult, part = 1_000_000, part[:-1]
        out.append(int(float(part) * mult))
    if not out:
        raise argparse.ArgumentTypeError("expected a comma separated list of sizes, e.g. 1000,10000 or 1k,1m")
    return out


def _engine_list(s: str) -> list[str]:
    names = [x.strip() for x in s.split(",") if x.strip()]
    bad = [x for x in names if x not in ENGINES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown engine(s) {bad}; choose from {','.join(ENGINES)}")
    return names


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--hosts",
        type=_int_list,
        default=[1000, 10000, 100000],
        help="inventory sizes, comma separated (1k/1m suffixes ok); default 1000,10000,100000",
    )
    p.add_argument("--requests", type=int, default=1000, help="FT requests per size for rust and numpy (default 1000)")
    p.add_argument(
        "--engines",
        type=_engine_list,
        default=list(ENGINES),
        help="engines to run, comma separated from rust,numpy,cpsat,nova (default all)",
    )
    p.add_argument("--seed", type=int, default=0, help="inventory and request stream seed (default 0)")
    p.add_argument(
        "--batch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the batch section (greedy vs CP-SAT / HiGHS); default on",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm progress bars on stderr")
    p.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="before timing, call place() (no reserve) once per strategy so lazily built indexes "
        "exist; its cost is reported as warmup_ms (default on)",
    )
    g = p.add_argument_group("CP-SAT per request")
    g.add_argument("--cpsat-requests", type=int, default=20, help="stream prefix CP-SAT runs on (default 20)")
    g.add_argument("--cpsat-max-hosts", type=int, default=10000, help="skip CP-SAT above this size (default 10000)")
    g.add_argument(
        "--cpsat-budget",
        type=float,
        default=120.0,
        help="wall-time cap in s for the CP-SAT stream per size; stops early (default 120)",
    )
    g = p.add_argument_group("Nova peer")
    g.add_argument(
        "--nova-requests",
        type=int,
        default=100,
        help="Nova decisions at 1k hosts, scaled by 1000/hosts (at least 3) at larger sizes (default 100)",
    )
    g.add_argument("--nova-max-hosts", type=int, default=100000, help="skip Nova above this size (default 100000)")
    g.add_argument("--nova-budget", type=float, default=120.0, help="wall-time cap in s for Nova per size")
    g.add_argument(
        "--nova-python",
        default=None,
        help="run the Nova peer under this interpreter (a venv with nova) as a subprocess; default: "
        "in-process when nova imports, else .venv-peers/bin/python if present",
    )
    g = p.add_argument_group("batch")
    g.add_argument("--batch-requests", type=int, default=200, help="N requests of the batch (default 200)")
    g.add_argument("--batch-hosts", type=int, default=10000, help="M hosts of the batch (default 10000)")
    g.add_argument("--batch-time-limit", type=float, default=30.0, help="solver time limit in s (default 30)")
    g.add_argument("--batch-solvers", default="cpsat,highs", help="batch solvers (default cpsat,highs)")
    g.add_argument(
        "--batch-utilization",
        default="0.80,0.97",
        help="host memory utilization range of the batch inventory (default 0.80,0.97)",
    )
    return p


# ---- measurement -----------------------------------------------------------------------------------------------


def _outcome(x: Any) -> Any:
    """Comparable outcome of one call: the Placement, or (phase, rule, removed) of a NoHostAvailable."""
    if isinstance(x, PlacementError):
        return (
            "error",
            type(x).__name__,
            getattr(x, "phase", None),
            getattr(x, "rule", None),
            tuple(sorted((getattr(x, "removed", None) or {}).items())),
        )
    return x


def _stats(lat_us: Sequence[float]) -> dict:
    a = np.asarray(lat_us, dtype=float)
    if not len(a):
        return {"n": 0}
    mean = float(a.mean())
    return {
        "n": len(a),
        "p50_us": float(np.percentile(a, 50)),
        "p99_us": float(np.percentile(a, 99)),
        "mean_us": mean,
        "max_us": float(a.max()),
        "per_s": 1e6 / mean if mean > 0 else float("inf"),
    }


class _Progress:
    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar = None
        if enabled and total > 0:
            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, unit="dec", dynamic_ncols=True)

    def __call__(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _make_engine(name: str, config: Config):
    if name == "rust":
        return create_engine(config, kind="rust")
    if name == "numpy":
        from .numpy_engine import NumpyEngine

        return NumpyEngine(config)
    if name == "cpsat":
        return create_engine(config, kind="ortools")
    raise ValueError(name)


def _warmup_requests(inv, stream) -> list:
    """One request per strategy present in the stream, from a separate stream (same inventory)."""
    seen: dict[str, Any] = {}
    for q in inv.requests(256, seed=104729):
        seen.setdefault(q.strategy, q)
    return [seen[s] for s in STRATEGIES if s in seen and any(r.strategy == s for r in stream)]


def run_engine(name: str, inv, stream, *, progress: bool, warmup: bool, budget_s: float | None = None) -> dict:
    """Load a fresh engine with `inv`, then time place_and_reserve over `stream`."""
    _make_engine(name, inv.config)  # imports (OR-Tools, the extension) outside the timed load
    t0 = time.perf_counter()
    engine = _make_engine(name, inv.config)
    inv.load(engine)
    load_s = time.perf_counter() - t0
    out: dict[str, Any] = {"load_s": load_s}
    if warmup:
        t = time.perf_counter()
        for q in _warmup_requests(inv, stream):
            try:
                engine.place(q)
            except PlacementError:
                pass
        out["warmup_ms"] = (time.perf_counter() - t) * 1000
    gc.collect()
    lat: list[float] = []
    outcomes: list[Any] = []
    bar = _Progress(progress, len(stream), f"{name:>5} @ {inv.n_hosts:,} hosts")
    started = time.perf_counter()
    stopped_early = False
    try:
        for i, q in enumerate(stream):
            t = time.perf_counter_ns()
            try:
                got = engine.place_and_reserve(f"bench-{i}", q)
            except PlacementError as e:
                got = e
            lat.append((time.perf_counter_ns() - t) / 1000)
            outcomes.append(_outcome(got))
            bar()
            if budget_s is not None and time.perf_counter() - started > budget_s:
                stopped_early = True
                break
    finally:
        bar.close()
    out.update(_stats(lat))
    out["placed"] = sum(1 for o in outcomes if not isinstance(o, tuple))
    out["failed"] = len(outcomes) - out["placed"]
    if stopped_early:
        out["stopped_early"] = f"budget of {budget_s:g} s reached after {len(outcomes)} decisions"
    out["_outcomes"] = outcomes
    del engine
    gc.collect()
    return out


def run_nova(inv, stream, opts, *, progress: bool) -> dict:
    python = opts.nova_python
    reason = None
    if python is None:
        reason = nova_peer.nova_unavailable_reason()
        if reason is not None and os.path.exists(PEERS_VENV_PYTHON):
            python = PEERS_VENV_PYTHON
    if python is None:
        return {"skipped": f"nova is not importable ({reason}); install it with: {nova_peer.INSTALL_HINT}"}
    if python:
        res = nova_peer.run_subprocess(
            python, inv.n_hosts, inv.seed, len(stream), opts._utilization, timeout=max(600.0, 30 * opts.nova_budget)
        )
        mode = f"subprocess ({python})"
    else:  # pragma: no cover - python == "" would mean in-process explicitly
        res = nova_peer.run_stream(inv, stream)
        mode = "in-process"
    return _nova_result(res, mode)


def _nova_result(res: dict, mode: str) -> dict:
    out = {
        "load_s": res["build_s"],
        **_stats(res["latencies_us"]),
        "placed": res["placed"],
        "failed": len(res["latencies_us"]) - res["placed"],
        "mode": mode,
        "version": res.get("version"),
    }
    return out


def run_nova_inprocess(inv, stream, opts, *, progress: bool) -> dict:
    bar = _Progress(progress, len(stream), f" nova @ {inv.n_hosts:,} hosts")
    try:
        res = nova_peer.run_stream(inv, stream, progress=bar)
    finally:
        bar.close()
    return _nova_result(res, "in-process")


def _nova_count(opts, n_hosts: int) -> int:
    return max(3, round(opts.nova_requests * 1000 / max(n_hosts, 1)))


def run_size(n_hosts: int, opts) -> dict:
    t = time.perf_counter()
    inv = inv_mod.generate(n_hosts, seed=opts.seed, utilization=opts._utilization)
    gen_s = time.perf_counter() - t
    stream = inv.requests(opts.requests)
    run: dict[str, Any] = {
        "hosts": n_hosts,
        "requests": len(stream),
        "inventory_s": gen_s,
        "inventory": {
            "zones": len(inv.zone_uuids),
            "clusters": len(inv.cluster_uuids),
            "storages": len(inv.storages),
            "l3": len(inv.l3_to_l2),
        },
        "engines": {},
    }
    engines = run["engines"]
    for name in opts.engines:
        try:
            if name in ("rust", "numpy"):
                engines[name] = run_engine(name, inv, stream, progress=opts.progress, warmup=opts.warmup)
            elif name == "cpsat":
                if n_hosts > opts.cpsat_max_hosts:
                    engines[name] = {"skipped": f"{n_hosts} hosts > --cpsat-max-hosts {opts.cpsat_max_hosts}"}
                    continue
                engines[name] = run_engine(
                    name,
                    inv,
                    stream[: opts.cpsat_requests],
                    progress=opts.progress,
                    warmup=False,
                    budget_s=opts.cpsat_budget,
                )
            elif name == "nova":
                if n_hosts > opts.nova_max_hosts:
                    engines[name] = {
                        "skipped": f"{n_hosts} hosts > --nova-max-hosts {opts.nova_max_hosts} "
                        f"(Nova takes ~60 µs per host per decision: ~{n_hosts * 6e-5:,.0f} s)"
                    }
                    continue
                k = min(_nova_count(opts, n_hosts), len(stream))
                if opts.nova_python is None and nova_peer.nova_unavailable_reason() is None:
                    engines[name] = run_nova_inprocess(inv, stream[:k], opts, progress=opts.progress)
                else:
                    engines[name] = run_nova(inv, stream[:k], opts, progress=opts.progress)
        except ImportError as e:
            engines[name] = {"skipped": f"not available: {e}"}
        except Exception as e:  # noqa: BLE001 -- one engine failing must not lose the others' numbers
            engines[name] = {"error": f"{type(e).__name__}: {e}"}
    # agreement with Rust (same semantics => same placements on the same stream prefix)
    ref = engines.get("rust", {}).get("_outcomes")
    for name in ("numpy", "cpsat"):
        e = engines.get(name, {})
        if ref is not None and "_outcomes" in e:
            k = min(len(ref), len(e["_outcomes"]))
            same = sum(1 for a, b in zip(ref[:k], e["_outcomes"][:k]) if a == b)
            e["agree_with_rust"] = same
            e["compared"] = k
            first = next((i for i in range(k) if ref[i] != e["_outcomes"][i]), None)
            if first is not None:
                e["first_disagreement"] = {"index": first, "rust": repr(ref[first]), name: repr(e["_outcomes"][first])}
    rust = engines.get("rust", {})
    for name, e in engines.items():
        if name != "rust" and "p50_us" in e and "p50_us" in rust:
            e["rust_speedup_p50"] = e["p50_us"] / rust["p50_us"]
            e["rust_speedup_per_s"] = rust["per_s"] / e["per_s"]
    for e in engines.values():
        e.pop("_outcomes", None)
    return run


# ---- batch -----------------------------------------------------------------------------------------------------


def run_batch(opts) -> dict:
    try:
        from ftvm.placement import batch as batch_mod
    except ImportError as e:
        return {"skipped": f"ftvm.placement.batch is not available ({e})"}
    lo, hi = (float(x) for x in opts.batch_utilization.split(","))
    inv = inv_mod.generate(opts.batch_hosts, seed=opts.seed, utilization=(lo, hi))
    reqs = inv.requests(opts.batch_requests, seed=31337)
    keys = [f"batch-{i}" for i in range(len(reqs))]
    out: dict[str, Any] = {
        "requests": len(reqs),
        "hosts": opts.batch_hosts,
        "utilization": [lo, hi],
        "time_limit_s": opts.batch_time_limit,
        "solvers": {},
    }
    for solver in [s.strip() for s in opts.batch_solvers.split(",") if s.strip()]:
        if solver == "highs":
            try:
                import highspy  # noqa: F401
            except ImportError:
                out["solvers"][solver] = {"skipped": "highspy is not importable (pip install highspy)"}
                continue
        try:
            engine = _batch_engine(inv)
            t = time.perf_counter()
            with _native_stdout_to_stderr():  # solver banners / logs must not mix with the table and JSON
                res = batch_mod.solve_batch(engine, keys, reqs, opts.batch_time_limit, solver=solver)
            wall = time.perf_counter() - t
            out["solvers"][solver] = {**_batch_fields(res), "wall_s": wall}
        except Exception as e:  # noqa: BLE001 -- one solver failing must not lose the others' numbers
            out["solvers"][solver] = {"error": f"{type(e).__name__}: {e}"}
    return out


@contextlib.contextmanager
def _native_stdout_to_stderr():
    """Point file descriptor 1 at stderr meanwhile (native libraries print there directly)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (e.g. captured): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _batch_engine(inv):
    try:
        engine = create_engine(inv.config, kind="rust")
    except ImportError:
        from .numpy_engine import NumpyEngine

        engine = NumpyEngine(inv.config)
    inv.load(engine)
    return engine


def _batch_fields(res) -> dict:
    """BatchResult -> plain dict (dataclass, namedtuple or object with attributes), JSON-safe values only."""
    if hasattr(res, "_asdict"):
        d = res._asdict()
    elif hasattr(res, "__dataclass_fields__"):
        d = {k: getattr(res, k) for k in res.__dataclass_fields__}
    elif isinstance(res, dict):
        d = dict(res)
    else:
        d = {k: getattr(res, k) for k in dir(res) if not k.startswith("_") and not callable(getattr(res, k))}
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in ("keys", "requests", "placements", "errors"):
            continue
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)) and k == "placed":
            out[k] = sum(1 for x in v if x is not None)
        elif isinstance(v, dict):
            out[k] = {kk: vv for kk, vv in v.items() if isinstance(vv, (bool, int, float, str)) or vv is None}
    return out


# ---- output ----------------------------------------------------------------------------------------------------


def _fmt(x, spec: str = ",.1f") -> str:
    return "-" if x is None else format(x, spec)


def format_table(result: dict) -> str:
    lines = []
    hdr = (
        f"{'hosts':>9}  {'engine':<6} {'decisions':>9} {'p50 µs':>11} {'p99 µs':>11} {'decisions/s':>12} "
        f"{'placed':>7} {'load s':>7} {'rust× p50':>9} {'rust× /s':>9}  notes"
    )
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for run in result["runs"]:
        for name, e in run["engines"].items():
            if "p50_us" not in e:
                lines.append(f"{run['hosts']:>9,}  {name:<6} {e.get('skipped') or e.get('error') or ''}")
                continue
            notes = []
            if "agree_with_rust" in e:
                notes.append(f"same as rust {e['agree_with_rust']}/{e['compared']}")
            if "warmup_ms" in e:
                notes.append(f"warm-up {e['warmup_ms']:.1f} ms")
            if "mode" in e:
                notes.append(e["mode"])
            if "stopped_early" in e:
                notes.append(e["stopped_early"])
            lines.append(
                f"{run['hosts']:>9,}  {name:<6} {e['n']:>9,} {_fmt(e['p50_us']):>11} {_fmt(e['p99_us']):>11} "
                f"{_fmt(e['per_s'], ',.0f' if e['per_s'] >= 100 else ',.2f'):>12} {e['placed']:>7,} "
                f"{_fmt(e['load_s'], '.2f'):>7} "
                f"{_fmt(e.get('rust_speedup_p50'), ',.1f'):>9} {_fmt(e.get('rust_speedup_per_s'), ',.1f'):>9}  "
                + "; ".join(notes)
            )
    b = result.get("batch")
    if b:
        lines.append("")
        if "solvers" not in b:
            lines.append(f"batch: {b.get('skipped') or b.get('error')}")
        else:
            lines.append(
                f"batch: {b['requests']} requests x {b['hosts']:,} hosts at {b['utilization'][0]:.0%}-"
                f"{b['utilization'][1]:.0%} memory utilization, time limit {b['time_limit_s']:g} s"
            )
            bh = (
                f"  {'solver':<7}{'placed':>7} {'greedy':>7} {'objective':>16} {'greedy obj.':>16} {'gap':>9} "
                f"{'soft':>5} {'greedy':>7} {'seconds':>8}  status"
            )
            lines.append(bh)
            for solver, r in b["solvers"].items():
                if "skipped" in r or "error" in r:
                    lines.append(f"  {solver:<7}{r.get('skipped') or r.get('error')}")
                    continue
                g = lambda k: r.get(k, "-")  # noqa: E731
                gap = r.get("gap")
                gap = None if gap is None or gap != gap else gap
                lines.append(
                    f"  {solver:<7}{g('placed'):>7} {g('greedy_placed'):>7} {g('objective'):>16} "
                    f"{g('greedy_objective'):>16} {('-' if gap is None else f'{gap:.2e}'):>9} "
                    f"{g('soft_violations'):>5} {g('greedy_soft_violations'):>7} {_fmt(r.get('seconds'), '.2f'):>8}  "
                    f"{g('status')}, answer from {g('source')}"
                )
    return "\n".join(lines)


def run(opts) -> dict:
    opts._utilization = (0.30, 0.90)
    result: dict[str, Any] = {
        "seed": opts.seed,
        "requests": opts.requests,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "runs": [],
    }
    for n in opts.hosts:
        result["runs"].append(run_size(n, opts))
    if opts.batch:
        result["batch"] = run_batch(opts)
    if len(result["runs"]) == 1:
        result["hosts"] = result["runs"][0]["hosts"]
        result["engines"] = result["runs"][0]["engines"]
    return result


def _json_safe(x):
    """NaN / infinity -> None, so that the JSON line is strict JSON."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        return _json_safe(x.item())
    return x


def run_cli(opts) -> int:
    result = run(opts)
    print(format_table(result), flush=True)
    for run_ in result["runs"]:
        nova = run_["engines"].get("nova", {})
        if "skipped" in nova and "not importable" in nova["skipped"]:
            print(f"nova peer skipped: {nova['skipped']}", flush=True)
            break
    if opts.json:
        print(json.dumps(_json_safe(result), allow_nan=False), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = add_arguments(argparse.ArgumentParser(prog="ftvm bench placement", description=__doc__.split("\n\n")[0]))
    return run_cli(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
