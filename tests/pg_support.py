"""A throw-away PostgreSQL cluster for the tests: initdb into a temporary folder, started on a free port of
127.0.0.1 once per test session (trust authentication), stopped and removed at the end. Each test module or server
gets its own database.

initdb and postgres refuse to run as root (CI runs as root): as root, the cluster runs as the `postgres` system
user (created when missing), which owns the folder. The binaries are the newest under /usr/lib/postgresql (Debian's
`postgresql` package; .ci/run installs it)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

USER = "postgres"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql); the tests start their own")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self) -> None:
        self._bin = _bin_dir()
        self._as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="ftvm-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._names = itertools.count(1)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", USER, "--"] if self._as_root else []
        subprocess.run(prefix + list(command), check=True, capture_output=True, text=True, cwd=self.folder)

    def start(self) -> PostgresCluster:
        if self._as_root:
            try:
                pwd.getpwnam(USER)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                               check=True)
            shutil.chown(self.folder, USER, USER)
        # An ICU collation (like most production databases' linguistic locale) so that the store's explicit
        # binary collation is what the tests see, not a C-locale cluster's default.
        self._run(str(self._bin / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US", "--no-sync")
        # fsync off: the tests restart servers, never the machine; commits still wait for the WAL write.
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
                   "-c fsync=off -c full_page_writes=off -c max_connections=300")
        self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-t", "60", "-o", options, "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"ftvm_test_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def terminate(self, application_name: str) -> int:
        """Cuts the connections of that application name the way a server restart does; answers how many."""
        with self.admin() as conn:
            return len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE application_name = %s", (application_name,)).fetchall())

    @contextmanager
    def refusing_connections(self, url: str) -> Iterator[None]:
        """The database down: every connection to it cut, and new ones refused, until the block ends."""
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with self.admin() as conn:
            conn.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            try:
                yield
            finally:
                conn.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")

    def stop(self) -> None:
        try:
            self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
