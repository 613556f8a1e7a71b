"""Record storage details: the compact layout's exact values, the remembered identity parts, the
upgrade from the one-column-per-field layout, and the metrics-only drain."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from observe_support import CtxFactory, broken_context, frozen_perf_ns, metrics_after

from subwarden.clock import FrozenClock
from subwarden.errors import UserNotFound
from subwarden.identity.stores.base import UserRecord, UserStatus
from subwarden.observe.query import RecordQuery, RecordReader
from subwarden.observe.record_shape import COLUMNS, RecordShaper, row_to_record
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import SqliteSink, connect

DAY = 86_400.0
#: The layout 2 table as gateways before layout 3 created it.
V2_TABLE = (
    "CREATE TABLE records (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, "
    + ", ".join(f"{c} {'REAL' if c in ('ts', 'cache_age', 'upstream_ms') else 'TEXT'}" for c in COLUMNS) + ")"
)


@pytest.mark.parametrize(
    "age", [0.0005, 0.0015, 2.675, 1.0005, 123456.7895, 0.1 + 0.2, 7.0, 1e-9, 0.0625, 59.9996, 0.0, 2e9]
)
def test_the_cache_age_is_the_value_round_gives_and_timings_are_whole_microseconds(
    shaper: RecordShaper, make_ctx: CtxFactory, age: float
) -> None:
    record = shaper.shape(make_ctx(cache_age=age, timings={"verify": 45_999, "resolve": 999}), 1.0, 2_000_000)
    assert record["cache_age"] == round(age, 3)
    assert record["timings_us"] == {"verify": 45, "resolve": 0}
    assert record["duration_us"] == 1000


def test_cache_ages_read_back_as_round_gives_them_across_magnitudes(shaper: RecordShaper, make_ctx: CtxFactory) -> None:
    rng = random.Random(5)
    ages = [rng.random() * 10.0 ** rng.randint(-4, 8) for _ in range(2000)] + [k / 2000 for k in range(2000)]
    ctx = make_ctx()
    for age in ages:
        ctx.cache_age = age
        assert json.loads(json.dumps(shaper.shape(ctx, 1.0, 2)))["cache_age"] == round(age, 3), age


@pytest.mark.parametrize("ms", [0.0, 0.001, 0.4, 3.5, 12.0, 999.999, 1_234_567.891, 0.1234, 1e-9, 2.0**40 + 0.25])
def test_an_upstream_time_reads_back_as_the_same_float_whatever_its_digits(
    shaper: RecordShaper, make_ctx: CtxFactory, ms: float
) -> None:
    text = json.dumps(shaper.shape(make_ctx(upstream_ms=ms), 1.0, 2))
    assert repr(json.loads(text)["upstream"]["ms"]) == repr(ms)


@pytest.mark.parametrize("trace_id", ["4bf92f3577b34da6a3ce929d0e0e4736", "Ünïcödé1", 'a"b', "a\\b", "tab\there", ""])
def test_a_trace_id_reads_back_exactly_whatever_it_holds(
    shaper: RecordShaper, make_ctx: CtxFactory, trace_id: str
) -> None:
    text = json.dumps(shaper.shape(make_ctx(trace_id=trace_id), 1.0, 2))
    assert json.loads(text)["trace_id"] == (trace_id or None)


def test_an_admission_memo_answer_records_empty_timings(shaper: RecordShaper, make_ctx: CtxFactory) -> None:
    record = shaper.shape(make_ctx(timings={}, admission_memo=True), 1.0, 2)
    assert (record["timings_us"], record["admission_memo"]) == ({}, True)


def test_a_remembered_identity_is_rebuilt_when_any_of_its_slots_changes(
    shaper: RecordShaper, make_ctx: CtxFactory
) -> None:
    ctx = make_ctx(token_cache_hit=True)
    assert shaper.shape(ctx, 1.0, 2)["mapping_rule"] == "sub->user_id"
    ctx.mapping_rule, ctx.mapping_fallback, ctx.token_source = "email->email", True, "cookie"
    second = shaper.shape(ctx, 1.0, 2)
    assert (second["mapping_rule"], second["mapping_fallback"], second["token_source"]) == (
        "email->email", True, "cookie"
    )
    ctx.subject = "bob"
    assert shaper.shape(ctx, 1.0, 2)["subject_hash"] != second["subject_hash"]
    ctx.claims = dict(ctx.claims or {}, sub="bob")  # an equal-looking but new claims dict
    assert shaper.shape(ctx, 1.0, 2)["claims"]["sub"] == "bob"


def test_a_fresh_tokens_claims_are_not_kept_by_the_shaper(shaper: RecordShaper, make_ctx: CtxFactory) -> None:
    shaper.row(make_ctx(token_cache_hit=False), 1.0, 2)
    assert not shaper._identities
    shaper.row(make_ctx(token_cache_hit=True), 1.0, 2)
    assert len(shaper._identities) == 1


def test_a_cached_tokens_claims_with_a_reloaded_user_show_that_user(
    shaper: RecordShaper, make_ctx: CtxFactory
) -> None:
    ctx = make_ctx(token_cache_hit=True)
    active = ctx.user
    assert shaper.shape(ctx, 1.0, 2)["user_status"] == "active"
    ctx.user = UserRecord("u-1", UserStatus.disabled, ())  # the user cache reloaded it: same claims dict
    assert shaper.shape(ctx, 1.0, 2)["user_status"] == "disabled"
    ctx.user = active
    assert shaper.shape(ctx, 1.0, 2)["user_status"] == "active"
    assert len(shaper._identities) == 1  # one entry per claims dict, replaced as its user changes


def test_a_new_token_of_a_known_identity_reuses_its_parts_found_by_value(
    shaper: RecordShaper, make_ctx: CtxFactory
) -> None:
    first = make_ctx(token_cache_hit=False)
    expected = shaper.shape(first, 1.0, 2)
    again = make_ctx(token_cache_hit=False)  # another token: a new claims dict, the same user object
    again.user = first.user
    assert again.claims is not first.claims
    assert shaper.shape(again, 1.0, 2) == expected and len(shaper._by_value) == 1
    other_email = make_ctx(token_cache_hit=False, user=first.user)
    other_email.claims = dict(other_email.claims or {}, email="other@example.com")  # a kept claim differs
    assert shaper.shape(other_email, 1.0, 2)["claims"]["email"] == "other@example.com"
    reloaded = make_ctx(token_cache_hit=False, user=UserRecord("u-1", UserStatus.disabled, ()))  # a new user record
    assert shaper.shape(reloaded, 1.0, 2)["user_status"] == "disabled" and len(shaper._by_value) == 2  # replaced
    listed = make_ctx(token_cache_hit=False)
    listed.claims = dict(listed.claims or {}, email=["a", "b"])  # unhashable: built every time, never cached
    assert shaper.shape(listed, 1.0, 2)["claims"]["email"] == ["a", "b"] and len(shaper._by_value) == 2


def test_a_layout_2_table_is_set_aside_still_read_newest_first_and_pruned(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock, tmp_path: Path
) -> None:
    db = tmp_path / "records.db"
    with sqlite3.connect(db) as conn:
        conn.execute(V2_TABLE)
        old = {"ts": clock.now() - 10, "request_id": "v2", "route": "api", "code": "user_not_found",
               "timings_us": '{"verify":3}', "claims": "{}", "token_cache_hit": 1, "mapping_fallback": 0,
               "anonymous": 0}
        expired = dict(old, ts=clock.now() - 8 * DAY, request_id="v2-expired")
        for row in (old, expired):
            conn.execute(f"INSERT INTO records (v, {', '.join(row)}) VALUES (1{', ?' * len(row)})", tuple(row.values()))
    conn.close()
    assert [r["request_id"] for r in RecordReader(db).query(RecordQuery())] == ["v2", "v2-expired"]

    sink = SqliteSink(db, clock=clock, retention_days=7)
    writer = RecordWriter(shaper, [sink], clock=clock, perf_ns=frozen_perf_ns(clock))
    writer.record(make_ctx(request_id="v3", error=UserNotFound()))
    writer.flush_sync()  # the first write sets the old table aside and prunes both
    sink.close()

    reader = RecordReader(db)
    found = reader.query(RecordQuery())
    assert [r["request_id"] for r in found] == ["v3", "v2"]
    assert found[1]["timings_us"] == {"verify": 3} and found[1]["token_cache_hit"] is True
    assert [r["request_id"] for r in reader.query(RecordQuery(code="user_not_found", limit=1))] == ["v3"]
    assert [r["request_id"] for r in reader.query(RecordQuery(request_id="v2"))] == ["v2"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT request_id FROM records_v2").fetchall() == [("v2",)]
    conn.close()


def test_without_sinks_the_drain_feeds_metrics_and_skips_a_context_it_cannot_count(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    text, writer = metrics_after(shaper, clock, [
        make_ctx(),
        broken_context(make_ctx(), timings=None),  # a bug elsewhere left a slot broken
        make_ctx(error=UserNotFound()),
    ])
    assert 'subwarden_requests_total{code="ok",outcome="allowed",route="api"} 1.0' in text
    assert 'subwarden_requests_total{code="user_not_found",outcome="denied",route="api"} 1.0' in text
    assert 'subwarden_stage_duration_seconds_count{stage="verify"} 2.0' in text
    assert writer.stats()["written"] == 2 and writer.stats()["shape_errors"] == 1


def test_a_batch_of_several_routes_counts_each_routes_durations_and_upstream_apart(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    text, _ = metrics_after(shaper, clock, [
        make_ctx(),
        make_ctx(route=None, error=UserNotFound(), started_ns=0),  # no route, no start time
        make_ctx(upstream_status=502),
    ], perf_ns=lambda: 3_000_000)
    assert 'subwarden_request_duration_seconds_count{route="api"} 2.0' in text
    assert 'subwarden_request_duration_seconds_sum{route="api"} 0.004' in text  # 2 ms each
    assert 'subwarden_request_duration_seconds_count{route=""}' not in text
    assert 'subwarden_requests_total{code="user_not_found",outcome="denied",route=""} 1.0' in text
    assert 'subwarden_upstream_responses_total{route="api",status="502"} 1.0' in text
    assert 'subwarden_upstream_duration_seconds_count{route="api"} 2.0' in text


def test_requests_that_ran_different_stages_are_each_counted_under_their_own_stages(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    stage_lists = ({"route": 1, "verify": 2}, {"route": 1, "resolve": 3}, {"route": 1})  # same count, then fewer
    text, _ = metrics_after(shaper, clock, [make_ctx(timings=timings) for timings in stage_lists])
    assert 'subwarden_stage_duration_seconds_count{stage="route"} 3.0' in text
    assert 'subwarden_stage_duration_seconds_count{stage="verify"} 1.0' in text
    assert 'subwarden_stage_duration_seconds_count{stage="resolve"} 1.0' in text


def test_a_stored_row_is_ascii_and_reads_back_with_non_ascii_values(
    shaper: RecordShaper, make_ctx: CtxFactory
) -> None:
    # ASCII text binds as a plain copy; one non-ASCII character made the whole row UCS-2 to re-encode.
    ctx = make_ctx(path="/café/ünï", token_cache_hit=True)
    ctx.mapping_rule = "sub→user_id"
    ctx.claims = dict(ctx.claims or {}, email="zoë@example.test")
    row = shaper.row(ctx, 1.0, 2)
    assert row[-1].isascii()
    record = shaper.shape(ctx, 1.0, 2)
    assert (record["path"], record["mapping_rule"], record["claims"]["email"]) == (
        "/café/ünï", "sub→user_id", "zoë@example.test"
    )


def test_a_new_records_file_gets_16_kib_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE other (x)")  # a file made before: 4 KiB pages
    for path, page_size in ((new, 16_384), (old, 4_096)):
        conn = connect(path)
        try:
            assert conn.execute("PRAGMA page_size").fetchone()[0] == page_size
            # The same WAL size before a checkpoint, whatever the page size.
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 40_960_000 // page_size
        finally:
            conn.close()


def test_a_memo_answer_is_flagged_and_a_row_from_before_the_flag_reads_it_as_unknown(
    shaper: RecordShaper, make_ctx: CtxFactory
) -> None:
    ctx = make_ctx(token_cache_hit=True, timings=dict.fromkeys(("route", "verify", "resolve"), 0))
    ctx.admission_memo = True
    row = shaper.row(ctx, 1.0, 2)
    assert row_to_record(row)["admission_memo"] is True
    ctx.admission_memo = False
    assert shaper.shape(ctx, 1.0, 2)["admission_memo"] is False
    older = json.loads(row[-1])[:-1]  # rest as rows were written before the field existed
    record = row_to_record((*row[:-1], json.dumps(older)))
    assert record["admission_memo"] is None and record["claims"] == shaper.shape(ctx, 1.0, 2)["claims"]
