"""Test gateway for the data plane: a real Pipeline of RouteStage + a stage scripted by request headers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import Any

from subwarden.config import parse_config
from subwarden.config.models import GatewayConfig
from subwarden.errors import BY_CODE
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.gateway import Gateway, Recorder, discard_record
from subwarden.pipeline.routing import RouteStage, RouteTable
from subwarden.pipeline.stage import Pipeline


class ScriptedStage:
    """Does what the x-test-* request headers say: raise a catalog error, wait, set identity, crash."""

    name = "scripted"

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        script = {n.decode(): v.decode() for n, v in ctx.headers if n.startswith(b"x-test-")}
        if "x-test-crash" in script:
            raise RuntimeError("scripted crash with a secret detail")
        if "x-test-error" in script:
            raise BY_CODE[script["x-test-error"]]("scripted failure")
        if "x-test-shadow" in script:
            ctx.shadow_error = BY_CODE[script["x-test-shadow"]]("scripted shadow")
        ctx.anonymous = "x-test-anonymous" in script
        if "x-test-identity" in script:
            ctx.identity_headers = [(b"X-User-Id", b"alice"), (b"X-User-Roles", b"admin,ops")]
        if "x-test-bad-identity" in script:
            ctx.identity_headers = [(b"X-User-Id", b"alice\r\nX-Injected: 1")]
        if "x-test-pid" in script:
            ctx.identity_headers = [*ctx.identity_headers, (b"X-Worker-Pid", str(os.getpid()).encode())]
        if "x-test-wait" in script:
            return asyncio.sleep(float(script["x-test-wait"]))
        return None


def routes(echo: int, dead: int, blackhole: int) -> list[dict[str, Any]]:
    target = f"http://127.0.0.1:{echo}"
    return [
        {"name": "default", "upstream": {"targets": [target]}},
        {
            "name": "anon",
            "match": {"path_prefix": "/anon"},
            "upstream": {"targets": [target]},
            "auth": {"unknown_user": "anonymous"},
            "headers": {"strip": ["X-Secret"], "set_from_claims": {"X-Claim-Email": "email"}},
        },
        {"name": "noauthz", "match": {"path_prefix": "/noauthz"}, "upstream": {"targets": [target]},
         "headers": {"forward_authorization": False}},
        {"name": "prefixed", "match": {"path_prefix": "/svc"},
         "upstream": {"targets": [f"{target}/base"], "strip_prefix": True}},
        {"name": "small", "match": {"path_prefix": "/small"}, "upstream": {"targets": [target]}, "max_body_bytes": 10},
        {"name": "rr", "match": {"path_prefix": "/rr"},
         "upstream": {"targets": [f"{target}/one", f"{target}/two"]}},
        {"name": "dead", "match": {"path_prefix": "/dead"}, "upstream": {"targets": [f"http://127.0.0.1:{dead}"]}},
        {"name": "blackhole", "match": {"path_prefix": "/blackhole"},
         "upstream": {"targets": [f"http://127.0.0.1:{blackhole}"], "connect_timeout": 0.3}},
        {"name": "impatient", "match": {"path_prefix": "/impatient"},
         "upstream": {"targets": [target], "read_timeout": 0.3, "strip_prefix": True}},
    ]


def make_config(echo: int, dead: int = 1, blackhole: int = 1, **sections: Any) -> GatewayConfig:
    raw: dict[str, Any] = {
        "issuers": [{"issuer": "https://idp.test", "keys": {"jwks_uri": "http://127.0.0.1:1/jwks"}}],
        "routes": routes(echo, dead, blackhole),
        "records": {"sqlite": None},
        "admin": {"enabled": False},
    }
    raw.update(sections)
    return parse_config(raw, env={})


def make_gateway(config: GatewayConfig, record: Recorder = discard_record) -> Gateway:
    table = RouteTable.from_config(config)
    return Gateway(
        config=config,
        fingerprint="test",
        routes=table,
        pipeline=Pipeline([RouteStage(table), ScriptedStage()]),
        record=record,
    )
