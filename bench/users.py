"""The benchmark's users: one list written as subwarden's SQLite store and as HAProxy's sub → roles map."""

from __future__ import annotations

import sqlite3
from pathlib import Path

ROLES = ("reader", "reader,writer", "reader,writer,admin")
UNKNOWN_USER = "nobody-00000"


def user_ids(count: int) -> list[str]:
    return [f"user-{i:05d}" for i in range(count)]


def roles_of(index: int) -> str:
    return ROLES[index % len(ROLES)]


def write_sqlite(path: Path, ids: list[str]) -> None:
    """(Re)create ``users`` with every user active."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, status TEXT NOT NULL, roles TEXT)")
        db.executemany(
            "INSERT INTO users VALUES (?, ?, 'active', ?)",
            ((uid, f"{uid}@bench.example", roles_of(i)) for i, uid in enumerate(ids)),
        )
    db.close()


def write_haproxy_map(path: Path, ids: list[str]) -> None:
    """One ``sub roles`` line per user (HAProxy map files split key and value on whitespace)."""
    path.write_text("".join(f"{uid} {roles_of(i)}\n" for i, uid in enumerate(ids)))
