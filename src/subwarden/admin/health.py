"""Liveness, readiness (store self-test + record queue) and the metrics exposition."""

from __future__ import annotations

import asyncio
from typing import Any

from subwarden.admin.protocols import RecordStats, StoreSelfTest
from subwarden.clock import Clock
from subwarden.identity.stores.base import SelfTestReport, SelfTestStep


class ReadinessProbe:
    """Runs the store self-test at most once per ``ttl`` seconds (one run at a time) and reports it."""

    def __init__(
        self,
        store: StoreSelfTest | None,
        records: RecordStats | None,
        *,
        clock: Clock,
        fingerprint: str,
        canary: str | None = None,
        timeout: float = 5.0,
        ttl: float = 2.0,
    ) -> None:
        self._store = store
        self._records = records
        self._clock = clock
        self._fingerprint = fingerprint
        self._canary = canary
        self._timeout = timeout
        self._ttl = ttl
        self._last: tuple[float, SelfTestReport] | None = None
        self._lock: asyncio.Lock | None = None

    async def check(self) -> dict[str, Any]:
        """The readiness report; ``ready`` is False when the store self-test failed."""
        report = await self._store_report() if self._store is not None else None
        ready = report is None or report.ok
        return {
            "ready": ready,
            "fingerprint": self._fingerprint,
            "store": describe_report(report) if report is not None else None,
            "records": self._records_state(),
        }

    async def _store_report(self) -> SelfTestReport:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = self._clock.monotonic()
            if self._last is not None and now - self._last[0] < self._ttl:
                return self._last[1]
            report = await self._run_self_test()
            self._last = (self._clock.monotonic(), report)
            return report

    async def _run_self_test(self) -> SelfTestReport:
        assert self._store is not None
        try:
            return await asyncio.wait_for(self._store.self_test(self._canary), self._timeout)
        except TimeoutError:
            detail = f"the self-test did not finish within {self._timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - readiness reports a failure, it does not crash
            detail = f"the self-test raised {type(exc).__name__}"
        return SelfTestReport(store="unknown", steps=[SelfTestStep("self_test", False, detail)])

    def _records_state(self) -> dict[str, Any] | None:
        if self._records is None:
            return None
        stats = self._records.stats()
        full = stats.get("queued", 0) >= stats.get("capacity", float("inf"))
        return {**stats, "queue_full": full}


def describe_report(report: SelfTestReport) -> dict[str, Any]:
    failed = report.failed_step
    return {
        "store": report.store,
        "ok": report.ok,
        "failed_step": failed.name if failed is not None else None,
        "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail} for s in report.steps],
    }
