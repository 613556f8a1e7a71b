"""Secrets never reach diagnose output: not the token, its signature, a nested token, or a store password."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from diagnose_backends import SqliteBackend
from diagnose_kit import config, mint, run

from subwarden.config.diff import diff_configs, render_diff
from subwarden.diagnose.redact import REDACTED, Redactor
from subwarden.diagnose.render import render_text

PASSWORD = "S3cret-Passw0rd"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_store_password_appears_in_neither_json_nor_text(tmp_path: Path) -> None:
    store = SqliteBackend(tmp_path).store(url=f"postgresql://gw:{PASSWORD}@127.0.0.1:{closed_port()}/test",
                                          timeout=1.0)
    other = SqliteBackend(tmp_path).store(url=f"postgresql://gw:{PASSWORD}x@127.0.0.1:1/prod")
    report = await run(config(store), mint(sub="alice"), compare=config(other), compare_source="prod.yaml")
    assert report.code == "store_unavailable"
    text = json.dumps(report.to_json()) + render_text(report)
    assert PASSWORD not in text
    assert "gw:***@127.0.0.1" in text


async def test_nested_tokens_in_claims_are_redacted(tmp_path: Path) -> None:
    inner = mint(sub="someone-else")
    token = mint(sub="alice", act={"sub": "svc", "token": "opaque-delegation-credential"}, hint=inner)
    report = await run(config(SqliteBackend(tmp_path).store()), token)
    claims = report.to_json()["token"]["claims"]
    assert claims["act"]["token"] == REDACTED
    assert inner not in json.dumps(claims) and REDACTED in claims["hint"]
    assert inner not in render_text(report)


def test_redactor_removes_the_token_its_signature_bearer_values_and_url_passwords() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"
    redact = Redactor(token)
    data = {
        "note": f"got {token} and then c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu alone",
        "header": "Authorization: Bearer abcdefghijklmnop",
        "url": "ldap://cn=gw:hunter22@ldap.example:389/",
        "password": "plain",
        "list": ["postgresql://app:pw12345@db/users"],
    }
    out = json.dumps(redact(data))
    for secret in (token, "c2lnbmF0dXJl", "abcdefghijklmnop", "hunter22", "plain", "pw12345"):
        assert secret not in out


def test_config_diff_never_shows_passwords() -> None:
    a = config({"url": f"postgresql://gw:{PASSWORD}@db-dev/users"})
    b = config({"url": f"postgresql://gw:{PASSWORD}2@db-prod/users",
                "ldap": {"bind_password": "ldap-secret-value"}})
    text = render_diff(diff_configs(a, b)) + json.dumps(diff_configs(a, b).to_json())
    assert PASSWORD not in text and "ldap-secret-value" not in text
