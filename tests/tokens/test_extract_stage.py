"""Extract stage: one bearer token from the Authorization header or the configured cookie."""

from __future__ import annotations

import pytest

from subwarden.config.models import TokensConfig
from subwarden.errors import AuthorizationSchemeInvalid, TokenConflict, TokenMissing, TokenTooLarge
from subwarden.pipeline.context import RequestContext
from subwarden.tokens.extract import ExtractStage

TOKEN = "aaa.bbb.ccc"


def run(headers: list[tuple[bytes, bytes]], cookie: str | None = None, max_bytes: int = 8192) -> RequestContext:
    ctx = RequestContext("GET", "/", headers)
    ExtractStage(TokensConfig(cookie=cookie, max_bytes=max_bytes)).run(ctx)
    return ctx


@pytest.mark.parametrize("scheme", [b"Bearer", b"bearer", b"BEARER", b"bEaReR"])
def test_takes_the_token_whatever_the_scheme_case(scheme: bytes) -> None:
    ctx = run([(b"authorization", scheme + b" " + TOKEN.encode())])
    assert ctx.token == TOKEN
    assert ctx.token_source == "header"


def test_accepts_several_spaces_between_scheme_and_token() -> None:
    assert run([(b"authorization", b"Bearer   " + TOKEN.encode())]).token == TOKEN


def test_returns_401_token_missing_if_there_is_no_authorization_header() -> None:
    with pytest.raises(TokenMissing) as err:
        run([(b"accept", b"*/*")])
    assert err.value.status == 401


def test_treats_an_empty_authorization_header_as_missing() -> None:
    with pytest.raises(TokenMissing):
        run([(b"authorization", b"")])


@pytest.mark.parametrize("value", [b"Basic dXNlcjpwdw==", b"Token abc", b"eyJhbGciOi.eyJzdWIi.c2ln"])
def test_rejects_another_scheme_without_recording_the_credential(value: bytes) -> None:
    with pytest.raises(AuthorizationSchemeInvalid) as err:
        run([(b"authorization", value)])
    assert "eyJ" not in repr(err.value.detail) and "dXNlcjpwdw" not in repr(err.value.detail)


@pytest.mark.parametrize("value", [b"Bearer", b"Bearer ", b"Bearer a b", b"Bearer\ta"])
def test_rejects_bearer_without_exactly_one_token(value: bytes) -> None:
    with pytest.raises(AuthorizationSchemeInvalid):
        run([(b"authorization", value)])


def test_rejects_two_authorization_headers_with_different_tokens() -> None:
    with pytest.raises(TokenConflict):
        run([(b"authorization", b"Bearer a.b.c"), (b"authorization", b"Bearer d.e.f")])


def test_accepts_a_repeated_authorization_header_with_the_same_token() -> None:
    assert run([(b"authorization", b"Bearer a.b.c"), (b"authorization", b"bearer a.b.c")]).token == "a.b.c"


def test_takes_the_token_from_the_configured_cookie() -> None:
    ctx = run([(b"cookie", b"theme=dark; session=" + TOKEN.encode())], cookie="session")
    assert (ctx.token, ctx.token_source) == (TOKEN, "cookie")


def test_removes_double_quotes_around_a_cookie_value() -> None:
    assert run([(b"cookie", b'session="' + TOKEN.encode() + b'"')], cookie="session").token == TOKEN


def test_ignores_cookies_when_none_is_configured() -> None:
    with pytest.raises(TokenMissing):
        run([(b"cookie", b"session=" + TOKEN.encode())])


def test_prefers_the_header_when_header_and_cookie_carry_the_same_token() -> None:
    ctx = run([(b"authorization", b"Bearer " + TOKEN.encode()), (b"cookie", b"session=" + TOKEN.encode())], "session")
    assert ctx.token_source == "header"


def test_rejects_header_and_cookie_with_different_tokens() -> None:
    with pytest.raises(TokenConflict):
        run([(b"authorization", b"Bearer a.b.c"), (b"cookie", b"session=d.e.f")], cookie="session")


def test_rejects_two_cookies_with_different_tokens() -> None:
    with pytest.raises(TokenConflict):
        run([(b"cookie", b"session=a.b.c"), (b"cookie", b"session=d.e.f")], cookie="session")


def test_rejects_a_token_over_the_size_limit() -> None:
    with pytest.raises(TokenTooLarge) as err:
        run([(b"authorization", b"Bearer " + b"a" * 257)], max_bytes=256)
    assert err.value.detail == {"size": 257, "limit": 256}


def test_accepts_a_token_of_exactly_the_size_limit() -> None:
    assert run([(b"authorization", b"Bearer " + b"a" * 256)], max_bytes=256).token == "a" * 256
