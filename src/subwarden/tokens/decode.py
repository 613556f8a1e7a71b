"""Decoding a token for people (`subwarden token decode`): header and claims, unverified, never the signature."""

from __future__ import annotations

from typing import Any

from subwarden.errors import GatewayError
from subwarden.tokens.compact import parse_compact


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, parsed strictly; the signature is NOT checked.

    Raises ``ValueError`` naming the catalog code when the token is not a well-formed compact JWS.
    """
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    try:
        jws = parse_compact(token)
    except GatewayError as exc:
        raise ValueError(f"{exc.code}: {exc.reason}") from None
    return jws.header, jws.claims
