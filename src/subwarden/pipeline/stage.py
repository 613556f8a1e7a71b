"""The stage contract and the pipeline runner.

A stage's ``run(ctx)`` returns None when it finished synchronously, or an
awaitable when it must wait (a store lookup, a JWKS fetch). The runner stays
synchronous until a stage actually needs to wait, so a request whose token and
user are cached never creates a task or coroutine.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from time import perf_counter_ns
from typing import TYPE_CHECKING, Protocol

from subwarden.errors import GatewayError, InternalError
from subwarden.pipeline.context import RequestContext

if TYPE_CHECKING:
    # The one memo: typed concretely so the compiled build calls it directly (through a
    # protocol, ``replay`` was a Python-level method call on every request, ~450 instructions).
    from subwarden.pipeline.memo import AdmissionMemo

log = logging.getLogger("subwarden.pipeline")


class Stage(Protocol):
    name: str

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        """Read earlier slots, fill this stage's slot, or raise one ``GatewayError``."""


class Tracer(Protocol):
    """Observes each stage (diagnose swaps in a recording tracer; serving uses none)."""

    def stage_done(self, name: str, ctx: RequestContext, elapsed_ns: int, error: GatewayError | None) -> None: ...


class Pipeline:
    """Runs the admission stages (route → … → enrich) for one request.

    Failures are not raised to the caller: they land in ``ctx.error`` and
    ``ctx.failed_stage``, so the data plane and diagnose handle them alike.
    """

    __slots__ = ("_steps", "memo", "stages", "tracer")

    def __init__(
        self, stages: Sequence[Stage], tracer: Tracer | None = None, memo: AdmissionMemo | None = None
    ) -> None:
        self.stages: tuple[Stage, ...] = tuple(stages)
        self.tracer = tracer
        #: Replays admitted requests' results (pipeline.memo); never used while a tracer is set.
        self.memo = memo
        #: (bound run, name) per stage, looked up once instead of twice per stage per request.
        self._steps = tuple((stage.run, stage.name) for stage in self.stages)

    def admit(self, ctx: RequestContext) -> Awaitable[None] | None:
        """Run the stages; None if done synchronously, else an awaitable finishing the rest."""
        memo = self.memo
        if memo is not None and ctx.facts is None and self.tracer is None and memo.replay(ctx):
            return None
        return self._run_from(ctx, 0)

    def _run_from(self, ctx: RequestContext, start: int) -> Awaitable[None] | None:
        # One clock read per stage boundary: a stage's end is the next stage's start.
        steps = self._steps
        timings = ctx.timings
        tracer = self.tracer
        t0 = perf_counter_ns()
        for index in range(start, len(steps)):
            run, name = steps[index]
            try:
                pending = run(ctx)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a coded error
                self._fail(ctx, self.stages[index], exc, t0)
                return None
            if pending is not None:
                return self._finish_async(ctx, index, pending, t0)
            t1 = perf_counter_ns()
            timings[name] = t1 - t0
            if tracer is not None:
                tracer.stage_done(name, ctx, t1 - t0, None)
            t0 = t1
        if self.memo is not None and tracer is None:
            self.memo.learn(ctx)
        return None

    async def _finish_async(
        self, ctx: RequestContext, index: int, pending: Awaitable[None], t0: int
    ) -> None:
        stage = self.stages[index]
        try:
            await pending
        except Exception as exc:  # noqa: BLE001 - every failure becomes a coded error
            self._fail(ctx, stage, exc, t0)
            return
        self._done(ctx, stage, t0)
        rest = self._run_from(ctx, index + 1)
        if rest is not None:
            await rest

    def _done(self, ctx: RequestContext, stage: Stage, t0: int) -> None:
        elapsed = perf_counter_ns() - t0
        ctx.timings[stage.name] = elapsed
        if self.tracer is not None:
            self.tracer.stage_done(stage.name, ctx, elapsed, None)

    def _fail(self, ctx: RequestContext, stage: Stage, exc: Exception, t0: int) -> None:
        elapsed = perf_counter_ns() - t0
        ctx.timings[stage.name] = elapsed
        if isinstance(exc, GatewayError):
            error = exc
        else:
            log.exception("stage %s raised an unexpected exception", stage.name)
            error = InternalError("unexpected exception", exception=type(exc).__name__)
        ctx.error = error
        ctx.failed_stage = stage.name
        if self.tracer is not None:
            self.tracer.stage_done(stage.name, ctx, elapsed, error)
