"""Driver exceptions → catalog store errors: one table per backend, applied at one boundary.

A backend declares a ``FailureTable`` (rows of exception type + optional driver
codes → store error) and wraps every I/O call in ``guarded``, which also
enforces the per-lookup time budget. Nothing but a catalog error leaves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from subwarden.errors import (
    GatewayError,
    StoreAuthFailed,
    StoreMisconfigured,
    StoreTimeout,
    StoreUnavailable,
)
from subwarden.identity.stores._deadlines import start_budget

#: The four outcomes a driver failure can have (never "not found").
STORE_ERRORS: tuple[type[GatewayError], ...] = (StoreUnavailable, StoreAuthFailed, StoreMisconfigured, StoreTimeout)

T = TypeVar("T")
ExcTypes = type[BaseException] | tuple[type[BaseException], ...]


@dataclass(frozen=True, slots=True)
class FailureRule:
    """Driver exceptions of type ``exc`` (and, if given, one of ``codes``) mean ``error``."""

    exc: ExcTypes
    error: type[GatewayError]
    codes: frozenset[object] = frozenset()
    why: str = ""


def _no_code(exc: BaseException) -> object:
    return None


class FailureTable:
    """Ordered rules, first match wins; an unmatched exception is ``fallback`` (unavailable)."""

    def __init__(
        self,
        backend: str,
        rules: Sequence[FailureRule],
        code_of: Callable[[BaseException], object] = _no_code,
        fallback: type[GatewayError] = StoreUnavailable,
    ) -> None:
        self.backend = backend
        self.rules = tuple(rules)
        self.code_of = code_of
        self.fallback = fallback

    def classify(self, exc: BaseException) -> type[GatewayError]:
        if isinstance(exc, GatewayError):  # already decided (e.g. a mapping check in the backend)
            return type(exc)
        code = self.code_of(exc)
        for rule in self.rules:
            if isinstance(exc, rule.exc) and (not rule.codes or code in rule.codes):
                return rule.error
        return self.fallback

    def translate(self, exc: BaseException) -> GatewayError:
        error = self.classify(exc)
        code = self.code_of(exc)
        text = " ".join(str(exc).split())[:300]
        reason = f"{self.backend}: {type(exc).__name__}" + (f" [{code}]" if code is not None else "")
        return error(f"{reason}: {text}" if text else reason, backend=self.backend, driver_error=type(exc).__name__)


async def guarded(
    table: FailureTable, timeout: float, work: Awaitable[T], again: Callable[[], Awaitable[T]] | None = None
) -> T:
    """Await ``work`` for at most ``timeout`` seconds; translate any failure through ``table``. With
    ``again``, a failure the table calls unavailable (a pooled connection dead after a server restart)
    gets one fresh try, within the same budget.

    The budget is ``_deadlines``' shared timer (it cancels the waiting task when the budget is spent),
    taken here rather than through ``within`` and with the retry inline: each coroutine layer is one more
    frame every resume of a store call passes through (two fewer: +6 % PostgreSQL lookups a second).
    Backends must give up promptly when cancelled: whatever slow clean-up a driver needs (asyncpg waits
    for the server to acknowledge a cancelled query) runs in the background, see ``in_background``.
    """
    budget = start_budget(timeout)
    try:
        try:
            return await work
        except Exception as exc:
            if again is None or table.classify(exc) is not StoreUnavailable:
                raise
            return await again()
    except asyncio.CancelledError:
        if not budget.spent():
            raise
        raise StoreTimeout(f"{table.backend}: no answer within {timeout:g}s", backend=table.backend,
                           timeout=timeout) from None
    except GatewayError:
        raise
    except TimeoutError as exc:
        raise StoreTimeout(f"{table.backend}: driver timeout: {exc}", backend=table.backend) from exc
    except Exception as exc:  # the contract: fetch raises only catalog store errors
        raise table.translate(exc) from exc
    finally:
        budget.done = True


_BACKGROUND: set[asyncio.Future[Any]] = set()


def in_background(work: Awaitable[Any]) -> None:
    """Run clean-up ``work`` without waiting for it (kept referenced; its outcome is ignored)."""
    future = asyncio.ensure_future(work)
    _BACKGROUND.add(future)
    future.add_done_callback(_BACKGROUND.discard)
    future.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned task's outcome as seen (no "exception was never retrieved" noise)."""
    if not task.cancelled():
        task.exception()
