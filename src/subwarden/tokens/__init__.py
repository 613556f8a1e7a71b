"""Tokens: bearer extraction, strict JWS verification with per-issuer keys (files, JWKS, discovery), claim checks."""

from subwarden.tokens.build import TokenRuntime, build_tokens
from subwarden.tokens.extract import ExtractStage
from subwarden.tokens.fetch import HttpxKeyFetcher, KeyFetcher, KeyFetchError
from subwarden.tokens.issuer import IssuerRuntime
from subwarden.tokens.validate import ValidateStage
from subwarden.tokens.verify import VerifyStage

__all__ = [
    "ExtractStage",
    "HttpxKeyFetcher",
    "IssuerRuntime",
    "KeyFetchError",
    "KeyFetcher",
    "TokenRuntime",
    "ValidateStage",
    "VerifyStage",
    "build_tokens",
]
