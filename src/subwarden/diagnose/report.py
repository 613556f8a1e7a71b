"""The diagnosis as data: stages, verdict, the named cause with its fix; ``to_json`` is the stable --json form.

The JSON structure is documented in docs/diagnose.md and described by ``report.schema.json``
(shipped in this package); bump ``SCHEMA_VERSION`` on any incompatible change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from importlib import resources
from typing import Any, Literal

from subwarden.diagnose.catalog import cause_info

SCHEMA_VERSION = 1
Verdict = Literal["allowed", "denied", "error"]
StageStatus = Literal["ok", "failed", "skipped"]
Severity = Literal["cause", "warning", "info"]

EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR = 0, 1, 2


@dataclass(slots=True)
class ErrorInfo:
    """A catalogued failure as diagnose shows it (the operator hint and detail, not just the code)."""

    code: str
    status: int
    stage: str
    title: str
    hint: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "status": self.status,
            "stage": self.stage,
            "title": self.title,
            "hint": self.hint,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(slots=True)
class StageResult:
    name: str
    status: StageStatus
    elapsed_ms: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    error: ErrorInfo | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "elapsed_ms": self.elapsed_ms,
            "facts": self.facts,
            "error": self.error.to_json() if self.error else None,
        }


@dataclass(slots=True)
class Finding:
    """One named cause (or warning) with plain-words explanation, fix steps and the evidence behind it."""

    id: str
    title: str
    explanation: str
    fix: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "cause"

    @property
    def guide_cause(self) -> int | None:
        return cause_info(self.id).guide_cause

    @property
    def doc(self) -> str:
        return cause_info(self.id).page

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "guide_cause": self.guide_cause,
            "title": self.title,
            "explanation": self.explanation,
            "fix": list(self.fix),
            "evidence": self.evidence,
            "doc": self.doc,
        }


@dataclass(slots=True)
class Report:
    verdict: Verdict
    code: str | None = None
    status: int | None = None
    failed_stage: str | None = None
    outcome: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    token: dict[str, Any] | None = None
    stages: list[StageResult] = field(default_factory=list)
    identity: dict[str, Any] | None = None
    upstream: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)
    compare: dict[str, Any] | None = None
    problem: str | None = None

    @property
    def exit_code(self) -> int:
        return {"allowed": EXIT_ALLOWED, "denied": EXIT_DENIED}.get(self.verdict, EXIT_ERROR)

    @property
    def cause(self) -> Finding | None:
        return next((f for f in self.findings if f.severity == "cause"), None)

    def to_json(self) -> dict[str, Any]:
        cause = self.cause
        data = {
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "code": self.code,
            "status": self.status,
            "failed_stage": self.failed_stage,
            "outcome": self.outcome,
            "cause": cause.to_json() if cause else None,
            "findings": [f.to_json() for f in self.findings],
            "stages": [s.to_json() for s in self.stages],
            "request": self.request,
            "config": self.config,
            "token": self.token,
            "identity": self.identity,
            "upstream": self.upstream,
            "compare": self.compare,
            "problem": self.problem,
        }
        return jsonable(data)  # type: ignore[no-any-return]


def report_from_json(data: dict[str, Any]) -> Report:
    """Rebuild a ``Report`` from its JSON form (e.g. returned by POST /admin/diagnose) for rendering."""
    findings = [Finding(f["id"], f["title"], f["explanation"], list(f["fix"]), dict(f["evidence"]), f["severity"])
                for f in data.get("findings") or []]
    stages = [StageResult(s["name"], s["status"], s.get("elapsed_ms"), dict(s.get("facts") or {}),
                          ErrorInfo(**s["error"]) if s.get("error") else None)
              for s in data.get("stages") or []]
    return Report(
        verdict=data.get("verdict", "error"), code=data.get("code"), status=data.get("status"),
        failed_stage=data.get("failed_stage"), outcome=data.get("outcome"), request=data.get("request") or {},
        config=data.get("config") or {}, token=data.get("token"), stages=stages, identity=data.get("identity"),
        upstream=data.get("upstream"), findings=findings, compare=data.get("compare"), problem=data.get("problem"),
    )


def jsonable(value: Any) -> Any:
    """Plain JSON data: datetimes as ISO 8601, enums by value, bytes as text, unknown objects as str."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def error_report(problem: str, *, request: dict[str, Any] | None = None) -> Report:
    """A config or usage error (exit 2): nothing ran, ``problem`` says why."""
    return Report(verdict="error", problem=problem, request=request or {})


def load_schema() -> dict[str, Any]:
    """The JSON Schema of ``Report.to_json()``, shipped as package data."""
    text = resources.files("subwarden.diagnose").joinpath("report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
