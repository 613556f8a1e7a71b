"""Build the ``Report`` from the traced run, the evidence and the findings; redact it on the way out."""

from __future__ import annotations

from typing import Any

from subwarden.diagnose.dryrun import would_send
from subwarden.diagnose.evidence import Evidence
from subwarden.diagnose.redact import Redactor
from subwarden.diagnose.report import ErrorInfo, Finding, Report, StageResult
from subwarden.diagnose.tracer import RecordingTracer
from subwarden.diagnose.words import timestamp
from subwarden.errors import GatewayError
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.stage import Pipeline


def error_info(err: GatewayError, status: int) -> ErrorInfo:
    return ErrorInfo(err.code, status, err.stage, err.title, err.hint, err.reason, dict(err.detail))


def http_status(err: GatewayError, ev: Evidence) -> int:
    """The status the data plane answers with, under this config's error policy."""
    from subwarden.http.problem import problem_status

    return problem_status(type(err), ev.config.errors)


def stage_results(pipeline: Pipeline, tracer: RecordingTracer, ctx: RequestContext, ev: Evidence) -> list[StageResult]:
    results = []
    for stage in pipeline.stages:
        traced = tracer.ran(stage.name)
        if traced is None:
            results.append(StageResult(stage.name, "skipped"))
            continue
        facts = _own_facts(stage.name, traced.facts)
        facts.update(_derived_facts(stage.name, ctx))
        error = error_info(traced.error, http_status(traced.error, ev)) if traced.error else None
        results.append(StageResult(stage.name, "failed" if error else "ok", round(traced.elapsed_ns / 1e6, 3),
                                   facts, error))
    return results


def _own_facts(stage: str, facts: dict[str, Any]) -> dict[str, Any]:
    """A stage's facts with its own ``stage.`` prefix dropped (``verify.alg`` → ``alg`` under verify)."""
    prefix = f"{stage}."
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in facts.items()}


def _derived_facts(stage: str, ctx: RequestContext) -> dict[str, Any]:
    """Facts read from the context slots a stage filled, where the stage itself records none."""
    if stage == "route" and ctx.route is not None:
        return {"upstream": [f"http://{t.authority}{t.path_prefix}" for t in ctx.route.targets]}
    if stage == "resolve" and ctx.user is not None:
        user = ctx.user
        return {"user": {"id": user.user_id, "status": user.status.value, "status_since": user.status_since,
                         "roles": list(user.roles)}}
    if stage == "authorize" and ctx.route is not None and ctx.error is None:
        return {"roles": list(ctx.roles)}
    return {}


def token_section(ev: Evidence) -> dict[str, Any] | None:
    if ev.header is None and ev.claims is None:
        return {"shape": ev.token_shape, "verified": False, "header": {}, "claims": {}, "claim_names": []}
    return {
        "shape": ev.token_shape,
        "verified": ev.claims_verified,
        "header": dict(ev.header or {}),
        "claims": dict(ev.claims or {}),
        "claim_names": ev.claim_names,
    }


def identity_section(ctx: RequestContext, ev: Evidence) -> dict[str, Any] | None:
    if not ev.lookups and ctx.user is None:
        return None
    user = ctx.user
    return {
        "subject": ctx.subject,
        "subject_key": ctx.subject_key,
        "mapping_rule": ctx.mapping_rule,
        "mapping_fallback": ctx.mapping_fallback,
        "lookups": [{"claim": lk.claim, "attribute": lk.attribute, "key": lk.key, "query": lk.query}
                    for lk in ev.lookups],
        "store": ev.store_identity,
        "cache": {"state": ctx.cache_state, "age_s": ctx.cache_age},
        "user": None if user is None else {
            "id": user.user_id, "status": user.status.value, "status_since": user.status_since,
            "roles": list(user.roles), "attributes": dict(user.attributes),
        },
    }


def outcome(ctx: RequestContext) -> str:
    if ctx.error is not None:
        return "denied"
    if ctx.shadow_error is not None:
        return "shadow"
    return "anonymous" if ctx.anonymous else "allowed"


def build_report(
    *, pipeline: Pipeline, tracer: RecordingTracer, ctx: RequestContext, ev: Evidence, findings: list[Finding],
    request: dict[str, Any], config: dict[str, Any], compare: dict[str, Any] | None, redactor: Redactor,
) -> Report:
    err = ctx.error
    report = Report(
        verdict="denied" if err else "allowed",
        code=err.code if err else None,
        status=http_status(err, ev) if err else None,
        failed_stage=ctx.failed_stage,
        outcome=outcome(ctx),
        request={**request, "at": timestamp(ev.now)},
        config=config,
        token=token_section(ev),
        stages=stage_results(pipeline, tracer, ctx, ev),
        identity=identity_section(ctx, ev),
        upstream=would_send(ctx),
        findings=findings,
        compare=compare,
    )
    return redact_report(report, redactor)


def redact_report(report: Report, redactor: Redactor) -> Report:
    """Apply ``redactor`` to every free-form part of the report, in place."""
    for stage in report.stages:
        stage.facts = redactor(stage.facts)
        if stage.error:
            stage.error.detail = redactor(stage.error.detail)
            stage.error.reason = redactor.text(stage.error.reason)
    for f in report.findings:
        f.title, f.explanation = redactor.text(f.title), redactor.text(f.explanation)
        f.fix, f.evidence = [redactor.text(s) for s in f.fix], redactor(f.evidence)
    report.token = redactor(report.token)
    report.identity = redactor(report.identity)
    report.upstream = redactor(report.upstream)
    report.compare = redactor(report.compare)
    report.request = redactor(report.request)
    return report
