"""Every catalogued code is asserted somewhere in the suite: a new code without a test fails here."""

from __future__ import annotations

from pathlib import Path

from subwarden.errors import CATALOG

TESTS = Path(__file__).resolve().parent


def test_every_code_is_reached_by_some_test() -> None:
    sources = [
        p.read_text(encoding="utf-8")
        for p in TESTS.rglob("*.py")
        if p.name not in {"test_every_code_is_tested.py", "test_errors.py"}
    ]
    untested = [
        cls.code
        for cls in CATALOG
        if not any(f'"{cls.code}"' in text or f"{cls.__name__}" in text for text in sources)
    ]
    assert untested == []
