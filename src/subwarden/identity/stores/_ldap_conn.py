"""Blocking LDAP plumbing for ``LdapStore`` (runs in its worker threads): a pool of bound ldap3
connections, searches that report referrals and truncation, and the server's schema names.

Failures surface as ldap3 exceptions (result codes as ``LDAPOperationResult``) for the
store's failure table to translate; a connection is returned to the pool only after a
complete, successful operation.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPOperationResult, LDAPSSLConfigurationError, LDAPStartTLSError

from subwarden.config.loader import ConfigError
from subwarden.config.models import StoreConfig
from subwarden.identity.stores._ldap_entry import Entry
from subwarden.identity.stores._ldap_filter import LdapUrl

SCOPES = {"base": ldap3.BASE, "one": ldap3.LEVEL, "sub": ldap3.SUBTREE}
SUCCESS, SIZE_LIMIT_EXCEEDED, REFERRAL = 0, 4, 10
_NAMES = re.compile(r"NAME\s+(?:'([^']+)'|\(([^)]*)\))")


@dataclass(slots=True)
class SearchResult:
    entries: list[Entry] = field(default_factory=list)
    #: Referral URLs the server answered with (continuation references or a referral result).
    referrals: list[str] = field(default_factory=list)
    #: The server stopped at the size limit: more entries matched than were returned.
    truncated: bool = False


def fail(result: Mapping[str, Any]) -> LDAPOperationResult:
    """The ldap3 exception for a non-success result dict (its class follows the result code)."""
    return LDAPOperationResult(
        result=result.get("result"), description=result.get("description"), message=result.get("message")
    )


class LdapConnector:
    """Bound connections to one directory, reused across lookups (thread-safe)."""

    def __init__(self, config: StoreConfig, url: LdapUrl, password: str | None) -> None:
        # Certificates are always verified, also for an ldaps:// referral from an ldap:// server.
        try:
            self.tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ldap.ca_file)
        except LDAPSSLConfigurationError as exc:
            raise ConfigError(f"identity.store.ldap.ca_file: {exc}") from None
        self.url = url
        self.config = config
        self.password = password
        self._idle: list[ldap3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.schema: frozenset[str] | None = None

    def server(self, url: LdapUrl | None = None) -> ldap3.Server:
        """A new ldap3 Server each time: a shared one remembers a failed address for seconds,
        which would keep a restarted directory unused."""
        url = url or self.url
        return ldap3.Server(
            url.host, port=url.port, use_ssl=url.use_ssl, tls=self.tls,
            connect_timeout=self.config.timeout, get_info=ldap3.NONE,
        )

    def connect(self, url: LdapUrl | None = None) -> ldap3.Connection:
        """A new connection: open, StartTLS if configured, bind (anonymously if no bind DN)."""
        options = self.config.ldap
        server = self.server(url)
        conn = ldap3.Connection(
            server, user=options.bind_dn, password=self.password if options.bind_dn else None,
            auto_bind=ldap3.AUTO_BIND_NONE, client_strategy=ldap3.SYNC, raise_exceptions=False,
            receive_timeout=math.ceil(self.config.timeout), auto_referrals=False, read_only=True,
        )
        try:
            conn.open(read_server_info=False)
            if options.start_tls and not server.ssl and not conn.start_tls(read_server_info=False):
                # Never fall back to binding in clear text.
                raise LDAPStartTLSError(f"StartTLS refused: {conn.result}")
            if not conn.bind(read_server_info=False):
                raise fail(conn.result)
        except BaseException:
            self.discard(conn)
            raise
        return conn

    def acquire(self) -> tuple[ldap3.Connection, bool]:
        """A bound connection and whether it was reused (a reused one may have gone stale)."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self.connect(), False

    def acquire_fresh(self) -> tuple[ldap3.Connection, bool]:
        return self.connect(), False

    def release(self, conn: ldap3.Connection) -> None:
        with self._lock:
            if not self._closed and not conn.closed and len(self._idle) < self.config.pool_size:
                self._idle.append(conn)
                return
        self.discard(conn)

    @staticmethod
    def discard(conn: ldap3.Connection) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail again
            conn.unbind()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            self.discard(conn)

    def search(
        self, conn: ldap3.Connection, base: str, text: str, attributes: list[str], scope: str | None = None,
        size_limit: int | None = None,
    ) -> SearchResult:
        """One search; ``size_limit`` defaults to ``ldap.size_limit`` (0 = only the server's limit)."""
        conn.search(
            base, text, search_scope=SCOPES[scope or self.config.ldap.scope],
            attributes=attributes or [ldap3.NO_ATTRIBUTES],
            size_limit=self.config.ldap.size_limit if size_limit is None else size_limit,
            time_limit=max(1, int(self.config.timeout)),
        )
        code = conn.result.get("result")
        found = SearchResult(truncated=code == SIZE_LIMIT_EXCEEDED)
        if code == REFERRAL:
            found.referrals.extend(conn.result.get("referrals") or [])
        elif code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
            raise fail(conn.result)
        for item in conn.response or []:
            if item.get("type") == "searchResEntry":
                found.entries.append(Entry.from_raw(item["dn"], item.get("raw_attributes") or {}))
            elif item.get("type") == "searchResRef":
                found.referrals.extend(item.get("uri") or [])
        return found

    def load_schema(self, conn: ldap3.Connection) -> frozenset[str] | None:
        """Lower-cased names of every attribute type the server defines (``None`` if unreadable)."""
        if self.schema is None:
            conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["subschemaSubentry"])
            root = (conn.response or [{}])[0].get("raw_attributes", {})
            subschema = [v.decode() for v in root.get("subschemaSubentry", [])]
            if not subschema:
                return None
            conn.search(subschema[0], "(objectClass=subschema)", search_scope=ldap3.BASE, attributes=["attributeTypes"])
            definitions = (conn.response or [{}])[0].get("raw_attributes", {}).get("attributeTypes", [])
            self.schema = frozenset(_attribute_names(v.decode("utf-8", "replace") for v in definitions))
        return self.schema


def _attribute_names(definitions: Any) -> set[str]:
    names: set[str] = set()
    for text in definitions:
        match = _NAMES.search(text)
        if match:
            listed = match.group(1) or match.group(2).replace("'", " ")
            names.update(n.lower() for n in listed.split())
    return names
