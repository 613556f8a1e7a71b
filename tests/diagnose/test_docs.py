"""Every cause diagnose can name is registered and documented on its page; the JSON fields are documented."""

from __future__ import annotations

import re
from pathlib import Path

from subwarden.diagnose.catalog import CAUSES, PAGES
from subwarden.diagnose.report import load_schema

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "src" / "subwarden" / "diagnose"


def test_every_cause_id_is_documented_on_its_page_with_symptoms_and_fix() -> None:
    for info in CAUSES.values():
        text = (ROOT / info.page).read_text(encoding="utf-8")
        assert f"`{info.id}`" in text, f"{info.id} missing from {info.page}"
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        assert "**Symptoms.**" in text and "fix" in text.lower() and "```" in text, page


def test_every_cause_id_used_in_the_analysis_is_registered() -> None:
    used: set[str] = set()
    for path in SOURCES.glob("*.py"):
        used |= set(re.findall(r'Finding\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    # ids chosen by a variable: the inactive-user codes, whitespace (with/without case), too-early claims
    used |= {"user_disabled", "user_locked", "user_deleted", "subject_whitespace", "subject_case_and_whitespace",
             "token_not_yet_valid", "token_iat_invalid"}
    assert used - set(CAUSES) == set()
    assert set(CAUSES) - used == set(), "registered but never produced"


def test_the_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "causes" / "README.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert f"({Path(page).name})" in index


def test_every_top_level_json_field_is_documented() -> None:
    text = (ROOT / "docs" / "diagnose.md").read_text(encoding="utf-8")
    for name in load_schema()["properties"]:
        assert f"| `{name}` |" in text, name
