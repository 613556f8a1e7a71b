"""SQLite sink retention and the RecordQuery reader."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from observe_support import CtxFactory, frozen_perf_ns, wait_for

from subwarden.clock import FrozenClock
from subwarden.errors import TokenExpired, UserNotFound
from subwarden.observe.query import RecordQuery, RecordReader
from subwarden.observe.record_shape import BOOL_COLUMNS, REST_FIELDS, STORED, RecordShaper, Row
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import RecordBatch, Sink, SqliteSink, StdoutSink

DAY = 86_400.0


def row(ts: float) -> Row:
    """A stored row with nothing but its time (``rest`` holds the other fields as a JSON array)."""
    rest = [{} if name in ("timings_us", "claims") else False if name in BOOL_COLUMNS else None for name in REST_FIELDS]
    return tuple(ts if name == "ts" else json.dumps(rest) if name == "rest" else None for name in STORED)


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])


def test_rows_older_than_the_retention_are_pruned_on_a_later_write(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock, tmp_path: Path
) -> None:
    db = tmp_path / "records.db"
    sink = SqliteSink(db, retention_days=7, clock=clock, prune_every=60)
    writer = RecordWriter(shaper, [sink], clock=clock, perf_ns=frozen_perf_ns(clock))
    writer.record(make_ctx(request_id="old"))
    writer.flush_sync()
    clock.advance(6 * DAY)
    writer.record(make_ctx(request_id="recent"))
    writer.flush_sync()
    clock.advance(1.5 * DAY)  # "old" is now 7.5 days old, "recent" 1.5
    writer.record(make_ctx(request_id="new"))
    writer.flush_sync()
    sink.close()
    found = RecordReader(db).query(RecordQuery())
    assert [r["request_id"] for r in found] == ["new", "recent"]


def test_pruning_runs_at_most_once_per_interval(clock: FrozenClock, tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "r.db", retention_days=1, clock=clock, prune_every=300, commit_rows=1)
    sink.write(RecordBatch([row(ts=clock.now())]))  # the first write prunes
    sink.write(RecordBatch([row(ts=clock.now() - 2 * DAY)]))  # expired, but the next prune is not due yet
    assert count_rows(tmp_path / "r.db") == 2
    clock.advance(301)
    assert sink.prune_if_due() == 1
    sink.close()


@pytest.fixture
def filled_db(shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock, tmp_path: Path) -> Path:
    db = tmp_path / "records.db"
    writer = RecordWriter(shaper, [SqliteSink(db, clock=clock)], clock=clock, perf_ns=frozen_perf_ns(clock))
    for i in range(5):
        writer.record(make_ctx(request_id=f"ok-{i}"))
        clock.advance(10)
    writer.record(make_ctx(request_id="nf", error=UserNotFound()))
    writer.record(make_ctx(request_id="exp", error=TokenExpired(), route=None))
    writer.flush_sync()
    writer.sinks[0].close()
    return db


def test_a_query_filters_by_code_route_and_since_newest_first(filled_db: Path, clock: FrozenClock) -> None:
    reader = RecordReader(filled_db)
    assert [r["request_id"] for r in reader.query(RecordQuery(code="user_not_found"))] == ["nf"]
    assert [r["request_id"] for r in reader.query(RecordQuery(route="api", limit=3))] == ["nf", "ok-4", "ok-3"]
    recent = reader.query(RecordQuery(since=clock.now() - 15))
    assert [r["request_id"] for r in recent] == ["exp", "nf", "ok-4"]
    assert reader.query(RecordQuery(request_id="exp"))[0]["code"] == "token_expired"


def test_a_query_is_plain_parametrized_sql() -> None:
    sql, params = RecordQuery(since=5.0, code="x' OR 1=1 --", limit=10).to_sql("id")
    assert sql == "SELECT id FROM records WHERE ts >= ? AND code = ? ORDER BY ts DESC, id DESC LIMIT ?"
    assert params == (5.0, "x' OR 1=1 --", 10)


def test_a_limit_outside_1_to_1000_is_refused() -> None:
    with pytest.raises(ValueError):
        RecordQuery(limit=0)
    with pytest.raises(ValueError):
        RecordQuery(limit=1001)


def test_reading_a_missing_database_or_an_empty_one_gives_no_records(tmp_path: Path) -> None:
    assert RecordReader(tmp_path / "absent.db").query(RecordQuery()) == []
    sqlite3.connect(tmp_path / "empty.db").close()
    assert RecordReader(tmp_path / "empty.db").query(RecordQuery()) == []


V1_TABLE = "CREATE TABLE records (id INTEGER PRIMARY KEY, ts REAL NOT NULL, code TEXT, route TEXT, request_id TEXT,"\
    " subject_hash TEXT, user_id TEXT, record TEXT NOT NULL)"


def test_a_version_1_table_is_read_as_it_is_and_set_aside_when_the_sink_first_writes(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock, tmp_path: Path
) -> None:
    db = tmp_path / "records.db"
    with sqlite3.connect(db) as conn:
        conn.execute(V1_TABLE)
        conn.execute("INSERT INTO records (ts, request_id, record) VALUES (1, 'v1', '{\"request_id\": \"v1\"}')")
    conn.close()
    assert RecordReader(db).query(RecordQuery()) == [{"request_id": "v1"}]
    writer = RecordWriter(shaper, [SqliteSink(db, clock=clock)], clock=clock, perf_ns=frozen_perf_ns(clock))
    writer.record(make_ctx(request_id="v2"))
    writer.flush_sync()
    writer.sinks[0].close()
    assert [r["request_id"] for r in RecordReader(db).query(RecordQuery())] == ["v2"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT request_id FROM records_v1").fetchall() == [("v1",)]
    conn.close()


def test_a_refused_request_reads_back_from_sqlite_exactly_as_stdout_wrote_it(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock, tmp_path: Path
) -> None:
    db, stream = tmp_path / "records.db", io.StringIO()
    sinks: list[Sink] = [SqliteSink(db, clock=clock), StdoutSink(stream)]
    writer = RecordWriter(shaper, sinks, clock=clock, perf_ns=frozen_perf_ns(clock))
    error = UserNotFound("no user", attribute="user_id", near_misses=[{"kind": "casefold", "n": 1.5}])
    writer.record(make_ctx(error=error, mapping_fallback=True, anonymous=False, token_cache_hit=True))
    writer.flush_sync()
    sinks[0].close()
    [stored] = RecordReader(db).query(RecordQuery())
    assert stored == json.loads(stream.getvalue())
    assert stored["detail"] == {"attribute": "user_id", "near_misses": [{"kind": "casefold", "n": 1.5}]}
    assert (stored["mapping_fallback"], stored["token_cache_hit"], stored["anonymous"]) == (True, True, False)
    assert stored["timings_us"] == {"route": 2, "verify": 45, "resolve": 120}


def test_rows_are_inserted_once_commit_rows_are_buffered_or_the_oldest_waited_the_interval(
    clock: FrozenClock, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    sink = SqliteSink(db, clock=clock, commit_rows=3, commit_interval=1.0)
    sink.write(RecordBatch([row(ts=clock.now())] * 2))
    assert RecordReader(db).query(RecordQuery()) == []
    sink.write(RecordBatch([row(ts=clock.now())]))
    assert count_rows(db) == 3
    sink.write(RecordBatch([row(ts=clock.now())]))
    sink.flush(force=False)
    assert count_rows(db) == 3
    clock.advance(1.0)
    sink.flush(force=False)
    assert count_rows(db) == 4
    sink.write(RecordBatch([row(ts=clock.now())]))
    sink.close()  # close inserts what is left
    assert count_rows(db) == 5


def test_a_large_insert_keeps_every_row_and_its_order_across_multi_row_statements(
    clock: FrozenClock, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    sink = SqliteSink(db, clock=clock, commit_rows=10_000)
    rows = [row(ts=clock.now() + i) for i in range(253)]  # two 100-row statements and 53 rows one by one
    sink.write(RecordBatch(rows))
    sink.close()
    with sqlite3.connect(db) as conn:
        stored = conn.execute(f"SELECT {', '.join(STORED)} FROM records ORDER BY id").fetchall()
    assert stored == rows


def test_failures_and_successes_of_one_large_batch_keep_every_value(clock: FrozenClock, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    sink = SqliteSink(db, clock=clock, commit_rows=10_000)
    code = STORED.index("code")
    rows = [row(ts=clock.now() + i) for i in range(330)]
    rows = [(*r[:code], "user_not_found", *r[code + 1 :]) if i % 3 == 0 else r for i, r in enumerate(rows)]
    sink.write(RecordBatch(rows))  # 110 failures and 220 successes: full statements and single rows of each
    sink.close()
    with sqlite3.connect(db) as conn:
        stored = conn.execute(f"SELECT {', '.join(STORED)} FROM records ORDER BY ts").fetchall()
    assert stored == rows


async def test_the_drain_inserts_buffered_rows_once_they_are_due_without_new_records(
    shaper: RecordShaper, make_ctx: CtxFactory, clock: FrozenClock, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    sink = SqliteSink(db, clock=clock, commit_interval=1.0)
    writer = RecordWriter(shaper, [sink], flush_interval=0.01, clock=clock, perf_ns=frozen_perf_ns(clock))
    await writer.start()
    writer.record(make_ctx())
    await wait_for(lambda: writer.stats()["written"] == 1)
    assert RecordReader(db).query(RecordQuery()) == []
    clock.advance(1.0)
    await wait_for(lambda: len(RecordReader(db).query(RecordQuery())) == 1)
    await writer.close()
