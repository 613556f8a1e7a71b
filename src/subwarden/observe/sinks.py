"""Record sinks: stdout JSON lines and SQLite (compact rows). Called from the writer's single worker thread only."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Sequence
from functools import cached_property
from itertools import chain, compress, repeat
from operator import is_not, itemgetter, not_
from pathlib import Path
from typing import Any, Protocol, TextIO

from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.observe.queue import Finished
from subwarden.observe.record_shape import COLUMNS, STORED, IsoTime, Row, row_to_record

Record = dict[str, Any]
_ISO_TIME = IsoTime()
_dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def dump_row(row: Row) -> str:
    """One stored row as a JSON line: the documented record, fields in their documented order."""
    return _dump(row_to_record(row, _ISO_TIME))


class RecordBatch:
    """Stored rows drained together (empty when no sink wants them) and the finished requests they came
    from (metrics read those directly); JSON lines made at most once."""

    __slots__ = ("__dict__", "requests", "rows")

    def __init__(self, rows: Sequence[Row], requests: Sequence[Finished] = ()) -> None:
        self.rows = rows
        self.requests = requests

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def lines(self) -> list[str]:
        return [dump_row(r) for r in self.rows]


class Sink(Protocol):
    def write(self, batch: RecordBatch) -> None:
        """Persist a batch; may block (it runs in a worker thread)."""

    def flush(self, force: bool = True) -> None:
        """Write out what the sink buffers: everything if ``force``, else only what is due."""

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

    def flush(self, force: bool = True) -> None:
        pass  # every write is flushed

    def close(self) -> None:
        (self._stream or sys.stdout).flush()


#: Layout 3: the columns queries filter on, typed, and the other fields as one JSON array (``rest``).
#: One bound value costs ~0.2 µs (a NULL ~0.3 µs) and a byte written ~5 ns: 9 values and ~270 bytes a
#: row instead of 35 values and ~460 bytes (layout 2).
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, ts REAL NOT NULL, request_id TEXT, route TEXT,"
    " code TEXT, outcome TEXT, status INTEGER, subject_hash TEXT, user_id TEXT, rest TEXT NOT NULL)",
    # Three indexes: each costs ~1 µs per written row; queries by route, subject hash or user id are
    # time-bounded and ride the ts index. The code index holds failures only (code = ? implies
    # code IS NOT NULL, so SQLite uses it): successful requests, the bulk, skip its upkeep.
    "CREATE INDEX IF NOT EXISTS records3_ts ON records (ts)",
    "DROP INDEX IF EXISTS records3_code_ts",
    "CREATE INDEX IF NOT EXISTS records3_failures ON records (code, ts) WHERE code IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records3_request_id ON records (request_id)",
)
#: Layout 2 (one typed column per field), set aside as ``records_v2``: still read and pruned, not written.
V2_TABLE = "records_v2"
V2_COLUMNS = ", ".join(COLUMNS)


def _null(value: None) -> None:
    return None


# sqlite3 binds None through its adapter lookup, which misses and raises internally (~0.5 µs per
# None). A registered identity adapter turns that into a hit. Process-wide, and a no-op for every
# other sqlite3 user (None still binds as NULL).
sqlite3.register_adapter(type(None), _null)
_INSERT = f"INSERT INTO records ({', '.join(STORED)}) VALUES ({', '.join('?' * len(STORED))})"
#: Rows per multi-row INSERT (900 bound values: under SQLite's historical 999-variable limit).
#: sqlite3 releases the GIL around every statement step; executemany steps once per row, so under load
#: the record thread and the event loop handed the GIL back and forth per row. One step per 100
#: rows: 2.5 instead of 3.8-4.1 us of CPU per row measured alone, and 100x fewer hand-offs.
_CHUNK_ROWS = 100
_INSERT_CHUNK = (
    f"INSERT INTO records ({', '.join(STORED)}) VALUES "
    + ", ".join(["(" + ", ".join("?" * len(STORED)) + ")"] * _CHUNK_ROWS)
)

#: The same for rows without a code (the bulk: every request let through): code is a NULL literal, so
#: no None is bound (pysqlite adapts a None: ~1.4k instructions, the value ~0.7k more).
_INSERT_CHUNK_NO_CODE = (
    f"INSERT INTO records ({', '.join(STORED)}) VALUES "
    + ", ".join(["(" + ", ".join("NULL" if c == "code" else "?" for c in STORED) + ")"] * _CHUNK_ROWS)
)
_BOUND_WITHOUT_CODE = [c != "code" for c in STORED] * _CHUNK_ROWS
_CODE_OF = itemgetter(STORED.index("code"))


def table_layout(conn: sqlite3.Connection, table: str = "records") -> int:
    """The layout of ``table``: 0 absent, 1 the whole record as JSON, 2 a column per field, 3 compact rows."""
    columns = {col[1] for col in conn.execute(f"PRAGMA table_info({table})")}
    if not columns:
        return 0
    return 1 if "record" in columns else 3 if "rest" in columns else 2


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the table. An older ``records`` is set aside: layout 1 as ``records_v1`` (kept, no longer
    read), layout 2 as ``records_v2`` (still read and pruned, so no record is lost by the upgrade)."""
    conn.execute("BEGIN IMMEDIATE")  # workers share the file: one of them migrates
    try:
        layout = table_layout(conn)
        if layout == 1:
            conn.execute("ALTER TABLE records RENAME TO records_v1")
        elif layout == 2 and table_layout(conn, V2_TABLE):  # set aside before: add to it
            conn.execute(f"INSERT INTO {V2_TABLE} (v, {V2_COLUMNS}) SELECT v, {V2_COLUMNS} FROM records")
            conn.execute("DROP TABLE records")
        elif layout == 2:
            conn.execute(f"ALTER TABLE records RENAME TO {V2_TABLE}")
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


