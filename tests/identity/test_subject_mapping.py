"""Stage 'map': ordered rules, opt-in normalization, shape checks, missing/empty/non-string subjects."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from identity_support import make_config, make_ctx

from subwarden.errors import SubjectMalformed, SubjectMissing
from subwarden.identity.mapping import MapSubjectStage

SUB_THEN_EMAIL = [{"claim": "sub", "attribute": "user_id"}, {"claim": "email", "attribute": "email"}]


def mapped(claims: dict[str, Any], tmp_path: Path, **config: Any) -> list[tuple[str, str]]:
    cfg = make_config(tmp_path / "unused.db", **config)
    ctx = make_ctx(cfg, claims, facts={})
    assert MapSubjectStage(cfg.issuers).run(ctx) is None
    return [(c.rule, c.key) for c in ctx.candidates]


def refused(claims: dict[str, Any], tmp_path: Path, **config: Any) -> Exception:
    cfg = make_config(tmp_path / "unused.db", **config)
    with pytest.raises((SubjectMissing, SubjectMalformed)) as caught:
        MapSubjectStage(cfg.issuers).run(make_ctx(cfg, claims))
    return caught.value


def test_candidates_follow_the_rule_order_and_the_first_sets_the_subject(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "unused.db", mapping=SUB_THEN_EMAIL)
    ctx = make_ctx(cfg, {"email": "a@example.com", "sub": "alice"})
    MapSubjectStage(cfg.issuers).run(ctx)
    assert [(c.rule, c.key) for c in ctx.candidates] == [("sub→user_id", "alice"), ("email→email", "a@example.com")]
    assert (ctx.subject, ctx.subject_key) == ("alice", "alice")
    assert (ctx.mapping_claim, ctx.mapping_rule) == ("sub", "sub→user_id")
    assert ctx.candidates[0].cache_key == ("idp", "user_id", "alice")


def test_a_missing_first_claim_leaves_the_later_rule_as_the_only_candidate(tmp_path: Path) -> None:
    assert mapped({"email": "a@example.com"}, tmp_path, mapping=SUB_THEN_EMAIL) == [("email→email", "a@example.com")]


def test_returns_subject_missing_listing_the_claim_names_present_but_never_their_values(tmp_path: Path) -> None:
    error = refused({"iss": "https://idp.test", "preferred_username": "secret-alice"}, tmp_path, mapping=SUB_THEN_EMAIL)
    assert isinstance(error, SubjectMissing)
    assert error.detail["claims_present"] == ["iss", "preferred_username"]
    assert error.detail["expected"] == ["sub", "email"]
    assert "secret-alice" not in repr(error.detail)


def test_an_empty_subject_is_treated_as_absent(tmp_path: Path) -> None:
    assert mapped({"sub": "", "email": "a@example.com"}, tmp_path, mapping=SUB_THEN_EMAIL) == [
        ("email→email", "a@example.com")
    ]
    error = refused({"sub": ""}, tmp_path)
    assert isinstance(error, SubjectMissing)
    assert error.detail["empty"] == ["sub"]


@pytest.mark.parametrize("value", [42, ["alice"], {"id": "alice"}, True, 1.5])
def test_returns_subject_malformed_if_the_subject_is_not_a_string(tmp_path: Path, value: Any) -> None:
    error = refused({"sub": value, "email": "a@example.com"}, tmp_path, mapping=SUB_THEN_EMAIL)
    assert isinstance(error, SubjectMalformed)
    assert error.detail == {"claim": "sub", "type": type(value).__name__}


def test_a_null_subject_counts_as_missing(tmp_path: Path) -> None:
    assert isinstance(refused({"sub": None}, tmp_path), SubjectMissing)


def test_normalization_is_off_by_default_so_the_key_is_exactly_the_claim(tmp_path: Path) -> None:
    assert mapped({"sub": " Alice "}, tmp_path) == [("sub→user_id", " Alice ")]


def test_opt_in_normalization_trims_strips_the_prefix_then_casefolds(tmp_path: Path) -> None:
    normalization = {"trim": True, "casefold": True, "strip_prefix": "auth0|"}
    assert mapped({"sub": "  auth0|ALICE "}, tmp_path, normalization=normalization) == [("sub→user_id", "alice")]
    assert mapped({"sub": "STRASSE"}, tmp_path, normalization={"casefold": True}) == [("sub→user_id", "strasse")]
    assert mapped({"sub": "Straße"}, tmp_path, normalization={"casefold": True}) == [("sub→user_id", "strasse")]


def test_a_subject_that_normalizes_to_nothing_is_missing(tmp_path: Path) -> None:
    assert isinstance(refused({"sub": "   "}, tmp_path, normalization={"trim": True}), SubjectMissing)


@pytest.mark.parametrize(
    ("shape", "good", "bad"),
    [
        ({"kind": "uuid"}, str(uuid.UUID(int=7)), "not-a-uuid"),
        ({"kind": "email"}, "a@example.com", "alice"),
        ({"kind": "regex", "pattern": "u-[0-9]+"}, "u-42", "u-42x"),
        ({"kind": "any", "max_length": 5}, "alice", "alice2"),
    ],
)
def test_returns_subject_malformed_before_any_query_if_the_shape_check_fails(
    tmp_path: Path, shape: dict[str, Any], good: str, bad: str
) -> None:
    assert mapped({"sub": good}, tmp_path, shape=shape) == [("sub→user_id", good)]
    error = refused({"sub": bad}, tmp_path, shape=shape)
    assert isinstance(error, SubjectMalformed)
    assert error.detail == {"claim": "sub", "shape": shape["kind"]}
    assert bad not in error.reason


def test_the_shape_kind_applies_to_the_first_rule_and_max_length_to_every_rule(tmp_path: Path) -> None:
    shape = {"kind": "uuid", "max_length": 40}
    assert mapped({"email": "a@example.com"}, tmp_path, mapping=SUB_THEN_EMAIL, shape=shape) == [
        ("email→email", "a@example.com")
    ]
    error = refused({"email": "a" * 41 + "@example.com"}, tmp_path, mapping=SUB_THEN_EMAIL, shape=shape)
    assert isinstance(error, SubjectMalformed)


def test_a_dotted_claim_path_reads_a_nested_claim(tmp_path: Path) -> None:
    mapping = [{"claim": "ext.employee_id", "attribute": "user_id"}]
    assert mapped({"ext": {"employee_id": "e-1"}}, tmp_path, mapping=mapping) == [("ext.employee_id→user_id", "e-1")]


def test_two_rules_giving_the_same_lookup_make_one_candidate(tmp_path: Path) -> None:
    mapping = [{"claim": "sub", "attribute": "user_id"}, {"claim": "oid", "attribute": "user_id"}]
    assert mapped({"sub": "alice", "oid": "alice"}, tmp_path, mapping=mapping) == [("sub→user_id", "alice")]


def test_an_anonymous_request_is_left_alone(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "unused.db")
    ctx = make_ctx(cfg, None)
    ctx.anonymous = True
    assert MapSubjectStage(cfg.issuers).run(ctx) is None
    assert ctx.candidates == ()


def test_diagnose_facts_list_the_claims_present_and_the_normalized_keys(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "unused.db", normalization={"trim": True})
    ctx = make_ctx(cfg, {"sub": " alice"}, facts={})
    MapSubjectStage(cfg.issuers).run(ctx)
    assert ctx.facts is not None
    assert ctx.facts["map.claims_present"] == ["sub"]
    assert ctx.facts["map.candidates"] == [{"rule": "sub→user_id", "claim": "sub", "key": "alice"}]
