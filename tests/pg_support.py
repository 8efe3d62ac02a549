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
        super().__init__(durable=False)  # the tests restart servers, never the machine

    def terminate(self, application_name: str) -> int:
        """Cuts the connections of that application name the way a server restart does; answers how many."""
        with self.admin() as conn:
            return len(
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (application_name,),
                ).fetchall()
            )

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
