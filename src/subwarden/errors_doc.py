"""Render the error catalog as Markdown (docs/errors.md) and as JSON-able rows (CLI, admin API)."""

from __future__ import annotations

from typing import Any

from subwarden.errors import CATALOG, GatewayError

HEADER = """# Error catalog

Generated from `subwarden/errors.py` by `subwarden errors --markdown` (`make docs`); a test keeps
this file equal to the catalog. Every response for these failures is `application/problem+json`
with `code` and `request_id`; 401s carry an RFC 6750 `WWW-Authenticate` header and 503/429s a
`Retry-After`. `user_not_found` may be answered with 403 (`errors.user_not_found_status`) and the
inactive-user codes with 401 (`errors.inactive_user_status`).

| code | status | stage | client sees | what it means / what to check |
|---|---|---|---|---|
"""


def catalog_rows() -> list[dict[str, Any]]:
    return [describe(cls) for cls in CATALOG]


def describe(cls: type[GatewayError]) -> dict[str, Any]:
    return {
        "code": cls.code,
        "status": cls.status,
        "stage": cls.stage,
        "title": cls.title,
        "hint": cls.hint,
        "retry_after": cls.retry_after,
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown() -> str:
    lines = [
        f"| `{r['code']}` | {r['status']} | {r['stage']} | {_cell(r['title'])} | {_cell(r['hint'])} |"
        for r in catalog_rows()
    ]
    return HEADER + "\n".join(lines) + "\n"
