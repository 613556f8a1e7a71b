"""Config → the three token stages and the key runtime (initial fetch, background refresh, close)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from subwarden.clock import Clock
from subwarden.config.loader import ConfigError
from subwarden.config.models import GatewayConfig, IssuerConfig
from subwarden.pipeline.stage import Stage
from subwarden.tokens.cache import VerifiedCache
from subwarden.tokens.extract import ExtractStage
from subwarden.tokens.fetch import HttpxKeyFetcher, KeyFetcher
from subwarden.tokens.issuer import IssuerRuntime
from subwarden.tokens.jwks import IssuerKeys, RemoteSource
from subwarden.tokens.keys import KeyLoadError, VerifyKey, parse_key_file, secret_key, verify_keys
from subwarden.tokens.validate import ValidateStage
from subwarden.tokens.verify import VerifyStage

log = logging.getLogger("subwarden.tokens")


def _file_keys(issuer: IssuerConfig, path: str) -> list[VerifyKey]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"issuer {issuer.label!r}: cannot read key file {path}: {exc.strerror}") from None
    try:
        return verify_keys(parse_key_file(data), issuer.algorithms, f"file:{path}")
    except KeyLoadError as exc:
        raise ConfigError(f"issuer {issuer.label!r}: key file {path}: {exc}") from None


def _secret_keys(issuer: IssuerConfig, var: str, environ: Mapping[str, str]) -> list[VerifyKey]:
    secret = environ.get(var)
    if not secret:
        raise ConfigError(f"issuer {issuer.label!r}: environment variable {var} (keys.secret_env) is unset or empty")
    try:
        return verify_keys([secret_key(secret.encode("utf-8"))], issuer.algorithms, f"env:{var}")
    except KeyLoadError as exc:
        raise ConfigError(f"issuer {issuer.label!r}: secret in {var}: {exc} (HS256 needs ≥ 32 bytes)") from None


def _remote_source(issuer: IssuerConfig) -> RemoteSource | None:
    keys = issuer.keys
    if not (keys.jwks_uri or keys.discovery):
        return None
    url = keys.jwks_uri or issuer.issuer
    if not url.startswith(("https://", "http://")):
        what = "keys.jwks_uri" if keys.jwks_uri else "issuer (for discovery)"
        raise ConfigError(f"issuer {issuer.label!r}: {what} {url!r} is not an http(s) URL")
    if any(a.startswith("HS") for a in issuer.algorithms):
        raise ConfigError(f"issuer {issuer.label!r}: HMAC keys are never fetched from a JWKS; use keys.secret_env")
    return RemoteSource(
        issuer=issuer.issuer,
        jwks_uri=keys.jwks_uri,
        discovery=keys.discovery,
        refresh_interval=keys.refresh_interval,
        refetch_cooldown=keys.refetch_cooldown,
        max_stale=keys.max_stale,
        fetch_timeout=keys.fetch_timeout,
    )


def build_issuer(
    issuer: IssuerConfig, clock: Clock, fetcher: KeyFetcher | None, environ: Mapping[str, str]
) -> IssuerRuntime:
    """One issuer's runtime; unreadable or unfitting keys raise ``ConfigError`` naming issuer and path."""
    static = [key for path in issuer.keys.files for key in _file_keys(issuer, path)]
    if issuer.keys.secret_env:
        static += _secret_keys(issuer, issuer.keys.secret_env, environ)
    remote = _remote_source(issuer)
    keys = IssuerKeys(issuer.label, issuer.algorithms, static, remote, clock, fetcher if remote else None)
    return IssuerRuntime(issuer, keys)


class TokenRuntime:
    """The token stages plus what keeps their keys fresh."""

    def __init__(
        self,
        stages: list[Stage],
        issuers: dict[str, IssuerRuntime],
        cache: VerifiedCache,
        fetcher: KeyFetcher | None,
        owns_fetcher: bool,
    ) -> None:
        self.stages = stages
        self.issuers = issuers
        self.cache = cache
        self.fetcher = fetcher
        self._owns_fetcher = owns_fetcher
        self._tasks: list[asyncio.Task[None]] = []

    def _remote(self) -> list[IssuerKeys]:
        return [i.keys for i in self.issuers.values() if i.keys.remote is not None]

    async def start(self) -> None:
        """Fetch remote keys once (a failure is logged, not raised) and start background refresh."""
        if self._tasks:
            return
        remote = self._remote()
        results = await asyncio.gather(*(keys.refresh() for keys in remote))
        for keys, ok in zip(remote, results, strict=True):
            assert keys.remote is not None
            first = keys.remote.refresh_interval if ok else min(1.0, keys.remote.refresh_interval)
            self._tasks.append(asyncio.create_task(keys.refresh_loop(first), name=f"jwks-refresh:{keys.label}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._owns_fetcher and isinstance(self.fetcher, HttpxKeyFetcher):
            await self.fetcher.aclose()

    def status(self) -> list[dict[str, Any]]:
        """Per-issuer key state (admin API, readiness); never key material."""
        return [i.keys.status() for i in self.issuers.values()]


def build_tokens(
    config: GatewayConfig,
    clock: Clock,
    fetcher: KeyFetcher | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> TokenRuntime:
    """Build extract → verify → validate from validated config; key problems raise ``ConfigError``."""
    env = os.environ if environ is None else environ
    needs_fetcher = any(i.keys.jwks_uri or i.keys.discovery for i in config.issuers)
    owns_fetcher = fetcher is None and needs_fetcher
    if owns_fetcher:
        fetcher = HttpxKeyFetcher()
    issuers = {i.issuer: build_issuer(i, clock, fetcher, env) for i in config.issuers}
    cache = VerifiedCache(config.tokens.verified_cache_size)
    stages: list[Stage] = [ExtractStage(config.tokens), VerifyStage(issuers, cache), ValidateStage(clock)]
    return TokenRuntime(stages, issuers, cache, fetcher, owns_fetcher)
