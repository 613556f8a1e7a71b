"""Redaction applied to everything diagnose outputs: no token, no signature, no password ever printed."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from subwarden.config.loader import redact_url

REDACTED = "[redacted]"
#: A JOSE header always starts with base64url('{"'), so JWT-shaped text starts with eyJ.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")
_SECRET_KEYS = frozenset({
    "authorization", "cookie", "password", "bind_password", "secret", "client_secret", "token", "raw_token",
    "access_token", "id_token", "refresh_token", "signature",
})


class Redactor:
    """Replaces the token, its signature and anything token- or password-shaped in nested data."""

    def __init__(self, token: str | None = None) -> None:
        self._needles = [n for n in _token_parts(token) if len(n) >= 8]

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): (REDACTED if str(k).lower() in _SECRET_KEYS and v else self(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def text(self, value: str) -> str:
        for needle in self._needles:
            if needle in value:
                value = value.replace(needle, REDACTED)
        value = _BEARER.sub(f"Bearer {REDACTED}", value)
        value = _JWT.sub(REDACTED, value)
        if "://" in value and "@" in value:
            value = _redact_urls(value)
        return value


def _token_parts(token: str | None) -> list[str]:
    if not token:
        return []
    parts = token.split(".")
    return [token, parts[-1]] if len(parts) > 1 else [token]


def _redact_urls(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        try:
            return redact_url(url) if urlsplit(url).password is not None else url
        except ValueError:
            return url

    return re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+", one, text)
