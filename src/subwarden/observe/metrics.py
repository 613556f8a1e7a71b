"""Prometheus metrics, fed from record batches in the drain (never on the hot path) and from
runtime ``stats()`` read at scrape time."""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import attrgetter, floordiv, itemgetter, sub
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
from subwarden.observe.queue import Finished
from subwarden.observe.sinks import RecordBatch
from subwarden.pipeline.context import RequestContext, outcome_rule

log = logging.getLogger("subwarden.observe.metrics")

PREFIX = "subwarden"
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25, 1.0, 5.0)
#: stats() keys ending in "_total" or in one of these words are counters (monotonic); the rest are gauges.
COUNTER_WORDS = frozenset(
    {"hits", "misses", "coalesced", "evictions", "expired", "dropped", "written", "errors", "failures",
     "refetches", "fetches", "refreshes", "lookups", "requests", "opens", "opened", "rejected", "batches", "served"}
)
_CONTEXT = itemgetter(0)
_ENDED = itemgetter(1)
#: What the request counter's labels derive from (context.outcome_rule).
_REQUEST_KEY = attrgetter("route", "outcome", "error", "status", "shadow_error", "anonymous")
_ROUTE = attrgetter("route")
_STARTED = attrgetter("started_ns")
_UPSTREAM = attrgetter("route", "upstream_status")
_UPSTREAM_MS = attrgetter("upstream_ms")
_TIMINGS = attrgetter("timings")
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
        """Count a batch of finished requests (called by the record writer's drain, off the event loop).

        Everything is aggregated over the batch first (C-level map/Counter over context slots), then
        one client call or one bucket update per distinct label set: no per-request Python here.
        """
        requests = batch.requests
        if not requests:
            return
        contexts = list(map(_CONTEXT, requests))
        routes = list(map(_ROUTE, contexts))
        try:
            keys = Tally(map(_REQUEST_KEY, contexts))
            statuses = Tally(map(_UPSTREAM, contexts))
        except TypeError:  # an unhashable route object: count by name, one request at a time
            routes = [_route_name(route) for route in routes]
            keys = Tally((routes[i], *_REQUEST_KEY(ctx)[1:]) for i, ctx in enumerate(contexts))
            statuses = Tally(zip(routes, map(attrgetter("upstream_status"), contexts), strict=True))
        for (route, outcome, error, status, shadow, anonymous), count in keys.items():
            if not outcome:
                outcome = outcome_rule(error, status, shadow, anonymous)
            code = error.code if error is not None else "ok"
            self.requests.labels(_route_name(route), outcome, code).inc(count)
        for (route, status), count in statuses.items():
            if status:
                self.upstream.labels(_route_name(route), str(status)).inc(count)
        with self.duration.lock, self.upstream_duration.lock:
            self._observe_durations(requests, contexts, routes)
        # A request that ran no stage (an admission memo answer) has empty timings: left out, so a batch
        # usually takes the one-stage-list fast path below.
        self._observe_stages([timings for timings in map(_TIMINGS, contexts) if timings])

    def _observe_durations(
        self, requests: Sequence[Finished], contexts: list[RequestContext], routes: list[Any]
    ) -> None:
        started = list(map(_STARTED, contexts))
        durations = list(map(sub, map(_ENDED, requests), started))
        upstream_ms = list(map(_UPSTREAM_MS, contexts))
        first = routes[0]
        if routes.count(first) == len(routes):  # one route in the batch: the usual case
            groups: Iterable[tuple[Any, list[int], list[int], list[Any]]] = [(first, durations, started, upstream_ms)]
        else:
            by_route: dict[Any, tuple[list[int], list[int], list[Any]]] = {}
            for route, duration, start, ms in zip(routes, durations, started, upstream_ms, strict=True):
                group = by_route.get(route)
                if group is None:
                    group = by_route[route] = ([], [], [])
                group[0].append(duration)
                group[1].append(start)
                group[2].append(ms)
            groups = [(route, *lists) for route, lists in by_route.items()]
        for route, ns, starts, ms in groups:
            name = _route_name(route)
            if 0 in starts:  # a context without a start time has no duration
                ns = [d for d, s in zip(ns, starts, strict=True) if s]
            if ns:
                self.duration.observe_many(name, list(map(floordiv, ns, repeat(1000))))  # whole µs, as records
            ms = [m for m in ms if m is not None]
            if ms:
                self.upstream_duration.observe_many(name, ms)

    def _observe_stages(self, timings: Sequence[Mapping[str, int]]) -> None:
        if not timings:
            return
        # Usually every request of the batch ran the same stages: one C-level column per stage.
        stages = tuple(timings[0])
        if len(set(map(len, timings))) == 1:
            try:
                columns = [list(map(itemgetter(stage), timings)) for stage in stages]
            except KeyError:  # same count, other stages: group below
                pass
            else:
                with self.stage_duration.lock:
                    for stage, column in zip(stages, columns, strict=True):
                        self.stage_duration.observe_many(stage, column)
                return
        # Requests of one route share their stage list: group by it, then transpose in C.
        by_stages: dict[tuple[str, ...], list[Iterable[int]]] = {}
        for stage_ns in timings:
            by_stages.setdefault(tuple(stage_ns), []).append(stage_ns.values())
        with self.stage_duration.lock:
            for names, values in by_stages.items():
                for stage, amounts in zip(names, zip(*values, strict=True), strict=True):
                    self.stage_duration.observe_many(stage, list(amounts))

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _route_name(route: Any) -> str:
    return (getattr(route, "name", None) or "") if route is not None else ""
