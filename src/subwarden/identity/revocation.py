"""Token revocation: by jti, or every token of a user issued before a cut-off; stage 'revocation'.

``is_revoked`` is synchronous and O(1) (two dict lookups), so it stays on the
hot path. The in-memory list serves one process; a Redis-backed list shares it
across a cluster behind the same protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from subwarden.clock import Clock
from subwarden.errors import TokenRevoked
from subwarden.pipeline.context import RequestContext


class RevocationList(Protocol):
    def revoke_jti(self, issuer: str, jti: str, until: float) -> None:
        """Revoke one token (issuer label, jti); the entry may be forgotten after ``until`` (its exp)."""

    def revoke_subject(self, issuer: str, user_id: str, before: float) -> None:
        """Revoke every token of ``user_id`` issued (iat) before ``before`` (epoch seconds)."""

    def is_revoked(self, issuer_label: str, jti: str | None, user_id: str | None, iat: float | None) -> bool:
        """True if the token is revoked; a subject cut-off revokes tokens without iat (fail closed)."""


class CountedRevocationList(RevocationList, Protocol):
    """A list whose ``generation`` moves on every revocation (a not-revoked answer holds while it is unchanged)."""

    generation: int


class InMemoryRevocationList:
    """A process-local revocation list; expired jti entries are swept as new ones arrive.

    ``generation`` moves on every revocation: a token found not revoked stays so while it is unchanged
    (entries only stop revoking as time passes), which lets the admission memo skip the lookups.
    """

    __slots__ = ("_clock", "_inserts", "_jtis", "_subjects", "generation", "sweep_every")

    def __init__(self, clock: Clock, sweep_every: int = 1024) -> None:
        self._clock = clock
        self._jtis: dict[tuple[str, str], float] = {}
        self._subjects: dict[tuple[str, str], float] = {}
        self._inserts = 0
        self.sweep_every = sweep_every
        self.generation = 0

    def revoke_jti(self, issuer: str, jti: str, until: float) -> None:
        self.generation += 1
        key = (issuer, jti)
        self._jtis[key] = max(until, self._jtis.get(key, until))
        self._inserts += 1
        if self._inserts % self.sweep_every == 0:
            self.sweep()

    def revoke_subject(self, issuer: str, user_id: str, before: float) -> None:
        self.generation += 1
        key = (issuer, user_id)
        self._subjects[key] = max(before, self._subjects.get(key, before))

    def is_revoked(self, issuer_label: str, jti: str | None, user_id: str | None, iat: float | None) -> bool:
        if jti is not None and self._jtis:
            until = self._jtis.get((issuer_label, jti))
            if until is not None and self._clock.now() < until:
                return True
        if user_id is not None and self._subjects:
            before = self._subjects.get((issuer_label, user_id))
            if before is not None and (iat is None or iat < before):
                return True
        return False

    def sweep(self) -> int:
        """Forget jti entries whose token has expired anyway; returns how many."""
        now = self._clock.now()
        expired = [k for k, until in self._jtis.items() if until <= now]
        for key in expired:
            del self._jtis[key]
        return len(expired)

    def stats(self) -> dict[str, float]:
        return {"revoked_jtis": len(self._jtis), "revoked_subjects": len(self._subjects)}


def revocation_claims(claims: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The ``(jti, iat)`` a revocation check uses: a string jti, a numeric (not bool) iat, else None."""
    jti = claims.get("jti")
    iat = claims.get("iat")
    return (
        jti if isinstance(jti, str) else None,
        float(iat) if isinstance(iat, (int, float)) and not isinstance(iat, bool) else None,
    )


class RevocationStage:
    """Stage 'revocation': refuses a token whose jti, or whose user's cut-off, is revoked.

    Runs whenever a verified token is present, also when the user is unknown on an
    anonymous/shadow route: a revoked jti is refused there too.
    """

    name = "revocation"

    def __init__(self, revocations: RevocationList) -> None:
        self.revocations = revocations

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        claims = ctx.claims
        if claims is None or ctx.issuer is None:
            return None
        jti, iat = revocation_claims(claims)
        user_id = ctx.user.user_id if ctx.user is not None else None
        if self.revocations.is_revoked(ctx.issuer.label, jti, user_id, iat):
            raise TokenRevoked("token revoked", jti=jti, user_id=user_id, iat=iat)
        if ctx.facts is not None:
            ctx.fact("revocation.checked", {"jti": jti, "user_id": user_id})
        return None
