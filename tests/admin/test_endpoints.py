"""Each admin endpoint acts on its real collaborator and answers JSON or problem+json."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from admin_support import AdminClient, AppFactory, assert_problem

from subwarden.clock import FrozenClock
from subwarden.config.models import GatewayConfig
from subwarden.errors import CATALOG, UserNotFound
from subwarden.identity.cache import UserCache
from subwarden.identity.revocation import InMemoryRevocationList
from subwarden.identity.stores.base import UserRecord
from subwarden.observe.records import RecordWriter
from subwarden.pipeline.context import RequestContext

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_errors_lists_the_whole_catalog(admin: AdminClient) -> None:
    response = await admin.get("/admin/errors")
    assert response.status_code == 200
    rows = response.json()["errors"]
    assert [r["code"] for r in rows] == [cls.code for cls in CATALOG]
    not_found = next(r for r in rows if r["code"] == "user_not_found")
    assert not_found["title"] == "User from sub claim in JWT does not exist" and not_found["status"] == 401


async def test_config_shows_the_effective_config_with_secrets_redacted_and_the_fingerprint(admin: AdminClient) -> None:
    response = await admin.get("/admin/config")
    body = response.json()
    assert body["fingerprint"] == "fp-admin-test"
    store = body["config"]["identity"]["store"]
    assert store["lookup"] == {"user_id": "user_id", "email": "email"}
    assert store["ldap"]["bind_dn"] == "cn=gw"
    assert "ldap-secret-value" not in response.text and "static-service-secret" not in response.text
    assert store["http"]["headers"] == {"Authorization": "***", "X-Env": "test"}
    assert body["config"]["admin"]["token_env"] == "SUBWARDEN_TEST_ADMIN_TOKEN"


async def test_config_never_shows_a_store_password(start_admin: AppFactory, config: GatewayConfig) -> None:
    url = "postgresql://gw:pg-password-value@127.0.0.1:5432/users"
    store = config.identity.store.model_copy(update={"url": url})
    changed = config.model_copy(update={"identity": config.identity.model_copy(update={"store": store})})
    admin = await start_admin(config=changed)
    response = await admin.get("/admin/config")
    assert response.json()["config"]["identity"]["store"]["url"] == "postgresql://gw:***@127.0.0.1:5432/users"
    assert "pg-password-value" not in response.text


async def fill(cache: UserCache, key: tuple[str, str, str], user: UserRecord | None) -> None:
    async def loader() -> list[UserRecord]:
        return [user] if user is not None else []

    await cache.load(key, loader)


async def test_cache_invalidate_by_user_id_drops_that_users_entries(admin: AdminClient, cache: UserCache) -> None:
    await fill(cache, ("corp", "email", "alice@example.test"), UserRecord("u-1"))
    await fill(cache, ("corp", "user_id", "u-2"), UserRecord("u-2"))
    response = await admin.post("/admin/cache/invalidate", json={"user_id": "u-1"})
    assert response.json() == {"invalidated": 1, "scope": "user_id"}
    assert cache.peek(("corp", "email", "alice@example.test")) is None
    assert cache.peek(("corp", "user_id", "u-2")) is not None


async def test_cache_invalidate_by_subject_uses_the_issuers_normalization(admin: AdminClient, cache: UserCache) -> None:
    await fill(cache, ("corp", "user_id", "alice"), None)  # a negative entry, keyed by the normalized subject
    response = await admin.post("/admin/cache/invalidate", json={"subject": "  ALICE ", "issuer": "https://idp.test"})
    assert response.json() == {"invalidated": 1, "scope": "subject"}
    assert cache.peek(("corp", "user_id", "alice")) is None


async def test_cache_invalidate_all_empties_the_cache(admin: AdminClient, cache: UserCache) -> None:
    await fill(cache, ("corp", "user_id", "u-1"), UserRecord("u-1"))
    await fill(cache, ("corp", "user_id", "u-9"), None)
    response = await admin.post("/admin/cache/invalidate", json={"all": True})
    assert response.json() == {"invalidated": 2, "scope": "all"}
    assert len(cache) == 0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "user_id"),
        ({"all": "yes"}, "user_id"),
        ({"user_id": 7}, "'user_id' must be a non-empty string"),
        ({"subject": "alice", "issuer": "https://elsewhere"}, "known: corp"),
        ([1, 2], "JSON object"),
    ],
)
async def test_cache_invalidate_returns_400_if_the_body_does_not_fit(
    admin: AdminClient, body: object, detail: str
) -> None:
    response = await admin.post("/admin/cache/invalidate", json=body)
    assert detail in assert_problem(response, 400, "admin_request_invalid")["detail"]


async def test_cache_invalidate_returns_400_if_the_body_is_not_json(admin: AdminClient) -> None:
    response = await admin.post("/admin/cache/invalidate", content=b"{not json")
    assert_problem(response, 400, "admin_request_invalid")


async def test_revoking_a_jti_refuses_that_token_until_the_given_time(
    admin: AdminClient, revocations: InMemoryRevocationList, clock: FrozenClock
) -> None:
    until = clock.now() + 600
    response = await admin.post("/admin/revocations", json={"jti": "j-1", "issuer": "corp", "until": until})
    assert response.json() == {"revoked": "jti", "issuer": "corp", "jti": "j-1", "until": until}
    assert revocations.is_revoked("corp", "j-1", None, None)
    clock.advance(601)
    assert not revocations.is_revoked("corp", "j-1", None, None)


async def test_revoking_a_user_refuses_tokens_issued_before_the_cutoff(
    admin: AdminClient, revocations: InMemoryRevocationList, clock: FrozenClock
) -> None:
    body = {"user_id": "u-1", "issuer": "https://idp.test", "before": "2027-01-15T08:00:00Z"}
    response = await admin.post("/admin/revocations", json=body)
    assert response.json()["before"] == clock.now()
    assert revocations.is_revoked("corp", None, "u-1", clock.now() - 1)
    assert not revocations.is_revoked("corp", None, "u-1", clock.now() + 1)


async def test_revoking_a_user_without_a_cutoff_revokes_everything_issued_until_now(
    admin: AdminClient, revocations: InMemoryRevocationList, clock: FrozenClock
) -> None:
    await admin.post("/admin/revocations", json={"user_id": "u-1", "issuer": "corp"})
    assert revocations.is_revoked("corp", None, "u-1", clock.now() - 1)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"jti": "j", "issuer": "corp", "until": "next week"}, "'until' must be epoch seconds"),
        ({"jti": "j", "issuer": "nope"}, "'issuer' must be a configured issuer"),
        ({"issuer": "corp"}, "give"),
    ],
)
async def test_revocations_return_400_if_the_body_does_not_fit(admin: AdminClient, body: object, detail: str) -> None:
    response = await admin.post("/admin/revocations", json=body)
    assert detail in assert_problem(response, 400, "admin_request_invalid")["detail"]


def finished(request_id: str, error: Any = None, route: Any = None) -> RequestContext:
    ctx = RequestContext("GET", "/x", [], request_id=request_id)
    ctx.error, ctx.route = error, route
    return ctx


async def test_records_are_listed_newest_first_and_filtered_by_code_since_and_limit(
    admin: AdminClient, writer: RecordWriter, clock: FrozenClock
) -> None:
    for i in range(3):
        writer.record(finished(f"ok-{i}"))
        clock.advance(60)
    writer.record(finished("nf", UserNotFound()))
    writer.flush_sync()

    everything = (await admin.get("/admin/records")).json()
    assert [r["request_id"] for r in everything["records"]] == ["nf", "ok-2", "ok-1", "ok-0"]
    by_code = (await admin.get("/admin/records", params={"code": "user_not_found"})).json()
    assert [r["request_id"] for r in by_code["records"]] == ["nf"]
    since = (await admin.get("/admin/records", params={"since": clock.now() - 90, "limit": 1})).json()
    assert since == {"records": [everything["records"][0]], "count": 1}


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "many"}, {"since": "yesterday"}, {"codes": "x"}])
async def test_records_return_400_if_a_filter_is_invalid(admin: AdminClient, params: dict[str, str]) -> None:
    assert_problem(await admin.get("/admin/records", params=params), 400, "admin_request_invalid")


async def test_records_return_404_when_the_sqlite_sink_is_off(start_admin: AppFactory) -> None:
    admin = await start_admin(record_search=None)
    assert_problem(await admin.get("/admin/records"), 404, "route_not_found")


async def test_diagnose_passes_the_body_to_the_function_and_never_logs_the_token(
    admin: AdminClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl"
    body = {"token": token, "route": "api", "at": "2027-01-15T08:00:00Z", "no_cache": True}
    response = await admin.post("/admin/diagnose", json=body)
    assert response.status_code == 200
    assert response.json() == {"code": "user_not_found", "route": "api", "token_chars": len(token)}
    assert token not in caplog.text


async def test_diagnose_failure_is_a_generic_500_without_the_exception_text(
    start_admin: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(body: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(f"cannot parse {body['token']}")

    admin = await start_admin(diagnose=broken)
    response = await admin.post("/admin/diagnose", json={"token": "secret-token-text"})
    body = assert_problem(response, 500, "internal_error")
    assert "secret-token-text" not in response.text and "cannot parse" not in response.text
    assert "detail" not in body
    assert "secret-token-text" not in caplog.text


async def test_diagnose_returns_404_when_no_diagnose_function_is_given(start_admin: AppFactory) -> None:
    admin = await start_admin(diagnose=None)
    assert_problem(await admin.post("/admin/diagnose", json={"token": "x"}), 404, "route_not_found")


async def test_an_unknown_path_is_a_404_problem(admin: AdminClient) -> None:
    assert_problem(await admin.get("/admin/nope"), 404, "route_not_found")


async def test_a_wrong_method_is_a_405_problem(admin: AdminClient) -> None:
    response = await admin.http.delete("/admin/errors")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_safe_request_id_from_the_caller_is_echoed(admin: AdminClient) -> None:
    response = await admin.http.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    response = await admin.http.get("/healthz", headers={"X-Request-ID": "bad id\twith tab"})
    assert response.headers["x-request-id"] != "bad id\twith tab"
