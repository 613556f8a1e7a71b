"""The CLI: config schema/check, errors, token mint/decode — exit codes and output."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml
from typer.testing import CliRunner

from subwarden.cli import app
from subwarden.tokens.mint import generate_demo_keys

runner = CliRunner()


def make_config(tmp_path: Path, *, table: str = "users") -> Path:
    _, public = generate_demo_keys(tmp_path)
    db = tmp_path / "users.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE {table} (user_id TEXT, status TEXT, roles TEXT)")
    cfg = {
        "issuers": [{"issuer": "https://idp.test", "keys": {"files": [str(public)]}}],
        "identity": {"store": {"url": f"sqlite:///{db}"}},
        "routes": [{"name": "api", "upstream": {"targets": ["http://127.0.0.1:9"]}}],
    }
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_schema_is_json_schema_of_the_config() -> None:
    result = runner.invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert {"issuers", "routes", "identity"} <= set(schema["properties"])


def test_config_check_builds_the_pipeline_and_runs_the_store_self_test(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", str(make_config(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "config fingerprint:" in result.output


def test_config_check_fails_with_the_failing_step_when_the_table_is_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", str(make_config(tmp_path, table="people"))])
    assert result.exit_code == 1
    assert "mapping" in result.output


def test_config_check_exits_2_with_the_key_path_on_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("issuers: []\nroutes: []\nlisten: {port: -1}\n")
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert "listen.port" in result.output


def test_token_mint_then_decode_shows_claims_but_never_the_signature(tmp_path: Path) -> None:
    private, _ = generate_demo_keys(tmp_path)
    minted = runner.invoke(app, ["token", "mint", "--key", str(private), "--sub", "alice", "--claim", "roles=[\"a\"]"])
    assert minted.exit_code == 0, minted.output
    token = minted.output.strip()
    decoded = runner.invoke(app, ["token", "decode", token])
    assert decoded.exit_code == 0
    assert "UNVERIFIED" in decoded.output
    body = json.loads(decoded.output.split("\n", 1)[1])
    assert body["claims"]["sub"] == "alice" and body["claims"]["roles"] == ["a"]
    assert token.split(".")[2] not in decoded.output


def test_token_decode_of_garbage_exits_2_with_a_reason() -> None:
    result = runner.invoke(app, ["token", "decode", "not-a-token"])
    assert result.exit_code == 2
    assert "cannot decode" in result.output


def test_errors_json_lists_the_catalog() -> None:
    result = runner.invoke(app, ["errors", "--json"])
    rows = json.loads(result.output)
    assert any(r["code"] == "user_not_found" and r["status"] == 401 for r in rows)
