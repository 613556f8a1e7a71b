"""Prometheus metrics, fed from record batches in the drain (never on the hot path) and from
runtime ``stats()`` read at scrape time."""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Protocol

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
from subwarden.observe.record_shape import COL, Row
from subwarden.observe.sinks import RecordBatch

log = logging.getLogger("subwarden.observe.metrics")

PREFIX = "subwarden"
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25, 1.0, 5.0)
#: stats() keys ending in "_total" or in one of these words are counters (monotonic); the rest are gauges.
COUNTER_WORDS = frozenset(
    {"hits", "misses", "coalesced", "evictions", "expired", "dropped", "written", "errors", "failures",
     "refetches", "fetches", "refreshes", "lookups", "requests", "opens", "opened", "rejected", "batches", "served"}
)
_ROUTE = COL["route"]
_REQUEST_KEY = itemgetter(_ROUTE, COL["outcome"], COL["code"])
_DURATION = itemgetter(COL["duration_us"])
_UPSTREAM_MS = itemgetter(COL["upstream_ms"])
_UPSTREAM_STATUS = itemgetter(COL["upstream_status"])
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
            REQUEST_BUCKETS, unit=1e6,
        )
        self.stage_duration = BatchHistogram(
            f"{PREFIX}_stage_duration_seconds", "Time spent in each pipeline stage.", "stage", STAGE_BUCKETS, unit=1e9
        )
        self.upstream_duration = BatchHistogram(
            f"{PREFIX}_upstream_duration_seconds", "Upstream response time.", "route", REQUEST_BUCKETS, unit=1e3
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

    def observe(self, batch: RecordBatch) -> None:
        """Count a batch of records (called by the record writer's drain, off the event loop)."""
        by_route: dict[str | None, list[Row]] = {}
        for row in batch.rows:
            by_route.setdefault(row[_ROUTE], []).append(row)
        requests = Tally(map(_REQUEST_KEY, batch.rows))
        with self.duration.lock, self.upstream_duration.lock:
            for route, rows in by_route.items():
                self._observe_route(route or "", rows)
        self._observe_stages(batch.timings)
        for (route, outcome, code), count in requests.items():
            self.requests.labels(route or "", outcome or "", code or "ok").inc(count)

    def _observe_route(self, route: str, rows: list[Row]) -> None:
        durations = [d for d in map(_DURATION, rows) if d is not None]
        if durations:
            self.duration.observe_many(route, durations)
        upstream_ms = [ms for ms in map(_UPSTREAM_MS, rows) if ms is not None]
        if upstream_ms:
            self.upstream_duration.observe_many(route, upstream_ms)
        for status, count in Tally(map(_UPSTREAM_STATUS, rows)).items():
            if status:
                self.upstream.labels(route, str(status)).inc(count)

    def _observe_stages(self, timings: Sequence[Mapping[str, int]]) -> None:
        # Requests of one route share their stage list: group by it, then transpose in C.
        by_stages: dict[tuple[str, ...], list[Iterable[int]]] = {}
        for stage_ns in timings:
            by_stages.setdefault(tuple(stage_ns), []).append(stage_ns.values())
        with self.stage_duration.lock:
            for stages, values in by_stages.items():
                for stage, column in zip(stages, zip(*values, strict=True), strict=True):
                    self.stage_duration.observe_many(stage, list(column))

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
