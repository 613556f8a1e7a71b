"""Backend fixtures for the store tests: each starts/seeds its real server once per session and
cleans up after itself. A missing server fails the tests (never skips)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stores_harness import Harness
from stores_http import HttpHarness
from stores_ldap import LdapHarness
from stores_sql import MysqlHarness, PostgresHarness, SqliteHarness


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgresHarness]:
    harness = PostgresHarness()
    harness.setup()
    yield harness
    harness.teardown()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MysqlHarness]:
    harness = MysqlHarness()
    harness.setup()
    yield harness
    harness.teardown()


@pytest.fixture(scope="session")
def ldap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapHarness]:
    harness = LdapHarness(tmp_path_factory.mktemp("slapd"))
    try:
        harness.setup()
        yield harness
    finally:
        harness.teardown()


@pytest.fixture(scope="session")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpHarness]:
    harness = HttpHarness(tmp_path_factory.mktemp("user-service"))
    try:
        harness.setup()
        yield harness
    finally:
        harness.teardown()


@pytest.fixture(scope="session")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteHarness]:
    harness = SqliteHarness(tmp_path_factory.mktemp("sqlite-store"))
    harness.setup()
    yield harness
    harness.teardown()


ALL_BACKENDS = ["sqlite", "postgresql", "mariadb", "ldap", "http"]
NETWORK_BACKENDS = ["postgresql", "mariadb", "ldap", "http"]


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> Harness:
    """Every backend, for the contract suite."""
    harness: Harness = request.getfixturevalue(request.param)
    return harness


@pytest.fixture(params=NETWORK_BACKENDS)
def network_backend(request: pytest.FixtureRequest) -> Harness:
    """The backends reached over TCP (stop, proxy, credentials)."""
    harness: Harness = request.getfixturevalue(request.param)
    return harness


@pytest.fixture(params=["sqlite", "postgresql", "mariadb", "ldap"])
def folding_backend(request: pytest.FixtureRequest) -> Harness:
    """The backends that offer case-insensitive lookups (``normalization.casefold``)."""
    harness: Harness = request.getfixturevalue(request.param)
    return harness
