"""TLS as a user runs it: `ftvm serve --tls-cert/--tls-key` serves gRPC and REST over TLS only (a plaintext client
is refused), `--tls-client-ca` turns away clients without a certificate of that CA, `ftvm call --tls-ca` and a Python
secure channel work, `ftvm gateway` reaches a TLS server and serves HTTPS itself, and half or broken configurations
stop at start with exit code 2 and a message naming the option."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from tls_support import Pki, make_pki

from ftvm.client import find_method, login, unary

PASSWORD = "tls-test-password"
ENV = {**os.environ, "FTVM_ADMIN_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _ftvm(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftvm.cli", *argv], capture_output=True, text=True, env=ENV, timeout=timeout
    )


class Served:
    """An `ftvm` server process and what its banner said."""

    def __init__(self, argv: list[str], ready: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ftvm.cli", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
        )
        assert self.proc.stdout is not None
        self.lines: list[str] = []
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if ready in line:
                break
        text = "\n".join(self.lines)
        assert ready in text, text
        grpc_target = re.search(r"gRPC listening on (\S+)", text)
        rest_url = re.search(r"REST listening on (\S+)", text)
        self.grpc_target = grpc_target.group(1) if grpc_target else ""
        self.rest_url = rest_url.group(1) if rest_url else ""

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, out


def _serve(tmp_path: Path, *options: str) -> Served:
    argv = ["serve", "--data-dir", str(tmp_path / "data"), "--grpc-port", "0", "--http-port", "0", *options]
    served = Served(argv, "try it:")
    served.lines.append(served.proc.stdout.readline().strip())  # type: ignore[union-attr]
    return served


def _https(
    url: str,
    ca: Path,
    cert: Path | None = None,
    key: Path | None = None,
    body: dict | None = None,
    session: str | None = None,
) -> tuple[int, dict]:
    """GET `url` (PUT `body`) trusting `ca`, with a client certificate if given."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    headers = {"Content-Type": "application/json"}
    if session is not None:
        headers["Authorization"] = f"OAuth {session}"
    request = urllib.request.Request(
        url,
        method="PUT" if body is not None else "GET",
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return response.status, json.loads(response.read())


def _rest_login(url: str, ca: Path, cert: Path | None = None, key: Path | None = None) -> str:
    from ftvm.client import password_hash

    status, reply = _https(
        f"{url}/zstack/v1/accounts/login",
        ca,
        cert,
        key,
        {"logInByAccount": {"accountName": "admin", "password": password_hash(PASSWORD)}},
    )
    assert status == 200, reply
    return reply["inventory"]["uuid"]


def _secure_channel(target: str, pki: Pki, cert: Path | None = None, key: Path | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.secure_channel(target, credentials)


def _refused(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as failed:
        call()
    return failed.value.code()


def test_serve_over_tls_grpc_rest_and_ftvm_call(tmp_path, pki):
    served = _serve(tmp_path, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    try:
        assert served.rest_url.startswith("https://"), served.lines
        sample = served.lines[-1]
        assert sample.endswith(" --tls-ca CA.pem"), sample
        # the printed sample call, with the CA in place of the placeholder: a create over TLS
        argv = shlex.split(sample)[1:-1] + [str(pki.ca)]
        created = _ftvm(*argv)
        assert created.returncode == 0, created.stdout + created.stderr
        assert '"primaryVmInventory"' in created.stdout and '"Running"' in created.stdout

        with _secure_channel(served.grpc_target, pki) as channel:
            session = login(channel, "admin", PASSWORD)
            hosts = unary(channel, find_method("QueryHost"))(
                find_method("QueryHost").input_type(limit=1), metadata=(("authorization", f"OAuth {session}"),)
            )
            assert len(hosts.inventories) == 1
        with grpc.insecure_channel(served.grpc_target) as plaintext:
            assert _refused(lambda: login(plaintext, "admin", PASSWORD, timeout=5)) == grpc.StatusCode.UNAVAILABLE

        session = _rest_login(served.rest_url, pki.ca)
        status, hosts = _https(f"{served.rest_url}/zstack/v1/hosts?limit=1", pki.ca, session=session)
        assert status == 200 and len(hosts["inventories"]) == 1, hosts
        with pytest.raises(ConnectionError):  # plain HTTP to the HTTPS port: the server hangs up
            urllib.request.urlopen(served.rest_url.replace("https://", "http://") + "/openapi.json", timeout=10)
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # a client trusting another CA
            _https(f"{served.rest_url}/openapi.json", pki.stranger_cert)
    finally:
        served.stop()


def test_a_client_ca_refuses_clients_without_a_certificate_of_it(tmp_path, pki):
    served = _serve(
        tmp_path,
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
        "--tls-client-ca",
        str(pki.ca),
    )
    try:
        assert served.lines[-1].endswith(" --tls-ca CA.pem --tls-cert CLIENT.pem --tls-key CLIENT-KEY.pem")
        with _secure_channel(served.grpc_target, pki) as anonymous:
            assert _refused(lambda: login(anonymous, "admin", PASSWORD, timeout=5)) == grpc.StatusCode.UNAVAILABLE
        with _secure_channel(served.grpc_target, pki, pki.stranger_cert, pki.stranger_key) as stranger:
            assert _refused(lambda: login(stranger, "admin", PASSWORD, timeout=5)) == grpc.StatusCode.UNAVAILABLE
        with _secure_channel(served.grpc_target, pki, pki.client_cert, pki.client_key) as known:
            assert login(known, "admin", PASSWORD)

        with pytest.raises((urllib.error.URLError, ConnectionError)):  # no client certificate: the handshake fails
            _rest_login(served.rest_url, pki.ca)
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            _rest_login(served.rest_url, pki.ca, pki.stranger_cert, pki.stranger_key)
        assert _rest_login(served.rest_url, pki.ca, pki.client_cert, pki.client_key)

        tls = ["--tls-ca", str(pki.ca)]
        mine = ["--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)]
        query = ["--target", served.grpc_target, "--login", "admin", "QueryZone", "{}"]
        called = _ftvm("call", *tls, *mine, *query)
        assert called.returncode == 0, called.stdout + called.stderr
        assert '"inventories"' in called.stdout
        anonymous_call = _ftvm("call", *tls, *query)
        assert anonymous_call.returncode == 1 and "UNAVAILABLE" in anonymous_call.stderr, anonymous_call.stderr
    finally:
        served.stop()


def test_the_gateway_alone_reaches_a_tls_server_and_serves_https(tmp_path, pki):
    server_tls = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    served = _serve(tmp_path, *server_tls, "--tls-client-ca", str(pki.ca), "--no-gateway")
    try:
        target_tls = ["--target-tls-ca", str(pki.ca)]
        gateway_argv = ["gateway", "--target", served.grpc_target, "--http-port", "0", *server_tls]
        gateway = Served(
            gateway_argv
            + [*target_tls, "--target-tls-cert", str(pki.client_cert), "--target-tls-key", str(pki.client_key)],
            "REST listening on",
        )
        try:
            assert gateway.rest_url.startswith("https://")
            session = _rest_login(gateway.rest_url, pki.ca)
            status, zones = _https(f"{gateway.rest_url}/zstack/v1/zones", pki.ca, session=session)
            assert status == 200 and zones["inventories"], zones
        finally:
            gateway.stop()
        # without a client certificate the server turns the gateway away: its REST answers 503 SYS.1006
        gateway = Served(gateway_argv + target_tls, "REST listening on")
        try:
            with pytest.raises(urllib.error.HTTPError) as refused:
                _rest_login(gateway.rest_url, pki.ca)
            assert refused.value.code == 503
            assert json.loads(refused.value.read())["error"]["code"] == "SYS.1006"
        finally:
            gateway.stop()
    finally:
        served.stop()


def test_workers_serve_tls(tmp_path, pki):
    served = _serve(tmp_path, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--workers", "2")
    try:
        assert "2 worker processes" in "\n".join(served.lines)
        for _ in range(4):  # new connections, spread over the workers by the kernel
            with _secure_channel(served.grpc_target, pki) as channel:
                assert login(channel, "admin", PASSWORD)
            assert _rest_login(served.rest_url, pki.ca)
        with grpc.insecure_channel(served.grpc_target) as plaintext:
            assert _refused(lambda: login(plaintext, "admin", PASSWORD, timeout=5)) == grpc.StatusCode.UNAVAILABLE
    finally:
        served.stop()


def _half_configs(pki: Pki, tmp_path: Path) -> list[tuple[list[str], str]]:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cert, key = ["--tls-cert", str(pki.server_cert)], ["--tls-key", str(pki.server_key)]
    return [
        (cert, "--tls-cert and --tls-key go together"),
        (key, "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", str(pki.ca)], "--tls-client-ca needs --tls-cert and --tls-key"),
        (["--tls-cert", str(tmp_path / "missing.pem"), *key], f"--tls-cert {tmp_path / 'missing.pem'}: cannot read"),
        ([*cert, "--tls-key", str(pki.client_key)], f"--tls-key {pki.client_key} is not the key of --tls-cert"),
        (["--tls-cert", str(garbage), *key], "not a PEM certificate chain"),
        ([*cert, *key, "--tls-client-ca", str(garbage)], f"--tls-client-ca {garbage}: not a PEM CA certificate"),
    ]


def test_half_or_broken_tls_configurations_stop_serve_with_exit_2(tmp_path, pki):
    for options, message in _half_configs(pki, tmp_path):
        result = _ftvm("serve", "--data-dir", str(tmp_path / "data"), "--grpc-port", "0", "--http-port", "0", *options)
        assert result.returncode == 2, (options, result.stdout, result.stderr)
        assert result.stderr.startswith("ftvm serve: error: ") and message in result.stderr, (options, result.stderr)
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "data").exists()  # refused before anything started


@pytest.mark.parametrize(
    "command, options, message",
    [
        (
            ["call", "QueryZone"],
            ["--tls-cert", "c.pem", "--tls-key", "k.pem"],
            "--tls-cert and --tls-key need --tls-ca",
        ),
        (["call", "QueryZone"], ["--tls-ca", "CA", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["gateway"], ["--target-tls-key", "k.pem"], "--target-tls-cert and --target-tls-key need --target-tls-ca"),
        (["gateway"], ["--tls-key", "k.pem"], "--tls-cert and --tls-key go together"),
        (["cluster", "up"], ["--tls-client-ca", "CA"], "--tls-client-ca needs --tls-cert and --tls-key"),
    ],
)
def test_half_tls_configurations_stop_every_command_with_exit_2(tmp_path, pki, command, options, message):
    options = [str(pki.ca) if o == "CA" else o for o in options]
    result = _ftvm(*command, *options)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_cluster_up_hands_its_tls_options_to_every_replica(pki):
    from ftvm.localcluster import ClusterConfig, _replica_argv
    from ftvm.tls import server_tls

    tls = server_tls(str(pki.server_cert), str(pki.server_key), str(pki.ca))
    for number in (1, 2):
        argv = _replica_argv(ClusterConfig(tls=tls), number, "postgresql://postgres@127.0.0.1:5432/ftvm")
        options = " ".join(argv[argv.index("serve") :])
        assert f"--tls-cert {pki.server_cert} --tls-key {pki.server_key} --tls-client-ca {pki.ca}" in options
