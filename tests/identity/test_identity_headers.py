"""Stage 'enrich': X-User-Id, X-User-Roles and mapped headers; control characters never reach a header."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from identity_support import make_config, make_ctx

from subwarden.identity.enrich import EnrichStage
from subwarden.identity.stores.base import UserRecord
from subwarden.pipeline.context import RequestContext

HEADERS = {
    "set_from_claims": {"X-Tenant": "tid", "X-Groups": "groups", "X-Level": "ext.level"},
    "set_from_attributes": {"X-User-Email": "email", "X-Dept": "dept"},
}


def enriched(tmp_path: Path, claims: dict[str, Any], user_id: str = "alice", roles: tuple[str, ...] = ("user",),
             attributes: dict[str, Any] | None = None, facts: dict[str, Any] | None = None) -> RequestContext:
    config = make_config(tmp_path / "unused.db", headers=HEADERS)
    ctx = make_ctx(config, claims, facts=facts)
    ctx.user = UserRecord(user_id, roles=roles, attributes=MappingProxyType(attributes or {}))
    ctx.roles = roles
    assert EnrichStage(config.headers).run(ctx) is None
    return ctx


def test_sets_user_id_roles_and_the_routes_claim_and_attribute_headers(tmp_path: Path) -> None:
    ctx = enriched(
        tmp_path,
        {"tid": "t-1", "groups": ["eng", "ops"], "ext": {"level": 3}},
        roles=("user", "admin"),
        attributes={"email": "alice@example.com"},
    )
    assert ctx.identity_headers == [
        (b"X-User-Id", b"alice"),
        (b"X-User-Roles", b"user,admin"),
        (b"X-Tenant", b"t-1"),
        (b"X-Groups", b"eng,ops"),
        (b"X-Level", b"3"),
        (b"X-User-Email", b"alice@example.com"),
    ]


def test_a_non_ascii_user_id_is_sent_as_utf8(tmp_path: Path) -> None:
    assert enriched(tmp_path, {}, user_id="José").identity_headers[0] == (b"X-User-Id", "José".encode())


@pytest.mark.parametrize("bad", ["a\r\nX-Admin: 1", "a\nb", "a\rb", "a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "a\tb"])
def test_a_value_with_a_control_character_is_dropped_and_noted(tmp_path: Path, bad: str) -> None:
    facts: dict[str, Any] = {}
    ctx = enriched(tmp_path, {"tid": bad}, user_id=bad, attributes={"dept": bad, "email": "ok@example.com"},
                   facts=facts)
    names = [name for name, _ in ctx.identity_headers]
    assert names == [b"X-User-Roles", b"X-User-Email"]
    assert facts["enrich.dropped"] == ["X-User-Id", "X-Tenant", "X-Dept"]
    assert all(b"\r" not in v and b"\n" not in v and b"\x00" not in v for _, v in ctx.identity_headers)


def test_an_anonymous_request_gets_no_identity_headers(tmp_path: Path) -> None:
    config = make_config(tmp_path / "unused.db", headers=HEADERS)
    ctx = make_ctx(config, {"tid": "t-1"})
    ctx.anonymous = True
    EnrichStage(config.headers).run(ctx)
    assert ctx.identity_headers == []


def test_absent_or_unsupported_values_set_no_header(tmp_path: Path) -> None:
    ctx = enriched(tmp_path, {"tid": {"nested": "object"}}, roles=())
    assert ctx.identity_headers == [(b"X-User-Id", b"alice")]


def test_the_configured_header_names_are_used(tmp_path: Path) -> None:
    from subwarden.config import parse_config

    config = make_config(tmp_path / "unused.db")
    data = config.model_dump(mode="json")
    data["headers"].update({"user_id": "X-Principal", "roles": "X-Principal-Roles"})
    config = parse_config(data, env={})
    ctx = make_ctx(config, {})
    ctx.user, ctx.roles = UserRecord("alice"), ("r",)
    EnrichStage(config.headers).run(ctx)
    assert ctx.identity_headers == [(b"X-Principal", b"alice"), (b"X-Principal-Roles", b"r")]
