"""Fixtures for the identity tests: a real SQLite user file per test and a frozen clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from identity_support import make_users_db

from subwarden.clock import FrozenClock


@pytest.fixture
def users_db(tmp_path: Path) -> Path:
    return make_users_db(tmp_path / "users.db")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def closing() -> AsyncIterator[list[object]]:
    """Stores/runtimes appended here are closed after the test."""
    items: list[object] = []
    yield items
    for item in items:
        await item.close()  # type: ignore[attr-defined]
