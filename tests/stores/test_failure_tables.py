"""Each backend's failure table covers every store error, maps the drivers' exceptions as
documented, and ``guarded`` lets nothing but a catalog store error out."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl

import asyncpg
import httpx
import pytest
from asyncmy import errors as mysql_errors
from ldap3.core import exceptions as ldap_errors

from subwarden.errors import (
    GatewayError,
    StoreAuthFailed,
    StoreMisconfigured,
    StoreTimeout,
    StoreUnavailable,
    UserNotFound,
)
from subwarden.identity.stores import http, ldap, mysql, postgres
from subwarden.identity.stores._failures import STORE_ERRORS, FailureTable, guarded

TABLES = {"postgresql": postgres.FAILURES, "mysql": mysql.FAILURES, "ldap": ldap.FAILURES, "http": http.FAILURES}
pgx = asyncpg.exceptions


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_can_produce_every_store_error(name: str) -> None:
    produced = {rule.error for rule in TABLES[name].rules} | {TABLES[name].fallback}
    assert produced == set(STORE_ERRORS)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_no_table_turns_a_failure_into_not_found(name: str) -> None:
    assert all(rule.error in STORE_ERRORS for rule in TABLES[name].rules)
    assert TABLES[name].classify(RuntimeError("a bug in the driver")) is StoreUnavailable


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_catalog_error_keeps_its_class(name: str) -> None:
    assert TABLES[name].classify(StoreMisconfigured("mapping")) is StoreMisconfigured


CASES: list[tuple[FailureTable, BaseException, type[GatewayError]]] = [
    (postgres.FAILURES, pgx.InvalidPasswordError("password authentication failed"), StoreAuthFailed),
    (postgres.FAILURES, pgx.InvalidAuthorizationSpecificationError("role does not exist"), StoreAuthFailed),
    (postgres.FAILURES, pgx.InsufficientPrivilegeError("permission denied"), StoreAuthFailed),
    (postgres.FAILURES, pgx.InvalidCatalogNameError("database does not exist"), StoreMisconfigured),
    (postgres.FAILURES, pgx.UndefinedTableError("relation does not exist"), StoreMisconfigured),
    (postgres.FAILURES, pgx.UndefinedColumnError("column does not exist"), StoreMisconfigured),
    (postgres.FAILURES, pgx.PostgresSyntaxError("syntax error"), StoreMisconfigured),
    (postgres.FAILURES, pgx.InvalidTextRepresentationError("invalid input syntax for type uuid"), StoreMisconfigured),
    (postgres.FAILURES, pgx.QueryCanceledError("statement timeout"), StoreTimeout),
    (postgres.FAILURES, pgx.CannotConnectNowError("the database system is starting up"), StoreUnavailable),
    (postgres.FAILURES, pgx.AdminShutdownError("terminating connection"), StoreUnavailable),
    (postgres.FAILURES, pgx.TooManyConnectionsError("too many clients"), StoreUnavailable),
    (postgres.FAILURES, pgx.ConnectionDoesNotExistError("connection was closed"), StoreUnavailable),
    (postgres.FAILURES, pgx._base.InterfaceError("connection is closed"), StoreUnavailable),
    (postgres.FAILURES, ConnectionRefusedError(111, "refused"), StoreUnavailable),
    (postgres.FAILURES, socket.gaierror(-2, "Name or service not known"), StoreUnavailable),
    (postgres.FAILURES, ssl.SSLCertVerificationError("certificate verify failed"), StoreUnavailable),
    (mysql.FAILURES, mysql_errors.OperationalError(1045, "Access denied"), StoreAuthFailed),
    (mysql.FAILURES, mysql_errors.OperationalError(1044, "Access denied to database"), StoreAuthFailed),
    (mysql.FAILURES, mysql_errors.OperationalError(1142, "SELECT command denied"), StoreAuthFailed),
    (mysql.FAILURES, mysql_errors.OperationalError(1049, "Unknown database"), StoreMisconfigured),
    (mysql.FAILURES, mysql_errors.ProgrammingError(1146, "Table doesn't exist"), StoreMisconfigured),
    (mysql.FAILURES, mysql_errors.OperationalError(1054, "Unknown column"), StoreMisconfigured),
    (mysql.FAILURES, mysql_errors.ProgrammingError(1064, "You have an error in your SQL syntax"), StoreMisconfigured),
    (mysql.FAILURES, mysql_errors.OperationalError(1969, "max_statement_time exceeded"), StoreTimeout),
    (mysql.FAILURES, mysql_errors.OperationalError(2003, "Can't connect"), StoreUnavailable),
    (mysql.FAILURES, mysql_errors.OperationalError(2013, "Lost connection"), StoreUnavailable),
    (mysql.FAILURES, mysql_errors.OperationalError(1040, "Too many connections"), StoreUnavailable),
    (mysql.FAILURES, ConnectionResetError(104, "reset"), StoreUnavailable),
    (ldap.FAILURES, ldap_errors.LDAPOperationResult(result=49, description="invalidCredentials"), StoreAuthFailed),
    (ldap.FAILURES, ldap_errors.LDAPOperationResult(result=50, description="insufficientAccessRights"),
     StoreAuthFailed),
    (ldap.FAILURES, ldap_errors.LDAPOperationResult(result=32, description="noSuchObject"), StoreMisconfigured),
    (ldap.FAILURES, ldap_errors.LDAPOperationResult(result=17, description="undefinedAttributeType"),
     StoreMisconfigured),
    (ldap.FAILURES, ldap_errors.LDAPOperationResult(result=3, description="timeLimitExceeded"), StoreTimeout),
    (ldap.FAILURES, ldap_errors.LDAPOperationResult(result=51, description="busy"), StoreUnavailable),
    (ldap.FAILURES, ldap_errors.LDAPOperationResult(result=52, description="unavailable"), StoreUnavailable),
    (ldap.FAILURES, ldap_errors.LDAPSocketOpenError("socket connection error"), StoreUnavailable),
    (ldap.FAILURES, ldap_errors.LDAPSessionTerminatedByServerError("terminated"), StoreUnavailable),
    (ldap.FAILURES, ldap_errors.LDAPStartTLSError("start_tls failed"), StoreUnavailable),
    (ldap.FAILURES, ldap_errors.LDAPResponseTimeoutError("no response"), StoreTimeout),
    (ldap.FAILURES, ldap_errors.LDAPInvalidFilterError("malformed filter"), StoreMisconfigured),
    (ldap.FAILURES, ldap_errors.LDAPAttributeError("invalid attribute type"), StoreMisconfigured),
    (http.FAILURES, http.HttpStatusError(401, "u"), StoreAuthFailed),
    (http.FAILURES, http.HttpStatusError(403, "u"), StoreAuthFailed),
    (http.FAILURES, http.HttpStatusError(500, "u"), StoreUnavailable),
    (http.FAILURES, http.HttpStatusError(503, "u"), StoreUnavailable),
    (http.FAILURES, http.HttpStatusError(429, "u"), StoreUnavailable),
    (http.FAILURES, http.HttpStatusError(400, "u"), StoreMisconfigured),
    (http.FAILURES, http.HttpStatusError(302, "u"), StoreMisconfigured),
    (http.FAILURES, httpx.ConnectError("refused"), StoreUnavailable),
    (http.FAILURES, httpx.RemoteProtocolError("server disconnected"), StoreUnavailable),
    (http.FAILURES, httpx.ReadTimeout("timed out"), StoreTimeout),
    (http.FAILURES, httpx.ConnectTimeout("timed out"), StoreTimeout),
    (http.FAILURES, httpx.UnsupportedProtocol("ftp"), StoreMisconfigured),
    (http.FAILURES, json.JSONDecodeError("Expecting value", "<html>", 0), StoreUnavailable),
]


@pytest.mark.parametrize(("table", "exc", "error"), CASES, ids=lambda v: getattr(v, "backend", type(v).__name__))
def test_the_table_maps_the_driver_exception(table: FailureTable, exc: BaseException, error: type) -> None:
    translated = table.translate(exc)
    assert type(translated) is error
    assert translated.detail["backend"] == table.backend


async def test_guarded_translates_a_driver_exception() -> None:
    async def boom() -> None:
        raise ConnectionRefusedError(111, "refused")

    with pytest.raises(StoreUnavailable):
        await guarded(postgres.FAILURES, 1.0, boom())


async def test_guarded_turns_an_overrun_into_store_timeout_without_waiting_for_the_work() -> None:
    finished = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            finished.set()

    with pytest.raises(StoreTimeout):
        await guarded(postgres.FAILURES, 0.01, slow())
    await asyncio.wait_for(finished.wait(), 1.0)  # the abandoned work was cancelled


async def test_guarded_lets_catalog_errors_through_unchanged() -> None:
    async def misconfigured() -> None:
        raise StoreMisconfigured("no such column")

    with pytest.raises(StoreMisconfigured, match="no such column"):
        await guarded(ldap.FAILURES, 1.0, misconfigured())


async def test_guarded_never_reports_not_found() -> None:
    async def odd() -> None:
        raise KeyError("surprise")

    with pytest.raises(GatewayError) as caught:
        await guarded(http.FAILURES, 1.0, odd())
    assert not isinstance(caught.value, UserNotFound)


class Attempts:
    """Fails with each of ``failures`` in turn, then answers."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> list[str]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return ["alice"]


