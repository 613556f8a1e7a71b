"""`subwarden serve` as users run it: a real process, a real upstream process, real tokens, SQLite users."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from subwarden.demo.seed import DEMO_USERS
from subwarden.tokens.mint import generate_demo_keys, mint_token

ISSUER = "https://idp.integration.test"
AUDIENCE = "api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited with {proc.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@dataclass
class Running:
    port: int
    admin_port: int
    private_key: Path
    records: Path
    gateway: subprocess.Popen[bytes]

    def token(self, sub: str, **extra: object) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now, "exp": now + 300, **extra}
        return mint_token(claims, str(self.private_key))

    def get(
        self, path: str = "/api/x", headers: dict[str, str] | None = None, port: int | None = None
    ) -> tuple[int, dict[str, str], dict[str, object]]:
        req = urllib.request.Request(f"http://127.0.0.1:{port or self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, dict(resp.headers.items()), json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers.items()), json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("e2e")
    private, public = generate_demo_keys(tmp)
    users = tmp / "users.db"
    with sqlite3.connect(users) as db:
        db.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, status TEXT, roles TEXT)")
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", DEMO_USERS)
    port, upstream_port, admin_port = free_port(), free_port(), free_port()
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "issuers": [{"issuer": ISSUER, "audiences": [AUDIENCE], "keys": {"files": [str(public)]}}],
        "identity": {"store": {"url": f"sqlite:///{users}", "attributes": {"email": "email"}}},
        "routes": [
            {"name": "api", "match": {"path_prefix": "/api"}, "upstream": {"targets": [f"http://127.0.0.1:{upstream_port}"]},
             "headers": {"set_from_attributes": {"X-User-Email": "email"}}},
            {"name": "admin-only", "match": {"path_prefix": "/admin-area"}, "auth": {"required_roles": ["admin"]},
             "upstream": {"targets": [f"http://127.0.0.1:{upstream_port}"]}},
            {"name": "public", "match": {"path_prefix": "/public"}, "auth": {"unknown_user": "anonymous"},
             "upstream": {"targets": [f"http://127.0.0.1:{upstream_port}"]}},
        ],
        "records": {"sqlite": str(tmp / "records.db"), "flush_interval": 0.1},
        "admin": {"port": admin_port},
    }
    cfg_path = tmp / "gw.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "SUBWARDEN_ADMIN_TOKEN": "admin-secret"}
    upstream = subprocess.Popen([sys.executable, "-m", "subwarden.demo.upstream", "--port", str(upstream_port)])
    serve = [sys.executable, "-m", "subwarden", "serve", "--config", str(cfg_path)]
    gateway = subprocess.Popen(serve, env=env, cwd=tmp)
    try:
        wait_for(upstream_port, upstream)
        wait_for(port, gateway)
        wait_for(admin_port, gateway)
        yield Running(port, admin_port, private, tmp / "records.db", gateway)
    finally:
        for proc in (gateway, upstream):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (gateway, upstream):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_returns_200_with_the_gateway_identity_headers_for_an_active_user(running: Running) -> None:
    forged = {"X-User-Id": "root", "X-User-Roles": "admin", "X-Remote-User": "root"}
    status, _, body = running.get(headers={**bearer(running.token("alice")), **forged})
    assert status == 200
    headers = body["headers"]
    assert isinstance(headers, dict)
    assert headers["X-User-Id"] == "alice"
    assert headers["X-User-Roles"] == "user,admin"
    assert headers["X-User-Email"] == "alice@example.com"
    assert "X-Remote-User" not in headers


def test_returns_401_user_not_found_with_the_canonical_message_for_a_case_mismatch(running: Running) -> None:
    status, headers, body = running.get(headers=bearer(running.token("ALICE")))
    assert status == 401
    assert body["code"] == "user_not_found"
    assert body["title"] == "User from sub claim in JWT does not exist"
    assert headers["Content-Type"].startswith("application/problem+json")
    assert headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert body["request_id"] == headers["X-Request-ID"]


INACTIVE = [("bob", "user_disabled"), ("carol", "user_locked"), ("dave", "user_deleted")]


@pytest.mark.parametrize(("sub", "code"), INACTIVE)
def test_returns_403_with_its_own_code_for_an_inactive_user(running: Running, sub: str, code: str) -> None:
    status, _, body = running.get(headers=bearer(running.token(sub)))
    assert (status, body["code"]) == (403, code)


def test_ids_differing_only_in_case_resolve_to_different_users(running: Running) -> None:
    _, _, upper = running.get(headers=bearer(running.token("Frank")))
    _, _, lower = running.get(headers=bearer(running.token("frank")))
    assert upper["headers"]["X-User-Roles"] == "user"  # type: ignore[index]
    assert lower["headers"]["X-User-Roles"] == "auditor"  # type: ignore[index]


def test_returns_403_insufficient_role_on_a_route_requiring_a_role_the_user_lacks(running: Running) -> None:
    status, headers, body = running.get("/admin-area", headers=bearer(running.token("frank")))
    assert (status, body["code"]) == (403, "insufficient_role")
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    assert running.get("/admin-area", headers=bearer(running.token("alice")))[0] == 200


def test_an_anonymous_route_forwards_without_identity_and_strips_forged_headers(running: Running) -> None:
    status, _, body = running.get("/public", headers={"X-User-Id": "root"})
    assert status == 200
    assert "X-User-Id" not in body["headers"]  # type: ignore[operator]


def test_a_tampered_token_is_401_signature_invalid(running: Running) -> None:
    head, payload, sig = running.token("alice").split(".")
    tampered = f"{head}.{payload}.{sig[:-4]}AAAA"
    status, _, body = running.get(headers=bearer(tampered))
    assert (status, body["code"]) == (401, "signature_invalid")


def test_records_show_each_request_with_its_code_and_never_the_token(running: Running) -> None:
    token = running.token("nobody")
    running.get(headers=bearer(token))
    deadline = time.monotonic() + 10
    rows: list[tuple[str]] = []
    while time.monotonic() < deadline and not rows:
        time.sleep(0.2)
        with sqlite3.connect(running.records) as db:
            rows = db.execute("SELECT * FROM records").fetchall()
            rows = [r for r in rows if "user_not_found" in json.dumps(r, default=str)]
    assert rows, "no user_not_found record written"
    dump = running.records.read_bytes()
    assert token.encode() not in dump
    assert token.split(".")[1].encode() not in dump


def test_readyz_passes_the_store_self_test_and_metrics_count_requests(running: Running) -> None:
    status, _, body = running.get("/readyz", port=running.admin_port)
    assert status == 200, body
    expected = 'subwarden_requests_total{code="user_disabled",outcome="denied",route="api"}'
    deadline, text = time.monotonic() + 5, ""
    while time.monotonic() < deadline and expected not in text:
        with urllib.request.urlopen(f"http://127.0.0.1:{running.admin_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        time.sleep(0.1)
    assert 'subwarden_requests_total{code="user_disabled",outcome="denied",route="api"}' in text


def test_a_too_short_subject_hash_key_stops_start_up_with_one_line_not_a_traceback(tmp_path: Path) -> None:
    _, public = generate_demo_keys(tmp_path)
    config = {
        "listen": {"host": "127.0.0.1", "port": free_port()},
        "issuers": [{"issuer": ISSUER, "audiences": [AUDIENCE], "keys": {"files": [str(public)]}}],
        "identity": {"store": {"url": f"sqlite:///{tmp_path / 'users.db'}"}},
        "routes": [{"name": "api", "match": {"path_prefix": "/"}, "upstream": {"targets": ["http://127.0.0.1:9"]}}],
        "admin": {"enabled": False},
    }
    (tmp_path / "gw.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "SUBWARDEN_SUBJECT_HASH_KEY": "short-key"}
    done = subprocess.run(
        [sys.executable, "-m", "subwarden", "serve", "--config", str(tmp_path / "gw.yaml")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "SUBWARDEN_SUBJECT_HASH_KEY is set but holds 9 bytes" in done.stderr
    assert "short-key" not in done.stderr  # the key itself is never printed
