"""A pipeline ``Tracer`` that records each stage's outcome, timing and the facts it added."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from subwarden.errors import GatewayError
from subwarden.pipeline.context import RequestContext


@dataclass(slots=True)
class TracedStage:
    name: str
    elapsed_ns: int
    error: GatewayError | None
    facts: dict[str, Any] = field(default_factory=dict)


class RecordingTracer:
    """Swapped into the pipeline by diagnose; serving runs with no tracer at all."""

    def __init__(self) -> None:
        self.stages: list[TracedStage] = []
        self._seen: dict[str, Any] = {}

    def stage_done(self, name: str, ctx: RequestContext, elapsed_ns: int, error: GatewayError | None) -> None:
        facts = ctx.facts or {}
        added = {k: v for k, v in facts.items() if k not in self._seen or self._seen[k] is not v}
        self._seen = dict(facts)
        self.stages.append(TracedStage(name, elapsed_ns, error, added))

    def ran(self, name: str) -> TracedStage | None:
        return next((s for s in self.stages if s.name == name), None)