async def test_guarded_gives_an_unavailable_store_one_fresh_try() -> None:
    attempt = Attempts(ConnectionRefusedError(111, "refused"))
    assert await guarded(postgres.FAILURES, 1.0, attempt(), attempt) == ["alice"]
    assert attempt.calls == 2


async def test_guarded_tries_again_once_only_and_only_for_an_unavailable_store() -> None:
    twice = Attempts(ConnectionRefusedError(111, "refused"), ConnectionRefusedError(111, "refused"))
    with pytest.raises(StoreUnavailable):
        await guarded(postgres.FAILURES, 1.0, twice(), twice)
    assert twice.calls == 2
    misconfigured = Attempts(StoreMisconfigured("no such column"))
    with pytest.raises(StoreMisconfigured):
        await guarded(postgres.FAILURES, 1.0, misconfigured(), misconfigured)
    assert misconfigured.calls == 1
    no_again = Attempts(ConnectionRefusedError(111, "refused"))
    with pytest.raises(StoreUnavailable):
        await guarded(postgres.FAILURES, 1.0, no_again())
    assert no_again.calls == 1


async def test_the_fresh_try_runs_within_the_same_budget() -> None:
    async def slow() -> list[str]:
        await asyncio.sleep(30)
        return []

    refused = Attempts(ConnectionRefusedError(111, "refused"))
    started = asyncio.get_running_loop().time()
    with pytest.raises(StoreTimeout, match=r"no answer within 0\.05s"):
        await guarded(postgres.FAILURES, 0.05, refused(), slow)
    assert refused.calls == 1
    assert asyncio.get_running_loop().time() - started < 1.0
