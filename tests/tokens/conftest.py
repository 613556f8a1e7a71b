"""Fixtures for the token tests: a frozen clock, a real JWKS server, a counting fetcher, harness factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from tokens_kit import CountingFetcher, Harness, JwksServer

from subwarden.clock import FrozenClock
from subwarden.config import GatewayConfig


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.stop()


@pytest.fixture
async def fetcher() -> AsyncIterator[CountingFetcher]:
    counting = CountingFetcher()
    yield counting
    await counting.inner.aclose()


@pytest.fixture
async def harness(clock: FrozenClock) -> AsyncIterator[Callable[..., Harness]]:
    """Build harnesses; every runtime built is closed after the test."""
    built: list[Harness] = []

    def make(config: GatewayConfig, fetcher: Any = None, environ: dict[str, str] | None = None) -> Harness:
        h = Harness(config, clock, fetcher, environ)
        built.append(h)
        return h

    yield make
    for h in built:
        await h.runtime.close()
