"""Turn a finished pipeline run (the context and its facts) into ``Evidence`` — no I/O."""

from __future__ import annotations

from typing import Any

from subwarden.clock import Clock
from subwarden.config.models import GatewayConfig, IssuerConfig
from subwarden.diagnose.evidence import CacheView, Evidence, Lookup
from subwarden.errors import UserNotFound
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.gateway import Gateway


def token_shape(token: str) -> str:
    """jws (3 parts), jwe (5 parts), opaque (no dot), empty, or malformed."""
    token = token.strip()
    if not token:
        return "empty"
    parts = token.count(".") + 1
    return {1: "opaque", 3: "jws", 5: "jwe"}.get(parts, "malformed")


def unverified(token: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Header and claims as sent (signature not checked) — to explain failures before verification."""
    from subwarden.tokens.decode import decode_unverified

    try:
        return decode_unverified(token)
    except ValueError:
        return None, None


def find_issuer(config: GatewayConfig, claims: dict[str, Any] | None) -> tuple[IssuerConfig | None, int | None]:
    iss = (claims or {}).get("iss")
    for index, issuer in enumerate(config.issuers):
        if issuer.issuer == iss:
            return issuer, index
    return None, None


def collect(gateway: Gateway, ctx: RequestContext, token: str, clock: Clock, *, frozen: bool) -> Evidence:
    config = gateway.config
    verified = ctx.claims is not None
    header, claims = (ctx.jose_header, ctx.claims) if verified else unverified(token)
    issuer, index = find_issuer(config, claims)
    facts = dict(ctx.facts or {})
    facts["clock"] = "frozen" if frozen else "system"
    ev = Evidence(
        config=config, now=clock.now(), error=ctx.error or ctx.shadow_error, failed_stage=ctx.failed_stage,
        token_shape=token_shape(token), header=header, claims=claims, claims_verified=verified,
        issuer=issuer, issuer_index=index, facts=facts, user=ctx.user,
        shadow=ctx.error is None and ctx.shadow_error is not None,
        mapping_fallback=ctx.mapping_fallback, mapping_rule=ctx.mapping_rule,
        admin_base=f"http://{config.admin.host}:{config.admin.port}",
    )
    store = getattr(gateway.identity, "store", None)
    ev.store_identity = store.identity if store is not None else None
    ev.lookups = lookups(gateway, ctx)
    ev.cache = CacheView(ctx.cache_state, ctx.cache_age, config.identity.cache.negative_ttl,
                         config.identity.cache.positive_ttl)
    if ev.error is None and ctx.anonymous and ctx.user is None and ev.lookups:
        # The route forwards unknown users anonymously: still explain why the user was unknown.
        ev.error = UserNotFound("forwarded anonymously by the route's policy")
        ev.failed_stage, ev.shadow = "resolve", True
    _key_status(gateway, ev)
    return ev


def lookups(gateway: Gateway, ctx: RequestContext) -> list[Lookup]:
    """The candidates the map stage produced, with the exact query the resolve stage runs for each."""
    resolve = getattr(gateway.identity, "resolve", None)
    out = []
    for cand in getattr(ctx, "candidates", ()) or ():
        query = resolve.query_for(cand).describe() if resolve is not None else None
        out.append(Lookup(cand.claim, cand.attribute, cand.key, cand.raw, query))
    return out


def negative_lookups(ev: Evidence) -> list[Lookup]:
    """Candidates answered from a cached 'not found' (these get an exact re-lookup, cache bypassed)."""
    states = {(f.get("attribute"), f.get("key")): f.get("cache_state") for f in ev.facts.get("resolve.lookups") or []}
    return [lk for lk in ev.lookups if states.get((lk.attribute, lk.key)) in {"negative-hit", "stale"}]


def _key_status(gateway: Gateway, ev: Evidence) -> None:
    issuers = getattr(gateway.tokens, "issuers", None) or {}
    runtime = issuers.get((ev.claims or {}).get("iss"))
    keys = getattr(runtime, "keys", None)
    if keys is None:
        return
    status = keys.status()
    ev.facts["keys.status"] = status
    ev.facts.setdefault("jwks_fetched_at", status.get("fetched_at"))
    ev.facts.setdefault("known_kids", keys.known_kids())
