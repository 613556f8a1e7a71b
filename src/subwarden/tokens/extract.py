"""The extract stage: find exactly one bearer token in the Authorization header or the configured cookie."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final

from subwarden.config.models import TokensConfig
from subwarden.errors import AuthorizationSchemeInvalid, TokenConflict, TokenMissing, TokenTooLarge
from subwarden.pipeline.context import RequestContext

_MAX_SCHEME_SHOWN: Final = 20
_SPACE: Final = ord(" ")


def _scheme_for_record(scheme: bytes) -> str:
    # A client may send a bare token as the "scheme": only a short alphabetic name is safe to record.
    text = scheme.decode("latin-1")
    return text if text.isalpha() and len(text) <= _MAX_SCHEME_SHOWN else "(not a scheme name)"


def bearer_from_header(value: bytes) -> bytes | None:
    """The token of one ``Authorization: Bearer <token>`` value; None if the value is empty.

    Only the shape is checked here; the verify stage refuses any character outside base64url.
    """
    value = value.strip(b" \t")
    if not value:
        return None
    scheme, _, token = value.partition(b" ")
    if scheme.lower() != b"bearer":
        raise AuthorizationSchemeInvalid("not a Bearer credential", scheme=_scheme_for_record(scheme))
    if token[:1] == b" ":
        token = token.lstrip(b" ")
    if not token:
        raise AuthorizationSchemeInvalid("Bearer without a token", scheme="Bearer")
    if _SPACE in token:  # an int needle: a bytes needle costs a raised-and-cleared TypeError
        raise AuthorizationSchemeInvalid("expected exactly one token after Bearer", scheme="Bearer")
    return token


def cookie_values(headers: list[bytes], name: bytes) -> set[bytes]:
    """All values of cookie ``name`` across Cookie headers (RFC 6265 pairs; DQUOTEs removed)."""
    found: set[bytes] = set()
    for header in headers:
        for pair in header.split(b";"):
            key, sep, value = pair.strip(b" \t").partition(b"=")
            if sep and key == name:
                value = value.strip(b" \t")
                if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
                    value = value[1:-1]
                if value:
                    found.add(value)
    return found


class ExtractStage:
    """Sets ``ctx.token`` and ``ctx.token_source``; anonymous routes may go on without a token."""

    name = "extract"
    __slots__ = ("_cookie", "_max_bytes")

    def __init__(self, config: TokensConfig) -> None:
        self._cookie = config.cookie.encode("latin-1") if config.cookie else None
        self._max_bytes = config.max_bytes

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        values = ctx.header_values(b"authorization")
        if len(values) == 1 and self._cookie is None:
            token = bearer_from_header(values[0])
            source = "header"
        else:
            token, source = self._find(ctx, values)
        if token is None:
            route = ctx.route
            if route is not None and route.auth.unknown_user == "anonymous":
                ctx.anonymous = True
                return None
            raise TokenMissing("no bearer token in the request", cookie=self._cookie is not None)
        if len(token) > self._max_bytes:
            raise TokenTooLarge("token exceeds tokens.max_bytes", size=len(token), limit=self._max_bytes)
        ctx.token = token.decode("latin-1")
        ctx.token_source = source
        return None

    def _find(self, ctx: RequestContext, values: list[bytes]) -> tuple[bytes | None, str]:
        from_header = {t for t in (bearer_from_header(v) for v in values) if t is not None}
        from_cookie = cookie_values(ctx.header_values(b"cookie"), self._cookie) if self._cookie else set()
        if len(from_header) > 1:
            raise TokenConflict("several Authorization headers carry different tokens", headers=len(values))
        if len(from_cookie) > 1:
            raise TokenConflict("several cookies carry different tokens", cookie=True)
        if from_header and from_cookie and from_header != from_cookie:
            raise TokenConflict("the Authorization header and the cookie carry different tokens", cookie=True)
        if from_header:
            return from_header.pop(), "header"
        if from_cookie:
            return from_cookie.pop(), "cookie"
        return None, "none"
