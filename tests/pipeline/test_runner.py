"""The pipeline runner: synchronous until a stage waits; every failure becomes a coded error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from subwarden.errors import GatewayError, InternalError, UserNotFound
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.stage import Pipeline


class Sets:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        self.log.append(self.name)
        return None


class Waits(Sets):
    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        async def later() -> None:
            await asyncio.sleep(0)
            self.log.append(self.name)

        return later()


class Raises(Sets):
    def __init__(self, name: str, log: list[str], exc: Exception) -> None:
        super().__init__(name, log)
        self.exc = exc

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        raise self.exc


class Tracer:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def stage_done(self, name: str, ctx: RequestContext, elapsed_ns: int, error: GatewayError | None) -> None:
        self.seen.append((name, error.code if error else None))


def ctx() -> RequestContext:
    return RequestContext("GET", "/", [])


def test_all_synchronous_stages_finish_without_an_awaitable() -> None:
    log: list[str] = []
    c = ctx()
    assert Pipeline([Sets("a", log), Sets("b", log)]).admit(c) is None
    assert log == ["a", "b"]
    assert set(c.timings) == {"a", "b"}
    assert c.error is None


async def test_a_waiting_stage_returns_an_awaitable_that_runs_the_rest() -> None:
    log: list[str] = []
    c = ctx()
    pending = Pipeline([Sets("a", log), Waits("b", log), Sets("c", log)]).admit(c)
    assert pending is not None
    assert log == ["a"]
    await pending
    assert log == ["a", "b", "c"]


def test_a_gateway_error_stops_the_pipeline_and_lands_in_the_context() -> None:
    log: list[str] = []
    tracer = Tracer()
    c = ctx()
    Pipeline([Sets("a", log), Raises("b", log, UserNotFound()), Sets("c", log)], tracer).admit(c)
    assert log == ["a"]
    assert isinstance(c.error, UserNotFound)
    assert c.failed_stage == "b"
    assert tracer.seen == [("a", None), ("b", "user_not_found")]


def test_an_unexpected_exception_becomes_internal_error_without_its_text() -> None:
    c = ctx()
    Pipeline([Raises("a", [], KeyError("secret-token-text"))]).admit(c)
    assert isinstance(c.error, InternalError)
    assert c.error.detail == {"exception": "KeyError"}
    assert "secret" not in c.error.reason


async def test_a_failure_after_waiting_is_recorded_too() -> None:
    class WaitsThenFails(Sets):
        def run(self, ctx: RequestContext) -> Awaitable[None] | None:
            async def later() -> None:
                raise UserNotFound()

            return later()

    c = ctx()
    pending = Pipeline([WaitsThenFails("resolve", [])]).admit(c)
    assert pending is not None
    await pending
    assert c.error is not None and c.error.code == "user_not_found"
    assert c.failed_stage == "resolve"
