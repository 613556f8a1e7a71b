"""Metrics are fed from record batches and from runtime stats() read at scrape time."""

from __future__ import annotations

from observe_support import CtxFactory, metrics_after

from subwarden.clock import FrozenClock
from subwarden.errors import UserNotFound
from subwarden.observe.metrics import GatewayMetrics, is_counter_key
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import Finished, RecordBatch


class CacheStats:
    def stats(self) -> dict[str, float]:
        return {"hits": 7, "misses": 2, "negative_hits": 1, "coalesced": 3, "size": 9}


class BreakerStats:
    def stats(self) -> dict[str, float]:
        return {"store_breaker_state": 2, "store_breaker_consecutive_failures": 5, "store_breaker_opens": 1}


class BrokenStats:
    def stats(self) -> dict[str, float]:
        raise RuntimeError("boom")


def scrape(metrics: GatewayMetrics) -> str:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return body.decode()


def test_exposition_holds_the_request_upstream_and_stage_counters_after_a_batch(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    metrics = GatewayMetrics(process=False)
    writer = RecordWriter(shaper, [], metrics=metrics, clock=clock)
    writer.record(make_ctx())
    writer.record(make_ctx())
    writer.record(make_ctx(error=UserNotFound()))
    assert 'outcome="allowed"' not in scrape(metrics)  # nothing counted on the hot path
    writer.flush_sync()
    text = scrape(metrics)
    assert 'subwarden_requests_total{code="ok",outcome="allowed",route="api"} 2.0' in text
    assert 'subwarden_requests_total{code="user_not_found",outcome="denied",route="api"} 1.0' in text
    assert 'subwarden_upstream_responses_total{route="api",status="200"} 2.0' in text
    assert 'subwarden_stage_duration_seconds_count{stage="verify"} 3.0' in text
    assert 'subwarden_request_duration_seconds_count{route="api"} 3.0' in text
    assert 'subwarden_upstream_duration_seconds_count{route="api"} 2.0' in text


def test_a_memo_answer_is_counted_and_timed_but_adds_nothing_to_the_stage_histograms(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    answered = make_ctx(timings={})  # as the memo leaves it: no stage ran
    answered.admission_memo = True
    text, _ = metrics_after(shaper, clock, [make_ctx(), answered])
    assert 'subwarden_requests_total{code="ok",outcome="allowed",route="api"} 2.0' in text
    assert 'subwarden_request_duration_seconds_count{route="api"} 2.0' in text
    assert 'subwarden_stage_duration_seconds_count{stage="verify"} 1.0' in text
    assert 'subwarden_stage_duration_seconds_bucket{le="1e-05",stage="verify"} 0.0' in text  # no zero observed


def test_record_drops_and_queue_state_are_exposed(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    metrics = GatewayMetrics(process=False)
    writer = RecordWriter(shaper, [], queue_size=16, metrics=metrics, clock=clock)
    metrics.add_stats_source("records", writer)
    for _ in range(20):
        writer.record(make_ctx())
    text = scrape(metrics)
    assert "subwarden_records_dropped_total 4.0" in text
    assert "subwarden_records_queued 16.0" in text
    assert "# TYPE subwarden_records_queued gauge" in text


def test_runtime_stats_are_read_at_scrape_time_and_a_broken_source_is_skipped() -> None:
    metrics = GatewayMetrics(process=False)
    metrics.add_stats_source("broken", BrokenStats())
    metrics.add_stats_source("user_cache", CacheStats())
    metrics.add_stats_source("store_breaker", BreakerStats())
    text = scrape(metrics)
    assert "subwarden_user_cache_hits_total 7.0" in text
    assert "subwarden_user_cache_negative_hits_total 1.0" in text
    assert "subwarden_user_cache_coalesced_total 3.0" in text
    assert "subwarden_user_cache_size 9.0" in text
    assert "subwarden_broken" not in text
    assert "subwarden_user_cache_user_cache" not in text
    assert "subwarden_store_breaker_state 2.0" in text  # keys already prefixed are not prefixed twice
    assert "# TYPE subwarden_store_breaker_consecutive_failures gauge" in text
    assert "subwarden_store_breaker_opens_total 1.0" in text


def test_a_source_named_empty_string_adds_no_prefix() -> None:
    metrics = GatewayMetrics(process=False)
    metrics.add_stats_source("", BreakerStats())
    assert "subwarden_store_breaker_opens_total 1.0" in scrape(metrics)


def test_the_config_fingerprint_is_exposed_and_replaced_on_reload() -> None:
    metrics = GatewayMetrics(process=False)
    metrics.set_fingerprint("aaaa")
    metrics.set_fingerprint("bbbb")
    text = scrape(metrics)
    assert 'subwarden_config_info{fingerprint="bbbb"} 1.0' in text
    assert "aaaa" not in text


def test_two_metric_sets_in_one_process_do_not_collide() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    assert "process_cpu_seconds_total" in scrape(first) and scrape(second)


def test_counter_keys_are_recognised_by_name() -> None:
    assert is_counter_key("hits") and is_counter_key("negative_hits") and is_counter_key("refreshes_total")
    assert not is_counter_key("size") and not is_counter_key("state")
    assert not is_counter_key("store_breaker_consecutive_failures") and not is_counter_key("user_cache_inflight")


def finished(make_ctx: CtxFactory, duration_us: int, timings: dict[str, int]) -> Finished:
    """A finished request of route "api" that took ``duration_us`` (as the writer queues it)."""
    ctx = make_ctx(timings=timings)
    return ctx, ctx.started_ns + duration_us * 1000


def test_histogram_buckets_are_cumulative_and_a_value_on_a_bound_counts_in_that_bucket(make_ctx: CtxFactory) -> None:
    metrics = GatewayMetrics(process=False)
    metrics.observe(RecordBatch(
        (),
        [
            finished(make_ctx, 1000, {"verify": 10_000}),  # exactly the 0.001 bound; verify on the 0.00001 bound
            finished(make_ctx, 1001, {"verify": 10_001}),
            finished(make_ctx, 60_000_000, {}),  # above the last bound
        ],
    ))
    text = scrape(metrics)
    assert 'subwarden_stage_duration_seconds_bucket{le="1e-05",stage="verify"} 1.0' in text
    assert 'subwarden_stage_duration_seconds_bucket{le="2.5e-05",stage="verify"} 2.0' in text
    assert 'subwarden_request_duration_seconds_bucket{le="0.0005",route="api"} 0.0' in text
    assert 'subwarden_request_duration_seconds_bucket{le="0.001",route="api"} 1.0' in text
    assert 'subwarden_request_duration_seconds_bucket{le="0.0025",route="api"} 2.0' in text
    assert 'subwarden_request_duration_seconds_bucket{le="30.0",route="api"} 2.0' in text
    assert 'subwarden_request_duration_seconds_bucket{le="+Inf",route="api"} 3.0' in text
    assert 'subwarden_request_duration_seconds_count{route="api"} 3.0' in text
    assert 'subwarden_request_duration_seconds_sum{route="api"} 60.002001' in text
