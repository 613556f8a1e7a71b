"""Problem responses: RFC 9457 body, status by policy, RFC 6750 challenge, Retry-After, X-Request-ID."""

from __future__ import annotations

import json

import pytest

from subwarden.config.models import ErrorPolicy
from subwarden.errors import (
    CATALOG,
    GatewayError,
    InsufficientRole,
    JwksUnavailable,
    StoreTimeout,
    TokenExpired,
    TokenMissing,
    UserDisabled,
    UserLocked,
    UserNotFound,
)
from subwarden.http.problem import problem_response


def parse(raw: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    assert int(headers["content-length"]) == len(body)
    return int(lines[0].split(" ")[1]), headers, json.loads(body)


@pytest.mark.parametrize("cls", CATALOG)
def test_every_catalogued_error_renders_a_complete_problem(cls: type[GatewayError]) -> None:
    status, headers, body = parse(problem_response(cls("internal reason"), "rid-1", ErrorPolicy()))
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-request-id"] == "rid-1"
    assert body == {
        "type": f"https://subwarden.dev/errors/{cls.code}",
        "title": cls.title,
        "status": status,
        "code": cls.code,
        "request_id": "rid-1",
    }
    assert ("www-authenticate" in headers) == (status == 401 or cls is InsufficientRole)


def test_expired_token_challenge_names_invalid_token() -> None:
    _, headers, _ = parse(problem_response(TokenExpired(), "r", ErrorPolicy(realm="api")))
    assert headers["www-authenticate"] == 'Bearer realm="api", error="invalid_token"'


def test_missing_token_challenge_has_no_error_attribute() -> None:
    _, headers, _ = parse(problem_response(TokenMissing(), "r", ErrorPolicy()))
    assert headers["www-authenticate"] == 'Bearer realm="subwarden"'


def test_realm_quotes_and_control_characters_cannot_break_the_header() -> None:
    _, headers, _ = parse(problem_response(TokenMissing(), "r", ErrorPolicy(realm='a"b\\c')))
    assert headers["www-authenticate"] == 'Bearer realm="abc"'


def test_user_not_found_status_follows_the_policy() -> None:
    status, headers, _ = parse(problem_response(UserNotFound(), "r", ErrorPolicy(user_not_found_status=403)))
    assert status == 403 and "www-authenticate" not in headers


@pytest.mark.parametrize("cls", [UserDisabled, UserLocked])
def test_inactive_users_follow_the_policy_and_get_a_challenge_on_401(cls: type[GatewayError]) -> None:
    status, headers, _ = parse(problem_response(cls(), "r", ErrorPolicy(inactive_user_status=401)))
    assert status == 401 and headers["www-authenticate"].endswith('error="invalid_token"')


@pytest.mark.parametrize(("cls", "seconds"), [(JwksUnavailable, "5"), (StoreTimeout, "5")])
def test_retry_after_is_sent_when_the_class_has_one(cls: type[GatewayError], seconds: str) -> None:
    _, headers, _ = parse(problem_response(cls(), "r", ErrorPolicy()))
    assert headers["retry-after"] == seconds


def test_detail_is_disclosed_only_when_configured() -> None:
    _, _, hidden = parse(problem_response(UserDisabled("disabled since May"), "r", ErrorPolicy()))
    _, _, shown = parse(problem_response(UserDisabled("disabled since May"), "r", ErrorPolicy(disclose_detail=True)))
    assert "detail" not in hidden and shown["detail"] == "disabled since May"


def test_an_unsafe_request_id_is_not_echoed() -> None:
    _, headers, body = parse(problem_response(TokenMissing(), "bad\r\nX-Evil: 1", ErrorPolicy()))
    assert headers["x-request-id"] == "-" and body["request_id"] == "-"


def test_close_and_head_only_variants() -> None:
    closing = problem_response(TokenMissing(), "r", ErrorPolicy(), close=True)
    head_only = problem_response(TokenMissing(), "r", ErrorPolicy(), head_only=True)
    assert b"\r\nConnection: close\r\n" in closing
    assert head_only.endswith(b"\r\n\r\n") and b"{" not in head_only
