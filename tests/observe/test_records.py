"""The record writer: every field reaches stdout and SQLite, drops are counted, tokens never land."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from pathlib import Path

import pytest
from observe_support import FINGERPRINT, HASH_KEY, CtxFactory, broken_context, wait_for

from subwarden.clock import FrozenClock
from subwarden.errors import StoreTimeout, UserNotFound
from subwarden.observe.query import RecordQuery, RecordReader
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import Record, RecordBatch, Sink, StdoutSink
from subwarden.observe.subject_hash import SubjectHasher

ALL_FIELDS = {
    "v", "ts", "time", "request_id", "trace_id", "route", "method", "path", "outcome", "code", "stage", "status",
    "reason", "detail", "shadow_code", "issuer", "alg", "kid", "token_source", "token_cache_hit", "admission_memo",
    "mapping_claim",
    "mapping_rule", "mapping_fallback", "subject_hash", "user_id", "user_status", "anonymous", "cache_state",
    "cache_age", "timings_us", "duration_us", "upstream", "fingerprint", "claims",
}


def stdout_records(stream: io.StringIO) -> list[Record]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def sqlite_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        columns = "ts, request_id, route, code, outcome, status, subject_hash, user_id"
        return conn.execute(f"SELECT {columns} FROM records ORDER BY id").fetchall()


async def test_a_proxied_request_is_written_with_every_field_to_stdout_and_sqlite(
    writer: RecordWriter, make_ctx: CtxFactory, stdout: io.StringIO, tmp_path: Path
) -> None:
    await writer.start()
    writer.record(make_ctx())
    await writer.close()

    [record] = stdout_records(stdout)
    assert set(record) == ALL_FIELDS
    expected_hash = SubjectHasher(HASH_KEY).hash("alice")
    assert record | {"ts": None, "time": None, "duration_us": None} == {
        "v": 1, "ts": None, "time": None, "request_id": "req-1", "trace_id": "trace-1", "route": "api",
        "method": "GET", "path": "/api/orders/7", "outcome": "allowed", "code": None, "stage": None, "status": 200,
        "reason": None, "detail": None, "shadow_code": None, "issuer": "test-idp", "alg": "ES256", "kid": "k1",
        "token_source": "header", "token_cache_hit": False, "admission_memo": False, "mapping_claim": "sub",
        "mapping_rule": "sub->user_id",
        "mapping_fallback": False, "subject_hash": expected_hash, "user_id": "u-1", "user_status": "active",
        "anonymous": False, "cache_state": "hit", "cache_age": 1.25,
        "timings_us": {"route": 2, "verify": 45, "resolve": 120}, "duration_us": None,
        "upstream": {"status": 200, "target": "127.0.0.1:9", "ms": 3.5}, "fingerprint": FINGERPRINT,
        "claims": {"iss": "https://idp.test", "sub": "alice", "email": "alice@example.test"},
    }
    assert record["ts"] == 1_800_000_000.0
    assert record["time"] == "2027-01-15T08:00:00.000+00:00"
    assert record["duration_us"] > 0

    [row] = sqlite_rows(tmp_path / "records.db")
    assert row == (1_800_000_000.0, "req-1", "api", None, "allowed", 200, expected_hash, "u-1")
    assert RecordReader(tmp_path / "records.db").query(RecordQuery()) == [record]


async def test_a_refused_request_records_code_stage_detail_and_the_claims_kept_for_replay(
    writer: RecordWriter, make_ctx: CtxFactory, stdout: io.StringIO
) -> None:
    error = UserNotFound("no user has this key", attribute="user_id", near_misses=[{"kind": "casefold"}])
    await writer.start()
    writer.record(make_ctx(error=error, mapping_fallback=True, cache_state="negative-hit"))
    await writer.close()

    [record] = stdout_records(stdout)
    assert (record["outcome"], record["code"], record["stage"], record["status"]) == (
        "denied", "user_not_found", "resolve", 401
    )
    assert record["detail"] == {"attribute": "user_id", "near_misses": [{"kind": "casefold"}]}
    assert record["user_id"] is None and record["mapping_fallback"] is True
    assert record["cache_state"] == "negative-hit"
    assert record["claims"] == {"iss": "https://idp.test", "sub": "alice", "email": "alice@example.test"}
    assert record["upstream"] == {"status": None, "target": None, "ms": None}


async def test_a_store_outage_is_recorded_as_an_error_not_a_denial(
    writer: RecordWriter, make_ctx: CtxFactory, stdout: io.StringIO
) -> None:
    await writer.start()
    writer.record(make_ctx(error=StoreTimeout("lookup exceeded 2.0s")))
    await writer.close()
    [record] = stdout_records(stdout)
    assert (record["outcome"], record["code"], record["status"]) == ("error", "store_timeout", 503)


async def test_a_shadowed_denial_is_recorded_beside_the_success(
    writer: RecordWriter, make_ctx: CtxFactory, stdout: io.StringIO
) -> None:
    await writer.start()
    writer.record(make_ctx(shadow_error=UserNotFound(), outcome="shadow"))
    await writer.close()
    [record] = stdout_records(stdout)
    assert (record["outcome"], record["code"], record["shadow_code"]) == ("shadow", None, "user_not_found")


async def test_the_query_string_never_reaches_a_record(
    writer: RecordWriter, make_ctx: CtxFactory, stdout: io.StringIO
) -> None:
    await writer.start()
    writer.record(make_ctx(path="/api/cb?code=abc&state=xyz"))
    await writer.close()
    assert stdout_records(stdout)[0]["path"] == "/api/cb"
    assert "state=xyz" not in stdout.getvalue()


async def test_no_sink_ever_holds_the_raw_token_even_when_it_sits_in_error_detail(
    writer: RecordWriter, make_ctx: CtxFactory, stdout: io.StringIO, tmp_path: Path, token: str
) -> None:
    header, payload, signature = token.split(".")
    error = UserNotFound(
        f"lookup failed for token {token}",
        token=token,
        headers={"Authorization": f"Bearer {token}"},
        note=f"client sent Authorization: Bearer {token} and access_token={token}",
        nested=[[{"raw": token.encode()}]],
    )
    await writer.start()
    writer.record(make_ctx(error=error, path=f"/api/callback/{token}", kid=token))
    writer.record(make_ctx(claims={"iss": "https://idp.test", "sub": token, "email": f"Bearer {token}"}))
    await writer.close()

    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("records.db*"))
    for sink_text in (stdout.getvalue(), db_bytes.decode("latin-1")):
        for part in (token, header, payload, signature):
            assert part not in sink_text
    record = stdout_records(stdout)[0]
    assert record["detail"]["token"] == "[redacted]"
    assert record["path"] == "/api/callback/[redacted-jwt]"


def test_record_never_blocks_and_counts_drops_when_the_queue_is_full(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    writer = RecordWriter(shaper, [StdoutSink(io.StringIO())], queue_size=16, batch_size=8, clock=clock)
    ctx = make_ctx()
    for _ in range(40):  # no loop, no drain: nothing can empty the queue
        writer.record(ctx)
    assert writer.stats()["queued"] == 16
    assert writer.stats()["dropped"] == 24


async def test_drops_are_logged_once_per_interval(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    writer = RecordWriter(shaper, [], queue_size=16, batch_size=8, flush_interval=0.01, clock=clock,
                          drop_log_interval=10.0)
    ctx = make_ctx()
    caplog.set_level(logging.WARNING, logger="subwarden.observe.records")
    await writer.start()
    for _ in range(20):
        writer.record(ctx)
    clock.advance(11)
    await wait_for(lambda: writer.stats()["batches"] >= 1 and "dropped 4" in caplog.text)
    for _ in range(20):
        writer.record(ctx)
    await wait_for(lambda: writer.stats()["written"] >= 32)
    assert caplog.text.count("dropped") == 1  # the interval has not passed again
    await writer.close()
    assert "dropped 4 call records" in caplog.text.splitlines()[-1]
    assert writer.stats()["dropped"] == 8


async def test_close_flushes_every_queued_record_in_batches(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    stream = io.StringIO()
    writer = RecordWriter(shaper, [StdoutSink(stream)], queue_size=1000, batch_size=64, flush_interval=60, clock=clock)
    await writer.start()
    ctx = make_ctx()
    for _ in range(1000):
        writer.record(ctx)
    await writer.close()
    assert len(stream.getvalue().splitlines()) == 1000
    assert writer.stats()["queued"] == 0 and writer.stats()["dropped"] == 0


async def test_a_full_batch_is_written_without_waiting_for_the_flush_interval(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    stream = io.StringIO()
    writer = RecordWriter(shaper, [StdoutSink(stream)], queue_size=100, batch_size=10, flush_interval=60, clock=clock)
    await writer.start()
    for _ in range(10):
        writer.record(make_ctx())
    await wait_for(lambda: len(stream.getvalue().splitlines()) == 10)
    await writer.close()


class BrokenSink:
    def write(self, batch: RecordBatch) -> None:
        raise OSError("disk full")

    def flush(self, force: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


async def test_a_failing_sink_is_counted_and_does_not_stop_the_other_sinks(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    stream = io.StringIO()
    sinks: list[Sink] = [BrokenSink(), StdoutSink(stream)]
    writer = RecordWriter(shaper, sinks, queue_size=100, batch_size=10, flush_interval=0.01, clock=clock)
    await writer.start()
    writer.record(make_ctx())
    await writer.close()
    assert len(stream.getvalue().splitlines()) == 1
    assert writer.stats()["sink_errors"] == 1


async def test_a_context_that_cannot_be_shaped_is_counted_and_the_batch_survives(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock
) -> None:
    stream = io.StringIO()
    writer = RecordWriter(shaper, [StdoutSink(stream)], queue_size=100, batch_size=10, flush_interval=0.01, clock=clock)
    await writer.start()
    writer.record(broken_context(make_ctx(), timings=None))  # a bug elsewhere left a slot broken
    writer.record(make_ctx())
    await writer.close()
    assert len(stream.getvalue().splitlines()) == 1
    assert writer.stats()["shape_errors"] == 1
