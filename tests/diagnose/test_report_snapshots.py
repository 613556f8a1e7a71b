"""Snapshots of the human report (frozen clock, timings hidden, temp paths masked).

Regenerate after an intended wording change with ``SW_UPDATE_SNAPSHOTS=1 pytest tests/diagnose``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from diagnose_backends import SqliteBackend
from diagnose_kit import KEYS, NOW, config, mint, run

from subwarden.diagnose.assemble import redact_report
from subwarden.diagnose.render import render_text
from subwarden.diagnose.report import Report

SNAPSHOTS = Path(__file__).parent / "snapshots"

CASES = {
    "allowed": {"sub": "alice"},
    "case_mismatch": {"sub": "Alice"},
    "user_disabled": {"sub": "bob"},
    "token_expired": {"sub": "alice", "iat": NOW - 3675, "nbf": NOW - 3675, "exp": NOW - 75},
    "subject_missing": {"sub": None, "email": "alice@example.com"},
}


class Mask:
    """Replaces machine-specific paths in the report before rendering, so wrapping never depends on them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = str(tmp_path)

    def text(self, value: str) -> str:
        value = value.replace(self.tmp_path, "<tmp>").replace(str(KEYS), "<keys>")
        return re.sub(r"users-[0-9a-f]{6}\.db", "users.db", value)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return self.text(value) if isinstance(value, str) else value


def masked(report: Report, tmp_path: Path) -> str:
    report = redact_report(report, Mask(tmp_path))  # type: ignore[arg-type]
    report.config["fingerprint"] = "<fingerprint>"  # it covers the temp store path
    return render_text(report, show_timings=False)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temp dir whose path always has the same length, so line wrapping is stable once masked."""
    path = Path(tempfile.mkdtemp(prefix="swsnap-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_human_report_matches_its_snapshot(name: str, short_tmp: Path) -> None:
    tmp_path = short_tmp
    report = await run(config(SqliteBackend(tmp_path).store()), mint(**CASES[name]))
    text = masked(report, tmp_path)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("SW_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


async def test_timings_are_shown_per_stage_unless_hidden(tmp_path: Path) -> None:
    report = await run(config(SqliteBackend(tmp_path).store()), mint(sub="alice"))
    assert re.search(r"✓ verify\s+\d+\.\d{3} ms", render_text(report))
    assert " ms" not in render_text(report, show_timings=False).split("ALLOWED")[0]
