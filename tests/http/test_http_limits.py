"""Size limits (431, 413), Expect: 100-continue (417), slow clients (408) and idle keep-alive expiry."""

from __future__ import annotations

import asyncio

from conftest import GatewayFactory, Running
from dp_client import RawClient, eventually, get, roundtrip

FAST = {"header_timeout": 0.3, "body_timeout": 0.3, "idle_timeout": 0.3}


async def test_returns_431_and_closes_when_the_head_exceeds_max_header_bytes(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": {"max_header_bytes": 1024}})
    client = await RawClient.open(running.port)
    await client.send(get("/x", "X-Big: " + "a" * 1100))
    resp = await client.read_response()
    assert resp.status == 431 and resp.json()["code"] == "headers_too_large"
    assert await client.closed_by_server()
    assert running.records[-1].error is not None


async def test_returns_431_for_too_many_header_fields(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": {"max_headers": 8}})
    resp = await roundtrip(running.port, get("/x", *(f"X-H{i}: v" for i in range(9))))
    assert resp.status == 431


async def test_returns_431_for_a_head_that_never_ends_before_it_is_buffered(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": {"max_header_bytes": 1024}})
    client = await RawClient.open(running.port)
    await client.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ")
    for _ in range(4):
        await asyncio.sleep(0.02)
        await client.send(b"b" * 600)
    resp = await client.read_response()
    assert resp.status == 431
    await client.close()


async def test_accepts_a_head_just_under_the_limit_sent_in_pieces(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": {"max_header_bytes": 2048}})
    client = await RawClient.open(running.port)
    request = get("/x", "X-Fill: " + "c" * 1500)
    for i in range(0, len(request), 100):
        await client.send(request[i : i + 100])
    assert (await client.read_response()).status == 200
    await client.close()


async def test_returns_413_without_contacting_the_upstream_when_content_length_is_over_the_limit(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/small", "Content-Length: 11", method="POST"))
    resp = await client.read_response()
    assert resp.status == 413 and resp.json()["code"] == "body_too_large"
    assert await client.closed_by_server()
    assert gw.records[-1].upstream_target is None


async def test_returns_413_when_a_chunked_body_grows_over_the_limit(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/small", "Transfer-Encoding: chunked", method="POST") + b"6\r\nabcdef\r\n")
    await asyncio.sleep(0.05)
    await client.send(b"6\r\nghijkl\r\n0\r\n\r\n")
    resp = await client.read_response()
    assert resp.status == 413
    await client.close()


async def test_sends_100_continue_only_after_admission_then_streams_the_body(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/up", "Expect: 100-continue", "Content-Length: 5", "X-Test-Wait: 0.02", method="POST"))
    interim = await client.read_response()
    assert interim.status == 100
    await client.send(b"hello")
    resp = await client.read_response()
    assert resp.status == 200 and resp.json()["body"] == "hello"
    assert "expect" not in resp.upstream_headers()
    await client.close()


async def test_refused_request_with_100_continue_gets_no_100_and_the_refusal(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    refused = ("Expect: 100-continue", "Content-Length: 5", "X-Test-Error: token_missing")
    await client.send(get("/up", *refused, method="POST"))
    resp = await client.read_response()
    assert resp.status == 401 and resp.header("connection") == "close"
    await client.close()


async def test_returns_417_for_an_unsupported_expectation(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/up", "Expect: something-else", "Content-Length: 1", method="POST") + b"x")
    assert resp.status == 417 and resp.json()["code"] == "expectation_failed"


async def test_returns_408_and_closes_when_the_head_arrives_too_slowly(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": FAST})
    client = await RawClient.open(running.port)
    await client.send(b"GET /slowloris HTTP/1.1\r\nHost: a\r\n")
    resp = await client.read_response()
    assert resp.status == 408 and resp.json()["code"] == "request_timeout"
    assert await client.closed_by_server()
    assert running.records[-1].error is not None and running.records[-1].error.code == "request_timeout"


async def test_closes_a_connection_that_never_sends_anything(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": FAST})
    client = await RawClient.open(running.port)
    assert await client.read_all() == b""
    assert running.records == []


async def test_returns_408_when_the_body_stalls(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": FAST})
    client = await RawClient.open(running.port)
    await client.send(get("/up", "Content-Length: 10", method="POST") + b"abc")
    resp = await client.read_response()
    assert resp.status == 408
    assert await client.closed_by_server()


async def test_closes_an_idle_keep_alive_connection(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": FAST})
    client = await RawClient.open(running.port)
    await client.send(get("/once"))
    assert (await client.read_response()).status == 200
    assert await client.read_all() == b""
    await client.close()
    assert await eventually(lambda: running.plane.connections == 0)


async def test_trailers_are_dropped_and_an_endless_trailer_is_refused(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": {"max_header_bytes": 1024}})
    client = await RawClient.open(running.port)
    chunked = get("/up", "Transfer-Encoding: chunked", method="POST")
    await client.send(chunked + b"3\r\nabc\r\n0\r\nX-User-Id: mallory\r\n\r\n")
    resp = await client.read_response()
    assert resp.json()["body"] == "abc" and "x-user-id" not in resp.upstream_headers()
    await client.send(chunked + b"3\r\nabc\r\n0\r\nX-Trailer: ")
    for _ in range(4):
        await asyncio.sleep(0.02)
        await client.send(b"t" * 600)
    resp = await client.read_response()
    assert resp.status == 431
    await client.close()
