"""HTTP user-service store (``http(s)://…``) over a pooled httpx client.

The subject is one escaped path segment of ``http.url_template`` (``/ ? # ..``
can't change the path). 404 is "not found"; a 200 JSON object (or a list under
``http.users_key``) is mapped through the same field names as the SQL stores.
Every mapped key must be present in each user document (``null`` when empty).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from subwarden.config.loader import ConfigError
from subwarden.config.models import StoreConfig
from subwarden.errors import StoreAuthFailed, StoreMisconfigured, StoreTimeout, StoreUnavailable
from subwarden.identity.stores._failures import FailureRule, FailureTable, guarded
from subwarden.identity.stores._records import (
    RowMapper,
    is_exact,
    near_miss_kind,
    redact_url,
    searched_field,
    secret,
    unique,
)
from subwarden.identity.stores._selftest import Check, run_checks, with_canary
from subwarden.identity.stores.base import NearMiss, SelfTestReport, StoreQuery, UserRecord, UserStore

Row = dict[str, Any]


class HttpStatusError(Exception):
    """The user service answered with a status other than 200 or 404."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status


_UNAVAILABLE = frozenset({408, 429, *range(500, 600)})

#: httpx exceptions and HTTP statuses → catalog errors. First match wins.
FAILURES = FailureTable(
    "http",
    [
        FailureRule(HttpStatusError, StoreAuthFailed, frozenset({401, 403, 407}), why="token rejected"),
        FailureRule(HttpStatusError, StoreUnavailable, _UNAVAILABLE, why="5xx, 429, 408"),
        FailureRule(HttpStatusError, StoreMisconfigured, why="3xx and other 4xx: wrong URL template or method"),
        FailureRule(httpx.TimeoutException, StoreTimeout, why="connect/read/pool timeout"),
        FailureRule((httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.TooManyRedirects), StoreMisconfigured,
                    why="bad URL"),
        FailureRule((httpx.TransportError, ssl.SSLError, OSError), StoreUnavailable,
                    why="refused, DNS, TLS, connection reset"),
        FailureRule((json.JSONDecodeError, UnicodeDecodeError), StoreUnavailable, why="the body is not JSON"),
    ],
    code_of=lambda exc: getattr(exc, "status", None),
)


def path_segment(value: str) -> str:
    """``value`` as exactly one URL path segment: every reserved byte escaped, dot segments too."""
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def _path(doc: Mapping[str, Any], field: str) -> Any:
    """``doc[field]``, or a dotted path (``profile.email``); ``KeyError`` when absent."""
    if field in doc:
        return doc[field]
    node: Any = doc
    for part in field.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(field)
        node = node[part]
    return node


class HttpUserStore(UserStore):
    schemes = ("http", "https")
    bounds_own_time = True  # every query runs under guarded(..., config.timeout, ...)

    def __init__(self, config: StoreConfig, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(config)
        template = config.http.url_template
        try:
            template.format(base="", attribute="", value="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"identity.store.http.url_template: {template!r} is not a template ({exc})") from None
        if "{value}" not in template:
            raise ConfigError("identity.store.http.url_template must contain {value}")
        headers = dict(config.http.headers)
        token = secret(env, config.http.bearer_token_env)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._client: httpx.AsyncClient | None = None
        self._users = RowMapper(config, "http")

    @property
    def identity(self) -> str:
        env = self.config.http.bearer_token_env
        return redact_url(self.config.url) + (f" (bearer token from ${env})" if env else "")

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            size = self.config.pool_size
            self._client = httpx.AsyncClient(
                headers=self._headers, timeout=self.config.timeout, follow_redirects=False, trust_env=False,
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                verify=self.config.http.ca_file or True,
            )
        return self._client

    def build_query(self, attribute: str, value: str) -> StoreQuery:
        field = searched_field(self.config, attribute, "http")
        url = self.config.http.url_template.format(
            base=self.config.url.rstrip("/"), attribute=path_segment(attribute), value=path_segment(value)
        )
        return StoreQuery(backend="http", attribute=attribute, field=field, text=url, params=(value,))

    async def fetch(self, query: StoreQuery) -> list[UserRecord]:
        value = str(query.params[0])
        rows = await guarded(FAILURES, self.config.timeout, self._get_retrying(query.text, query.field))
        return [self._users.record(r, query.field) for r in rows if is_exact(r, query.field, value)]

    async def _get_retrying(self, url: str, field: str) -> list[Row]:
        try:
            return await self._get(url, field)
        except Exception as exc:
            if isinstance(exc, HttpStatusError) or FAILURES.classify(exc) is not StoreUnavailable:
                raise
            # A kept-alive connection can be dead after a service restart: one fresh try.
            return await self._get(url, field)

    async def _get(self, url: str, field: str) -> list[Row]:
        response = await self.client.get(url)
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise HttpStatusError(response.status_code, url)
        return self._rows(json.loads(response.content), field)

    def _rows(self, doc: Any, field: str) -> list[Row]:
        key = self.config.http.users_key
        if key is None:
            users: Any = [doc]
        else:
            users = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
            want = f"an object with a list of objects under {key!r}" if key else "a JSON object"
            raise StoreMisconfigured(f"http: the user service's answer is not {want}", backend="http")
        return [self._row(u, field) for u in users]

    def _row(self, doc: Mapping[str, Any], field: str) -> Row:
        c = self.config
        fields = unique([c.id_field, c.status_field, c.status_since_field, c.roles_field, *c.attributes.values()])
        fields = unique([*fields, field])
        row: Row = {}
        for name in fields:
            try:
                row[name] = _path(doc, name)
            except KeyError:
                if name != c.status_since_field:
                    raise StoreMisconfigured(f"http: a user document has no key {name!r}", backend="http") from None
        return row

    # ------------------------------------------------------------ diagnose and readiness
    async def near_misses(self, attribute: str, value: str) -> list[NearMiss]:
        misses: dict[tuple[str, str], NearMiss] = {}
        variants = dict.fromkeys([value.strip(), value.lower(), value.strip().lower(), value.casefold()])
        for variant in variants:
            if variant == value:
                continue
            for user in await self.lookup(attribute, variant):
                kind = near_miss_kind(user.matched_value or variant, value)
                if kind is not None:
                    stored = user.matched_value or variant
                    misses.setdefault((attribute, user.user_id), NearMiss(kind, attribute, stored, user))
        if "{attribute}" in self.config.http.url_template:
            for other in self.config.lookup:
                if other != attribute:
                    for user in await self.lookup(other, value):
                        misses.setdefault((other, user.user_id), NearMiss("other_attribute", other, value, user))
        return list(misses.values())

    async def self_test(self, canary: str | None = None) -> SelfTestReport:
        canary = canary or self.config.canary_subject
        checks: list[tuple[str, Check]] = [("connect", self._check_connect), ("mapping", self._mapping_check(canary))]
        return await run_checks(self.identity, with_canary(self, checks, canary))

    async def _check_connect(self) -> str:
        attribute = next(iter(self.config.lookup))
        await self.lookup(attribute, "subwarden-self-test-probe")
        return f"the user service answers at {redact_url(self.config.url)}"

    def _mapping_check(self, canary: str | None) -> Check:
        async def check() -> str:
            if canary is None:
                return "JSON mapping not checked (no canary subject)"
            await self.lookup(next(iter(self.config.lookup)), canary)
            return "the canary's document has every mapped key"

        return check

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
