"""The validate stage: the issuer's claim policy against the injected clock, on every request (cache hits too)."""

from __future__ import annotations

from collections.abc import Awaitable

from subwarden.clock import Clock
from subwarden.errors import TokenMissing
from subwarden.pipeline.context import RequestContext


class ValidateStage:
    """exp/nbf/iat with leeway, required claims, audience and claim rules of ``ctx.issuer``."""

    name = "validate"
    __slots__ = ("_clock",)

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        if ctx.anonymous:
            return None
        claims, issuer = ctx.claims, ctx.issuer
        if claims is None or issuer is None:
            raise TokenMissing("validate ran without verified claims")
        now = self._clock.now()
        policy = issuer.policy
        if ctx.facts is not None:
            for key, value in policy.facts(claims, now).items():
                ctx.fact(f"validate.{key}", value)
        # Only a cached token's claims dict comes round again: a new token's would just be pinned.
        policy.check(claims, now, remember=ctx.token_cache_hit)
        return None
