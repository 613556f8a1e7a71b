"""Defensive scrubbing keeps credentials out of records and leaves ordinary text alone."""

from __future__ import annotations

import pytest

from subwarden.observe.scrub import REDACTED, REDACTED_JWT, scrub_text, scrub_value

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {JWT}", f"Authorization: Bearer {REDACTED_JWT}"),
        ("Authorization: Bearer opaque-token-value", f"Authorization: Bearer {REDACTED}"),
        ("basic dXNlcjpwYXNzd29yZA==", f"basic {REDACTED}"),
        ("/cb?access_token=abc123&x=1", f"/cb?access_token={REDACTED}&x=1"),
        ('{"id_token": "abc"}', f'{{"id_token": "{REDACTED}"}}'),
        ("password=hunter22", f"password={REDACTED}"),
        ("a JWE " + JWT + ".part4.part5", "a JWE " + REDACTED_JWT),
    ],
)
def test_credentials_are_redacted(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["token expired 3 minutes ago", "issuer https://idp.example.com/realms/x", "127.0.0.1:8080", "token_source=header",
     "version 1.2.3"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_values_become_json_safe_and_secret_named_keys_are_redacted() -> None:
    scrubbed = scrub_value({"Authorization": "x", "ids": {3, 4}, "raw": JWT.encode(), "n": 1.5, "obj": ValueError(JWT)})
    assert scrubbed == {"Authorization": REDACTED, "ids": [3, 4], "raw": REDACTED_JWT, "n": 1.5, "obj": REDACTED_JWT}


def test_deeply_nested_values_are_cut_off() -> None:
    value: object = JWT
    for _ in range(20):
        value = [value]
    assert JWT not in repr(scrub_value(value))