#: Page size of a new records file, and the WAL size that triggers a checkpoint (10,000 pages of 4 KiB).
PAGE_SIZE = 16_384
WAL_CHECKPOINT_BYTES = 40_960_000


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection tuned for batched appends by several writers (gateway workers) and concurrent readers."""
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    # Only a new file takes it (before WAL mode writes the header): 16 KiB pages cost ~0.3 µs less per
    # appended row than 4 KiB (2.5 vs 2.8 µs, three interleaved runs of 400k rows): fewer WAL frames.
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]  # an older file keeps its own
    # Measured: indexes thrash the default 2 MiB cache and frequent checkpoints fsync;
    # these two settings double the insert rate (22k → 42k rows/s in 512-row batches).
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_BYTES // page_size}")
    return conn


class SqliteSink:
    """Records in a SQLite table of compact rows (``SCHEMA``); rows older than ``retention_days`` are pruned.

    Rows are buffered and inserted ``commit_rows`` at a time, or once the oldest has waited
    ``commit_interval`` seconds: each transaction rewrites every index page it touches, so larger
    transactions cost less per row.
    The write lock is held only while inserting, never while buffering (workers share the file).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        retention_days: float = 7.0,
        clock: Clock = SYSTEM_CLOCK,
        prune_every: float = 300.0,
        commit_rows: int = 4096,
        commit_interval: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self._retention = retention_days * 86_400.0
        self._clock = clock
        self._prune_every = prune_every
        self._commit_rows = commit_rows
        self._commit_interval = commit_interval
        self._last_prune: float | None = None
        self._conn: sqlite3.Connection | None = None
        self._pending: list[Row] = []
        self._pending_since = 0.0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
            create_schema(conn)
            self._conn = conn
        return self._conn

    def write(self, batch: RecordBatch) -> None:
        self._connection()  # the table exists from the first batch on, even while rows wait
        if not self._pending:
            self._pending_since = self._clock.monotonic()
        self._pending.extend(batch.rows)
        self.flush(force=False)

    def flush(self, force: bool = True) -> None:
        """Insert the buffered rows (a failure loses them; the writer counts it as a sink error)."""
        pending = self._pending
        if not pending:
            return
        waited = self._clock.monotonic() - self._pending_since
        if not (force or len(pending) >= self._commit_rows or waited >= self._commit_interval):
            return
        self._pending = []
        conn = self._connection()
        with conn:
            conn.execute("BEGIN")
            failed = list(map(is_not, map(_CODE_OF, pending), repeat(None)))  # C-level: no Python loop per row
            if any(failed):
                _insert(conn, list(compress(pending, failed)), _INSERT_CHUNK, None)
                pending = list(compress(pending, map(not_, failed)))
            _insert(conn, pending, _INSERT_CHUNK_NO_CODE, _BOUND_WITHOUT_CODE)
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
        conn = self._connection()
        with conn:
            deleted = conn.execute("DELETE FROM records WHERE ts < ?", (cutoff,)).rowcount
            if table_layout(conn, V2_TABLE):
                deleted += conn.execute(f"DELETE FROM {V2_TABLE} WHERE ts < ?", (cutoff,)).rowcount
        return deleted

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _insert(conn: sqlite3.Connection, rows: list[Row], chunk_sql: str, bound: list[bool] | None) -> None:
    """Insert ``rows`` _CHUNK_ROWS per statement (``bound`` picks the values ``chunk_sql`` binds), the
    rest one statement each."""
    whole = len(rows) - len(rows) % _CHUNK_ROWS
    for start in range(0, whole, _CHUNK_ROWS):
        values = chain.from_iterable(rows[start : start + _CHUNK_ROWS])
        conn.execute(chunk_sql, list(compress(values, bound) if bound is not None else values))
    if whole < len(rows):
        conn.executemany(_INSERT, rows[whole:])
