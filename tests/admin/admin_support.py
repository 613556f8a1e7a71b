"""Helpers shared by the admin tests (a unique module name, unlike conftest)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

TOKEN_ENV = "SUBWARDEN_TEST_ADMIN_TOKEN"
ADMIN_TOKEN = "admin-test-token-4f1c2a"


class AdminClient:
    """An HTTP client for the admin server that adds the admin token unless told otherwise."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, path: str, *, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, headers=_auth(token), **kwargs)

    async def post(self, path: str, *, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        return await self.http.post(path, headers=_auth(token), **kwargs)


AppFactory = Callable[..., Awaitable[AdminClient]]


class SwitchApp:
    """An ASGI app forwarding to whichever admin app the current test built (one server per module)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is problem+json with ``status`` and ``code``, and carries no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body
