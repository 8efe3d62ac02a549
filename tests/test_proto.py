"""The contract files: generated code is current, buf lint is clean, every RPC has its ZStack REST path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from google.api import annotations_pb2

from ftvm._proto.zstack.ft.v1 import services_pb2

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_matches_the_proto():
    result = subprocess.run(
        [sys.executable, "scripts/gen_proto.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_is_clean():
    buf = shutil.which("buf")
    assert buf, "buf (PyPI buf-bin, in the test extra) must be installed"
    result = subprocess.run([buf, "lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rpc_carries_a_zstack_http_path():
    paths = {}
    for service in services_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            assert verb is not None, f"{method.full_name} has no google.api.http annotation"
            paths[method.name] = (verb, getattr(rule, verb))
    assert paths["CreateFaultToleranceVmInstance"] == ("post", "/zstack/v1/vm-instances/fault-tolerance")
    assert paths["LogInByAccount"] == ("put", "/zstack/v1/accounts/login")
    assert paths["DestroyVmInstance"] == ("delete", "/zstack/v1/vm-instances/{uuid}")
    assert paths["GetFaultToleranceVms"] == ("get", "/zstack/v1/vm-instances/fault-tolerance/sub-vms")
    assert paths["FailoverFaultToleranceVm"] == ("put", "/zstack/v1/vm-instances/fault-tolerance")
    assert all(path.startswith("/zstack/v1/") for _, path in paths.values())
    # no two RPCs on one verb + path, but ZStack's host actions (the body's key picks: gateway/routes.by_path)
    shared = {p for p in paths.values() if list(paths.values()).count(p) > 1}
    assert shared == {("put", "/zstack/v1/hosts/{uuid}/actions")}
    assert {n for n, p in paths.items() if p in shared} == {"ChangeHostState", "ReconnectHost"}
