"""Stage 'authorize': the route's required roles / scopes / groups against what the caller holds.

Each required category must be satisfied: with ``match: any`` by one of its
values, with ``match: all`` by every one. Roles come from the store and/or the
token (``roles_from``, ``role_claim``); scopes from ``scope`` or ``scp``; groups
from the ``groups`` claim and the store attribute ``groups``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

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
    missing = [r for r in required if r not in held]
    if match == "any" and len(missing) < len(required):
        return []
    return missing


class AuthorizeStage:
    """Sets ``ctx.roles`` to the effective roles, or raises ``InsufficientRole``."""

    name = "authorize"

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        route = ctx.route
        if route is None:
            return None
        policy = route.auth
        if ctx.anonymous:
            required = requirements(policy)
            # A shadow request already carries its would-be denial (user_not_found): forward it.
            if required and ctx.shadow_error is None:
                raise InsufficientRole("anonymous request on a route with requirements", required=required, held={})
            return None
        ctx.roles = effective_roles(policy, ctx.roles, ctx.claims)
        if policy.required_roles or policy.required_scopes or policy.required_groups:
            self._check(ctx, policy)
        return None

    def _check(self, ctx: RequestContext, policy: AuthPolicy) -> None:
        held = {"roles": ctx.roles, "scopes": token_scopes(ctx.claims), "groups": held_groups(ctx)}
        required = requirements(policy)
        missing = {k: m for k, v in required.items() if (m := _missing(v, held[k], policy.match))}
        shown = {k: list(held[k]) for k in required}
        ctx.fact("authorize", {"match": policy.match, "required": required, "held": shown})
        if missing:
            raise InsufficientRole(
                "required roles/scopes/groups not held",
                match=policy.match,
                required=required,
                held=shown,
                missing=missing,
            )
