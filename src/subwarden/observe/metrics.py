"""Prometheus metrics, fed from record batches in the drain (never on the hot path) and from
runtime ``stats()`` read at scrape time."""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from subwarden.observe.histograms import BatchHistogram

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

    Keys already starting with ``<source>_`` are not prefixed twice; the source name "" adds no prefix
    (for runtimes whose keys are already namespaced, e.g. ``IdentityRuntime``: ``user_cache_hits``).
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
        prefixed = not source or name.startswith(f"{source}_")
        base = f"{PREFIX}_{name}" if prefixed else f"{PREFIX}_{source}_{name}"
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
        self.duration = BatchHistogram(
            f"{PREFIX}_request_duration_seconds", "Request duration (gateway in to response done).", "route",
            REQUEST_BUCKETS,
        )
        self.stage_duration = BatchHistogram(
            f"{PREFIX}_stage_duration_seconds", "Time spent in each pipeline stage.", "stage", STAGE_BUCKETS
        )
        self.upstream_duration = BatchHistogram(
            f"{PREFIX}_upstream_duration_seconds", "Upstream response time.", "route", REQUEST_BUCKETS
        )
        for histogram in (self.duration, self.stage_duration, self.upstream_duration):
            reg.register(histogram)
        self.upstream = Counter(
            f"{PREFIX}_upstream_responses", "Upstream responses by route and status.", ["route", "status"], registry=reg
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
        """Expose ``source.stats()`` as ``subwarden_<name>_<key>`` (``subwarden_<key>`` for "") at every scrape."""
        self.runtime.add(name, source)

    def set_fingerprint(self, fingerprint: str) -> None:
        self.config_info.clear()
        self.config_info.labels(fingerprint).set(1)

    def observe(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Count a batch of records (called by the record writer's drain, off the event loop)."""
        requests: Tally[tuple[str, str, str]] = Tally()
        upstream: Tally[tuple[str, str]] = Tally()
        duration, stages, upstream_ms = self.duration, self.stage_duration, self.upstream_duration
        with duration.lock, stages.lock, upstream_ms.lock:
            for r in records:
                route = r.get("route") or ""
                requests[(route, r.get("outcome") or "", r.get("code") or "ok")] += 1
                if r.get("duration_us") is not None:
                    duration.observe(route, r["duration_us"] / 1e6)
                for stage, micros in (r.get("timings_us") or {}).items():
                    stages.observe(stage, micros / 1e6)
                up = r.get("upstream") or {}
                if up.get("status"):
                    upstream[(route, str(up["status"]))] += 1
                if up.get("ms") is not None:
                    upstream_ms.observe(route, up["ms"] / 1000.0)
        for (route, outcome, code), count in requests.items():
            self.requests.labels(route, outcome, code).inc(count)
        for (route, status), count in upstream.items():
            self.upstream.labels(route, status).inc(count)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
