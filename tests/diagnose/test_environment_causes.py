"""Guide cause 5 with --compare-config: the token's issuer or the user belongs to the other environment,
with the configuration difference that explains it."""

from __future__ import annotations

from pathlib import Path

from diagnose_backends import Backend, SqliteBackend
from diagnose_kit import ISS_B, cause_ids, config, fix_text, issuer, mint, run


async def test_token_from_the_other_environments_issuer_is_named(backend: Backend, tmp_path: Path) -> None:
    here = config(backend.store())
    there = config(SqliteBackend(tmp_path).store(), issuers=[issuer(ISS_B, key="idp-b")])
    report = await run(here, mint(iss=ISS_B, key="idp-b", sub="alice"), compare=there, compare_source="prod.yaml")
    assert report.code == "issuer_unknown"
    assert cause_ids(report)[0] == "issuer_other_environment"
    cause = report.cause
    assert cause is not None and cause.guide_cause == 5 and cause.evidence["other_config"] == "prod.yaml"
    assert ISS_B in fix_text(report)
    assert report.compare is not None and report.compare["verdict"] == "allowed"


async def test_user_present_only_in_the_other_environments_store_is_named(backend: Backend, tmp_path: Path) -> None:
    other = SqliteBackend(tmp_path, users=[("henry", "henry@example.com", "active", None, "user")])
    here, there = config(backend.store()), config(other.store())
    report = await run(here, mint(sub="henry"), compare=there, compare_source="staging.yaml")
    assert report.code == "user_not_found"
    assert cause_ids(report)[0] == "user_other_environment"
    cause = report.cause
    assert cause is not None and cause.evidence["user_id"] == "henry"
    assert cause.evidence["other_store"] == f"sqlite:///{other.path}"
    assert "identity.store.url" in fix_text(report)


async def test_token_passing_elsewhere_names_the_mapping_difference(backend: Backend) -> None:
    here = config(backend.store())
    there = config(backend.store(), issuers=[issuer(mapping=[{"claim": "email", "attribute": "email"}])])
    token = mint(sub="0d5e0c9e-54a6-4b7e-9e5c-8a3f3b1f2d4c", email="alice@example.com")
    report = await run(here, token, compare=there, compare_source="dev.yaml")
    assert cause_ids(report)[:2] == ["token_other_environment", "other_claim_matches"]
    assert "mapping" in fix_text(report)
