"""``POST /admin/diagnose``: the --json report for a token, run inside the serving gateway (its caches).

The observe helper's admin app mounts ``admin_diagnose(gateway)``, a ``Callable[[dict], Awaitable[dict]]``.
Request body: ``{"token": …, "route": "/path", "host": …, "method": "GET", "at": ISO-or-epoch,
"no_cache": bool, "compare_config": {inline config mapping}}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.config.loader import ConfigError, parse_config
from subwarden.config.models import GatewayConfig
from subwarden.diagnose.report import error_report
from subwarden.diagnose.run import DiagnoseRequest, diagnose
from subwarden.diagnose.timeparse import parse_moment
from subwarden.pipeline.gateway import Gateway

AdminDiagnose = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class RequestInvalid(ValueError):
    """The request body cannot be diagnosed; the message is safe to return (no token in it)."""


def parse_request(body: dict[str, Any]) -> DiagnoseRequest:
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise RequestInvalid("'token' (a string) is required")
    token = token.strip().removeprefix("Bearer ").strip()
    path: str | None = _text(body, "route", _text(body, "path", "")) or None
    at = body.get("at")
    if at is not None and not isinstance(at, (str, int, float)):
        raise RequestInvalid("'at' must be ISO 8601 text or epoch seconds")
    try:
        moment = parse_moment(str(at)) if at is not None else None
    except ValueError as exc:
        raise RequestInvalid(str(exc)) from None
    if path is not None and not path.startswith("/"):
        path = "/" + path
    request = DiagnoseRequest(token, path=path, host=_text(body, "host", ""),
                              method=_text(body, "method", "GET"), at=moment, no_cache=body.get("no_cache") is True,
                              config_source="running config")
    compare = body.get("compare_config")
    if compare is not None:
        if not isinstance(compare, dict):
            raise RequestInvalid("'compare_config' must be an inline config object")
        request.compare = _parse_config(compare)
        request.compare_source = "compare_config"
    return request


def _text(body: dict[str, Any], name: str, default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise RequestInvalid(f"'{name}' must be a string")
    return value


def _parse_config(data: dict[str, Any]) -> GatewayConfig:
    try:
        return parse_config(data, "compare_config", env={})
    except ConfigError as exc:
        raise RequestInvalid(str(exc)) from None


async def diagnose_json(
    target: Gateway | GatewayConfig, body: dict[str, Any], *, clock: Clock = SYSTEM_CLOCK
) -> dict[str, Any]:
    """The --json report; a bad body or an unbuildable config gives verdict "error" (exit_code 2)."""
    try:
        request = parse_request(body)
    except RequestInvalid as exc:
        return error_report(str(exc)).to_json()
    live = target if isinstance(target, Gateway) else None
    config = target.config if isinstance(target, Gateway) else target
    try:
        report = await diagnose(config, request, live=live, clock=clock)
    except ConfigError as exc:
        return error_report(str(exc), request=request.describe()).to_json()
    return report.to_json()


def admin_diagnose(gateway: Gateway, *, clock: Clock = SYSTEM_CLOCK) -> AdminDiagnose:
    """The callable ``build_admin_app(diagnose=…)`` mounts at POST /admin/diagnose."""
    return partial(diagnose_json, gateway, clock=clock)
