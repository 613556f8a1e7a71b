"""Stage 'authorize': the route's required roles / scopes / groups against what the caller holds.

Each required category must be satisfied: with ``match: any`` by one of its
values, with ``match: all`` by every one. Roles come from the store and/or the
token (``roles_from``, ``role_claim``); scopes from ``scope`` or ``scp``; groups
from the ``groups`` claim and the store attribute ``groups``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from subwarden.config.models import AuthPolicy
from subwarden.errors import InsufficientRole
from subwarden.identity.claims import claim_value, string_list
from subwarden.identity.stores.base import parse_roles
from subwarden.pipeline.context import RequestContext


def effective_roles(
    policy: AuthPolicy, store_roles: tuple[str, ...], claims: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """Roles held under the route's ``roles_from``: store first, then token roles not already listed."""
    if policy.roles_from == "store" or claims is None:
        return store_roles
    token_roles = string_list(claim_value(claims, policy.role_claim))
    if policy.roles_from == "token":
        return token_roles
    if not token_roles:
        return store_roles
    return store_roles + tuple(r for r in token_roles if r not in store_roles)


def token_scopes(claims: Mapping[str, Any] | None) -> tuple[str, ...]:
    if claims is None:
        return ()
    scope = claims.get("scope")
    return string_list(scope) if scope is not None else string_list(claims.get("scp"))


def held_groups(ctx: RequestContext) -> tuple[str, ...]:
    groups = string_list(claim_value(ctx.claims, "groups")) if ctx.claims is not None else ()
    if ctx.user is not None and "groups" in ctx.user.attributes:
        groups += tuple(g for g in parse_roles(ctx.user.attributes["groups"]) if g not in groups)
    return groups


def requirements(policy: AuthPolicy) -> dict[str, list[str]]:
    required = {"roles": policy.required_roles, "scopes": policy.required_scopes, "groups": policy.required_groups}
    return {k: v for k, v in required.items() if v}


def _missing(required: list[str], held: tuple[str, ...], match: str) -> list[str]:
    if match == "any":
        return [] if any(r in held for r in required) else list(required)
    return [r for r in required if r not in held]


class AuthorizeStage:
    """Sets ``ctx.roles`` to the effective roles, or raises ``InsufficientRole``."""

    name = "authorize"

    def __init__(self) -> None:
        #: id(policy) → (policy, its non-empty requirements), computed once per route policy.
        self._required: dict[int, tuple[AuthPolicy, dict[str, list[str]]]] = {}

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        route = ctx.route
        if route is None:
            return None
        policy = route.auth
        required = self._requirements(policy)
        if ctx.anonymous:
            # A shadow request already carries its would-be denial (user_not_found): forward it.
            if required and ctx.shadow_error is None:
                raise InsufficientRole("anonymous request on a route with requirements", required=required, held={})
            return None
        ctx.roles = effective_roles(policy, ctx.roles, ctx.claims)
        if required:
            self._check(ctx, policy.match, required)
        return None

    def _requirements(self, policy: AuthPolicy) -> dict[str, list[str]]:
        known = self._required.get(id(policy))
        if known is None or known[0] is not policy:
            known = self._required[id(policy)] = (policy, requirements(policy))
        return known[1]

    def _check(self, ctx: RequestContext, match: str, required: dict[str, list[str]]) -> None:
        held: dict[str, tuple[str, ...]] = {}
        missing: dict[str, list[str]] = {}
        for kind, values in required.items():
            have = held[kind] = ctx.roles if kind == "roles" else _HELD[kind](ctx)
            lacking = _missing(values, have, match)
            if lacking:
                missing[kind] = lacking
        if ctx.facts is not None:
            ctx.fact("authorize", {"match": match, "required": required, "held": _listed(held)})
        if missing:
            raise InsufficientRole(
                "required roles/scopes/groups not held", match=match, required=required, held=_listed(held),
                missing=missing,
            )


def _listed(held: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {k: list(v) for k, v in held.items()}


_HELD: Final[dict[str, Callable[[RequestContext], tuple[str, ...]]]] = {
    "scopes": lambda ctx: token_scopes(ctx.claims),
    "groups": held_groups,
}
