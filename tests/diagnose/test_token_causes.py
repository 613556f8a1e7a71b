"""Token failures diagnose explains: time window (how far outside, clock skew), keys (unknown kid with
the kids known and the JWKS fetch, JWKS down, alg not allowed, foreign signature), issuer, audience."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from diagnose_backends import SqliteBackend
from diagnose_kit import ISS_A, KEYS, NOW, cause_ids, config, fix_text, issuer, mint, run
from joserfc.jwk import RSAKey


class JwksServer:
    """A real HTTP server on loopback serving a JWKS with the test IdP A key under kid "a1"."""

    def __init__(self) -> None:
        jwk = RSAKey.import_key((KEYS / "idp-a.pub.pem").read_text()).as_dict(kid="a1")
        jwks_body = json.dumps({"keys": [jwk]}).encode()
        documents: dict[str, bytes] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = documents.get(self.path, jwks_body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/jwks.json"
        documents["/.well-known/openid-configuration"] = json.dumps(
            {"issuer": self.base, "jwks_uri": self.url}).encode()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def store(tmp_path: Path) -> dict[str, object]:
    return SqliteBackend(tmp_path).store()


async def test_expired_token_says_how_long_ago_and_hints_at_clock_skew(store: dict[str, object]) -> None:
    report = await run(config(store), mint(sub="alice", exp=NOW - 75))
    assert cause_ids(report) == ["token_expired"]
    cause = report.cause
    assert cause is not None and cause.evidence["seconds_outside"] == 45
    assert "expired 1 min 15 s ago" in cause.explanation
    assert "NTP" in fix_text(report)


async def test_not_yet_valid_token_points_at_the_clock_and_the_leeway_needed(store: dict[str, object]) -> None:
    report = await run(config(store), mint(sub="alice", nbf=NOW + 120, iat=NOW + 120))
    assert report.code == "token_not_yet_valid"
    assert "leeway to at least 121 s" in fix_text(report)
    assert "at least 1 min 30 s behind" in report.cause.explanation  # type: ignore[union-attr]


async def test_unknown_kid_lists_the_known_kids_and_the_jwks_fetch(store: dict[str, object], jwks: JwksServer) -> None:
    cfg = config(store, issuers=[issuer(keys={"jwks_uri": jwks.url})])
    report = await run(cfg, mint(sub="alice", key="idp-b", kid="b7"))
    assert report.code == "key_not_found"
    cause = report.cause
    assert cause is not None and cause.id == "key_unknown_kid"
    assert cause.evidence["known_kids"] == ["a1"] and cause.evidence["fetched_at"] is not None
    assert f"jwks:{jwks.url}" in cause.explanation


async def test_unreachable_jwks_is_an_outage_naming_the_url(store: dict[str, object]) -> None:
    cfg = config(store, issuers=[issuer(keys={"jwks_uri": "http://127.0.0.1:9/jwks.json", "fetch_timeout": 0.5})])
    report = await run(cfg, mint(sub="alice", kid="a1"))
    assert (report.code, report.status) == ("jwks_unavailable", 503)
    assert "curl -sS http://127.0.0.1:9/jwks.json" in fix_text(report)


async def test_algorithm_outside_the_allow_list_is_named(store: dict[str, object]) -> None:
    report = await run(config(store), mint(sub="alice", alg="PS256"))
    assert report.code == "algorithm_not_allowed"
    assert "add PS256 to issuers[0].algorithms" in fix_text(report)


async def test_token_signed_by_another_key_is_a_foreign_signature(store: dict[str, object]) -> None:
    report = await run(config(store), mint(sub="alice", key="idp-b"))
    assert cause_ids(report) == ["signature_invalid"]


async def test_issuer_differing_by_a_trailing_slash_gets_the_exact_value(store: dict[str, object]) -> None:
    report = await run(config(store), mint(sub="alice", iss=ISS_A + "/"))
    assert report.code == "issuer_unknown"
    assert f'issuers[0].issuer to exactly "{ISS_A}/"' in fix_text(report)


async def test_wrong_audience_names_expected_and_actual(store: dict[str, object]) -> None:
    report = await run(config(store), mint(sub="alice", aud="billing-api"))
    assert cause_ids(report) == ["audience_mismatch"]
    assert report.cause is not None and report.cause.evidence["aud"] == "billing-api"


async def test_opaque_access_token_is_recognised(store: dict[str, object]) -> None:
    report = await run(config(store), "9f1c0e1b7a7d4e0fb1c2d3e4f5a6b7c8")
    assert report.cause is not None and report.cause.evidence["shape"] == "opaque"


async def test_allowed_request_shows_the_dry_run_upstream_and_identity_headers(store: dict[str, object]) -> None:
    report = await run(config(store), mint(sub="alice"))
    assert (report.verdict, report.exit_code, report.code) == ("allowed", 0, None)
    upstream = report.upstream
    assert upstream is not None and upstream["url"] == "http://127.0.0.1:9/backend/api/orders"
    assert ["X-User-Id", "alice"] in upstream["identity_headers"]
    assert ["authorization", "Bearer [redacted]"] in upstream["identity_headers"]
    assert [s.status for s in report.stages] == ["ok"] * len(report.stages)


async def test_discovery_key_source_is_shown_and_unknown_kids_explained(store: dict[str, object],
                                                                       jwks: JwksServer) -> None:
    cfg = config(store, issuers=[issuer(jwks.base, keys={"discovery": True})])
    ok = await run(cfg, mint(iss=jwks.base, sub="alice", kid="a1"))
    assert ok.verdict == "allowed"
    verify = next(s for s in ok.stages if s.name == "verify")
    assert verify.facts["key_source"] == f"discovery:{jwks.url}"
    report = await run(cfg, mint(iss=jwks.base, sub="alice", key="idp-b", kid="b7"))
    assert report.cause is not None and report.cause.id == "key_unknown_kid"
    assert "discovery:" in report.cause.explanation


async def test_without_a_route_the_first_configured_route_is_diagnosed(store: dict[str, object]) -> None:
    report = await run(config(store), mint(sub="alice"), path=None)
    assert report.request["path"] == "/api"
    assert report.verdict == "allowed"
