"""The assembled gateway: pipeline + runtimes + recorder, built once from validated config.

``build_gateway`` is the single place where config becomes running objects. Both
``serve`` and ``diagnose`` call it; only the injected collaborators differ
(tracer, recorder, clock, store, key fetcher).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from subwarden.config.models import GatewayConfig
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.routing import RouteTable
from subwarden.pipeline.stage import Pipeline

Recorder = Callable[[RequestContext], None]


def discard_record(ctx: RequestContext) -> None:
    """A recorder that keeps nothing (tests, diagnose)."""


@dataclass(eq=False)
class Gateway:
    config: GatewayConfig
    fingerprint: str
    routes: RouteTable
    pipeline: Pipeline
    #: Called once per request after the response (success or failure); must not block.
    record: Recorder = discard_record
    #: Runtimes with start()/close() (token key refresh, store pools, record writers).
    runtimes: list[Any] = field(default_factory=list)
    #: The token runtime (tokens.build.TokenRuntime) and identity runtime (identity.build.IdentityRuntime).
    tokens: Any = None
    identity: Any = None

    async def start(self) -> None:
        for runtime in self.runtimes:
            await runtime.start()

    async def close(self) -> None:
        for runtime in reversed(self.runtimes):
            await runtime.close()
