"""Parsing admin API input: JSON bodies, times, issuers, record filters. Errors name the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from subwarden.admin.problems import AdminProblem
from subwarden.config.models import GatewayConfig, IssuerConfig
from subwarden.errors import AdminRequestInvalid
from subwarden.observe.query import MAX_LIMIT, RecordQuery

MAX_BODY = 64 * 1024


def invalid(detail: str) -> AdminProblem:
    return AdminProblem(AdminRequestInvalid(), detail)


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (at most 64 KiB)."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise invalid(f"the body exceeds {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise invalid("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON object")
    return data


def text_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise invalid(f"{name!r} must be a non-empty string")
    return value


def parse_time(value: Any, name: str) -> float:
    """Epoch seconds from a number or an ISO 8601 text (naive times are UTC)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(f"{name!r} must be epoch seconds or an ISO 8601 time") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise invalid(f"{name!r} must be epoch seconds or an ISO 8601 time")


def find_issuer(config: GatewayConfig, value: Any) -> IssuerConfig:
    """The configured issuer named by its label or its exact iss URL."""
    if isinstance(value, str):
        for issuer in config.issuers:
            if value in (issuer.label, issuer.issuer):
                return issuer
    labels = ", ".join(i.label for i in config.issuers)
    raise invalid(f"'issuer' must be a configured issuer (label or iss); known: {labels}")


def record_query(request: Request) -> RecordQuery:
    params = request.query_params
    unknown = set(params) - {"since", "code", "route", "limit", "request_id", "subject_hash", "user_id"}
    if unknown:
        raise invalid(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    since = parse_time(params["since"], "since") if "since" in params else None
    try:
        limit = int(params.get("limit", "100"))
    except ValueError:
        raise invalid("'limit' must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"'limit' must be between 1 and {MAX_LIMIT}")
    return RecordQuery(
        since=since,
        code=params.get("code"),
        route=params.get("route"),
        limit=limit,
        request_id=params.get("request_id"),
        subject_hash=params.get("subject_hash"),
        user_id=params.get("user_id"),
    )
