"""``--compare-config``: run the same token through the other environment's config and compare."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from subwarden.clock import Clock
from subwarden.config.diff import diff_configs
from subwarden.config.loader import ConfigError, fingerprint
from subwarden.config.models import GatewayConfig
from subwarden.diagnose.evidence import CompareEvidence, Evidence, Lookup
from subwarden.errors import GatewayError
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.stage import Pipeline

if TYPE_CHECKING:
    from subwarden.diagnose.run import DiagnoseRequest
    from subwarden.pipeline.gateway import Gateway

Runner = Callable[[Pipeline, "DiagnoseRequest"], Awaitable[RequestContext]]


def _issuers(config: GatewayConfig) -> set[str]:
    return {i.issuer for i in config.issuers}


async def compare_with(other: GatewayConfig, source: str, ev: Evidence, request: DiagnoseRequest, clock: Clock,
                       run: Runner) -> CompareEvidence:
    """What ``other`` says about the token: its verdict, whether it trusts the issuer, whether it finds the user."""
    from subwarden.pipeline.build import build_gateway

    iss = (ev.claims or {}).get("iss")
    cmp = CompareEvidence(source, fingerprint(other), iss in _issuers(ev.config), iss in _issuers(other),
                          diff_configs(ev.config, other))
    try:
        gateway = build_gateway(other, clock=clock)
    except ConfigError as exc:
        cmp.problems.append(f"cannot build {source}: {exc}")
        return cmp
    try:
        await gateway.tokens.start()
        ctx = await run(gateway.pipeline, request)
        cmp.other_code = ctx.error.code if ctx.error else None
        cmp.other_verdict = "denied" if ctx.error else "allowed"
        cmp.store_there = gateway.identity.store.identity
        await _find_user(gateway, ctx, ev, cmp)
    finally:
        await gateway.close()
    return cmp


async def _find_user(gateway: Gateway, ctx: RequestContext, ev: Evidence, cmp: CompareEvidence) -> None:
    if ctx.user is not None:
        cmp.user_there = ctx.user
        cmp.user_there_lookup = Lookup(ctx.mapping_claim or "?", _attribute(ctx), ctx.subject_key or "", ctx.subject)
        return
    if ev.code not in {"user_not_found", "subject_missing"}:
        return
    store, lookup_fields = gateway.identity.store, gateway.config.identity.store.lookup
    for lk in ev.lookups:
        if lk.attribute not in lookup_fields:
            continue
        users = await _lookup(store, lk.attribute, lk.key, gateway.config.identity.store.timeout, cmp)
        if users:
            cmp.user_there, cmp.user_there_lookup = users[0], lk
            return


def _attribute(ctx: RequestContext) -> str:
    rule = ctx.mapping_rule or ""
    return rule.split("→", 1)[1] if "→" in rule else "?"


async def _lookup(store: Any, attribute: str, key: str, timeout: float, cmp: CompareEvidence) -> list[Any]:
    try:
        async with asyncio.timeout(max(timeout, 1.0)):
            users: list[Any] = await store.lookup(attribute, key)
            return users
    except (GatewayError, TimeoutError) as exc:
        cmp.problems.append(f"lookup in the other store failed: {getattr(exc, 'code', 'store_timeout')}")
    except Exception as exc:  # noqa: BLE001 - a broken search must not stop the diagnosis
        cmp.problems.append(f"lookup in the other store failed: {type(exc).__name__}")
    return []
