"""Correctness before speed: a target must accept a valid token and reject bad ones, or it is no data point."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tokens import AUDIENCE, KID, b64url, claims_for, sign
from users import UNKNOWN_USER

REJECTED = (401, 403)


@dataclass(frozen=True)
class Check:
    name: str
    token: str | None
    expect_user: str | None  # None: the request must be rejected
    extra_headers: tuple[tuple[str, str], ...] = ()


def _tamper_signature(token: str) -> str:
    head, payload, sig = token.split(".")
    flipped = ("A" if sig[10] != "A" else "B")
    return f"{head}.{payload}.{sig[:10]}{flipped}{sig[11:]}"


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    head, _, sig = token.split(".")
    return f"{head}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}.{sig}"


def _unsigned(claims: dict[str, Any]) -> str:
    head = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": KID}).encode())
    return f"{head}.{b64url(json.dumps(claims).encode())}."


def build_checks(private_pem: Path, user: str, other_user: str) -> list[Check]:
    key = serialization.load_pem_private_key(private_pem.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    now = int(time.time())
    good = claims_for(user, now, "precheck-good")
    valid = sign(good, key)
    expired = {**good, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}
    return [
        Check("valid token is accepted", valid, user),
        Check("client identity headers are replaced", valid, user,
              (("X-User-Id", "intruder"), ("X-User-Roles", "admin"))),
        Check("tampered signature is rejected", _tamper_signature(valid), None),
        Check("payload swapped under a valid signature is rejected",
              _swap_payload(valid, {**good, "sub": other_user}), None),
        Check("alg none is rejected", _unsigned(good), None),
        Check("expired token is rejected", sign(expired, key), None),
        Check("not-yet-valid token is rejected", sign({**good, "nbf": now + 3600}, key), None),
        Check("wrong audience is rejected", sign({**good, "aud": f"not-{AUDIENCE}"}, key), None),
        Check("wrong kid is rejected", sign(good, key, {"alg": "RS256", "typ": "JWT", "kid": "other"}), None),
        Check("unknown user is rejected", sign(claims_for(UNKNOWN_USER, now, "precheck-unknown"), key), None),
        Check("missing token is rejected", None, None),
    ]


def _request(port: int, check: Check) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = dict(check.extra_headers)
        if check.token is not None:
            headers["Authorization"] = f"Bearer {check.token}"
        conn.request("GET", "/precheck", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(body) if resp.status == 200 else {}
    except ValueError:
        parsed = {}
    return resp.status, parsed if isinstance(parsed, dict) else {}


def _judge(check: Check, status: int, body: dict[str, Any], auth: bool) -> str | None:
    """None if the answer is right, else what was wrong (never the token itself)."""
    if check.expect_user is None:
        return None if status in REJECTED else f"expected 401/403, got {status}"
    if status != 200:
        return f"expected 200, got {status}"
    if auth and body.get("user") != check.expect_user:
        return f"upstream saw X-User-Id {body.get('user')!r}, expected {check.expect_user!r}"
    return None


def run_checks(port: int, checks: list[Check], auth: bool, retry_for: float = 10.0) -> list[dict[str, Any]]:
    """Run every check (only the valid one for a target without auth); the first retries while warming up."""
    selected = checks if auth else [checks[0]]
    results = []
    for i, check in enumerate(selected):
        status, body = _first_answer(port, check, retry_for if i == 0 else 0.0)
        problem = _judge(check, status, body, auth)
        results.append({"check": check.name, "status": status, "ok": problem is None, "problem": problem})
    return results


def metrics_check(admin_port: int) -> dict[str, Any]:
    """After load: the control plane's /metrics answers and counts the requests it served."""
    name = "metrics endpoint counts the requests"
    try:
        status, text = _metrics(admin_port)
    except OSError as exc:
        return {"check": name, "status": 0, "ok": False, "problem": f"no answer: {type(exc).__name__}"}
    counted = any(_positive(line.rpartition(" ")[2]) for line in text.splitlines()
                  if line.startswith("subwarden_requests_total"))
    ok = status == 200 and counted
    return {"check": name, "status": status, "ok": ok, "problem": None if ok else "no request counted"}


#: The record writer's count of records it could not queue (queue full), as exposed on /metrics.
DROPPED_METRIC = "subwarden_records_dropped_total"


def records_dropped(admin_port: int) -> float | None:
    """Call records subwarden dropped so far (queue full); None when /metrics does not answer with it."""
    try:
        return dropped_in(_metrics(admin_port)[1])
    except OSError:
        return None


def dropped_in(metrics_text: str) -> float | None:
    for line in metrics_text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == DROPPED_METRIC:
            return float(value)
    return None


def _metrics(admin_port: int) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def _positive(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False


def _first_answer(port: int, check: Check, retry_for: float) -> tuple[int, dict[str, Any]]:
    deadline = time.monotonic() + retry_for
    while True:
        try:
            status, body = _request(port, check)
        except OSError:
            status, body = 0, {}
        if (status == 200 and body) or time.monotonic() >= deadline:
            return status, body
        time.sleep(0.2)
