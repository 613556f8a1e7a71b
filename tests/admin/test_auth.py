"""The admin API needs the bearer token from admin.token_env; without that variable it is disabled."""

from __future__ import annotations

import httpx
import pytest
from admin_support import ADMIN_TOKEN, AdminClient, AppFactory, assert_problem

pytestmark = pytest.mark.asyncio(loop_scope="module")


ADMIN_ENDPOINTS = [
    ("GET", "/admin/errors"),
    ("GET", "/admin/config"),
    ("POST", "/admin/cache/invalidate"),
    ("POST", "/admin/revocations"),
    ("GET", "/admin/records"),
    ("POST", "/admin/diagnose"),
]


async def call(admin: AdminClient, method: str, path: str, token: str | None) -> httpx.Response:
    if method == "GET":
        return await admin.get(path, token=token)
    return await admin.post(path, token=token, json={"all": True})


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
async def test_returns_503_admin_disabled_if_the_token_variable_is_unset(
    start_admin: AppFactory, method: str, path: str
) -> None:
    admin = await start_admin(environ={})
    response = await call(admin, method, path, ADMIN_TOKEN)
    body = assert_problem(response, 503, "admin_disabled")
    assert "SUBWARDEN_TEST_ADMIN_TOKEN" in body["detail"]


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
async def test_returns_401_if_no_token_is_sent(admin: AdminClient, method: str, path: str) -> None:
    response = await call(admin, method, path, None)
    assert_problem(response, 401, "admin_unauthorized")
    assert response.headers["www-authenticate"] == 'Bearer realm="subwarden-admin"'


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
async def test_returns_401_if_the_token_is_wrong(admin: AdminClient, method: str, path: str) -> None:
    response = await call(admin, method, path, ADMIN_TOKEN + "x")
    assert_problem(response, 401, "admin_unauthorized")
    assert response.headers["www-authenticate"].endswith('error="invalid_token"')


async def test_returns_401_if_the_right_token_comes_with_another_scheme(admin: AdminClient) -> None:
    response = await admin.http.get("/admin/errors", headers={"Authorization": f"Basic {ADMIN_TOKEN}"})
    assert_problem(response, 401, "admin_unauthorized")


async def test_returns_200_with_the_right_token_and_a_case_insensitive_scheme(admin: AdminClient) -> None:
    response = await admin.http.get("/admin/errors", headers={"Authorization": f"bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_health_and_metrics_need_no_token(start_admin: AppFactory, path: str) -> None:
    admin = await start_admin(environ={})
    assert (await admin.get(path, token=None)).status_code == 200
