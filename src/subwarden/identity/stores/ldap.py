"""LDAP / Active Directory user store (``ldap://``, ``ldaps://``, StartTLS) over ldap3.

ldap3 is blocking, so searches run in a small thread pool with pooled bound
connections. The subject enters the filter only RFC 4515-escaped; results are
post-filtered by exact equality because directory matching rules ignore case.
Referrals are ignored unless ``ldap.follow_referrals`` (then followed one hop).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import socket
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import ldap3
from ldap3.core import exceptions as _x

from subwarden.config.loader import ConfigError
from subwarden.config.models import StoreConfig
from subwarden.errors import StoreAuthFailed, StoreMisconfigured, StoreTimeout, StoreUnavailable
from subwarden.identity.stores import _ldap_filter as lf
from subwarden.identity.stores._failures import FailureRule, FailureTable, guarded
from subwarden.identity.stores._ldap_conn import LdapConnector, SearchResult
from subwarden.identity.stores._ldap_entry import (
    AD_FLAGS,
    PPOLICY_LOCK,
    Entry,
    exact_value,
    record_from_entry,
    requested_attributes,
)
from subwarden.identity.stores._records import near_miss_kind, other_fields, searched_field, secret
from subwarden.identity.stores._selftest import Check, run_checks, with_canary
from subwarden.identity.stores.base import NearMiss, SelfTestReport, StoreQuery, UserRecord, UserStore

T = TypeVar("T")

#: ldap3 exceptions and LDAP result codes (RFC 4511) → catalog errors. First match wins.
FAILURES = FailureTable(
    "ldap",
    [
        FailureRule(_x.LDAPOperationResult, StoreAuthFailed, frozenset({7, 8, 13, 48, 49, 50, 123}),
                    why="invalidCredentials, insufficientAccessRights, strongerAuthRequired"),
        FailureRule(_x.LDAPOperationResult, StoreMisconfigured, frozenset({2, 17, 18, 21, 32, 34, 87}),
                    why="noSuchObject (search base), undefinedAttributeType, invalidDNSyntax, filterError"),
        FailureRule(_x.LDAPOperationResult, StoreTimeout, frozenset({3}), why="timeLimitExceeded"),
        FailureRule(_x.LDAPOperationResult, StoreUnavailable, why="busy, unavailable, unwillingToPerform, other"),
        FailureRule(_x.LDAPBindError, StoreAuthFailed, why="bind refused"),
        FailureRule(_x.LDAPResponseTimeoutError, StoreTimeout, why="no answer within receive_timeout"),
        FailureRule((_x.LDAPStartTLSError, _x.LDAPSSLConfigurationError, ssl.SSLError), StoreUnavailable,
                    why="TLS or StartTLS failed"),
        FailureRule(_x.LDAPCommunicationError, StoreUnavailable, why="refused, DNS, connection lost"),
        FailureRule((_x.LDAPInvalidFilterError, _x.LDAPAttributeError, _x.LDAPObjectClassError,
                     _x.LDAPInvalidScopeError, _x.LDAPInvalidDnError, _x.LDAPInvalidPortError,
                     _x.LDAPConfigurationError), StoreMisconfigured, why="bad filter, attribute, DN, option"),
        FailureRule(socket.timeout, StoreTimeout, why="socket timeout"),
        FailureRule(OSError, StoreUnavailable, why="network error"),
        FailureRule(ValueError, StoreMisconfigured, why="bad URL"),
    ],
    code_of=lambda exc: getattr(exc, "result", None) if isinstance(exc, _x.LDAPOperationResult) else None,
)


class LdapStore(UserStore):
    schemes = ("ldap", "ldaps")
    #: Directory matching is already case-insensitive; the post-filter then compares casefolded.
    supports_casefold = True
    bounds_own_time = True  # every query runs under guarded(..., config.timeout, ...)

    def __init__(self, config: StoreConfig, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(config)
        options = config.ldap
        if not options.base_dns:
            raise ConfigError("identity.store.ldap.base_dns: give at least one search base")
        lf.check_filter(options.object_filter, "identity.store.ldap.object_filter")
        lf.check_filter(options.group_filter.replace("{dn}", "x"), "identity.store.ldap.group_filter")
        for name in self._mapped_attributes():
            lf.check_attribute(name, "identity.store")
        try:
            self.url = lf.LdapUrl.parse(config.url)
        except ValueError as exc:
            raise ConfigError(f"identity.store.url: {exc}") from None
        password = options.bind_password.get_secret_value() if options.bind_password else None
        password = secret(env, options.bind_password_env) or secret(env, config.password_env) or password
        self._directory = LdapConnector(config, self.url, password)
        self._threads = ThreadPoolExecutor(max_workers=config.pool_size, thread_name_prefix="sw-ldap")

    @property
    def identity(self) -> str:
        bind = f" as {self.config.ldap.bind_dn}" if self.config.ldap.bind_dn else " (anonymous)"
        return f"{self.config.url}{bind}"

    def _mapped_attributes(self) -> list[str]:
        c = self.config
        names = [c.id_field, c.status_field, c.status_since_field, c.roles_field, *c.lookup.values(),
                 *c.attributes.values(), *(AD_FLAGS if c.ldap.ad_user_account_control else ()),
                 c.ldap.group_name_attribute if c.ldap.group_search_base else None]
        return list(dict.fromkeys(n for n in names if n and n.lower() != "dn"))

    def build_query(self, attribute: str, value: str) -> StoreQuery:
        field = searched_field(self.config, attribute, "ldap")
        text = lf.lookup_filter(self.config.ldap.object_filter, field, value)
        return StoreQuery(backend="ldap", attribute=attribute, field=field, text=text, params=(value,))

    def build_casefold_query(self, attribute: str, value: str) -> StoreQuery:
        return dataclasses.replace(self.build_query(attribute, value), casefold=True)

    async def fetch(self, query: StoreQuery) -> list[UserRecord]:
        entries = await self._blocking(lambda: self._search_users(query, exact=True))
        value = str(query.params[0])
        return [
            record_from_entry(e, self.config, exact_value(e, query.field, value, query.casefold) or value)
            for e in entries
        ]

    async def _blocking(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await guarded(FAILURES, self.config.timeout, loop.run_in_executor(self._threads, work))

    # ------------------------------------------------------------ in a worker thread
    def _search_users(self, query: StoreQuery, *, exact: bool) -> list[Entry]:
        conn, reused = self._directory.acquire()
        try:
            entries = self._search_with(conn, query, exact)
        except Exception as exc:
            self._directory.discard(conn)
            if not (reused and FAILURES.classify(exc) is StoreUnavailable):
                raise
            # A pooled connection can be dead after a server restart: one fresh try.
            conn, _ = self._directory.acquire_fresh()
            try:
                entries = self._search_with(conn, query, exact)
            except BaseException:
                self._directory.discard(conn)
                raise
        self._directory.release(conn)
        return entries

    def _search_with(self, conn: ldap3.Connection, query: StoreQuery, exact: bool) -> list[Entry]:
        self._check_schema(conn)
        value = str(query.params[0])
        attributes = requested_attributes(self.config, query.field, self._ppolicy())
        for base in self.config.ldap.base_dns:
            found = self._directory.search(conn, base, query.text, attributes)
            entries = self._follow(found, query.text, attributes)
            fold = query.casefold
            matches = [e for e in entries if not exact or exact_value(e, query.field, value, fold) is not None]
            if exact and found.truncated and len(matches) < 2:
                raise StoreMisconfigured(
                    f"ldap: more than ldap.size_limit={self.config.ldap.size_limit} entries loosely match under "
                    f"{base!r}; the exact match can't be decided. Raise the limit or narrow object_filter.",
                    backend="ldap",
                )
            if matches:
                return [self._with_groups(conn, e) for e in matches]
        return []

    def _follow(self, found: SearchResult, text: str, attributes: list[str]) -> list[Entry]:
        """The entries, plus (if configured) those behind each referral, one hop deep."""
        if not (found.referrals and self.config.ldap.follow_referrals):
            return found.entries
        entries = list(found.entries)
        for uri in found.referrals:
            target = lf.LdapUrl.parse(uri)
            conn = self._directory.connect(target)
            try:
                base = target.base_dn or self.config.ldap.base_dns[0]
                entries.extend(self._directory.search(conn, base, text, attributes).entries)
            finally:
                self._directory.discard(conn)
        return entries

    def _with_groups(self, conn: ldap3.Connection, entry: Entry) -> Entry:
        options = self.config.ldap
        if not options.group_search_base:
            return entry
        text = lf.group_filter(options.group_filter, entry.dn)
        name = options.group_name_attribute
        groups = self._directory.search(conn, options.group_search_base, text, [name], "sub", size_limit=0)
        roles = [v for g in groups.entries for v in g.values(name)]
        return Entry(dn=entry.dn, attrs=entry.attrs, group_roles=tuple(roles))

    def _check_schema(self, conn: ldap3.Connection) -> None:
        schema = self._directory.load_schema(conn)
        if schema is None:
            return
        missing = [a for a in self._mapped_attributes() if a.lower() not in schema]
        if missing:
            raise StoreMisconfigured(
                f"ldap: the directory schema has no attribute {', '.join(missing)}", backend="ldap", missing=missing
            )

    def _ppolicy(self) -> bool:
        schema = self._directory.schema
        return schema is not None and PPOLICY_LOCK.lower() in schema

    # ------------------------------------------------------------ diagnose and readiness
    async def near_misses(self, attribute: str, value: str) -> list[NearMiss]:
        field = searched_field(self.config, attribute, "ldap")
        misses: dict[tuple[str, str], NearMiss] = {}
        variants = dict.fromkeys([value, value.strip(), value.lower(), value.strip().lower()])
        for variant in variants:
            query = self.build_query(attribute, variant)
            for entry in await self._blocking(functools.partial(self._search_users, query, exact=False)):
                for stored in entry.values(field):
                    kind = near_miss_kind(stored, value)
                    if kind is not None:
                        user = record_from_entry(entry, self.config, stored)
                        misses.setdefault((attribute, user.user_id), NearMiss(kind, attribute, stored, user))
        for other, other_field in other_fields(self.config, attribute):
            query = StoreQuery("ldap", other, other_field,
                               lf.lookup_filter(self.config.ldap.object_filter, other_field, value), (value,))
            for user in await self.fetch(query):
                misses.setdefault((other, user.user_id), NearMiss("other_attribute", other, value, user))
        return list(misses.values())

    async def self_test(self, canary: str | None = None) -> SelfTestReport:
        checks: list[tuple[str, Check]] = [("connect", self._check_connect), ("mapping", self._check_mapping)]
        return await run_checks(self.identity, with_canary(self, checks, canary))

    async def _check_connect(self) -> str:
        def bind() -> str:
            conn = self._directory.connect()
            self._directory.release(conn)
            return f"bound to {self.url.host}:{self.url.port}"

        return await self._blocking(bind)

    async def _check_mapping(self) -> str:
        def probe() -> str:
            conn, _ = self._directory.acquire()
            try:
                self._check_schema(conn)
                for base in self.config.ldap.base_dns:
                    self._directory.search(conn, base, "(objectClass=*)", [], "base")
            except BaseException:
                self._directory.discard(conn)
                raise
            self._directory.release(conn)
            schema = "schema checked" if self._directory.schema is not None else "schema not readable, not checked"
            return f"search bases exist; {schema}; attributes {', '.join(self._mapped_attributes())}"

        return await self._blocking(probe)

    async def close(self) -> None:
        self._directory.close()
        self._threads.shutdown(wait=False, cancel_futures=True)
