"""The control plane: a Starlette app (health, readiness, metrics, authenticated admin API) on its own port."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from subwarden.admin.api import AdminApi
from subwarden.admin.auth import AdminAuth
from subwarden.admin.health import ReadinessProbe
from subwarden.admin.problems import AdminProblem, json_response, problem_response, request_id
from subwarden.admin.protocols import (
    CacheControl,
    Diagnose,
    RecordSearch,
    RecordStats,
    RevocationControl,
    StoreSelfTest,
)
from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.config.models import GatewayConfig
from subwarden.errors import AdminRequestInvalid, GatewayError, InternalError, RouteNotFound
from subwarden.observe.metrics import GatewayMetrics

log = logging.getLogger("subwarden.admin")

Handler = Callable[[Request], Awaitable[Response]]


def build_admin_app(
    config: GatewayConfig,
    fingerprint: str,
    *,
    metrics: GatewayMetrics | None = None,
    store: StoreSelfTest | None = None,
    records: RecordStats | None = None,
    record_search: RecordSearch | None = None,
    cache: CacheControl | None = None,
    revocations: RevocationControl | None = None,
    diagnose: Diagnose | None = None,
    clock: Clock = SYSTEM_CLOCK,
    environ: Mapping[str, str] | None = None,
    self_test_timeout: float = 5.0,
    self_test_ttl: float = 2.0,
) -> Starlette:
    """The control-plane app; every collaborator is optional and its endpoints answer 404 without it."""
    auth = AdminAuth(config.admin.token_env, environ)
    probe = ReadinessProbe(
        store, records, clock=clock, fingerprint=fingerprint, canary=config.identity.store.canary_subject,
        timeout=self_test_timeout, ttl=self_test_ttl,
    )
    api = AdminApi(config, fingerprint, clock=clock, cache=cache, revocations=revocations,
                   records=record_search, diagnose=diagnose)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "alive"})

    async def readyz(request: Request) -> Response:
        report = await probe.check()
        return json_response(report, status=200 if report["ready"] else 503)

    async def metrics_view(request: Request) -> Response:
        if metrics is None:
            raise AdminProblem(RouteNotFound(), "metrics are not enabled")
        body, content_type = metrics.exposition()
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    def public(handler: Handler) -> Handler:
        return _guarded(handler, None)

    def admin(handler: Handler) -> Handler:
        return _guarded(handler, auth)

    routes = [
        Route("/healthz", public(healthz), methods=["GET"]),
        Route("/readyz", public(readyz), methods=["GET"]),
        Route("/metrics", public(metrics_view), methods=["GET"]),
        Route("/admin/errors", admin(api.errors), methods=["GET"]),
        Route("/admin/config", admin(api.config_view), methods=["GET"]),
        Route("/admin/cache/invalidate", admin(api.invalidate_cache), methods=["POST"]),
        Route("/admin/revocations", admin(api.revoke), methods=["POST"]),
        Route("/admin/records", admin(api.list_records), methods=["GET"]),
        Route("/admin/diagnose", admin(api.diagnose), methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})


def _guarded(handler: Handler, auth: AdminAuth | None) -> Handler:
    """Authenticate (admin endpoints), run, and turn every failure into problem+json, never a traceback."""

    async def endpoint(request: Request) -> Response:
        rid = request_id(request)
        try:
            if auth is not None:
                auth.check(request)
            response = await handler(request)
        except AdminProblem as problem:
            return problem_response(problem.error, rid, problem.detail, bearer_error=problem.bearer_error)
        except Exception as exc:  # noqa: BLE001 - the client gets a generic 500 and the log only the type
            log.error("admin endpoint %s failed: %s", request.url.path, type(exc).__name__)
            return problem_response(InternalError(), rid)
        response.headers["X-Request-ID"] = rid
        return response

    return endpoint


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods, as problem+json."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    error: GatewayError = RouteNotFound() if status == 404 else AdminRequestInvalid()
    response = problem_response(error, request_id(request), None if status == 404 else f"HTTP {status}")
    response.status_code = status
    return response
