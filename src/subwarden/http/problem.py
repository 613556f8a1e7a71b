"""RFC 9457 problem responses for catalogued errors, pre-rendered per error class and policy."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from http import HTTPStatus

from subwarden.config.models import ErrorPolicy
from subwarden.errors import (
    PROBLEM_TYPE_BASE,
    GatewayError,
    InsufficientRole,
    UserDeleted,
    UserDisabled,
    UserLocked,
    UserNotFound,
)

TYPE_BASE = PROBLEM_TYPE_BASE
_INACTIVE = (UserDisabled, UserLocked, UserDeleted)
_SAFE_ID = re.compile(r"[A-Za-z0-9._:+=@/-]{1,128}")
_QUOTED_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')


def status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


def problem_status(cls: type[GatewayError], policy: ErrorPolicy) -> int:
    """The status a client sees for ``cls`` under ``policy``."""
    if issubclass(cls, UserNotFound):
        return policy.user_not_found_status
    if issubclass(cls, _INACTIVE):
        return policy.inactive_user_status
    return cls.status


def www_authenticate(cls: type[GatewayError], status: int, realm: str) -> str | None:
    """RFC 6750 challenge: every 401, and 403 insufficient_scope; None when no header is due."""
    if status == 401:
        error = cls.bearer_error if cls.bearer_error is not None else "invalid_token"
    elif status == 403 and issubclass(cls, InsufficientRole):
        error = "insufficient_scope"
    else:
        return None
    challenge = f'Bearer realm="{_QUOTED_UNSAFE.sub("", realm)}"'
    return f'{challenge}, error="{error}"' if error else challenge


class _Template:
    """The parts of one class's response that do not depend on the request."""

    __slots__ = ("body_prefix", "head", "status")

    def __init__(self, cls: type[GatewayError], policy: ErrorPolicy) -> None:
        self.status = problem_status(cls, policy)
        lines = [
            status_line(self.status).decode("latin-1"),
            "Content-Type: application/problem+json\r\n",
            "Cache-Control: no-store\r\n",
        ]
        challenge = www_authenticate(cls, self.status, policy.realm)
        if challenge is not None:
            lines.append(f"WWW-Authenticate: {challenge}\r\n")
        if cls.retry_after is not None:
            lines.append(f"Retry-After: {cls.retry_after}\r\n")
        self.head = "".join(lines).encode("latin-1")
        fields = {"type": TYPE_BASE + cls.code, "title": cls.title, "status": self.status, "code": cls.code}
        self.body_prefix = json.dumps(fields)[:-1].encode() + b', "request_id": '


class ProblemRenderer:
    """Renders ``GatewayError``s as complete HTTP/1.1 responses (head and body bytes)."""

    __slots__ = ("_policy", "_templates")

    def __init__(self, policy: ErrorPolicy) -> None:
        self._policy = policy
        self._templates: dict[type[GatewayError], _Template] = {}

    def status(self, err: GatewayError) -> int:
        return self._template(type(err)).status

    def render(self, err: GatewayError, request_id: str, *, close: bool = False, head_only: bool = False) -> bytes:
        """Full response bytes; ``head_only`` for HEAD requests (same headers, no body)."""
        template = self._template(type(err))
        if not _SAFE_ID.fullmatch(request_id):
            request_id = "-"
        body = template.body_prefix + json.dumps(request_id).encode()
        if self._policy.disclose_detail:
            body += b', "detail": ' + json.dumps(err.reason).encode()
        body += b"}"
        head = b"%sContent-Length: %d\r\nX-Request-ID: %s\r\n%s\r\n" % (
            template.head,
            len(body),
            request_id.encode(),
            b"Connection: close\r\n" if close else b"",
        )
        return head if head_only else head + body

    def _template(self, cls: type[GatewayError]) -> _Template:
        template = self._templates.get(cls)
        if template is None:
            template = self._templates[cls] = _Template(cls, self._policy)
        return template


@lru_cache(maxsize=16)
def renderer_for(policy: ErrorPolicy) -> ProblemRenderer:
    return ProblemRenderer(policy)


def problem_response(
    err: GatewayError, request_id: str, policy: ErrorPolicy, *, close: bool = False, head_only: bool = False
) -> bytes:
    """The full ``application/problem+json`` response for ``err`` (head + body bytes)."""
    return renderer_for(policy).render(err, request_id, close=close, head_only=head_only)
