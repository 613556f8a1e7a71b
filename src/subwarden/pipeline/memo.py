"""The admission memo: a repeat of an admitted (route, Authorization header) skips the stages' work.

A request the stages admitted with its token already in the verified-token cache (its second
sighting) and its user in the user cache leaves an entry keyed by its route and its raw
``Authorization`` value. Everything the stages derived from those two (claims, issuer, mapping
candidates, effective roles, identity headers) is fixed by them and by the user record, so a repeat
re-checks only what can change between requests:

- the clock against the token's exp/nbf/iat window, with leeway and max_token_age (``time_window``);
- the verified-token cache still holding the entry (not ``GONE``), its key not retired;
- each user-cache entry the resolve stage read still held (not ``GONE``) and within its TTL (so an
  admin invalidation, an eviction, a reload from the store or an expiry sends it back through the
  stages at once);
- the revocation list (skipped while an in-memory list's ``generation`` has not moved).

A failed check drops the entry and the request runs every stage, which learns it again if it is
admitted. Requests with facts (diagnose) and pipelines with a tracer never use the memo. A memo
answer leaves ``ctx.timings`` empty (no stage ran) and sets ``ctx.admission_memo``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, cast

from subwarden.clock import Clock, wall_reader
from subwarden.identity.cache import CachedUser, UserCache
from subwarden.identity.enrich import EnrichStage
from subwarden.identity.revocation import CountedRevocationList, RevocationList, revocation_claims
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.routing import Route, RouteTable
from subwarden.tokens.cache import VerifiedCache, VerifiedToken

#: At most this many admissions remembered (each holds its raw header value, ~1 kB with the entry).
MEMO_MAX_ENTRIES: Final = 65_536
#: The end of the raw Authorization value (the signature's end) keys the memo: hashing it is cheaper than
#: hashing ~700 bytes, and the whole value is compared before an entry is used.
_TAIL: Final = 48


class Admitted:
    """What the stages set on an admitted request, plus what a repeat must re-check."""

    # The fields the re-check reads come first: they share the object's first cache lines.
    __slots__ = (  # noqa: RUF023 - ordered by use, not by name
        "raw", "exp_limit", "leeway", "not_before", "age_limit", "iat", "verified", "held",
        "revocation_generation", "revocation",
        "route", "token", "candidates", "subject",
        "subject_key", "mapping_claim", "mapping_rule", "mapping_fallback", "user", "roles", "identity_headers",
    )

    def __init__(
        self,
        ctx: RequestContext,
        raw: bytes,
        verified: VerifiedToken,
        held: tuple[CachedUser, ...],
        headers: tuple[tuple[bytes, bytes], ...],
        generation: int,
    ) -> None:
        #: The raw Authorization header value this admission is for (compared in full on every use).
        self.raw = raw
        policy = verified.issuer.policy
        self.leeway, self.exp_limit, self.not_before, self.iat, self.age_limit = policy.time_window(verified.claims)
        self.verified = verified
        #: The user-cache entries the resolve stage read: fresh negatives, then the one that found the user.
        self.held = held
        jti, iat = revocation_claims(verified.claims)
        #: The revocation stage's ``is_revoked`` arguments, and the list's generation they were checked at.
        self.revocation = (verified.issuer.label, jti, ctx.user.user_id if ctx.user is not None else None, iat)
        self.revocation_generation = generation
        self.route = ctx.route
        self.token = ctx.token
        self.candidates = ctx.candidates
        self.subject = ctx.subject
        self.subject_key = ctx.subject_key
        self.mapping_claim = ctx.mapping_claim
        self.mapping_rule = ctx.mapping_rule
        self.mapping_fallback = ctx.mapping_fallback
        self.user = ctx.user
        self.roles = ctx.roles
        #: A tuple: each replay copies it into the request's own list (compiled: typed, no generic list()).
        self.identity_headers = headers


class AdmissionMemo:
    """Bounded memo of admitted requests; ``replay`` fills a context from it, ``learn`` adds to it."""

    __slots__ = (
        "_by_route", "_count", "_counted_revocations", "_enrich", "_now", "_revocations",
        "_routes", "_users", "_verified", "hits", "max_entries", "misses",
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
        max_entries: int,
    ) -> None:
        self._routes = routes
        self._verified = verified
        self._users = users
        self._revocations = revocations
        self._enrich = enrich
        self._now = wall_reader(clock)
        #: The revocation list when it counts revocations in ``generation`` (checks skipped while unchanged).
        self._counted_revocations: CountedRevocationList | None = None
        if isinstance(getattr(revocations, "generation", None), int):
            self._counted_revocations = cast(CountedRevocationList, revocations)
        #: route → (end of the raw Authorization value → admission), oldest first; ``_count`` entries in all.
        self._by_route: dict[Route, OrderedDict[bytes, Admitted]] = {}
        self._count = 0
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return self._count

    def stats(self) -> dict[str, float]:
        return {
            "admission_memo_hits": self.hits,
            "admission_memo_misses": self.misses,
            "admission_memo_entries": self._count,
        }

    # ------------------------------------------------------------ hot path
    def replay(self, ctx: RequestContext) -> bool:
        """Fill ``ctx`` as the stages would and return True, or return False (nothing set) to run them."""
        route = self._routes.match(ctx.host, ctx.path, ctx.method)
        raw = None
        for name, value in ctx.headers:
            if name == b"authorization":
                if raw is not None:
                    return False
                raw = value
        if route is None or raw is None:
            return False
        memo = self._by_route.get(route)
        if memo is None:
            self.misses += 1
            return False
        tail = raw[-_TAIL:]
        entry = memo.get(tail)
        if entry is None or entry.raw != raw:
            self.misses += 1
            return False
        now = self._now()
        verified = entry.verified
        counted = self._counted_revocations
        # Checks that count nothing first; the user cache's ``reuse`` comes last: it counts the resolve
        # stage's hits (and marks its entries used) only when they all still hold.
        age = None
        if (
            now < entry.exp_limit
            and now + entry.leeway >= entry.not_before
            and (entry.age_limit is None or now - entry.iat <= entry.age_limit)
            and self._verified.holds(verified)
            and (
                (counted is not None and counted.generation == entry.revocation_generation)
                or self._not_revoked(entry)
            )
        ):
            age = self._users.reuse(entry.held)
        if age is None:
            del memo[tail]
            self._count -= 1
            self.misses += 1
            return False
        self._verified.reused(verified)  # the verify stage's cache hit; marked used instead of moved
        self.hits += 1
        ctx.route = route
        ctx.token = entry.token
        ctx.token_source = "header"
        verified.fill(ctx)  # the verify stage's slots, as on its cache hit
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
        # No stage ran, so ctx.timings stays empty; the admission's own time is in the request's duration.
        ctx.admission_memo = True
        return True

    def _not_revoked(self, entry: Admitted) -> bool:
        """The revocation stage's check, for a list without a generation or one that moved since."""
        if self._revocations.is_revoked(*entry.revocation):
            return False
        counted = self._counted_revocations
        if counted is not None:
            entry.revocation_generation = counted.generation
        return True

    # ------------------------------------------------------------ learning (after the stages ran)
    def learn(self, ctx: RequestContext) -> None:
        """Remember ``ctx`` if the stages admitted it from cached state alone; otherwise leave the memo as is.

        Only a token coming back (the verified-token cache held it) is remembered: a token seen once, such as
        per-request tokens, would only cost an entry (~1 kB, ~5 us) and push out one that repeats.
        """
        if (
            not ctx.token_cache_hit
            or ctx.error is not None
            or ctx.facts is not None
            or ctx.anonymous
            or ctx.shadow_error is not None
            or ctx.token_source != "header"
            or ctx.cache_state == "stale"
        ):
            return
        route, token, user = ctx.route, ctx.token, ctx.user
        values = ctx.header_values(b"authorization")
        if route is None or token is None or user is None or len(values) != 1:
            return
        verified = self._verified.peek(token)
        if verified is None or verified.claims is not ctx.claims or verified.key.retired:
            return
        held = self._users.held(tuple(c.cache_key for c in ctx.candidates), user)
        headers = self._enrich.clean_headers(route, user, ctx.claims, ctx.roles)
        if held is None or headers is None:
            return
        memo = self._by_route.setdefault(route, OrderedDict())
        raw = values[0]
        tail = raw[-_TAIL:]
        if memo.pop(tail, None) is not None:
            self._count -= 1
        if self._count >= self.max_entries:  # full: forget this route's oldest admission (another's if none)
            oldest = memo if memo else next(m for m in self._by_route.values() if m)
            oldest.popitem(last=False)
            self._count -= 1
        counted = self._counted_revocations
        memo[tail] = Admitted(ctx, raw, verified, held, headers, -1 if counted is None else counted.generation)
        self._count += 1
