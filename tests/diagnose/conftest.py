"""Fixtures for the diagnose tests: real stores (SQLite, PostgreSQL, LDAP) seeded with the same users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from diagnose_backends import Backend, LdapBackend, MariadbBackend, PostgresBackend, SqliteBackend


@pytest.fixture(scope="session")
def postgres_backend() -> Iterator[PostgresBackend]:
    backend = PostgresBackend()
    yield backend
    backend.teardown()


@pytest.fixture(scope="session")
def mariadb_backend() -> Iterator[MariadbBackend]:
    backend = MariadbBackend()
    yield backend
    backend.teardown()


@pytest.fixture(scope="session")
def ldap_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapBackend]:
    backend = LdapBackend(tmp_path_factory.mktemp("slapd"))
    yield backend
    backend.teardown()


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> SqliteBackend:
    return SqliteBackend(tmp_path)


BACKENDS = ["sqlite_backend", "postgres_backend", "mariadb_backend", "ldap_backend"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every real store kind, seeded with ``diagnose_backends.USERS``."""
    found: Backend = request.getfixturevalue(request.param)
    return found
