"""Tokens: bearer extraction, strict JWS verification with per-issuer keys (files, JWKS, discovery), claim checks."""

from subwarden import native

# Before any submodule is imported: the mypyc build of the per-token parse and checks, when current.
NATIVE = native.enable(__name__, __path__)


from subwarden.tokens.build import TokenRuntime, build_tokens  # noqa: E402 - after native.enable
from subwarden.tokens.extract import ExtractStage  # noqa: E402
from subwarden.tokens.fetch import HttpxKeyFetcher, KeyFetcher, KeyFetchError  # noqa: E402
from subwarden.tokens.issuer import IssuerRuntime  # noqa: E402
from subwarden.tokens.validate import ValidateStage  # noqa: E402
from subwarden.tokens.verify import VerifyStage  # noqa: E402

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
