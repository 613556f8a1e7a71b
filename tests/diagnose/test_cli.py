"""The commands as users run them: exit codes, token input forms, --json, config diff and replay."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from diagnose_backends import SqliteBackend
from diagnose_kit import ISS_A, NOW, issuer, mint, validate
from typer.testing import CliRunner

from subwarden.clock import FrozenClock
from subwarden.config import load_config
from subwarden.diagnose.commands import register
from subwarden.diagnose.run import DiagnoseRequest, request_context
from subwarden.observe.build import build_record_writer
from subwarden.pipeline.build import build_gateway

AT = "2027-01-15T08:00:00Z"


def cli() -> typer.Typer:
    app, config_app = typer.Typer(), typer.Typer()
    app.add_typer(config_app, name="config")
    register(app, config_app)
    return app


def write_config(path: Path, store: dict[str, Any], **extra: Any) -> Path:
    data = {
        "issuers": [issuer()],
        "identity": {"store": store},
        "routes": [{"name": "api", "upstream": {"targets": ["http://127.0.0.1:9"]}}],
        "records": {"sqlite": str(path.parent / "records.db"), "keep_claims": ["iss", "sub", "email"]},
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def gw(tmp_path: Path) -> Path:
    return write_config(tmp_path / "gw.yaml", SqliteBackend(tmp_path).store())


def invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Any:
    return CliRunner(env=env).invoke(cli(), list(args), input=stdin)


def test_exit_0_when_allowed_and_1_when_denied(gw: Path) -> None:
    ok = invoke("diagnose", "-c", str(gw), "--token", mint(sub="alice"), "--at", AT)
    assert ok.exit_code == 0, ok.output
    assert "ALLOWED" in ok.output
    denied = invoke("diagnose", "-c", str(gw), "--token", mint(sub="Alice"), "--at", AT, "--route", "/orders")
    assert denied.exit_code == 1
    assert "subject_case_mismatch" in denied.output


def test_exit_2_for_an_invalid_config_or_usage(tmp_path: Path, gw: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("issuers: []\nroutes: []\n")
    assert invoke("diagnose", "-c", str(bad), "--token", mint(sub="alice")).exit_code == 2
    assert invoke("diagnose", "-c", str(gw), "--token", " ").exit_code == 2
    assert invoke("diagnose", "-c", str(gw), "--token", mint(sub="alice"), "--at", "yesterday").exit_code == 2
    missing_key = write_config(tmp_path / "nokey.yaml", SqliteBackend(tmp_path).store(),
                               issuers=[issuer(keys={"files": [str(tmp_path / "absent.pem")]})])
    result = invoke("diagnose", "-c", str(missing_key), "--token", mint(sub="alice"), "--json")
    assert result.exit_code == 2
    assert json.loads(result.output)["verdict"] == "error"


def test_token_from_a_file_and_from_stdin_and_never_printed(tmp_path: Path, gw: Path) -> None:
    token = mint(sub="bob")
    (tmp_path / "t.jwt").write_text(f"Bearer {token}\n")
    from_file = invoke("diagnose", "-c", str(gw), "--token", f"@{tmp_path / 't.jwt'}", "--at", AT)
    from_stdin = invoke("diagnose", "-c", str(gw), "--token", "-", "--at", AT, "--json", stdin=token)
    assert from_file.exit_code == from_stdin.exit_code == 1
    assert "user_disabled" in from_file.output
    data = json.loads(from_stdin.output)
    validate(data)
    assert data["cause"]["id"] == "user_disabled"
    for output in (from_file.output, from_stdin.output):
        assert token not in output and token.rsplit(".", 1)[1] not in output


def test_config_diff_exits_1_on_differences_and_shows_both_fingerprints(tmp_path: Path, gw: Path) -> None:
    store = SqliteBackend(tmp_path).store(url="postgresql://gw:topsecret@db-prod:5432/users")
    other = write_config(tmp_path / "prod.yaml", store)
    same = invoke("config", "diff", str(gw), str(gw))
    assert same.exit_code == 0 and "no semantic differences" in same.output
    result = invoke("config", "diff", str(gw), str(other))
    assert result.exit_code == 1
    assert "topsecret" not in result.output and "postgresql://gw:***@db-prod:5432/users" in result.output
    data = json.loads(invoke("config", "diff", str(gw), str(other), "--json").output)
    assert set(data["fingerprints"]) == {"a", "b"} and data["changes"][0]["section"] == "store"


async def record_failures(config_path: Path, tokens: list[str]) -> None:
    """Send tokens through the real pipeline and the real record writer into the SQLite sink."""
    cfg = load_config(config_path)
    clock = FrozenClock(NOW)
    gateway = build_gateway(cfg, clock=clock)
    writer = build_record_writer(cfg, gateway.fingerprint, clock=clock, var_dir=config_path.parent / "var",
                                 environ={"SUBWARDEN_SUBJECT_HASH_KEY": "k" * 32})
    await writer.start()
    for token in tokens:
        ctx = request_context(DiagnoseRequest(token, path="/orders"))
        ctx.facts = None
        pending = gateway.pipeline.admit(ctx)
        if pending is not None:
            await pending
        writer.record(ctx)
    await writer.close()
    await gateway.close()


def test_replay_counts_what_a_new_config_would_let_through(tmp_path: Path, gw: Path) -> None:
    tokens = [mint(sub="Alice"), mint(sub="alice@example.com"), mint(sub="bob"),
              mint(sub=None, email="alice@example.com"), mint(sub="nobody")]
    asyncio.run(record_failures(gw, tokens))
    store = yaml.safe_load(gw.read_text())["identity"]["store"]
    new = write_config(tmp_path / "new.yaml", store, issuers=[issuer(
        mapping=[{"claim": "sub", "attribute": "user_id"}, {"claim": "sub", "attribute": "email"},
                 {"claim": "email", "attribute": "email"}],
        normalization={"casefold": True})])
    result = invoke("replay", "-c", str(new), "--since", str(NOW - 3600), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["by_code"]["user_not_found"] == {"total": 3, "would_pass": 2, "still_fail": 1, "fail_differently": {}}
    assert data["by_code"]["subject_missing"]["would_pass"] == 1
    assert data["by_code"]["user_disabled"]["still_fail"] == 1
    assert data["total"]["would_pass"] == 3
    text = invoke("replay", "-c", str(gw), "--since", str(NOW - 3600)).output
    assert "user_not_found" in text and "TOTAL" in text
    assert ISS_A not in text
