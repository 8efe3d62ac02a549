"""The README's curl walk-through, run verbatim with bash against `ftvm serve` (REST on a free port)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _walkthrough() -> str:
    text = README.read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert block, "README has no walk-through block"
    return block.group(1)


def test_readme_curl_walkthrough_runs_against_ftvm_serve(tmp_path):
    env = {**os.environ, "FTVM_ADMIN_PASSWORD": "walk-through-password"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftvm.cli",
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        url, grpc_ready = None, False
        for line in server.stdout:
            found = re.search(r"REST listening on (http://\S+)", line)
            url = found.group(1) if found else url
            grpc_ready = grpc_ready or "gRPC listening on" in line
            if url and grpc_ready:
                break
        assert url, "ftvm serve did not print its REST address"
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", _walkthrough()],
            cwd=tmp_path,
            text=True,
            capture_output=True,
            env={**env, "FTVM": url},
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout.splitlines()
        primary_host, secondary_host, ip = out[0].split()
        assert len(primary_host) == 32 and primary_host != secondary_host and re.fullmatch(r"[\d.]+", ip)
        assert out[1] == "Running Running"
        assert out[-1] == "destroyed and logged out"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
