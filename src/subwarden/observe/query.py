"""Reading records back from the SQLite sink (admin API, later `replay` and dashboards)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_LIMIT = 1000


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

    def to_sql(self) -> tuple[str, tuple[Any, ...]]:
        """The SELECT this query runs (pure)."""
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
        return f"SELECT record FROM records{clause} ORDER BY ts DESC, id DESC LIMIT ?", tuple(params)


class RecordReader:
    """Runs ``RecordQuery`` against a records database, read-only; a missing file reads as empty."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def query(self, q: RecordQuery) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        sql, params = q.to_sql()
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()
        return [json.loads(row[0]) for row in rows]
