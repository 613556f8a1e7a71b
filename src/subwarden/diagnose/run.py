"""Run one diagnosis: the serving pipeline (built by ``build_gateway``) with a recording tracer, then
read-only investigations, the cause analysis and the report.

With a live gateway (the admin API) the same stage objects run — same caches — unless ``at`` or
``no_cache`` asks for a fresh clock or empty caches; then a sibling gateway shares the live store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from subwarden.clock import SYSTEM_CLOCK, Clock, FrozenClock
from subwarden.config.loader import fingerprint
from subwarden.config.models import GatewayConfig
from subwarden.diagnose.analyze import analyze
from subwarden.diagnose.assemble import build_report
from subwarden.diagnose.collect import collect, negative_lookups
from subwarden.diagnose.compare import compare_with
from subwarden.diagnose.evidence import Evidence
from subwarden.diagnose.investigate import Investigator
from subwarden.diagnose.redact import Redactor
from subwarden.diagnose.report import Finding, Report
from subwarden.diagnose.tracer import RecordingTracer
from subwarden.errors import STORE_ERRORS
from subwarden.identity.stores.base import UserStore
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.gateway import Gateway
from subwarden.pipeline.stage import Pipeline

_STORE_CODES = frozenset(cls.code for cls in STORE_ERRORS)
_NEAR_MISS_CODES = frozenset({"user_not_found", "subject_missing"})


@dataclass(slots=True)
class DiagnoseRequest:
    token: str
    #: None: the first configured route's path prefix (and host), so a bare `diagnose` hits a real route.
    path: str | None = None
    host: str = ""
    method: str = "GET"
    at: float | None = None
    no_cache: bool = False
    config_source: str = "<config>"
    compare: GatewayConfig | None = None
    compare_source: str | None = None
    live: bool = field(default=False, init=False)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "host": self.host, "path": self.path, "no_cache": self.no_cache,
                "clock": "frozen" if self.at is not None else "system", "live": self.live}


def default_target(config: GatewayConfig, request: DiagnoseRequest) -> None:
    """Without a path, aim at the first configured route (its prefix, and its host if it is host-bound)."""
    if request.path is not None:
        return
    match = config.routes[0].match
    request.path = match.path_prefix
    if not request.host and match.host:
        request.host = match.host
    if match.methods and request.method.upper() not in {m.upper() for m in match.methods}:
        request.method = match.methods[0]


def request_context(request: DiagnoseRequest) -> RequestContext:
    """The request the data plane would build for this token, with facts recording switched on."""
    headers = [(b"authorization", b"Bearer " + request.token.encode("utf-8", "replace"))]
    if request.host:
        headers.append((b"host", request.host.encode("latin-1", "replace")))
    path, _, query = (request.path or "/").partition("?")
    return RequestContext(request.method.upper(), path or "/", headers, host=request.host, query=query,
                          client_ip="127.0.0.1", request_id="diagnose", facts={})


async def run_pipeline(pipeline: Pipeline, request: DiagnoseRequest) -> RequestContext:
    ctx = request_context(request)
    pending = pipeline.admit(ctx)
    if pending is not None:
        await pending
    return ctx


class Session:
    """The gateway a diagnosis runs on, and what to close afterwards."""

    def __init__(self, gateway: Gateway, pipeline: Pipeline, close: str) -> None:
        self.gateway, self.pipeline, self._close = gateway, pipeline, close

    async def close(self) -> None:
        if self._close == "all":
            await self.gateway.close()
        elif self._close == "tokens":
            await self.gateway.tokens.close()


async def open_session(config: GatewayConfig, request: DiagnoseRequest, clock: Clock, tracer: RecordingTracer,
                       live: Gateway | None, store: UserStore | None, key_fetcher: Any) -> Session:
    from subwarden.pipeline.build import build_gateway

    if live is not None and not (request.no_cache or request.at is not None):
        return Session(live, Pipeline(live.pipeline.stages, tracer), "none")
    if live is not None:
        store = live.identity.store
        key_fetcher = live.tokens.fetcher
    gateway = build_gateway(config, clock=clock, tracer=tracer, store=store, key_fetcher=key_fetcher,
                            revocations=live.identity.revocations if live is not None else None)
    await gateway.tokens.start()
    return Session(gateway, gateway.pipeline, "tokens" if store is not None else "all")


async def diagnose(
    config: GatewayConfig,
    request: DiagnoseRequest,
    *,
    live: Gateway | None = None,
    store: UserStore | None = None,
    key_fetcher: Any = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Report:
    """Diagnose one token against ``config`` (or the ``live`` gateway); build errors raise ``ConfigError``.

    ``clock`` is the time source without ``request.at`` (pass the live gateway's clock, if injected).
    """
    if request.at is not None:
        clock = FrozenClock(request.at)
    request.live = live is not None
    config = live.config if live is not None else config
    default_target(config, request)
    tracer = RecordingTracer()
    session = await open_session(config, request, clock, tracer, live, store, key_fetcher)
    try:
        ctx = await run_pipeline(session.pipeline, request)
        ev = collect(session.gateway, ctx, request.token, clock, frozen=request.at is not None)
        await investigate(session.gateway.identity.store, ev)
        compare = None
        if request.compare is not None:
            ev.compare = await compare_with(request.compare, request.compare_source or "<other>", ev, request,
                                            clock, run_pipeline)
            compare = _compare_json(ev)
        findings = analyze(ev) + _fresh_cache_note(ev, request)
        config_info = {"source": request.config_source, "fingerprint": fingerprint(config)}
        return build_report(pipeline=session.pipeline, tracer=tracer, ctx=ctx, ev=ev, findings=findings,
                            request=request.describe(), config=config_info, compare=compare,
                            redactor=Redactor(request.token))
    finally:
        await session.close()


async def investigate(store: UserStore, ev: Evidence) -> None:
    """The read-only searches the failure calls for."""
    code = ev.code
    search = Investigator(store, ev)
    if code == "user_not_found":
        await search.user_not_found(negative_lookups(ev))
    elif code == "subject_missing":
        await search.other_claims()
    elif code in _STORE_CODES:
        await search.self_test()
    elif ev.user is not None and ev.cache is not None and ev.cache.state in {"hit", "stale"}:
        await search.recheck_cached_user()


def _compare_json(ev: Evidence) -> dict[str, Any] | None:
    cmp = ev.compare
    if cmp is None:
        return None
    return {
        "source": cmp.source, "fingerprint": cmp.fingerprint, "verdict": cmp.other_verdict, "code": cmp.other_code,
        "issuer_here": cmp.issuer_here, "issuer_there": cmp.issuer_there, "store": cmp.store_there,
        "user_there": cmp.user_there.user_id if cmp.user_there else None, "problems": cmp.problems,
        "diff": cmp.diff.to_json(),
    }


def _fresh_cache_note(ev: Evidence, request: DiagnoseRequest) -> list[Finding]:
    """Outside the gateway's process the caches start empty: say so when it could hide the live answer."""
    if request.live or ev.code is not None or ev.user is None:
        return []
    return [Finding(
        "stale_negative_cache", "Caches were empty for this run",
        "This diagnosis ran in its own process, with empty caches. If the running gateway still refuses this user, "
        "its cache may hold a stale 'not found' (negative_ttl "
        f"{ev.config.identity.cache.negative_ttl} s): run diagnose with --live, or invalidate the entry.",
        [], {}, severity="info",
    )]
