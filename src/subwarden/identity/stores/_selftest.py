"""Readiness checks shared by the backends: named steps run in order until one fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from subwarden.errors import GatewayError, SubjectAmbiguous, UserDeleted, UserDisabled, UserLocked, UserNotFound
from subwarden.identity.stores.base import SelfTestReport, SelfTestStep, UserStatus, UserStore

INACTIVE: dict[UserStatus, type[GatewayError]] = {
    UserStatus.disabled: UserDisabled,
    UserStatus.locked: UserLocked,
    UserStatus.deleted: UserDeleted,
}

#: A step returns a short "what was found" text, or raises a catalog error naming what failed.
Check = Callable[[], Awaitable[str]]


async def run_checks(store: str, checks: Sequence[tuple[str, Check]]) -> SelfTestReport:
    """Run ``checks`` in order; the first failing step ends the report (later ones can't pass)."""
    report = SelfTestReport(store=store)
    for name, check in checks:
        try:
            detail = await check()
        except GatewayError as exc:
            report.steps.append(SelfTestStep(name, False, f"{exc.code}: {exc.reason}"))
            break
        report.steps.append(SelfTestStep(name, True, detail))
    return report


def canary_check(store: UserStore, canary: str) -> Check:
    """Resolve ``canary`` through the first lookup attribute: exactly one active user must come back."""

    async def check() -> str:
        attribute = next(iter(store.config.lookup))
        users = await store.lookup(attribute, canary)
        if not users:
            raise UserNotFound(f"canary {canary!r} not found by {attribute}")
        if len(users) > 1:
            raise SubjectAmbiguous(f"canary {canary!r} matches {len(users)} users by {attribute}")
        user = users[0]
        if user.status is not UserStatus.active:
            raise INACTIVE[user.status](f"canary {canary!r} resolves to {user.user_id}, which is {user.status}")
        return f"{attribute}={canary!r} resolves to active user {user.user_id}"

    return check


def with_canary(
    store: UserStore, checks: list[tuple[str, Check]], canary: str | None
) -> list[tuple[str, Check]]:
    """``checks`` plus the canary step when a canary is given or configured."""
    canary = canary or store.config.canary_subject
    return [*checks, ("canary", canary_check(store, canary))] if canary else checks
