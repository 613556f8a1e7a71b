"""Prometheus metrics, fed from record batches in the drain (never on the hot path) and from
runtime ``stats()`` read at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("subwarden.observe.metrics")

PREFIX = "subwarden"
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25, 1.0, 5.0)
#: stats() keys ending in "_total" or in one of these words are counters (monotonic); the rest are gauges.
COUNTER_WORDS = frozenset(
    {"hits", "misses", "coalesced", "evictions", "expired", "dropped", "written", "errors", "failures",
     "refetches", "fetches", "refreshes", "lookups", "requests", "opens", "opened", "rejected", "batches", "served"}
)
#: Words that make a key a level even when it ends in a counter word (e.g. consecutive_failures).
GAUGE_WORDS = frozenset({"consecutive", "current", "inflight"})


class StatsSource(Protocol):
    """Anything with counters to expose (user cache, breaker, token cache, record writer)."""

    def stats(self) -> dict[str, float]: ...


def is_counter_key(key: str) -> bool:
    words = key.split("_")
    if GAUGE_WORDS.intersection(words):
        return False
    return key.endswith("_total") or words[-1] in COUNTER_WORDS


class RuntimeStatsCollector(Collector):
    """Reads each registered source's ``stats()`` at scrape time as ``subwarden_<source>_<key>``.

    Keys already starting with ``<source>_`` are not prefixed twice.
    """

    def __init__(self) -> None:
        self._sources: dict[str, StatsSource] = {}

    def add(self, name: str, source: StatsSource) -> None:
        self._sources[name] = source

    def collect(self) -> Iterator[Metric]:
        for name, source in list(self._sources.items()):
            try:
                stats = source.stats()
            except Exception as exc:  # noqa: BLE001 - one broken source must not break the scrape
                log.warning("stats() of %s failed: %s", name, type(exc).__name__)
                continue
            yield from _families(name, stats)


def _families(source: str, stats: Mapping[str, float]) -> Iterator[Metric]:
    for key, value in sorted(stats.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        name = key.removesuffix("_total")
        base = f"{PREFIX}_{name}" if name.startswith(f"{source}_") else f"{PREFIX}_{source}_{name}"
        if is_counter_key(key):
            yield CounterMetricFamily(base, f"{source} {key}", value=float(value))
        else:
            yield GaugeMetricFamily(base, f"{source} {key}", value=float(value))


class GatewayMetrics:
    """The gateway's metric families in their own registry (safe to build several in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            f"{PREFIX}_requests", "Requests by route, outcome and code.", ["route", "outcome", "code"], registry=reg
        )
        self.duration = Histogram(
            f"{PREFIX}_request_duration_seconds", "Request duration (gateway in to response done).", ["route"],
            buckets=REQUEST_BUCKETS, registry=reg,
        )
        self.stage_duration = Histogram(
            f"{PREFIX}_stage_duration_seconds", "Time spent in each pipeline stage.", ["stage"],
            buckets=STAGE_BUCKETS, registry=reg,
        )
        self.upstream = Counter(
            f"{PREFIX}_upstream_responses", "Upstream responses by route and status.", ["route", "status"], registry=reg
        )
        self.upstream_duration = Histogram(
            f"{PREFIX}_upstream_duration_seconds", "Upstream response time.", ["route"],
            buckets=REQUEST_BUCKETS, registry=reg,
        )
        self.config_info = Gauge(
            f"{PREFIX}_config_info", "Fingerprint of the running config (value 1).", ["fingerprint"], registry=reg
        )
        self.runtime = RuntimeStatsCollector()
        reg.register(self.runtime)
        if process:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)

    def add_stats_source(self, name: str, source: StatsSource) -> None:
        """Expose ``source.stats()`` as ``subwarden_<name>_<key>`` at every scrape."""
        self.runtime.add(name, source)

    def set_fingerprint(self, fingerprint: str) -> None:
        self.config_info.clear()
        self.config_info.labels(fingerprint).set(1)

    def observe(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Count a batch of records (called by the record writer's drain)."""
        for r in records:
            route = r.get("route") or ""
            self.requests.labels(route, r.get("outcome") or "", r.get("code") or "ok").inc()
            duration = r.get("duration_us")
            if duration is not None:
                self.duration.labels(route).observe(duration / 1e6)
            for stage, micros in (r.get("timings_us") or {}).items():
                self.stage_duration.labels(stage).observe(micros / 1e6)
            self._observe_upstream(route, r.get("upstream") or {})

    def _observe_upstream(self, route: str, upstream: Mapping[str, Any]) -> None:
        status = upstream.get("status")
        if status:
            self.upstream.labels(route, str(status)).inc()
        ms = upstream.get("ms")
        if ms is not None:
            self.upstream_duration.labels(route).observe(ms / 1000.0)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
