"""The catalog is complete, unique, documented, and docs/errors.md is generated from it."""

from __future__ import annotations

import re
from pathlib import Path

from subwarden import errors
from subwarden.errors_doc import render_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _all_subclasses(sub)
    return found


def test_every_concrete_error_class_is_in_the_catalog() -> None:
    concrete = {c for c in _all_subclasses(errors.GatewayError) if not c.__name__.startswith("_")}
    assert concrete == set(errors.CATALOG) - {errors.GatewayError}


def test_codes_are_unique_snake_case_and_statuses_are_http_errors() -> None:
    codes = [c.code for c in errors.CATALOG]
    assert len(codes) == len(set(codes))
    for cls in errors.CATALOG:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code), cls
        assert 400 <= cls.status <= 599, cls
        assert cls.title and cls.hint and cls.stage, cls


def test_outages_are_5xx_never_401_or_403() -> None:
    for cls in (*errors.STORE_ERRORS, errors.JwksUnavailable):
        assert cls.status == 503
        assert cls.retry_after is not None


def test_user_not_found_says_the_canonical_message() -> None:
    assert errors.UserNotFound.title == "User from sub claim in JWT does not exist"
    assert errors.UserNotFound.status == 401


def test_docs_errors_md_is_generated_from_the_catalog() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), "run `make docs`"


def test_every_code_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for cls in errors.CATALOG:
        assert f"`{cls.code}`" in text
