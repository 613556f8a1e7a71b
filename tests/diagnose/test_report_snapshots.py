"""Snapshots of the human report (frozen clock, timings hidden, temp paths masked).

Regenerate after an intended wording change with ``SW_UPDATE_SNAPSHOTS=1 pytest tests/diagnose``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from diagnose_backends import SqliteBackend
from diagnose_kit import KEYS, NOW, config, mint, run

from subwarden.diagnose.render import render_text

SNAPSHOTS = Path(__file__).parent / "snapshots"

CASES = {
    "allowed": {"sub": "alice"},
    "case_mismatch": {"sub": "Alice"},
    "user_disabled": {"sub": "bob"},
    "token_expired": {"sub": "alice", "iat": NOW - 3675, "nbf": NOW - 3675, "exp": NOW - 75},
    "subject_missing": {"sub": None, "email": "alice@example.com"},
}


def masked(text: str, tmp_path: Path) -> str:
    text = text.replace(str(tmp_path), "<tmp>").replace(str(KEYS), "<keys>")
    text = re.sub(r"fingerprint [0-9a-f]{16}", "fingerprint <fingerprint>", text)  # covers the temp store path
    return re.sub(r"users-[0-9a-f]{6}\.db", "users.db", text)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_human_report_matches_its_snapshot(name: str, tmp_path: Path) -> None:
    report = await run(config(SqliteBackend(tmp_path).store()), mint(**CASES[name]))
    text = masked(render_text(report, show_timings=False), tmp_path)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("SW_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


async def test_timings_are_shown_per_stage_unless_hidden(tmp_path: Path) -> None:
    report = await run(config(SqliteBackend(tmp_path).store()), mint(sub="alice"))
    assert re.search(r"✓ verify\s+\d+\.\d{3} ms", render_text(report))
    assert " ms" not in render_text(report, show_timings=False).split("ALLOWED")[0]
