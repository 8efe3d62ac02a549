"""The tests' PostgreSQL: `ftvm.localcluster.PostgresCluster` in a temporary folder, started once per test session
(conftest.py) without fsync, plus the faults the tests inject: connections cut, a database refusing connections.
Each test module or server gets its own database. scripts/test.sh installs Debian's `postgresql` when missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from ftvm import localcluster


class PostgresCluster(localcluster.PostgresCluster):
    def __init__(self) -> None:
<<<<<<< HEAD
        super().__init__(durable=False)  # the tests restart servers, never the machine
=======
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
>>>>>>> static-checks

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
