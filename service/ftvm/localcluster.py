"""A PostgreSQL of its own and several `ftvm serve` replicas on it, all on this machine: `ftvm cluster up`, and the
database the tests and the service benchmark start.

`PostgresCluster` runs PostgreSQL's own binaries (Debian's `postgresql` package: the newest under
/usr/lib/postgresql/*/bin, or `bin_dir`): initdb into `folder`/data unless a cluster is there already, then the
server on a free port of 127.0.0.1 only (no Unix socket), trust authentication, log in `folder`/server.log.
initdb and postgres refuse to run as root: as root they run as the `postgres` system user (created when missing),
which owns the folder and must be able to reach it. Without `folder` the cluster lives in a new temporary folder
that `stop()` removes.

`cluster_up` is `ftvm cluster up`: the database (created when missing) on such a cluster, the first replica (which
does the first start: the inventory, the admin account), then the others, each an `ftvm serve` process with its
output in the folder; it prints where everything listens and a sample call over every replica, and runs until
SIGTERM/SIGINT, then stops the replicas and the database. The folder stays (a later `cluster up` on it starts the same
cluster again) unless `ephemeral`.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from ftvm.tls import ServerTls

POSTGRES_USER = "postgres"
DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
REPLICA_START_SECONDS = 180.0  # a replica loads the whole inventory before it listens
REPLICA_STOP_SECONDS = 30.0  # its grace period (10 s) and closing the database, with room to spare


class ClusterError(RuntimeError):
    """Something this machine lacks or refused; the message says what to do."""


def postgres_bin_dir(bin_dir: str | Path | None = None) -> Path:
    """`bin_dir` if given, else the newest PostgreSQL under /usr/lib/postgresql; it must hold postgres, initdb and
    pg_ctl."""
    if bin_dir is None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
        if not found:
            raise ClusterError(
                "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres (on Debian or "
                "Ubuntu: apt-get install postgresql; elsewhere name its bin folder with "
                "--postgres-bin)"
            )
        return Path(found[-1]).parent
    folder = Path(bin_dir)
    missing = [name for name in ("postgres", "initdb", "pg_ctl") if not (folder / name).is_file()]
    if missing:
        raise ClusterError(f"{folder} is not a PostgreSQL bin folder: no {', '.join(missing)}")
    return folder


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _admin_connection(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def create_database(admin_url: str, name: str, *, exist_ok: bool = False) -> None:
    """CREATE DATABASE `name` on the server of `admin_url` (a role that may create databases)."""
    if not DATABASE_NAME.fullmatch(name):
        raise ValueError(f"database names here are lower-case identifiers, not {name!r}")
    with _admin_connection(admin_url) as conn:
        if exist_ok and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    """DROP DATABASE `name`, cutting its connections."""
    with _admin_connection(admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class PostgresCluster:
    def __init__(
        self, folder: str | Path | None = None, *, durable: bool = True, bin_dir: str | Path | None = None
    ) -> None:
        """`durable=False` turns fsync off (tests: their servers restart, the machine does not); commits still wait
        for the WAL write."""
        self._bin = postgres_bin_dir(bin_dir)
        self._as_root = os.geteuid() == 0
        self._temporary = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="ftvm-pg-")) if folder is None else Path(folder).absolute()
        self.data = self.folder / "data"
        self.log_path = self.folder / "server.log"
        self.durable = durable
        self.port: int | None = None
        self._started = False  # by this object (a failed start may have met another's server on the folder)
        self._names = itertools.count(1)

    @property
    def version(self) -> str:
        """The major version, from the bin folder's path (/usr/lib/postgresql/15/bin) or the binary."""
        parent = self._bin.parent.name
        if parent.isdigit():
            return parent
        out = subprocess.run([str(self._bin / "postgres"), "--version"], capture_output=True, text=True).stdout
        return out.split()[-1] if out.split() else "?"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", POSTGRES_USER, "--"] if self._as_root else []
        # a session of its own: a Ctrl-C in the terminal reaches whoever started the cluster, who stops it in order
        done = subprocess.run(
            prefix + list(command), capture_output=True, text=True, cwd=self.folder, start_new_session=True
        )
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()
            raise ClusterError(
                f"{Path(command[0]).name} failed (exit {done.returncode}): {output} (log: {self.log_path})"
            )

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._as_root:
            return
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", POSTGRES_USER], check=True
            )
        shutil.chown(self.folder, POSTGRES_USER, POSTGRES_USER)
        reach = subprocess.run(["runuser", "-u", POSTGRES_USER, "--", "test", "-w", str(self.folder)])
        if reach.returncode != 0:
            raise ClusterError(
                f"PostgreSQL runs as the user {POSTGRES_USER!r} here (not as root), and that user "
                f"cannot reach {self.folder}: choose a folder whose parents it may enter (e.g. under "
                "/tmp, or chmod o+x the parents)"
            )

    def start(self) -> PostgresCluster:
        self._prepare_folder()
        if not (self.data / "PG_VERSION").is_file():
            # An ICU collation (like most production databases' linguistic locale) so that the store's explicit
            # binary collation is what runs, not a C-locale cluster's default.
            self._run(
                str(self._bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                POSTGRES_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--locale-provider=icu",
                "--icu-locale=en-US",
                "--no-sync",
            )
        self.port = free_port()
        # No Unix socket: its path (folder + .s.PGSQL.port) must stay under ~107 bytes, a folder's may not.
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' -c max_connections=300"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            str(self._bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        self._started = True
        return self

    @property
    def running(self) -> bool:
        return self._started

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (the first line of postmaster.pid)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return _admin_connection(self.url())

    def create_database(self, name: str | None = None, *, exist_ok: bool = False) -> str:
        """A database (a new empty one, numbered, without `name`); its URL."""
        name = name or f"ftvm_{next(self._names)}"
        create_database(self.url(), name, exist_ok=exist_ok)
        return self.url(name)

    def stop(self) -> None:
        """Stops the server (a temporary cluster at once, removing its folder; a kept one with a checkpoint)."""
        try:
            if self._started:
                mode = "immediate" if self._temporary else "fast"
                self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
                self._started = False
        finally:
            if self._temporary:
                shutil.rmtree(self.folder, ignore_errors=True)


# ---- ftvm cluster up ---------------------------------------------------------------------------------------------


@dataclass
class ClusterConfig:
    replicas: int = 3
    data_dir: str = "ftvm-cluster"
    host: str = "127.0.0.1"
    grpc_port_base: int = 50051  # replica i listens on base + i; 0: free ports
    http_port_base: int | None = 8080  # the same for REST; None: gRPC only
    inventory_file: str | None = None
    with_demo: bool = True
    ephemeral: bool = False  # remove data_dir when stopping
    postgres_bin: str | None = None
    log_level: str = "WARNING"
    tls: ServerTls | None = None  # every replica's gRPC and REST over TLS


class Replica:
    """One `ftvm serve` process on the cluster's database, its output in `log_path`. `start()` returns at once;
    `wait_ready()` once it printed where it listens."""

    def __init__(self, number: int, argv: list[str], log_path: Path) -> None:
        self.number = number
        self.argv = argv
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.grpc_target: str | None = None
        self.rest_url: str | None = None
        self.generated_password: str | None = None
        self._with_rest = "--no-gateway" not in argv
        self._ready = threading.Event()

    def start(self) -> Replica:
        # its own session: a Ctrl-C in the terminal reaches `cluster up` only, which stops the replicas first
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True,
        )
        threading.Thread(target=self._read, name=f"replica-{self.number}-output", daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                if self._ready.is_set():
                    continue
                if m := re.search(r"created account 'admin' with password (\S+)", line):
                    self.generated_password = m.group(1)
                elif m := re.search(r"gRPC listening on (\S+:\d+)", line):
                    self.grpc_target = m.group(1)
                elif m := re.search(r"REST listening on (\S+)", line):
                    self.rest_url = m.group(1)
                if self.grpc_target and (self.rest_url or not self._with_rest):
                    self._ready.set()
        self._ready.set()  # it exited

    def wait_ready(self, stopping: threading.Event) -> None:
        deadline = time.monotonic() + REPLICA_START_SECONDS
        while not self._ready.wait(0.2):
            if stopping.is_set():
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"replica {self.number} printed no listening line in {REPLICA_START_SECONDS:g} "
                    f"s; its log {self.log_path}:\n{self.log_tail()}"
                )
        if self.grpc_target is None or (self._with_rest and self.rest_url is None):
            assert self.proc is not None
            self.proc.wait(10)
            raise ClusterError(
                f"replica {self.number} exited with code {self.proc.returncode}; its log "
                f"{self.log_path}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_stopped(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(REPLICA_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _replica_argv(config: ClusterConfig, number: int, database_url: str) -> list[str]:
    def port(base: int) -> str:
        return str(base + number - 1 if base else 0)

    argv = [
        sys.executable,
        "-m",
        "ftvm.cli",
        "serve",
        "--database-url",
        database_url,
        "--grpc-host",
        config.host,
        "--grpc-port",
        port(config.grpc_port_base),
        "--log-level",
        config.log_level,
    ]
    if config.http_port_base is None:
        argv.append("--no-gateway")
    else:
        argv += ["--http-host", config.host, "--http-port", port(config.http_port_base)]
    if config.tls is not None:
        argv += ["--tls-cert", config.tls.cert, "--tls-key", config.tls.key]
        if config.tls.client_ca:
            argv += ["--tls-client-ca", config.tls.client_ca]
    if number == 1:  # the first start (inventory, admin account) is the first replica's
        if config.inventory_file:
            argv += ["--inventory", config.inventory_file]
        elif not config.with_demo:
            argv.append("--no-demo")
    return argv


def _say(text: str) -> None:
    print(f"ftvm cluster: {text}", flush=True)


def cluster_up(config: ClusterConfig) -> int:
    """Runs the cluster until SIGTERM/SIGINT; 0 after a clean stop, 1 when it could not start (said on stderr)."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    folder = Path(config.data_dir).absolute()
    postgres: PostgresCluster | None = None
    replicas: list[Replica] = []
    code = 0
    try:
        if max(config.grpc_port_base, config.http_port_base or 0) + config.replicas - 1 > 65535:
            raise ClusterError(
                f"{config.replicas} replicas need ports up to their base + {config.replicas - 1}, beyond 65535"
            )
        postgres = PostgresCluster(folder / "postgres", bin_dir=config.postgres_bin)
        postgres.start()
        url = postgres.create_database("ftvm", exist_ok=True)
        _say(
            f"PostgreSQL {postgres.version} on 127.0.0.1:{postgres.port} (data {postgres.data}, log "
            f"{postgres.log_path})"
        )
        for number in range(1, config.replicas + 1):
            replicas.append(Replica(number, _replica_argv(config, number, url), folder / f"replica-{number}.log"))
        replicas[0].start().wait_ready(stopping)  # the first start, before any other replica reads the database
        for replica in replicas[1:]:
            replica.start()
        for replica in replicas[1:]:
            replica.wait_ready(stopping)
        if not stopping.is_set():
            _print_cluster(config, url, replicas)
            _run_until_stopped(replicas, stopping)
    except (ClusterError, psycopg.Error, OSError) as e:  # what this machine lacks or refused: said plainly
        print(f"ftvm cluster: {e}", file=sys.stderr, flush=True)
        code = 1
    finally:
        if postgres is not None and postgres.running:
            _say("stopping the replicas and the database")
        for replica in replicas:
            replica.terminate()
        for replica in replicas:
            replica.wait_stopped()
        if postgres is not None:
            try:
                postgres.stop()
            except ClusterError as e:
                print(f"ftvm cluster: {e}", file=sys.stderr, flush=True)
                code = 1
        if config.ephemeral:
            shutil.rmtree(folder, ignore_errors=True)
            _say(f"stopped; removed {folder}")
        elif postgres is not None and (folder / "postgres" / "data").is_dir():
            _say(f"stopped; the data stays in {folder} (`ftvm cluster up --data-dir {folder}` starts it again)")
    return code


def _print_cluster(config: ClusterConfig, url: str, replicas: list[Replica]) -> None:
    from ftvm.server import sample_call, sample_rows
    from ftvm.store import open_store

    _say(f"database {url}")
    for r in replicas:
        rest = f", REST {r.rest_url}" if r.rest_url else ""
        _say(f"replica {r.number}: gRPC {r.grpc_target}{rest} (log {r.log_path})")
    password = replicas[0].generated_password
    login = "admin"  # ftvm call reads the password from $FTVM_ADMIN_PASSWORD
    if password:
        login = f"'admin:{password}'"
        _say(f"admin password {password} (printed once; keep it)")
    elif os.environ.get("FTVM_ADMIN_PASSWORD"):
        _say("admin password: $FTVM_ADMIN_PASSWORD")
    else:
        _say("admin password: the one set at the first start on this folder (not shown again)")
    store = open_store(url)
    try:
        call = sample_call(",".join(r.grpc_target for r in replicas if r.grpc_target), login, sample_rows(store))
    finally:
        store.close()
    if call is not None:
        _say("try it (calls go round-robin over the replicas; one that is down is skipped):")
        print(f"  {call}", flush=True)
    kept = "removing the folder" if config.ephemeral else f"the data stays in {Path(config.data_dir).absolute()}"
    _say(f"running; SIGTERM or Ctrl-C stops the replicas and the database ({kept})")


def _run_until_stopped(replicas: list[Replica], stopping: threading.Event) -> None:
    """Until a signal; a replica that exits meanwhile is reported (the others go on serving)."""
    reported: set[int] = set()
    while not stopping.wait(0.5):
        for r in replicas:
            if r.number not in reported and r.proc is not None and r.proc.poll() is not None:
                reported.add(r.number)
                _say(
                    f"replica {r.number} ({r.grpc_target}) exited with code {r.proc.returncode}; the others go on "
                    f"(log {r.log_path})"
                )
