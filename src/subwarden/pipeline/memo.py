"""The admission memo: a repeat of an admitted (route, Authorization header) skips the stages' work.

A request the stages admitted, with its token in the verified-token cache and its user in the user
cache, leaves an entry keyed by its route and its raw ``Authorization`` value. Everything the stages
derived from those two (claims, issuer, mapping candidates, effective roles, identity headers) is
fixed by them and by the user record, so a repeat re-checks only what can change between requests:

- the clock against the token's exp/nbf/iat window, with leeway and max_token_age (``time_window``);
- the verified-token cache still holding the entry (not ``GONE``), its key not retired;
- each user-cache entry the resolve stage read still held (not ``GONE``) and within its TTL (so an
  admin invalidation, an eviction, a reload from the store or an expiry sends it back through the
  stages at once);
- the revocation list (skipped while an in-memory list's ``generation`` has not moved).

A failed check drops the entry and the request runs every stage, which learns it again if it is
admitted. Requests with facts (diagnose) and pipelines with a tracer never use the memo.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from time import perf_counter_ns
from typing import Any, cast

from subwarden.clock import Clock, SystemClock
from subwarden.identity.cache import UserCache
from subwarden.identity.enrich import EnrichStage
from subwarden.identity.revocation import CountedRevocationList, RevocationList, revocation_claims
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.routing import Route, RouteTable
from subwarden.tokens.cache import GONE, VerifiedCache

_AUTHORIZATION = b"authorization"
#: At most this many admissions remembered (each holds its raw header value, ~1 kB with the entry).
MEMO_MAX_ENTRIES = 65_536
#: The end of the raw Authorization value (the signature's end) keys the memo: hashing it is cheaper than
#: hashing ~700 bytes, and the whole value is compared before an entry is used.
_TAIL = 48
_SPLITS_MAX = 4096  # timing dicts kept, one per per-stage share in ns


class Admitted:
    """What the stages set on an admitted request, plus what a repeat must re-check."""

    __slots__ = (
        "alg", "candidates", "claims", "exp_limit", "held", "iat", "identity_headers", "issuer", "jose_header",
        "key_source", "kid", "leeway", "mapping_claim", "mapping_fallback", "mapping_rule", "max_age_limit", "nbf",
        "raw", "revocation", "revocation_generation", "roles", "route", "subject", "subject_key", "token", "user",
        "verified",
    )

    def __init__(
        self, ctx: RequestContext, raw: bytes, verified: Any, held: Any, headers: Any, generation: int
    ) -> None:
        self.route = ctx.route
        #: The raw Authorization header value this admission is for (compared in full on every use).
        self.raw = raw
        self.token = ctx.token
        # As the verify stage sets them on a verified-cache hit.
        self.verified = verified
        self.jose_header = verified.header
        self.claims = verified.claims
        self.issuer = verified.issuer
        self.alg = verified.alg
        self.kid = verified.kid
        self.key_source = verified.key.source
        self.candidates = ctx.candidates
        self.subject = ctx.subject
        self.subject_key = ctx.subject_key
        self.mapping_claim = ctx.mapping_claim
        self.mapping_rule = ctx.mapping_rule
        self.mapping_fallback = ctx.mapping_fallback
        self.user = ctx.user
        self.roles = ctx.roles
        self.identity_headers = headers
        #: ((user-cache key, entry), …): the negative entries read, then the entry that found the user.
        self.held = held
        policy = verified.issuer.policy
        self.leeway = policy.leeway
        self.exp_limit, self.nbf, self.iat, self.max_age_limit = policy.time_window(verified.claims)
        jti, iat = revocation_claims(verified.claims)
        #: The revocation stage's ``is_revoked`` arguments, and the list's generation they were checked at.
        self.revocation = (verified.issuer.label, jti, ctx.user.user_id if ctx.user is not None else None, iat)
        self.revocation_generation = generation


def clock_functions(clock: Clock) -> tuple[Any, Any]:
    """``(now, monotonic)`` of ``clock``; the C functions themselves for the system clock (no Python frame)."""
    if type(clock) is SystemClock:
        return time.time, time.monotonic
    return clock.now, clock.monotonic


class AdmissionMemo:
    """Bounded memo of admitted requests; ``replay`` fills a context from it, ``learn`` adds to it."""

    __slots__ = (
        "_counted_revocations", "_enrich", "_entries", "_first_stage", "_monotonic", "_now", "_revocations",
        "_routes", "_splits", "_stage_count", "_stage_names", "_users", "_verified", "_zero", "hits", "max_entries",
        "misses",
    )

    def __init__(
        self,
        *,
        routes: RouteTable,
        verified: VerifiedCache,
        users: UserCache,
        revocations: RevocationList,
        enrich: EnrichStage,
        clock: Clock,
        stage_names: Sequence[str],
        max_entries: int,
    ) -> None:
        self._routes = routes
        self._verified = verified
        self._users = users
        self._revocations = revocations
        self._enrich = enrich
        self._now, self._monotonic = clock_functions(clock)
        self._stage_names = tuple(stage_names)
        self._stage_count = len(self._stage_names)
        self._first_stage = self._stage_names[0]
        self._splits: dict[int, dict[str, int]] = {}
        self._zero = dict.fromkeys(self._stage_names, 0)
        #: The revocation list when it counts revocations in ``generation`` (checks skipped while unchanged).
        self._counted_revocations: CountedRevocationList | None = None
        if isinstance(getattr(revocations, "generation", None), int):
            self._counted_revocations = cast(CountedRevocationList, revocations)
        self._entries: OrderedDict[tuple[Route, bytes], Admitted] = OrderedDict()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def stats(self) -> dict[str, float]:
        return {
            "admission_memo_hits": self.hits,
            "admission_memo_misses": self.misses,
            "admission_memo_entries": len(self._entries),
        }

    # ------------------------------------------------------------ hot path
    def replay(self, ctx: RequestContext) -> bool:
        """Fill ``ctx`` as the stages would and return True, or return False (nothing set) to run them."""
        t0 = perf_counter_ns()
        route = self._routes.match(ctx.host, ctx.path, ctx.method)
        raw = None
        for name, value in ctx.headers:
            if name == _AUTHORIZATION:
                if raw is not None:
                    return False
                raw = value
        if route is None or raw is None:
            return False
        key = (route, raw[-_TAIL:])
        entry = self._entries.get(key)
        if entry is None or entry.raw != raw:
            self.misses += 1
            return False
        now = self._now()
        later = now + entry.leeway
        verified = entry.verified
        counted = self._counted_revocations
        age = None
        # Pure checks first, then the user cache (which counts only when every entry holds), then the
        # verified cache's hit: a refusal moves no counter that the stages will move again.
        if (
            now < entry.exp_limit
            and later >= entry.nbf
            and later >= entry.iat
            and now - entry.iat <= entry.max_age_limit
            and verified.state != GONE
            and not verified.key.retired
            and (
                (counted is not None and counted.generation == entry.revocation_generation)
                or self._not_revoked(entry)
            )
        ):
            age = self._users.reuse(entry.held, self._monotonic())
        if age is None:
            del self._entries[key]
            self.misses += 1
            return False
        self._verified.reused(verified)
        self.hits += 1
        ctx.route = route
        ctx.token = entry.token
        ctx.token_source = "header"
        ctx.jose_header = entry.jose_header
        ctx.claims = entry.claims
        ctx.issuer = entry.issuer
        ctx.alg = entry.alg
        ctx.kid = entry.kid
        ctx.key_source = entry.key_source
        ctx.token_cache_hit = True
        ctx.candidates = entry.candidates
        ctx.subject = entry.subject
        ctx.subject_key = entry.subject_key
        ctx.mapping_claim = entry.mapping_claim
        ctx.mapping_rule = entry.mapping_rule
        ctx.mapping_fallback = entry.mapping_fallback
        ctx.user = entry.user
        ctx.roles = entry.roles
        ctx.cache_state = "hit"
        ctx.cache_age = age
        ctx.identity_headers = list(entry.identity_headers)
        ctx.admission_memo = True
        # The stages did not run one by one: the measured whole is split evenly (docs/records.md). One
        # dict per share is kept and copied, cheaper than filling a fresh dict key by key.
        share, rest = divmod(perf_counter_ns() - t0, self._stage_count)
        split = self._splits.get(share)
        timings = split.copy() if split is not None else self._split(share)
        if rest:
            timings[self._first_stage] += rest
        if ctx.timings:
            ctx.timings.update(timings)
        else:
            ctx.timings = timings
        return True

    def _not_revoked(self, entry: Admitted) -> bool:
        """The revocation stage's check, for a list without a generation or one that moved since."""
        if self._revocations.is_revoked(*entry.revocation):
            return False
        counted = self._counted_revocations
        if counted is not None:
            entry.revocation_generation = counted.generation
        return True

    def _split(self, share: int) -> dict[str, int]:
        split = self._zero.copy()
        for name in split:
            split[name] = share
        if len(self._splits) < _SPLITS_MAX:  # the common shares come first; rare outliers are not kept
            self._splits[share] = split
            split = split.copy()
        return split

    # ------------------------------------------------------------ learning (after the stages ran)
    def learn(self, ctx: RequestContext) -> None:
        """Remember ``ctx`` if the stages admitted it from cached state alone; otherwise leave the memo as is."""
        if (
            self.max_entries <= 0
            or ctx.error is not None
            or ctx.facts is not None
            or ctx.anonymous
            or ctx.shadow_error is not None
            or ctx.token_source != "header"
            or ctx.cache_state == "stale"
        ):
            return
        route, token, user = ctx.route, ctx.token, ctx.user
        values = ctx.header_values(_AUTHORIZATION)
        if route is None or token is None or user is None or len(values) != 1:
            return
        verified = self._verified.peek(token)
        if verified is None or verified.claims is not ctx.claims or verified.key.retired:
            return
        held = self._users.held(tuple(c.cache_key for c in ctx.candidates), user)
        headers = self._enrich.clean_headers(route, user, ctx.claims, ctx.roles)
        if held is None or headers is None:
            return
        entries = self._entries
        if len(entries) >= self.max_entries:
            entries.popitem(last=False)
        counted = self._counted_revocations
        raw = values[0]
        admitted = Admitted(ctx, raw, verified, held, headers, -1 if counted is None else counted.generation)
        entries[(route, raw[-_TAIL:])] = admitted
