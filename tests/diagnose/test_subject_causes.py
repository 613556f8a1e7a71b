"""Guide causes 1, 3 and 7 on real stores: diagnose names the near miss (case, whitespace, Unicode form,
provider prefix, other attribute, other claim) or the missing subject, and the fix that matches."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from diagnose_backends import Backend, SqliteBackend
from diagnose_kit import cause_ids, config, fix_text, issuer, mint, run


async def test_names_a_case_only_match_and_the_casefold_setting(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub="Alice"))
    assert report.code == "user_not_found"
    assert cause_ids(report)[0] == "subject_case_mismatch"
    assert report.cause is not None and report.cause.evidence["found"]["user_id"] == "alice"
    assert "issuers[0].normalization.casefold: true" in fix_text(report)


async def test_names_a_whitespace_only_match_and_the_trim_setting(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub=" alice "))
    assert cause_ids(report)[0] == "subject_whitespace"
    assert "trim: true" in fix_text(report)


async def test_names_the_other_store_attribute_holding_the_value(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub="alice@example.com"))
    assert cause_ids(report)[0] == "subject_other_attribute"
    assert report.cause is not None and report.cause.evidence["found"]["attribute"] == "email"
    assert "{claim: sub, attribute: email}" in fix_text(report)


async def test_names_another_claim_of_the_token_that_identifies_the_user(backend: Backend) -> None:
    token = mint(sub="5f0c8f0e-3b7a-4a59-9c52-0d1f6f1c2a11", email="alice@example.com", preferred_username="al")
    report = await run(config(backend.store()), token)
    assert cause_ids(report)[0] == "other_claim_matches"
    assert report.cause is not None and report.cause.evidence["claim"] == "email"
    assert "{claim: email, attribute: email}" in fix_text(report)


async def test_names_a_provider_prefix_and_the_strip_prefix_setting(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub="auth0|frank-7"))
    assert cause_ids(report)[0] == "subject_prefix"
    assert 'strip_prefix: "auth0|"' in fix_text(report)


async def test_names_a_different_unicode_normalization_form(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub=unicodedata.normalize("NFD", "zo\u00eb")))
    assert cause_ids(report)[0] == "subject_unicode_form"


async def test_says_no_near_miss_when_the_user_is_simply_absent(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub="nobody-here"))
    assert cause_ids(report) == ["user_absent"]
    assert report.cause is not None and report.cause.evidence["lookups"][0]["query"]


async def test_missing_subject_lists_claims_present_which_would_match_and_the_scope(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub=None, email="alice@example.com", scope="profile"))
    assert report.code == "subject_missing"
    assert cause_ids(report) == ["subject_missing", "other_claim_matches"]
    cause = report.cause
    assert cause is not None and "email" in cause.evidence["claims_present"]
    assert "openid" in cause.explanation and "NOT granted" in cause.explanation
    assert "{claim: email, attribute: email}" in "\n".join(report.findings[1].fix)


async def test_empty_subject_is_reported_as_empty_not_absent(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub=""))
    assert report.code == "subject_missing"
    assert report.cause is not None and report.cause.evidence["expected"] == {"sub": "empty"}


async def test_missing_required_claim_names_the_scope_that_carries_it(backend: Backend) -> None:
    cfg = config(backend.store(), issuers=[issuer(required_claims=["exp", "email"])])
    report = await run(cfg, mint(sub="alice", scope="openid profile"))
    assert report.code == "claim_missing"
    assert report.cause is not None and report.cause.guide_cause == 7
    assert "scope 'email'" in report.cause.explanation


async def test_a_uuid_subject_matching_nothing_suggests_mapping_email_or_username(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub="5f0c8f0e-3b7a-4a59-9c52-0d1f6f1c2a11"))
    assert cause_ids(report) == ["user_absent"]
    assert "map email or preferred_username" in report.cause.explanation  # type: ignore[union-attr]


@pytest.mark.parametrize("policy", ["shadow", "anonymous"])
async def test_routes_forwarding_unknown_users_still_explain_the_near_miss(policy: str, tmp_path: Path) -> None:
    route = {"name": "api", "match": {"path_prefix": "/api"}, "upstream": {"targets": ["http://127.0.0.1:9"]},
             "auth": {"unknown_user": policy}}
    report = await run(config(SqliteBackend(tmp_path).store(), routes=[route]), mint(sub="Alice"))
    assert (report.verdict, report.outcome, report.exit_code) == ("allowed", policy, 0)
    assert report.cause is None
    warnings = [f.id for f in report.findings if f.severity == "warning"]
    assert warnings[0] == "subject_case_mismatch"
    assert report.upstream is not None and report.upstream["anonymous"] is True


async def test_malformed_subject_names_the_shape_or_the_json_type(backend: Backend) -> None:
    shaped = config(backend.store(), issuers=[issuer(subject_shape={"kind": "uuid"})])
    report = await run(shaped, mint(sub="alice"))
    assert report.code == "subject_malformed"
    assert "subject_shape: uuid" in report.cause.explanation  # type: ignore[union-attr]
    numeric = await run(config(backend.store()), mint(sub=42))
    assert "a number (42), not a string" in numeric.cause.explanation  # type: ignore[union-attr]
