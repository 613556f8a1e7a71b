"""The verify stage: strict parse, issuer by exact iss, allow-listed alg, a key that fits it, signature.

A verified-cache hit is a dict lookup plus a few attribute sets: no JSON, no crypto.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from subwarden.errors import (
    AlgorithmNotAllowed,
    ClaimTypeInvalid,
    IssuerUnknown,
    JwksUnavailable,
    KeyNotFound,
    SignatureInvalid,
    TokenMissing,
)
from subwarden.pipeline.context import RequestContext
from subwarden.tokens.cache import VerifiedCache, VerifiedToken
from subwarden.tokens.claims import shown
from subwarden.tokens.compact import CompactJWS, header_alg_kid, parse_compact
from subwarden.tokens.issuer import IssuerRuntime
from subwarden.tokens.keys import VerifyKey


def _near_issuers(iss: str, configured: list[str]) -> list[str]:
    """Configured issuers differing from ``iss`` only by a trailing slash or letter case."""

    def norm(s: str) -> str:
        return s.rstrip("/").casefold()

    return [c for c in configured if norm(c) == norm(iss)]


def signature_holds(model: Any, jws: CompactJWS, key: VerifyKey) -> bool:
    try:
        return bool(model.verify(jws.signing_input, jws.signature, key.key))
    except (ValueError, TypeError):  # e.g. a signature of the wrong length for the curve
        return False


class VerifyStage:
    """Sets ctx.jose_header, claims, issuer, alg, kid, key_source and token_cache_hit."""

    name = "verify"
    __slots__ = ("cache", "issuers")

    def __init__(self, issuers: Mapping[str, IssuerRuntime], cache: VerifiedCache) -> None:
        self.issuers = dict(issuers)
        self.cache = cache

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        if ctx.anonymous:
            return None
        token = ctx.token
        if token is None:
            raise TokenMissing("verify ran without an extracted token")
        entry = self.cache.get(token)
        if entry is not None and not entry.key.retired:
            entry.fill(ctx)
            if ctx.facts is not None:
                self._key_facts(ctx, entry.key, cache_hit=True)
            return None
        return self._verify(ctx, token)

    def _verify(self, ctx: RequestContext, token: str) -> Awaitable[None] | None:
        jws = parse_compact(token)
        alg, kid = header_alg_kid(jws.header)
        ctx.alg, ctx.kid = alg, kid
        ctx.fact("verify.alg", alg)
        ctx.fact("verify.kid", kid)
        issuer = self._issuer(ctx, jws.claims)
        model = issuer.algorithms.get(alg)
        if model is None:
            raise AlgorithmNotAllowed(
                "alg not in the issuer's allow-list",
                alg=shown(alg),
                allowed=list(issuer.algorithms),
                issuer=issuer.label,
            )
        keys = issuer.keys.find(kid, alg)
        if keys:
            self._check(ctx, token, jws, issuer, model, keys)
            return None
        if issuer.keys.remote is None:
            raise self._key_not_found(issuer, kid, alg)
        return self._verify_after_refetch(ctx, token, jws, issuer, model, kid)

    async def _verify_after_refetch(
        self, ctx: RequestContext, token: str, jws: CompactJWS, issuer: IssuerRuntime, model: Any, kid: str | None
    ) -> None:
        alg = model.name
        await issuer.keys.refetch_for_unknown_kid()
        keys = issuer.keys.find(kid, alg)
        if keys:
            self._check(ctx, token, jws, issuer, model, keys)
            return
        if issuer.keys.unavailable():
            ctx.fact("verify.jwks_error", issuer.keys.last_error)
            raise JwksUnavailable(
                "no usable key: key endpoint failing or cache too stale",
                issuer=issuer.label,
                kid=kid,
                jwks_url=issuer.keys.jwks_url,
                error=issuer.keys.last_error,
            )
        raise self._key_not_found(issuer, kid, alg)

    def _issuer(self, ctx: RequestContext, claims: dict[str, Any]) -> IssuerRuntime:
        iss = claims.get("iss")
        ctx.fact("verify.iss", shown(iss))
        if iss is None:
            raise IssuerUnknown("token has no iss claim", iss=None, configured=list(self.issuers))
        if not isinstance(iss, str):
            raise ClaimTypeInvalid("iss is not a string", claim="iss", json_type=type(iss).__name__)
        issuer = self.issuers.get(iss)
        if issuer is None:
            near = _near_issuers(iss, list(self.issuers))
            ctx.fact("verify.issuers_configured", list(self.issuers))
            raise IssuerUnknown(
                "iss matches no configured issuer", iss=shown(iss), configured=list(self.issuers), near=near
            )
        ctx.issuer = issuer
        ctx.fact("verify.issuer", issuer.label)
        return issuer

    def _key_not_found(self, issuer: IssuerRuntime, kid: str | None, alg: str) -> KeyNotFound:
        return KeyNotFound(
            "no key of the issuer has this kid / fits this alg",
            issuer=issuer.label,
            kid=shown(kid),
            alg=alg,
            known_kids=issuer.keys.known_kids()[:20],
        )

    def _check(
        self, ctx: RequestContext, token: str, jws: CompactJWS, issuer: IssuerRuntime, model: Any, keys: list[VerifyKey]
    ) -> None:
        for key in keys:
            if signature_holds(model, jws, key):
                self.cache.put(token, VerifiedToken(jws.header, jws.claims, issuer, model.name, key))
                ctx.jose_header, ctx.claims, ctx.key_source = jws.header, jws.claims, key.source
                ctx.token_cache_hit = False
                if ctx.facts is not None:
                    self._key_facts(ctx, key, cache_hit=False)
                return
        raise SignatureInvalid(
            "signature does not verify", issuer=issuer.label, alg=model.name, kid=shown(ctx.kid), keys_tried=len(keys)
        )

    @staticmethod
    def _key_facts(ctx: RequestContext, key: VerifyKey, cache_hit: bool) -> None:
        ctx.fact("verify.alg", ctx.alg)
        ctx.fact("verify.kid", ctx.kid)
        ctx.fact("verify.issuer", ctx.issuer.label if ctx.issuer is not None else None)
        ctx.fact("verify.key_source", key.source)
        ctx.fact("verify.key_fetched_at", key.fetched_at)
        ctx.fact("verify.cache_hit", cache_hit)
