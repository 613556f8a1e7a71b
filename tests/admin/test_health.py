"""Liveness, readiness with the store self-test and the record queue, and the metrics endpoint."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from admin_support import AdminClient, AppFactory

from subwarden.clock import FrozenClock
from subwarden.identity.stores.base import SelfTestReport
from subwarden.observe.records import RecordWriter
from subwarden.pipeline.context import RequestContext

pytestmark = pytest.mark.asyncio(loop_scope="module")


class HangingStore:
    async def self_test(self, canary: str | None = None) -> SelfTestReport:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")


class RaisingStore:
    async def self_test(self, canary: str | None = None) -> SelfTestReport:
        raise RuntimeError("password=hunter22 rejected")


async def test_healthz_answers_while_the_process_lives(admin: AdminClient) -> None:
    response = await admin.get("/healthz", token=None)
    assert (response.status_code, response.json()) == (200, {"status": "alive"})


async def test_readyz_is_200_with_each_self_test_step_and_the_record_queue(admin: AdminClient) -> None:
    response = await admin.get("/readyz", token=None)
    body = response.json()
    assert response.status_code == 200 and body["ready"] is True
    assert body["fingerprint"] == "fp-admin-test"
    assert [s["name"] for s in body["store"]["steps"]] == ["connect", "mapping", "canary"]
    assert all(s["ok"] for s in body["store"]["steps"])
    assert body["records"]["queued"] == 0 and body["records"]["dropped"] == 0
    assert body["records"]["queue_full"] is False


async def test_readyz_is_503_if_the_user_table_is_missing(admin: AdminClient, users_db: Path) -> None:
    with sqlite3.connect(users_db) as conn:
        conn.execute("DROP TABLE users")
    response = await admin.get("/readyz", token=None)
    body = response.json()
    assert response.status_code == 503 and body["ready"] is False
    assert body["store"]["failed_step"] == "mapping"
    assert "users" in next(s["detail"] for s in body["store"]["steps"] if not s["ok"])


async def test_readyz_is_503_if_the_canary_no_longer_resolves(admin: AdminClient, users_db: Path) -> None:
    with sqlite3.connect(users_db) as conn:
        conn.execute("DELETE FROM users")
    response = await admin.get("/readyz", token=None)
    assert response.status_code == 503
    assert response.json()["store"]["failed_step"] == "canary"


async def test_readyz_is_503_if_the_self_test_hangs(start_admin: AppFactory) -> None:
    admin = await start_admin(store=HangingStore(), self_test_timeout=0.05)
    response = await admin.get("/readyz", token=None)
    assert response.status_code == 503
    assert "did not finish within 0.05s" in response.json()["store"]["steps"][0]["detail"]


async def test_readyz_is_503_without_exception_text_if_the_self_test_raises(start_admin: AppFactory) -> None:
    admin = await start_admin(store=RaisingStore())
    response = await admin.get("/readyz", token=None)
    assert response.status_code == 503
    assert response.json()["store"]["steps"][0]["detail"] == "the self-test raised RuntimeError"
    assert "hunter22" not in response.text


async def test_readyz_reuses_a_recent_self_test_and_reruns_it_after_the_ttl(
    admin: AdminClient, users_db: Path, clock: FrozenClock
) -> None:
    assert (await admin.get("/readyz", token=None)).status_code == 200
    with sqlite3.connect(users_db) as conn:
        conn.execute("DROP TABLE users")
    assert (await admin.get("/readyz", token=None)).status_code == 200
    clock.advance(2.5)
    assert (await admin.get("/readyz", token=None)).status_code == 503


async def test_readyz_reports_a_full_record_queue_and_its_drops(start_admin: AppFactory, writer: RecordWriter) -> None:
    small = RecordWriter(writer.shaper, [], queue_size=16)
    for _ in range(21):
        small.record(RequestContext("GET", "/x", []))
    admin = await start_admin(records=small)
    records = (await admin.get("/readyz", token=None)).json()["records"]
    assert records["queue_full"] is True and records["dropped"] == 5
    assert (await admin.get("/readyz", token=None)).status_code == 200  # records never make the gateway unready


async def test_metrics_exposes_request_counters_and_record_state_after_a_batch(
    admin: AdminClient, writer: RecordWriter
) -> None:
    writer.record(RequestContext("GET", "/x", []))
    writer.flush_sync()
    response = await admin.get("/metrics", token=None)
    assert response.headers["content-type"].startswith("text/plain")
    assert 'subwarden_requests_total{code="ok",outcome="allowed",route=""} 1.0' in response.text
    assert "subwarden_records_written_total 1.0" in response.text


async def test_metrics_is_404_when_metrics_are_off(start_admin: AppFactory) -> None:
    admin = await start_admin(metrics=None)
    assert (await admin.get("/metrics", token=None)).status_code == 404
