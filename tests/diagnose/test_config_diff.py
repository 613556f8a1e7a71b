"""`config diff`: semantic changes grouped by what they affect, secrets stripped, both fingerprints."""

from __future__ import annotations

from diagnose_kit import ISS_B, config, issuer

from subwarden.config import fingerprint
from subwarden.config.diff import diff_configs, render_diff

STORE = {"url": "postgresql://app:hunter2@db-dev:5432/users", "lookup": {"user_id": "user_id", "email": "email"}}


def test_identical_configs_have_no_changes_and_equal_fingerprints() -> None:
    diff = diff_configs(config(STORE), config(STORE))
    assert diff.identical and diff.fingerprint_a == diff.fingerprint_b
    assert "no semantic differences" in render_diff(diff)


def test_issuers_are_matched_by_their_url_not_their_position() -> None:
    a = config(STORE, issuers=[issuer(), issuer(ISS_B, key="idp-b")])
    b = config(STORE, issuers=[issuer(ISS_B, key="idp-b"), issuer()])
    assert diff_configs(a, b).identical


def test_changes_are_grouped_by_section_with_secrets_stripped() -> None:
    a = config(STORE)
    b = config(
        {**STORE, "url": "postgresql://app:s3cret@db-prod:5432/users", "timeout": 0.5},
        issuers=[issuer(mapping=[{"claim": "email", "attribute": "email"}], normalization={"casefold": True}),
                 issuer(ISS_B, key="idp-b")],
    )
    diff = diff_configs(a, b)
    sections = {c.section for c in diff.changes}
    assert {"issuers", "claim mapping", "normalization", "store", "timeouts"} <= sections
    text = render_diff(diff, "dev.yaml", "prod.yaml")
    assert "hunter2" not in text and "s3cret" not in text
    assert "postgresql://app:***@db-dev:5432/users" in text
    assert "[sub→user_id] → [email→email]" in text
    assert f"+ issuers[{ISS_B}]" in text
    assert fingerprint(a) in text and fingerprint(b) in text
    assert diff.to_json()["fingerprints"] == {"a": fingerprint(a), "b": fingerprint(b)}


def test_cache_ttls_and_route_timeouts_have_their_own_sections() -> None:
    a = config(STORE)
    b = config(STORE, routes=[{"name": "api", "match": {"path_prefix": "/v2"},
                               "upstream": {"targets": ["http://127.0.0.1:9/backend"], "read_timeout": 5}}])
    b = b.model_copy(update={"identity": b.identity.model_copy(
        update={"cache": b.identity.cache.model_copy(update={"negative_ttl": 60.0})})})
    by_path = {c.path: c.section for c in diff_configs(a, b).changes}
    assert by_path["identity.cache.negative_ttl"] == "cache"
    assert by_path["routes[api].upstream.read_timeout"] == "timeouts"
    assert by_path["routes[api].match.path_prefix"] == "routes"
