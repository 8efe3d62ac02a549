"""Fixtures for the tests that run on both database backends.

A test (or fixture) that takes `backend` runs once per backend: SQLite, then PostgreSQL (the parameter is
module-scoped, so a module's shared server is started once per backend). `database_url` is a new empty database
of that backend for the test. PostgreSQL's cluster starts the first time a test needs it and stops at the end of the
session (tests/pg_support.py, on ftvm.localcluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pg_support import PostgresCluster

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


def new_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> str:
    """The URL of a new empty database of `backend` (SQLite: the file a server with data_dir=folder/data uses)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'data' / 'ftvm.db'}"
    return request.getfixturevalue("postgres_cluster").create_database()


@pytest.fixture
def database_url(request, backend, tmp_path) -> str:
    return new_database(request, backend, tmp_path)
