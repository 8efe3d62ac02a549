"""`--config FILE` (TOML, a table per command, read off the argparse parser) and `ftvm --version`: the example file
in docs/ loads and lists every serve option, the command line wins over the file, a wrong key or value stops the
command with exit code 2 naming it, and a real `ftvm serve --config` serves what the file says."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from tls_support import make_pki

from ftvm import config_file
from ftvm.cli import build_parser

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "ftvm.example.toml"


def _ftvm(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftvm.cli", *argv], capture_output=True, text=True, timeout=timeout)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    config_file.apply(parser, argv)
    return parser.parse_args(argv)


def _serve_parser() -> argparse.ArgumentParser:
    return config_file._subcommands(build_parser())["serve"]


def test_version_names_ftvm_and_its_placement_core():
    result = _ftvm("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ftvm {version('ftvm')} (placement core 0.1.0)\n"


def test_the_example_file_loads_and_lists_every_serve_option():
    keys = set(re.findall(r"^(?:# )?([a-z][a-z0-9-]*) =", EXAMPLE.read_text(), re.MULTILINE))
    options = {o[2:] for a in _serve_parser()._actions for o in a.option_strings if o.startswith("--")}
    assert options - {"help", "config"} <= keys, "missing from docs/ftvm.example.toml"
    from_file = _parse(["--config", str(EXAMPLE), "serve"])
    built_in = build_parser().parse_args(["serve"])
    # the example sets each option to its default ($FTVM_DATA_DIR aside)
    assert {k: v for k, v in vars(from_file).items() if k not in ("data_dir", "config")} == {
        k: v for k, v in vars(built_in).items() if k != "data_dir"
    }
    assert from_file.data_dir == "ftvm-data"


def test_the_command_line_wins_over_the_file_and_the_file_over_defaults(tmp_path):
    path = tmp_path / "ftvm.toml"
    path.write_text("[serve]\ngrpc-port = 50099\nno-gateway = true\nagent-timeout = 7\n[cluster.up]\nreplicas = 5\n")
    for argv in (["--config", str(path), "serve"], ["serve", "--config", str(path)], ["serve", f"--config={path}"]):
        args = _parse(argv)
        assert (args.grpc_port, args.no_gateway, args.agent_timeout) == (50099, True, 7.0)
    assert _parse(["serve", "--conf", str(path), "--grpc-port", "1"]).grpc_port == 1  # an abbreviation too
    assert _parse(["--config", str(path), "cluster", "up"]).replicas == 5
    assert _parse(["--config", str(path), "cluster", "up", "--replicas", "2"]).replicas == 2


def test_a_file_may_give_a_required_option(tmp_path):
    path = tmp_path / "ftvm.toml"
    path.write_text(f'[agent]\nsimulate = true\nstate = "{tmp_path / "agent.db"}"\nlisten = "127.0.0.1:7171"\n')
    args = _parse(["agent", "--config", str(path)])
    assert (args.simulate, args.state, args.listen) == (True, str(tmp_path / "agent.db"), ("127.0.0.1", 7171))


@pytest.mark.parametrize(
    "text, message",
    [
        ("[serve]\ngrpc_port = 1\n", "[serve] unknown key 'grpc_port'; did you mean 'grpc-port'?"),
        ("[serve]\ngrpc-port = 'abc'\n", "[serve] grpc-port: invalid int value: 'abc'"),
        ("[serve]\ngrpc-port = 1.5\n", "[serve] grpc-port: invalid int value: '1.5'"),
        ("[serve]\ngrpc-port = true\n", "[serve] grpc-port: expected a string or a number, got True"),
        ("[serve]\nno-gateway = 'yes'\n", "[serve] no-gateway: expected true or false, got 'yes'"),
        ("[serve]\ndata-dir = 5\n", "[serve] data-dir: expected a string, got 5"),
        ("[serve]\nagent-timeout = 0\n", "[serve] agent-timeout: expected a positive number, got '0'"),
        ("[serve]\ninventory = ['a']\n", "[serve] inventory: expected a string or a number, got ['a']"),
        ("[cluster.up]\nlisten = 1\n", "[cluster.up] unknown key 'listen'"),
        ("[serv]\nworkers = 2\n", "[serv] is not a command; commands: agent, bench, call, cluster, gateway, serve"),
        ("serve = 1\n", "serve must be a table ([serve]) of its options"),
        ("[bench.service]\nclients = 2\n", "[bench.service] unknown key 'clients'"),
        ("[serve\n", "not TOML"),
    ],
)
def test_a_wrong_key_or_value_stops_the_command_with_exit_2(tmp_path, text, message):
    path = tmp_path / "ftvm.toml"
    path.write_text(text)
    result = _ftvm("--config", str(path), "call", "--list")  # the whole file is checked, whichever command runs
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"ftvm: error: config file {path}: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreadable_file_stops_the_command_with_exit_2(tmp_path):
    result = _ftvm("serve", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"ftvm: error: config file {tmp_path / 'missing.toml'}: cannot read it: No such file or directory\n"
    )


def test_serve_runs_as_its_config_file_says(tmp_path):
    pki = make_pki(tmp_path / "pki")
    data = tmp_path / "data"
    (tmp_path / "ftvm.toml").write_text(
        f'[serve]\ndata-dir = "{data}"\ngrpc-port = 0\nhttp-port = 8\nno-demo = true\n'
        f'tls-cert = "{pki.server_cert}"\ntls-key = "{pki.server_key}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftvm.cli", "serve", "--config", "ftvm.toml", "--http-port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "FTVM_ADMIN_PASSWORD": "config-test"},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "REST listening on" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert f"database sqlite:///{data}/ftvm.db" in text  # the file's data-dir
    rest = re.search(r"REST listening on https://127\.0\.0\.1:(\d+)", text)  # the file's TLS
    assert rest is not None and rest.group(1) != "8", text  # the command line's port
    assert "loaded" not in text  # its no-demo
