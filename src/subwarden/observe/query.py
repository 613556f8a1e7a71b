"""Reading records back from the SQLite sink (admin API, later `replay` and dashboards)."""

from __future__ import annotations

import heapq
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from subwarden.observe.record_shape import STORED, IsoTime, flat_row_to_record, row_to_record
from subwarden.observe.sinks import V2_COLUMNS, V2_TABLE, table_layout

MAX_LIMIT = 1000
ROW_COLUMNS = ", ".join(STORED)


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Filters over the indexed columns; newest records first."""

    since: float | None = None
    code: str | None = None
    route: str | None = None
    limit: int = 100
    request_id: str | None = None
    subject_hash: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")

    def to_sql(self, columns: str = ROW_COLUMNS, table: str = "records") -> tuple[str, tuple[Any, ...]]:
        """The SELECT of ``columns`` from ``table`` this query runs (pure)."""
        where: list[str] = []
        params: list[Any] = []
        if self.since is not None:
            where.append("ts >= ?")
            params.append(self.since)
        for column in ("code", "route", "request_id", "subject_hash", "user_id"):
            value = getattr(self, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        params.append(self.limit)
        return f"SELECT {columns} FROM {table}{clause} ORDER BY ts DESC, id DESC LIMIT ?", tuple(params)


class RecordReader:
    """Runs ``RecordQuery`` against a records database, read-only; a missing file reads as empty."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def query(self, q: RecordQuery) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        time_text = IsoTime()  # this reader's own: the drain thread uses the shared one
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            layout = table_layout(conn)
            if layout == 1:  # written before the typed columns and not migrated yet
                sql, params = q.to_sql("record")
                return [json.loads(row[0]) for row in conn.execute(sql, params)]
            if layout == 2:  # written before the compact rows, by a gateway not upgraded yet
                return [flat_row_to_record(row, time_text) for row in conn.execute(*q.to_sql(V2_COLUMNS))]
            rows = conn.execute(*q.to_sql()).fetchall() if layout else []
            older = conn.execute(*q.to_sql(V2_COLUMNS, V2_TABLE)).fetchall() if table_layout(conn, V2_TABLE) else []
        finally:
            conn.close()
        found = [row_to_record(row, time_text) for row in rows]
        if older:  # the layout 2 rows set aside by the upgrade: merged in, newest first
            merged = heapq.merge(found, (flat_row_to_record(row, time_text) for row in older), key=_newest_first)
            found = list(merged)[: q.limit]
        return found


def _newest_first(record: dict[str, Any]) -> float:
    return -float(record["ts"])
