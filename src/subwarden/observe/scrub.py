"""Defensive scrubbing of record text: anything that looks like a token or credential is replaced.

Applied to error detail, paths and kept claims before they reach a sink, so a
token that slipped into an exception's detail still never lands in a record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
REDACTED_JWT = "[redacted-jwt]"

# Two or more dots between base64url runs: JWS (3 parts) and JWE (5 parts) alike.
_DOTTED = re.compile(r"[A-Za-z0-9_\-=]+(?:\.[A-Za-z0-9_\-=]*){2,}")
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic|digest|negotiate)\s+[A-Za-z0-9._~+/=\-]{8,}")
_KEYED_CREDENTIAL = re.compile(
    r"(?i)\b([a-z_]*token|api[-_]?key|password|passwd|secret|client_secret)([\"']?\s*[:=]\s*[\"']?)[^\s&,;'\"]+"
)
_SECRET_KEYS = frozenset(
    {
        "token",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "access_token",
        "id_token",
        "refresh_token",
        "jwt",
        "bearer",
        "api_key",
        "apikey",
    }
)
_MAX_DEPTH = 8
# Record text repeats (issuers, routes, kept claims): remember recent results.
_MEMO_SIZE = 4096
_MEMO_MAX_LEN = 256
_memo: dict[str, str] = {}


def _looks_like_jwt(run: str) -> bool:
    # Every JWS/JWE header is a JSON object: base64url of '{"' starts with "ey".
    # Long dotted runs are redacted too; a hostname in detail is an acceptable casualty.
    return run.startswith("ey") or len(run) >= 40


def _jwt_sub(match: re.Match[str]) -> str:
    run = match.group(0)
    return REDACTED_JWT if _looks_like_jwt(run) else run


def scrub_text(text: str) -> str:
    """``text`` with JWT-shaped runs and ``Bearer …``-style credentials replaced."""
    if len(text) > _MEMO_MAX_LEN:
        return _scrub(text)
    done = _memo.get(text)
    if done is None:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        done = _memo[text] = _scrub(text)
    return done


def _scrub(text: str) -> str:
    if "." in text:
        text = _DOTTED.sub(_jwt_sub, text)
    # Both credential shapes need a separator; most record text (paths, ids) has none.
    if " " in text or "=" in text or ":" in text or "\t" in text:
        text = _SCHEME_CREDENTIAL.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _KEYED_CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return text


def scrub_value(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value`` with every string scrubbed and secret-named keys redacted."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _scrub_item(str(k), v, depth) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scrub_value(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "replace"))
    return scrub_text(str(value))


def _scrub_item(key: str, value: Any, depth: int) -> Any:
    if key.lower() in _SECRET_KEYS and isinstance(value, (str, bytes)):
        return REDACTED
    return scrub_value(value, depth + 1)
