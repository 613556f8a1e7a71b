"""Stage 'resolve': look the candidates up in order through the user cache; the first found wins.

A cache hit stays synchronous (no coroutine). A miss queries the store through
the circuit breaker with the per-lookup timeout; store errors pass through and
are never cached as "not found".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from functools import partial
from typing import Any, Final

from subwarden.config.models import UnknownUserPolicy
from subwarden.errors import (
    GatewayError,
    StoreTimeout,
    SubjectAmbiguous,
    UserDeleted,
    UserDisabled,
    UserLocked,
    UserNotFound,
)
from subwarden.identity.breaker import CircuitBreaker
from subwarden.identity.cache import UserCache
from subwarden.identity.mapping import Candidate
from subwarden.identity.stores._deadlines import within
from subwarden.identity.stores.base import StoreQuery, UserRecord, UserStatus, UserStore
from subwarden.pipeline.context import RequestContext

#: (candidate, cache state, cache age, users found) per lookup tried.
Tried = tuple[Candidate, str, float | None, int]

_ACTIVE: Final = UserStatus.active
_STATUS_ERRORS: Final[dict[UserStatus, type[GatewayError]]] = {
    UserStatus.disabled: UserDisabled,
    UserStatus.locked: UserLocked,
    UserStatus.deleted: UserDeleted,
}


class ResolveUserStage:
    """Fills ``ctx.user``, ``ctx.roles``, the mapping slots and the cache state."""

    name = "resolve"

    def __init__(self, store: UserStore, cache: UserCache, breaker: CircuitBreaker, timeout: float) -> None:
        self.store = store
        self.cache = cache
        self.breaker = breaker
        self.timeout = timeout
        #: The store keeps to the timeout itself: no second budget around its fetch.
        self._bounded = store.bounds_own_time

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        if ctx.anonymous:
            return None
        tried: list[Tried] = []
        for position, cand in enumerate(ctx.candidates):
            hit = self.cache.get(cand.cache_key)
            if hit is None:
                return self._resolve_async(ctx, position, tried)
            record, age = hit
            if record is not None:
                self._accept(ctx, cand, record, "hit", age, tried)
                return None
            tried.append((cand, "negative-hit", age, 0))
        self._not_found(ctx, tried)
        return None

    async def _resolve_async(self, ctx: RequestContext, start: int, tried: list[Tried]) -> None:
        for cand in ctx.candidates[start:]:
            hit = self.cache.get(cand.cache_key)
            if hit is not None and hit[0] is not None:
                return self._accept(ctx, cand, hit[0], "hit", hit[1], tried)
            if hit is not None:
                tried.append((cand, "negative-hit", hit[1], 0))
                continue
            try:
                loaded = await self.cache.load(cand.cache_key, partial(self.fetch, self.query_for(cand)))
            except GatewayError:
                ctx.cache_state, ctx.cache_age = "miss", None
                tried.append((cand, "error", None, 0))
                self._facts(ctx, tried)
                raise
            if len(loaded.records) == 1:
                return self._accept(ctx, cand, loaded.records[0], loaded.state, loaded.age, tried)
            tried.append((cand, loaded.state, loaded.age, len(loaded.records)))
            if loaded.records:
                self._ambiguous(ctx, cand, loaded.records, tried)
        self._not_found(ctx, tried)

    def query_for(self, cand: Candidate) -> StoreQuery:
        """The query a candidate runs (pure; diagnose shows it)."""
        if cand.casefold:
            return self.store.build_casefold_query(cand.attribute, cand.key)
        return self.store.build_query(cand.attribute, cand.key)

    async def fetch(self, query: StoreQuery) -> list[UserRecord]:
        """One store query through the breaker, within the per-lookup timeout.

        The breaker's steps are taken here rather than through ``breaker.call``, and a store that keeps
        to the timeout itself gets no second budget: each layer is a coroutine every resume of a cold
        lookup passes through (the resolve stage cost 30-45 us of CPU more than its store calls).
        """
        breaker = self.breaker
        breaker.admit()
        try:
            if self._bounded:
                records = await self.store.fetch(query)
            else:
                records = await within(self.timeout, self.store.fetch(query))
        except (asyncio.CancelledError, Exception) as exc:
            breaker.ended(exc)
            if isinstance(exc, TimeoutError):  # the stage's own budget (a store without one)
                raise StoreTimeout("store lookup timed out", timeout=self.timeout, store=self.store.identity) from None
            raise
        breaker.ended(None)
        return records

    # ------------------------------------------------------------ outcomes
    def _accept(self, ctx: RequestContext, cand: Candidate, user: UserRecord, state: str,
                age: float | None, tried: list[Tried]) -> None:
        ctx.user = user
        ctx.roles = user.roles
        ctx.subject = cand.raw
        ctx.subject_key = cand.key
        ctx.mapping_claim = cand.claim
        ctx.mapping_rule = cand.rule
        ctx.mapping_fallback = cand.index > 0
        ctx.cache_state = state
        ctx.cache_age = age
        if ctx.facts is not None:
            tried.append((cand, state, age, 1))
            self._facts(ctx, tried)
        if user.status is not _ACTIVE:
            error = _STATUS_ERRORS[user.status]
            raise error(f"user is {user.status.value}", user_id=user.user_id, status_since=user.status_since)

    def _ambiguous(self, ctx: RequestContext, cand: Candidate, users: list[UserRecord], tried: list[Tried]) -> None:
        ctx.mapping_claim = cand.claim
        ctx.mapping_rule = cand.rule
        self._facts(ctx, tried)
        raise SubjectAmbiguous(
            "more than one user matches", rule=cand.rule, matches=len(users),
            user_ids=[u.user_id for u in users[:5]],
        )

    def _not_found(self, ctx: RequestContext, tried: list[Tried]) -> None:
        if tried:
            _, ctx.cache_state, ctx.cache_age, _ = tried[0]
        self._facts(ctx, tried)
        error = UserNotFound(
            "no user matches the subject",
            rules=[t[0].rule for t in tried],
            cache=[t[1] for t in tried],
        )
        policy = ctx.route.auth.unknown_user if ctx.route is not None else UnknownUserPolicy.deny
        if policy is UnknownUserPolicy.deny:
            raise error
        ctx.anonymous = True
        if policy is UnknownUserPolicy.shadow:
            ctx.shadow_error = error

    def _facts(self, ctx: RequestContext, tried: list[Tried]) -> None:
        if ctx.facts is None:
            return
        ctx.fact("resolve.store", self.store.identity)
        ctx.fact("resolve.breaker", self.breaker.state)
        ctx.fact("resolve.lookups", [self._lookup_fact(*t) for t in tried])
        ctx.fact("resolve.cache_state", ctx.cache_state)
        ctx.fact("resolve.cache_age", ctx.cache_age)

    def _lookup_fact(self, cand: Candidate, state: str, age: float | None, found: int) -> dict[str, Any]:
        return {
            "rule": cand.rule,
            "claim": cand.claim,
            "attribute": cand.attribute,
            "key": cand.key,
            "query": self.query_for(cand).describe(),
            "cache_state": state,
            "cache_age": age,
            "found": found,
        }
