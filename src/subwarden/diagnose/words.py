"""Small wording helpers for findings: durations, timestamps, quoted values, scope hints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

#: Which OpenID Connect scope (or IdP setting) usually makes a claim appear in tokens.
CLAIM_SCOPES: dict[str, str] = {
    "sub": "openid",
    "email": "email",
    "email_verified": "email",
    "preferred_username": "profile",
    "name": "profile",
    "given_name": "profile",
    "family_name": "profile",
    "nickname": "profile",
    "upn": "profile (Azure AD / Entra ID: add the optional claim 'upn')",
    "oid": "profile (Azure AD / Entra ID)",
    "unique_name": "profile (Azure AD / Entra ID v1 tokens)",
    "groups": "groups (a custom client scope or group-membership mapper)",
    "roles": "roles (a client scope or role mapper)",
    "phone_number": "phone",
    "address": "address",
}

#: Claims that can carry a user's identity, in the order diagnose tries them.
IDENTITY_CLAIMS: tuple[str, ...] = (
    "sub", "email", "preferred_username", "upn", "oid", "unique_name", "username", "user_name",
    "login", "uid", "user_id", "userid", "employee_id", "employeeNumber", "nickname", "name",
    "client_id", "azp", "appid",
)

#: Claims that never identify a user (protocol or time claims).
NON_IDENTITY_CLAIMS = frozenset({
    "iss", "aud", "exp", "nbf", "iat", "jti", "typ", "scope", "scp", "auth_time", "nonce", "at_hash",
    "c_hash", "acr", "amr", "sid", "session_state", "tid", "ver", "idp", "s_hash", "cnf", "act",
})


def duration(seconds: float) -> str:
    """'42 s', '3 min 12 s', '5 h 4 min', '3 days 2 h' — rounded for reading, never negative."""
    s = abs(round(seconds))
    if s < 60:
        return f"{s} s"
    minutes, sec = divmod(s, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def timestamp(epoch: float | None) -> str:
    """ISO 8601 UTC with a Z, seconds precision; '?' when unknown."""
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def q(value: Any) -> str:
    """A value quoted so whitespace and case differences stay visible."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def as_epoch(value: Any) -> float | None:
    """A NumericDate claim (int/float) as float; anything else (strings, bools) is None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def granted_scopes(claims: dict[str, Any] | None) -> list[str]:
    """Scopes the token says it was granted (``scope`` space-separated, or ``scp`` list/string)."""
    if not claims:
        return []
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(v) for v in value]
    return []


def scope_hint(claim: str, claims: dict[str, Any] | None) -> str:
    """Which scope usually carries ``claim``, and whether the token was granted it."""
    scope = CLAIM_SCOPES.get(claim)
    if scope is None:
        return (f"'{claim}' is not a standard OpenID Connect claim: the IdP adds it only through a claim/protocol "
                "mapper for this client.")
    granted = granted_scopes(claims)
    base = scope.split(" ", 1)[0]
    if granted and base not in granted:
        return (f"'{claim}' usually comes with the scope '{scope}', and this token was NOT granted it "
                f"(granted: {' '.join(granted)}).")
    if granted:
        return (f"'{claim}' usually comes with the scope '{scope}'; the token was granted it, so check the IdP "
                "maps the claim into access tokens for this client.")
    return f"'{claim}' usually comes with the scope '{scope}' (this token lists no scope claim)."
