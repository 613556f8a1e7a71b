"""Config → record writer, sinks and metrics: the one place the observe side is assembled."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.config.models import GatewayConfig
from subwarden.observe.metrics import GatewayMetrics
from subwarden.observe.query import RecordReader
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import Sink, SqliteSink, StdoutSink
from subwarden.observe.subject_hash import SubjectHasher, load_subject_hash_key
from subwarden.pipeline.gateway import Gateway


def build_record_writer(
    config: GatewayConfig,
    fingerprint: str,
    *,
    metrics: GatewayMetrics | None = None,
    clock: Clock = SYSTEM_CLOCK,
    stdout: TextIO | None = None,
    var_dir: Path = Path("var"),
    environ: Mapping[str, str] | None = None,
) -> RecordWriter:
    """A writer for ``config.records``; also registers its stats with ``metrics`` if given."""
    rc = config.records
    key = load_subject_hash_key(config.identity.subject_hash_key_env, var_dir, environ)
    shaper = RecordShaper(fingerprint=fingerprint, hasher=SubjectHasher(key), keep_claims=config.recorded_claims)
    sinks: list[Sink] = []
    if rc.stdout:
        sinks.append(StdoutSink(stdout))
    if rc.sqlite:
        sinks.append(SqliteSink(rc.sqlite, retention_days=rc.retention_days, clock=clock))
    writer = RecordWriter(
        shaper,
        sinks,
        queue_size=rc.queue_size,
        batch_size=rc.batch_size,
        flush_interval=rc.flush_interval,
        metrics=metrics,
        clock=clock,
    )
    if metrics is not None:
        metrics.add_stats_source("records", writer)
        metrics.set_fingerprint(fingerprint)
    return writer


def record_reader(config: GatewayConfig) -> RecordReader | None:
    """A reader over the SQLite sink, or None when that sink is off."""
    return RecordReader(config.records.sqlite) if config.records.sqlite else None


class VerifiedCacheStats:
    """Adapts the verified-token cache (hits, misses, len) to ``stats()``."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def stats(self) -> dict[str, float]:
        cache = self._cache
        return {
            "verified_token_cache_hits": getattr(cache, "hits", 0),
            "verified_token_cache_misses": getattr(cache, "misses", 0),
            "verified_token_cache_entries": len(cache),
        }


def register_gateway_stats(metrics: GatewayMetrics, gateway: Gateway) -> None:
    """Expose the gateway runtimes' counters (user cache, breaker, revocations, verified tokens) at scrape time."""
    identity_stats = getattr(gateway.identity, "stats", None)
    if callable(identity_stats):
        metrics.add_stats_source("", gateway.identity)  # its keys are namespaced: user_cache_*, store_breaker_*
    token_cache = getattr(gateway.tokens, "cache", None)
    if token_cache is not None and hasattr(token_cache, "__len__"):
        metrics.add_stats_source("verified_token_cache", VerifiedCacheStats(token_cache))
