"""Strict compact-JWS parsing, run before any JOSE library sees the token (pure, no I/O).

Stricter than common libraries: base64url must be unpadded, url-safe and
canonical; header and payload must be JSON objects without duplicate keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn, cast

from subwarden.errors import TokenDuplicateKey, TokenEncodingInvalid, TokenMalformed

_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
#: Parsed headers by their encoded text: an issuer signs every token with one of a few headers. Shared,
#: so never mutated; bounded (emptied when full).
_HEADERS: Final[dict[str, dict[str, Any]]] = {}
_HEADER_CACHE_SIZE: Final = 256


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """A parsed compact JWS whose signature is not yet checked."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: Bits of the last character that carry no data, by (length mod 4); they must be zero to be canonical.
_UNUSED_BITS: Final = {2: 0x0F, 3: 0x03}
_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_PADDING: Final = (b"", b"", b"==", b"=")


def b64url_decode(text: str, part: str = "part") -> bytes:
    """Decode unpadded, canonical base64url or raise ``TokenEncodingInvalid``."""
    # "+", "/" and "=" would pass the strict standard-alphabet decoder below once "-_" are mapped onto "+/".
    # (Tested on the str: ``b"=" in raw`` raises and clears a TypeError inside CPython on every call.)
    if "=" in text or "+" in text or "/" in text:
        _refuse(text, part)
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        _refuse(text, part)
    rest = len(raw) % 4
    if rest == 1:
        _refuse_alphabet(text, part)
        raise TokenEncodingInvalid(f"{part}: impossible base64url length", part=part, problem="length")
    if rest and _ALPHABET.find(text[-1]) & _UNUSED_BITS[rest]:
        _refuse_alphabet(text, part)
        raise TokenEncodingInvalid(f"{part}: non-canonical encoding", part=part, problem="non_canonical")
    try:
        return binascii.a2b_base64(raw.translate(_TO_STANDARD) + _PADDING[rest], strict_mode=True)
    except binascii.Error:
        _refuse(text, part)


def _refuse_alphabet(text: str, part: str) -> None:
    """A character outside the alphabet is reported first, whatever else is wrong (slow path: errors only)."""
    if not _B64URL.fullmatch(text):
        reason = "padding" if "=" in text else "character outside the base64url alphabet"
        raise TokenEncodingInvalid(f"{part}: {reason}", part=part, problem=reason)


def _refuse(text: str, part: str) -> NoReturn:
    _refuse_alphabet(text, part)
    raise TokenEncodingInvalid(f"{part}: undecodable", part=part, problem="undecodable")


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"non-standard JSON constant {name}")


#: Built once: json.loads(..., object_pairs_hook=...) would build a new decoder per call.
_DECODER: Final = json.JSONDecoder(object_pairs_hook=_unique_object, parse_constant=_reject_constant)


#: The decoder's C scanner, called directly: a token's JSON has no surrounding whitespace, so the
#: decoder's Python wrapper (two regex matches) is only needed when the fast path does not take it all.
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = cast(Any, _DECODER).scan_once  # set by JSONDecoder.__init__


def _loads(text: str) -> Any:
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:  # leading whitespace, or not JSON at all: the decoder says which
        end = -1
    if end == len(text):
        return value
    return _DECODER.decode(text)  # surrounding whitespace allowed; trailing data refused


def parse_json_object(raw: bytes, part: str) -> dict[str, Any]:
    """Parse a JSON object, refusing duplicate keys, NaN/Infinity and invalid UTF-8."""
    try:
        value = _loads(raw.decode("utf-8"))
    except _DuplicateKey as dup:
        raise TokenDuplicateKey(f"{part}: duplicate JSON key", part=part, key=dup.key[:64]) from None
    except (ValueError, RecursionError):
        raise TokenMalformed(f"{part}: not valid JSON", part=part) from None
    if not isinstance(value, dict):
        raise TokenMalformed(f"{part}: not a JSON object", part=part, json_type=type(value).__name__)
    return value


def parse_compact(token: str) -> CompactJWS:
    """Split, decode and parse a compact JWS; raises the catalog's token-shape errors."""
    parts = token.split(".")
    if len(parts) != 3:
        reason = "JWE (5 parts) is not accepted" if len(parts) == 5 else "expected 3 dot-separated parts"
        raise TokenMalformed(reason, parts=len(parts))
    header = _HEADERS.get(parts[0])
    if header is None:
        header = parse_json_object(b64url_decode(parts[0], "header"), "header")
        if len(_HEADERS) >= _HEADER_CACHE_SIZE:
            _HEADERS.clear()
        _HEADERS[parts[0]] = header
    claims = parse_json_object(b64url_decode(parts[1], "payload"), "payload")
    signature = b64url_decode(parts[2], "signature")
    return CompactJWS(header, claims, token[: len(token) - len(parts[2]) - 1].encode("ascii"), signature)


def header_alg_kid(header: dict[str, Any]) -> tuple[str, str | None]:
    """The header's alg and kid, refusing wrong types and unknown critical extensions."""
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise TokenMalformed("header: alg missing or not a string", part="header", field="alg")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenMalformed("header: kid is not a string", part="header", field="kid")
    if "crit" in header:
        # RFC 7515 §4.1.11: we implement no extensions, so any critical one must be refused.
        raise TokenMalformed("header: unsupported critical extension", part="header", field="crit")
    return alg, kid
