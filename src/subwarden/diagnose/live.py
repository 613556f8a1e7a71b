"""Ask the running gateway (POST /admin/diagnose): its caches and its loaded config are what clients meet.

``subwarden diagnose`` does this with ``--live``, and by itself when the admin token is at hand; when
the running gateway answers differently from a fresh pipeline, its answer wins and the difference is
named (stale cache entries, a config not yet reloaded).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from subwarden.config.models import GatewayConfig
from subwarden.diagnose.report import Finding, Report, report_from_json

if TYPE_CHECKING:
    from subwarden.diagnose.run import DiagnoseRequest


class LiveUnavailable(Exception):
    """The running gateway could not be asked; ``str()`` says why (never the token)."""


def admin_url(cfg: GatewayConfig) -> str:
    host = "127.0.0.1" if cfg.admin.host in {"0.0.0.0", "::", ""} else cfg.admin.host
    return f"http://{host}:{cfg.admin.port}/admin/diagnose"


def can_ask(cfg: GatewayConfig) -> bool:
    return cfg.admin.enabled and bool(os.environ.get(cfg.admin.token_env))


def ask(cfg: GatewayConfig, request: DiagnoseRequest, *, timeout: float = 30.0) -> Report:
    """The running gateway's report for ``request``."""
    import httpx

    secret = os.environ.get(cfg.admin.token_env)
    if not secret:
        raise LiveUnavailable(f"the admin token is not in ${cfg.admin.token_env}")
    url = admin_url(cfg)
    body = {"token": request.token, "host": request.host, "method": request.method, "at": request.at,
            "no_cache": request.no_cache}
    if request.path is not None:
        body["route"] = request.path
    try:
        response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {secret}"},
                              timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)))
    except httpx.HTTPError as exc:
        raise LiveUnavailable(f"cannot reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise LiveUnavailable(f"{url} answered {response.status_code}")
    return report_from_json(response.json())


def reconcile(local: Report, live: Report, source: str) -> Report:
    """``live`` when it differs from the fresh pipeline's ``local`` answer (with the difference named)."""
    notes: list[Finding] = []
    here, there = local.config.get("fingerprint"), live.config.get("fingerprint")
    if here != there:
        notes.append(Finding(
            "running_config_differs", "The running gateway runs another config",
            f"{source} has fingerprint {here}, the running gateway {there}: it was not reloaded after the change, or "
            "it was started from another file.",
            ["Reload or restart the gateway with this file (or diagnose with the file it runs); compare them with "
             "`subwarden config diff`."],
            {"file_fingerprint": here, "running_fingerprint": there}, severity="warning",
        ))
    if local.code != live.code:
        notes.append(_differs(local, live, source))
    if not notes:
        return local
    chosen = live if local.code != live.code else local
    chosen.findings += notes
    chosen.request["live"] = True
    return chosen


def _differs(local: Report, live: Report, source: str) -> Finding:
    fresh = local.code or "allowed"
    running = live.code or "allowed"
    user = (local.identity or {}).get("user") or {}
    fix = ["The running gateway answers from its caches: invalidate them (POST /admin/cache/invalidate "
           + (f'{{"user_id": "{user["id"]}"}}' if user.get("id") else '{"subject": …, "issuer": …}')
           + ") or wait for the cache TTL."]
    return Finding(
        "live_gateway_differs", f"The running gateway answers {running}; a fresh pipeline answers {fresh}",
        f"A pipeline built from {source} with empty caches gives {fresh}, but the running gateway — with its caches "
        f"and loaded config — gives {running}. Clients see {running}.",
        fix, {"fresh": fresh, "running": running}, severity="warning",
    )
