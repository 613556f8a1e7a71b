"""One issuer's verification keys: static keys plus a JWKS cache.

The cache refetches single-flight on an unknown kid, honours a cooldown, and keeps keys usable for a bounded time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from subwarden.clock import Clock
from subwarden.errors import AlgorithmNotAllowed
from subwarden.tokens.fetch import KeyFetcher, KeyFetchError
from subwarden.tokens.keys import KeyLoadError, VerifyKey, keys_from_jwks

log = logging.getLogger("subwarden.tokens")

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class RemoteSource:
    """Where and how often to fetch an issuer's JWKS (configured URI, or found by OIDC discovery)."""

    issuer: str
    jwks_uri: str | None
    discovery: bool
    refresh_interval: float
    refetch_cooldown: float
    max_stale: float
    fetch_timeout: float

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + DISCOVERY_PATH


def _index(keys: Sequence[VerifyKey]) -> tuple[dict[str, VerifyKey], tuple[VerifyKey, ...]]:
    by_kid = {k.kid: k for k in keys if k.kid is not None}
    return by_kid, tuple(k for k in keys if k.kid is None)


class IssuerKeys:
    """Looks keys up by kid (a dict lookup); refetches the JWKS when a kid is unknown.

    Concurrent refetches share one fetch; kid-triggered refetches wait
    ``refetch_cooldown`` after the previous attempt; fetched keys stay usable
    for ``max_stale`` seconds after the last successful fetch.
    """

    def __init__(
        self,
        label: str,
        algorithms: Sequence[str],
        static: Sequence[VerifyKey],
        remote: RemoteSource | None,
        clock: Clock,
        fetcher: KeyFetcher | None,
    ) -> None:
        if remote is not None and fetcher is None:
            raise ValueError("a remote key source needs a fetcher")
        self.label = label
        self.algorithms = tuple(algorithms)
        self.remote = remote
        self._clock = clock
        self._fetcher = fetcher
        self._static, self._static_kidless = _index(static)
        self._remote: dict[str, VerifyKey] = {}
        self._remote_kidless: tuple[VerifyKey, ...] = ()
        self.jwks_url: str | None = remote.jwks_uri if remote else None
        self.fetched_at: float | None = None  # wall clock of the last successful fetch
        self._fetched_mono: float | None = None
        self._attempt_mono: float | None = None
        self.last_error: str | None = None
        self.fetches = 0
        self._inflight: asyncio.Task[bool] | None = None

    # ------------------------------------------------------------ lookup (no I/O)
    def remote_usable(self) -> bool:
        mono = self._fetched_mono
        return mono is not None and self.remote is not None and self._clock.monotonic() - mono <= self.remote.max_stale

    def all_keys(self) -> list[VerifyKey]:
        keys = [*self._static.values(), *self._static_kidless]
        if self.remote_usable():
            keys += [*self._remote.values(), *self._remote_kidless]
        return keys

    def find(self, kid: str | None, alg: str) -> list[VerifyKey]:
        """Keys that may verify this token: the kid's key, else kid-less keys (all keys if no kid)."""
        if kid is None:
            return [k for k in self.all_keys() if alg in k.algorithms]
        key = self._static.get(kid)
        if key is None and self.remote_usable():
            key = self._remote.get(kid)
        if key is not None:
            if alg not in key.algorithms:
                raise AlgorithmNotAllowed(
                    "alg does not fit the key", alg=alg, kid=kid, key_algorithms=sorted(key.algorithms)
                )
            return [key]
        kidless = self._static_kidless + (self._remote_kidless if self.remote_usable() else ())
        return [k for k in kidless if alg in k.algorithms]

    def unavailable(self) -> bool:
        """True when remote keys are needed but the endpoint failed or the cache is too stale."""
        return self.remote is not None and (self.last_error is not None or not self.remote_usable())

    def known_kids(self) -> list[str]:
        return sorted(k.kid for k in self.all_keys() if k.kid is not None)

    # ------------------------------------------------------------ fetching
    async def refetch_for_unknown_kid(self) -> None:
        """One shared refetch, unless one ran less than ``refetch_cooldown`` ago."""
        if self.remote is None:
            return
        if self._inflight is None:
            last = self._attempt_mono
            if last is not None and self._clock.monotonic() - last < self.remote.refetch_cooldown:
                return
        await self.refresh()

    async def refresh(self) -> bool:
        """Fetch the JWKS now (joining a fetch already running); True if keys were installed."""
        if self.remote is None:
            return False
        task = self._inflight
        if task is None:
            self._attempt_mono = self._clock.monotonic()
            task = self._inflight = asyncio.ensure_future(self._fetch())
        # shield: a waiter that is cancelled (client gone) must not cancel the shared fetch.
        return await asyncio.shield(task)

    async def _fetch(self) -> bool:
        assert self.remote is not None
        try:
            url = self.remote.jwks_uri or await self._discover()
            doc = await self._get(url)
            source = f"{'jwks' if self.remote.jwks_uri else 'discovery'}:{url}"
            keys, skipped = keys_from_jwks(doc, self.algorithms, source, self._clock.now())
            for reason in skipped:
                log.warning("issuer %s: JWKS key skipped: %s", self.label, reason)
            if not keys:
                raise KeyFetchError("JWKS has no usable key for the allowed algorithms")
            self._install(keys)
            return True
        except (KeyFetchError, KeyLoadError) as exc:
            self.last_error = str(exc)
        except Exception as exc:
            log.exception("issuer %s: unexpected error fetching keys", self.label)
            self.last_error = f"unexpected {type(exc).__name__}"
        finally:
            self.fetches += 1
            self._inflight = None
        log.warning("issuer %s: key fetch failed: %s", self.label, self.last_error)
        return False

    async def _get(self, url: str) -> Any:
        assert self._fetcher is not None and self.remote is not None
        timeout = self.remote.fetch_timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._fetcher.get_json(url, timeout)
        except TimeoutError:
            raise KeyFetchError(f"timeout after {timeout}s fetching {url}") from None
        except KeyFetchError as exc:
            raise KeyFetchError(f"{exc} fetching {url}") from None

    async def _discover(self) -> str:
        assert self.remote is not None
        doc = await self._get(self.remote.discovery_url)
        if not isinstance(doc, dict):
            raise KeyFetchError("discovery document is not a JSON object")
        if doc.get("issuer") != self.remote.issuer:
            raise KeyFetchError(f"discovery issuer {str(doc.get('issuer'))[:200]!r} differs from the configured issuer")
        url = doc.get("jwks_uri")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise KeyFetchError("discovery document has no http(s) jwks_uri")
        self.jwks_url = url
        return url

    def _install(self, keys: list[VerifyKey]) -> None:
        old = [*self._remote.values(), *self._remote_kidless]
        kept: list[VerifyKey] = []
        for new in keys:
            same = next((o for o in old if o.kid == new.kid and o.key == new.key), None)
            if same is not None:
                same.fetched_at = new.fetched_at
                same.source = new.source
                kept.append(same)
            else:
                kept.append(new)
        for o in old:
            if not any(o is k for k in kept):
                o.retired = True
        self._remote, self._remote_kidless = _index(kept)
        self.fetched_at = self._clock.now()
        self._fetched_mono = self._clock.monotonic()
        self.last_error = None

    # ------------------------------------------------------------ background refresh
    async def refresh_loop(self, first_delay: float) -> None:
        """Refresh every ``refresh_interval``; after a failure retry sooner (1 s, doubling)."""
        assert self.remote is not None
        delay, backoff = first_delay, 1.0
        while True:
            await asyncio.sleep(delay)
            if await self.refresh():
                delay, backoff = self.remote.refresh_interval, 1.0
            else:
                delay, backoff = min(backoff, self.remote.refresh_interval), min(backoff * 2, 60.0)

    def status(self) -> dict[str, Any]:
        """A summary for the admin API and readiness (no key material)."""
        return {
            "issuer": self.label,
            "jwks_url": self.jwks_url,
            "static_keys": len(self._static) + len(self._static_kidless),
            "remote_keys": len(self._remote) + len(self._remote_kidless),
            "fetched_at": self.fetched_at,
            "remote_usable": self.remote_usable(),
            "last_error": self.last_error,
            "fetches": self.fetches,
        }
