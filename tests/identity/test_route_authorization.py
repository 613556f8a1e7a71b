"""Stage 'authorize': required roles/scopes/groups, any/all, from the store and/or the token."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from identity_support import make_config, make_ctx

from subwarden.errors import InsufficientRole, UserNotFound
from subwarden.identity.authorize import AuthorizeStage
from subwarden.identity.stores.base import UserRecord
from subwarden.pipeline.context import RequestContext


def request(tmp_path: Path, auth: dict[str, Any], claims: dict[str, Any], roles: tuple[str, ...] = (),
            attributes: dict[str, Any] | None = None) -> RequestContext:
    ctx = make_ctx(make_config(tmp_path / "unused.db", auth=auth), claims)
    ctx.user = UserRecord("alice", roles=roles, attributes=MappingProxyType(attributes or {}))
    ctx.roles = roles
    return ctx


def allowed(ctx: RequestContext) -> bool:
    try:
        AuthorizeStage().run(ctx)
    except InsufficientRole:
        return False
    return True


@pytest.mark.parametrize(
    ("match", "held", "ok"),
    [("all", ("a", "b"), True), ("all", ("a",), False), ("any", ("b",), True), ("any", ("c",), False)],
)
def test_required_roles_under_any_and_all(tmp_path: Path, match: str, held: tuple[str, ...], ok: bool) -> None:
    auth = {"required_roles": ["a", "b"], "match": match, "roles_from": "store"}
    assert allowed(request(tmp_path, auth, {"sub": "alice"}, roles=held)) is ok


def test_returns_insufficient_role_with_required_held_and_missing_in_the_detail(tmp_path: Path) -> None:
    ctx = request(tmp_path, {"required_roles": ["admin"], "required_scopes": ["read"]}, {"scope": "read"}, ("user",))
    with pytest.raises(InsufficientRole) as caught:
        AuthorizeStage().run(ctx)
    assert caught.value.detail == {
        "match": "all",
        "required": {"roles": ["admin"], "scopes": ["read"]},
        "held": {"roles": ["user"], "scopes": ["read"]},
        "missing": {"roles": ["admin"]},
    }


def test_roles_come_from_a_dotted_token_claim_and_the_store_combined(tmp_path: Path) -> None:
    auth = {"required_roles": ["admin", "auditor"], "role_claim": "realm_access.roles"}
    ctx = request(tmp_path, auth, {"realm_access": {"roles": ["auditor", "user"]}}, roles=("user", "admin"))
    assert allowed(ctx)
    assert ctx.roles == ("user", "admin", "auditor")


def test_roles_from_store_ignores_token_roles_and_roles_from_token_ignores_the_store(tmp_path: Path) -> None:
    claims = {"roles": ["admin"]}
    assert not allowed(request(tmp_path, {"required_roles": ["admin"], "roles_from": "store"}, claims, ("user",)))
    token_only = request(tmp_path, {"required_roles": ["admin"], "roles_from": "token"}, claims, ("user",))
    assert allowed(token_only) and token_only.roles == ("admin",)
    assert not allowed(request(tmp_path, {"required_roles": ["user"], "roles_from": "token"}, claims, ("user",)))


@pytest.mark.parametrize("claims", [{"scope": "openid read write"}, {"scp": ["read", "write"]}, {"scp": "read write"}])
def test_scopes_come_from_scope_or_scp(tmp_path: Path, claims: dict[str, Any]) -> None:
    assert allowed(request(tmp_path, {"required_scopes": ["read", "write"]}, claims))
    assert not allowed(request(tmp_path, {"required_scopes": ["admin"]}, claims))


def test_groups_come_from_the_groups_claim_and_the_store_attribute(tmp_path: Path) -> None:
    auth = {"required_groups": ["eng", "ops"]}
    assert allowed(request(tmp_path, auth, {"groups": ["eng"]}, attributes={"groups": "ops,sales"}))
    assert not allowed(request(tmp_path, auth, {"groups": ["eng"]}))


def test_a_route_without_requirements_admits_and_still_sets_the_effective_roles(tmp_path: Path) -> None:
    ctx = request(tmp_path, {}, {"roles": "reader"}, roles=("user",))
    assert allowed(ctx) and ctx.roles == ("user", "reader")


def test_an_anonymous_request_on_a_route_with_requirements_is_insufficient_role(tmp_path: Path) -> None:
    ctx = make_ctx(make_config(tmp_path / "unused.db", auth={"required_roles": ["user"]}), None)
    ctx.anonymous = True
    assert not allowed(ctx)
    open_route = make_ctx(make_config(tmp_path / "unused.db"), None)
    open_route.anonymous = True
    assert allowed(open_route)


def test_a_shadow_request_carries_its_would_be_denial_and_is_forwarded(tmp_path: Path) -> None:
    ctx = make_ctx(make_config(tmp_path / "unused.db", auth={"required_roles": ["user"]}), {"sub": "nobody"})
    ctx.anonymous, ctx.shadow_error = True, UserNotFound()
    assert allowed(ctx)
