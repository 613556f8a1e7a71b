"""Record sinks: stdout JSON lines and SQLite. Called from the writer's single worker thread only."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, TextIO

from subwarden.clock import SYSTEM_CLOCK, Clock

Record = dict[str, Any]


def dump_record(record: Record) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)


class RecordBatch:
    """Records drained together; each is JSON-encoded at most once, whichever sinks need it."""

    __slots__ = ("__dict__", "records")

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    @cached_property
    def lines(self) -> list[str]:
        return [dump_record(r) for r in self.records]


class Sink(Protocol):
    def write(self, batch: RecordBatch) -> None:
        """Persist a batch; may block (it runs in a worker thread)."""

    def close(self) -> None:
        """Flush and release resources."""


class StdoutSink:
    """One JSON object per line on ``stream`` (default: the process's stdout)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def write(self, batch: RecordBatch) -> None:
        stream = self._stream or sys.stdout
        stream.write("".join(line + "\n" for line in batch.lines))
        stream.flush()

    def close(self) -> None:
        (self._stream or sys.stdout).flush()


SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    request_id TEXT,
    route TEXT,
    code TEXT,
    outcome TEXT,
    status INTEGER,
    subject_hash TEXT,
    user_id TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE INDEX IF NOT EXISTS records_code_ts ON records (code, ts);
CREATE INDEX IF NOT EXISTS records_route_ts ON records (route, ts);
CREATE INDEX IF NOT EXISTS records_request_id ON records (request_id);
CREATE INDEX IF NOT EXISTS records_subject_hash_ts ON records (subject_hash, ts);
CREATE INDEX IF NOT EXISTS records_user_id_ts ON records (user_id, ts);
"""

_INSERT = (
    "INSERT INTO records (ts, request_id, route, code, outcome, status, subject_hash, user_id, record)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection tuned for batched appends by several writers (gateway workers) and concurrent readers."""
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    # Measured: the six indexes thrash the default 2 MiB cache and frequent checkpoints fsync;
    # these two settings double the insert rate (22k → 42k rows/s in 512-row batches).
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA wal_autocheckpoint = 10000")
    return conn


class SqliteSink:
    """Records in a SQLite table with indexed columns; rows older than ``retention_days`` are pruned."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention_days: float = 7.0,
        clock: Clock = SYSTEM_CLOCK,
        prune_every: float = 300.0,
    ) -> None:
        self.path = Path(path)
        self._retention = retention_days * 86_400.0
        self._clock = clock
        self._prune_every = prune_every
        self._last_prune: float | None = None
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def write(self, batch: RecordBatch) -> None:
        conn = self._connection()
        rows = [
            (
                r["ts"], r.get("request_id"), r.get("route"), r.get("code"), r.get("outcome"),
                r.get("status"), r.get("subject_hash"), r.get("user_id"), line,
            )
            for r, line in zip(batch.records, batch.lines, strict=True)
        ]
        with conn:
            conn.execute("BEGIN")
            conn.executemany(_INSERT, rows)
        self.prune_if_due()

    def prune_if_due(self) -> int:
        """Delete expired rows at most every ``prune_every`` seconds; returns rows deleted."""
        now = self._clock.monotonic()
        if self._last_prune is not None and now - self._last_prune < self._prune_every:
            return 0
        self._last_prune = now
        return self.prune()

    def prune(self) -> int:
        cutoff = self._clock.now() - self._retention
        with self._connection() as conn:
            return conn.execute("DELETE FROM records WHERE ts < ?", (cutoff,)).rowcount

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
