"""Strict compact-JWS parsing: encoding, shape and duplicate keys, before any signature check."""

from __future__ import annotations

import pytest
from tokens_kit import b64, forge

from subwarden.errors import GatewayError, TokenDuplicateKey, TokenEncodingInvalid, TokenMalformed
from subwarden.tokens import compact
from subwarden.tokens.compact import b64url_decode, header_alg_kid, parse_compact
from subwarden.tokens.decode import decode_unverified

HEADER = {"alg": "RS256", "typ": "JWT"}
PAYLOAD = {"iss": "https://idp.test", "sub": "alice"}


def code_of(token: str) -> str:
    with pytest.raises(GatewayError) as err:
        parse_compact(token)
    return err.value.code


def test_parses_a_well_formed_token() -> None:
    jws = parse_compact(forge(HEADER, PAYLOAD, b"sig"))
    assert (jws.header, jws.claims, jws.signature) == (HEADER, PAYLOAD, b"sig")
    assert jws.signing_input == f"{b64(HEADER)}.{b64(PAYLOAD)}".encode()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("eyJhIjoxfQ==", "padding"),
        ("ab+c", "character outside the base64url alphabet"),
        ("ab/c", "character outside the base64url alphabet"),
        ("ab c", "character outside the base64url alphabet"),
        ("abcde", "length"),
        ("QR", "non_canonical"),  # 'R' sets bits that the single decoded byte does not hold
        ("é", "character outside the base64url alphabet"),
        ("ab!de", "character outside the base64url alphabet"),  # the alphabet is reported before the length
        ("Q!R", "character outside the base64url alphabet"),  # and before a non-canonical last character
        ("a-_b", ""),  # decodes: the url-safe characters are the alphabet's
    ],
)
def test_refuses_padding_foreign_characters_and_non_canonical_base64url(text: str, problem: str) -> None:
    if not problem:
        assert b64url_decode(text, "header") == bytes.fromhex("6befdb")
        return
    with pytest.raises(TokenEncodingInvalid) as err:
        b64url_decode(text, "header")
    assert problem in str(err.value.detail["problem"]) or problem in err.value.reason


def test_tokens_with_one_header_share_its_parse_and_the_header_cache_stays_bounded() -> None:
    first, second = parse_compact(forge(HEADER, PAYLOAD, b"1")), parse_compact(forge(HEADER, {"sub": "bob"}, b"2"))
    assert first.header is second.header and first.claims is not second.claims
    assert parse_compact(forge({"alg": "ES256"}, PAYLOAD, b"3")).header == {"alg": "ES256"}
    for i in range(300):
        assert parse_compact(forge({"alg": "RS256", "kid": str(i)}, PAYLOAD, b"4")).header["kid"] == str(i)
    assert len(compact._HEADERS) <= compact._HEADER_CACHE_SIZE


def test_returns_token_encoding_invalid_if_the_signature_part_is_padded() -> None:
    token = forge(HEADER, PAYLOAD, b"sig") + "="
    assert code_of(token) == "token_encoding_invalid"


@pytest.mark.parametrize("token", ["a.b", "a.b.c.d", "abc", "a.b.c.d.e"])
def test_returns_token_malformed_unless_there_are_exactly_three_parts(token: str) -> None:
    assert code_of(token) == "token_malformed"


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        (b"[1,2]", PAYLOAD),
        (HEADER, b'"just a string"'),
        (HEADER, b"not json"),
        (HEADER, b'{"exp": NaN}'),
        (HEADER, b'{"exp": Infinity}'),
        (b"\xff\xfe{}", PAYLOAD),
        (HEADER, b"[" * 5000 + b"]" * 5000),
        (b"", PAYLOAD),
    ],
)
def test_returns_token_malformed_if_header_or_payload_is_not_a_json_object(header: object, payload: object) -> None:
    assert code_of(forge(header, payload)) == "token_malformed"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (b'{"sub":"alice"}', {"sub": "alice"}),
        (b' \r\n\t{"sub":"alice"} \n', {"sub": "alice"}),  # JSON whitespace around the object is JSON
        (b'{"sub":"alice"}x', None),  # trailing data
        (b'{"sub":"alice"}{}', None),
        (b'{"n":NaN}', None),  # not JSON
        (b'{"n":Infinity}', None),
        (b"\x0b{}", None),  # not JSON whitespace
        (b'{"a":{"b":1,"b":2}}', "duplicate"),
    ],
)
def test_payload_json_is_parsed_strictly_whatever_surrounds_it(raw: bytes, parsed: object) -> None:
    if isinstance(parsed, dict):
        assert parse_compact(forge(HEADER, raw)).claims == parsed
    else:
        assert code_of(forge(HEADER, raw)) == ("token_duplicate_key" if parsed else "token_malformed")


def test_returns_token_duplicate_key_for_a_repeated_header_key() -> None:
    with pytest.raises(TokenDuplicateKey) as err:
        parse_compact(forge(b'{"alg":"RS256","alg":"none"}', PAYLOAD))
    assert err.value.detail == {"part": "header", "key": "alg"}


def test_returns_token_duplicate_key_for_a_repeated_key_in_a_nested_claim() -> None:
    payload = b'{"sub":"alice","realm":{"roles":["a"],"roles":["admin"]}}'
    assert code_of(forge(HEADER, payload)) == "token_duplicate_key"


def test_header_needs_a_string_alg() -> None:
    for header in ({"typ": "JWT"}, {"alg": 5}, {"alg": ""}):
        with pytest.raises(TokenMalformed):
            header_alg_kid(header)


def test_header_refuses_a_non_string_kid_and_any_critical_extension() -> None:
    with pytest.raises(TokenMalformed):
        header_alg_kid({"alg": "RS256", "kid": 7})
    with pytest.raises(TokenMalformed):
        header_alg_kid({"alg": "RS256", "b64": False, "crit": ["b64"]})
    assert header_alg_kid({"alg": "ES256", "kid": "k1"}) == ("ES256", "k1")


def test_decode_unverified_returns_header_and_claims_but_never_the_signature() -> None:
    result = decode_unverified("Bearer " + forge(HEADER, PAYLOAD, b"secret-signature-bytes"))
    assert result == (HEADER, PAYLOAD)
    assert b64(b"secret-signature-bytes") not in repr(result)


def test_decode_unverified_names_the_catalog_code_of_a_bad_token() -> None:
    with pytest.raises(ValueError, match="token_duplicate_key"):
        decode_unverified(forge(HEADER, b'{"a":1,"a":2}'))
