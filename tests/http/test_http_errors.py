"""Refusals from the pipeline become problem responses; every request is recorded exactly once."""

from __future__ import annotations

import json

from conftest import GatewayFactory, Running
from dp_client import RawClient, get, roundtrip


async def test_returns_401_problem_with_bearer_challenge_when_the_token_is_missing(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/x", "X-Test-Error: token_missing"))
    body = resp.json()
    assert resp.status == 401
    assert resp.header("content-type") == "application/problem+json"
    assert resp.header("www-authenticate") == 'Bearer realm="subwarden"'
    assert body == {
        "type": "https://subwarden.dev/errors/token_missing",
        "title": "Authentication required",
        "status": 401,
        "code": "token_missing",
        "request_id": resp.header("x-request-id"),
    }
    assert resp.header("connection") is None


async def test_user_not_found_uses_the_configured_status_and_message(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(errors={"user_not_found_status": 403})
    resp = await roundtrip(running.port, get("/x", "X-Test-Error: user_not_found"))
    assert resp.status == 403
    assert resp.json()["title"] == "User from sub claim in JWT does not exist"
    assert running.records[-1].status == 403


async def test_store_timeout_is_503_with_retry_after_and_outcome_error(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/x", "X-Test-Error: store_timeout"))
    assert resp.status == 503 and resp.header("retry-after") == "5"
    assert resp.header("www-authenticate") is None
    assert gw.records[-1].outcome == "error"


async def test_discloses_the_reason_only_when_configured(start_gateway: GatewayFactory) -> None:
    hidden = await start_gateway()
    shown = await start_gateway(errors={"disclose_detail": True})
    assert "detail" not in (await roundtrip(hidden.port, get("/x", "X-Test-Error: user_disabled"))).json()
    disclosed = await roundtrip(shown.port, get("/x", "X-Test-Error: user_disabled"))
    assert disclosed.json()["detail"] == "scripted failure"


async def test_an_unexpected_exception_is_a_generic_500_without_internals(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/x", "X-Test-Crash: 1"))
    assert resp.status == 500
    assert resp.json()["code"] == "internal_error"
    assert b"secret" not in resp.body and b"Traceback" not in resp.body and b"RuntimeError" not in resp.body
    assert gw.records[-1].error is not None and gw.records[-1].error.code == "internal_error"


async def test_head_request_refusal_has_headers_but_no_body(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/x", "X-Test-Error: insufficient_role", method="HEAD") + get("/next"))
    head = await client.read_response(head_request=True)
    assert head.status == 403 and int(head.header("content-length") or 0) > 0
    assert head.header("www-authenticate") == 'Bearer realm="subwarden", error="insufficient_scope"'
    assert (await client.read_response()).json()["target"] == "/next"
    await client.close()


async def test_waiting_stage_admits_asynchronously(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/wait", "X-Test-Wait: 0.02"))
    assert resp.status == 200
    assert [r.path for r in gw.records] == ["/wait"]


async def test_records_each_request_once_with_outcome_status_and_upstream(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    requests = [
        get("/ok"),
        get("/denied", "X-Test-Error: token_expired"),
        get("/shadowed", "X-Test-Shadow: user_not_found"),
        get("/anon/a", "X-Test-Anonymous: 1"),
        get("/dead"),
    ]
    for request in requests:
        await client.send(request)
        await client.read_response()
    await client.send(b"GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert (await client.read_response()).status == 400
    await client.close()
    summary = [(r.path, r.outcome, r.status, r.error.code if r.error else None) for r in gw.records]
    assert summary == [
        ("/ok", "allowed", 200, None),
        ("/denied", "denied", 401, "token_expired"),
        ("/shadowed", "shadow", 200, None),
        ("/anon/a", "anonymous", 200, None),
        ("/dead", "error", 502, "upstream_unavailable"),
        ("/bad", "denied", 400, "request_invalid"),
    ]
    ok = gw.records[0]
    assert ok.upstream_status == 200 and ok.upstream_target and ok.upstream_ms is not None
    assert len({r.request_id for r in gw.records}) == len(gw.records)
    assert gw.records[1].failed_stage == "scripted"


async def test_problem_body_is_valid_json_for_every_catalogued_code(gw: Running) -> None:
    from subwarden.errors import CATALOG

    client = await RawClient.open(gw.port)
    for cls in CATALOG:
        await client.send(get("/x", f"X-Test-Error: {cls.code}"))
        resp = await client.read_response()
        assert json.loads(resp.body)["code"] == cls.code
        if resp.header("connection") == "close":
            await client.close()
            client = await RawClient.open(gw.port)
    await client.close()
