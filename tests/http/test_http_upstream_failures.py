"""Upstream failures: refused 502, connect and read timeouts 504, broken responses abort the client."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
from conftest import Running
from dp_client import RawClient, eventually, get, roundtrip


async def test_returns_502_when_the_upstream_refuses_the_connection(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/dead"))
    assert resp.status == 502 and resp.json()["code"] == "upstream_unavailable"
    record = gw.records[-1]
    assert (record.outcome, record.failed_stage) == ("error", "proxy")
    assert record.upstream_target is not None and record.upstream_target.startswith("127.0.0.1:")


async def test_returns_504_when_the_upstream_connect_times_out(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/blackhole"))
    assert resp.status == 504 and resp.json()["code"] == "upstream_timeout"


async def test_returns_504_when_the_upstream_answers_too_slowly(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/impatient/slow?delay=2"))
    resp = await client.read_response()
    assert resp.status == 504 and resp.json()["code"] == "upstream_timeout"
    await client.send(get("/after-timeout"))
    assert (await client.read_response()).status == 200
    await client.close()


async def test_returns_502_when_the_upstream_closes_before_answering(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/close-now"))
    assert resp.status == 502


async def test_retries_an_idempotent_request_once_when_a_reused_connection_was_dropped(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/drop-next"))
    first = (await client.read_response()).json()["conn"]
    await client.send(get("/retried"))
    resp = await client.read_response()
    await client.close()
    assert resp.status == 200 and resp.json()["conn"] != first


async def test_does_not_retry_a_request_with_a_body(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/drop-next"))
    await client.read_response()
    await client.send(get("/not-retried", method="POST", body=b"once"))
    resp = await client.read_response()
    await client.close()
    assert resp.status == 502


async def test_returns_502_when_the_upstream_sends_an_invalid_response(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/garbage"))
    assert resp.status == 502


async def test_aborts_the_client_when_the_upstream_closes_mid_response(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/close-mid"))
    with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
        await client.read_response()
    await client.close()
    record = gw.records[-1]
    assert record.status == 200 and record.error is not None and record.error.code == "upstream_unavailable"


async def test_aborts_the_client_when_the_upstream_stalls_mid_response(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/impatient/stall-body"))
    with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
        await client.read_response()
    await client.close()
    assert gw.records[-1].error is not None and gw.records[-1].error.code == "upstream_timeout"


async def test_a_client_that_resets_mid_request_is_recorded_once_without_a_status(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/slow?delay=0.5"))
    await asyncio.sleep(0.05)
    client.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.writer.transport.abort()
    assert await eventually(lambda: len(gw.records) == 1)
    assert (gw.records[0].path, gw.records[0].status) == ("/slow", 0)


async def test_a_half_closed_client_still_gets_its_response(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/half") + get("/half2"))
    client.writer.write_eof()
    first, second = await client.read_response(), await client.read_response()
    assert (first.json()["target"], second.json()["target"]) == ("/half", "/half2")
    assert await client.closed_by_server()
    await client.close()
