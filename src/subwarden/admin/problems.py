"""Control-plane responses: JSON and RFC 9457 problem+json built from the error catalog."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from subwarden.errors import PROBLEM_TYPE_BASE, GatewayError

TYPE_BASE = PROBLEM_TYPE_BASE
REALM = "subwarden-admin"
_SAFE_ID = re.compile(r"[A-Za-z0-9._:+=@/-]{1,128}")


class AdminProblem(Exception):
    """Raised inside an endpoint to answer with ``error``'s problem; ``detail`` is shown to the admin."""

    def __init__(self, error: GatewayError, detail: str | None = None, *, bearer_error: str | None = None) -> None:
        super().__init__(error.code)
        self.error = error
        self.detail = detail
        #: RFC 6750 error attribute on a 401 ("" = bare challenge, for a request with no credentials).
        self.bearer_error = bearer_error


def request_id(request: Request) -> str:
    """The caller's X-Request-ID when it is a safe token, else a fresh one."""
    given = request.headers.get("x-request-id", "")
    return given if _SAFE_ID.fullmatch(given) else uuid.uuid4().hex


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")).encode()
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return Response(body, status_code=status, headers=all_headers, media_type="application/json")


def problem_response(
    error: GatewayError, rid: str, detail: str | None = None, *, bearer_error: str | None = None
) -> Response:
    """The problem+json answer for ``error``; never exception text, only ``detail`` when given."""
    cls = type(error)
    body: dict[str, Any] = {
        "type": TYPE_BASE + cls.code,
        "title": cls.title,
        "status": cls.status,
        "code": cls.code,
        "request_id": rid,
    }
    if detail:
        body["detail"] = detail
    headers = {"Cache-Control": "no-store", "X-Request-ID": rid}
    if cls.status == 401:
        attribute = cls.bearer_error or "invalid_token" if bearer_error is None else bearer_error
        challenge = f'Bearer realm="{REALM}"'
        headers["WWW-Authenticate"] = f'{challenge}, error="{attribute}"' if attribute else challenge
    if cls.retry_after is not None:
        headers["Retry-After"] = str(cls.retry_after)
    payload = json.dumps(body, ensure_ascii=False).encode()
    return Response(payload, status_code=cls.status, headers=headers, media_type="application/problem+json")
