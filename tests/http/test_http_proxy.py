"""Proxying over real sockets: keep-alive, pipelining, framing both ways, HTTP/1.0, HEAD/204/304."""

from __future__ import annotations

import asyncio

from conftest import GatewayFactory, Running
from dp_client import RawClient, get, roundtrip


async def test_proxies_a_get_to_the_upstream_and_back(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/hello?x=1"))
    assert resp.status == 200
    echo = resp.json()
    assert (echo["method"], echo["target"], echo["version"]) == ("GET", "/hello?x=1", "HTTP/1.1")
    assert resp.header("x-request-id")


async def test_keeps_the_client_connection_and_reuses_the_upstream_connection(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    upstream_conns = set()
    for i in range(3):
        await client.send(get(f"/k{i}"))
        resp = await client.read_response()
        assert resp.status == 200 and resp.header("connection") is None
        upstream_conns.add(resp.json()["conn"])
    await client.close()
    assert len(upstream_conns) == 1


async def test_answers_pipelined_requests_in_order_even_when_the_first_waits(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    batch = get("/p0", "X-Test-Wait: 0.05") + b"".join(get(f"/p{i}") for i in range(1, 5))
    await client.send(batch)
    targets = [(await client.read_response()).json()["target"] for _ in range(5)]
    await client.close()
    assert targets == ["/p0", "/p1", "/p2", "/p3", "/p4"]


async def test_pipelined_error_and_success_keep_their_order(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/a", "X-Test-Wait: 0.05") + get("/b", "X-Test-Error: token_missing") + get("/c"))
    statuses = [(await client.read_response()).status for _ in range(3)]
    await client.close()
    assert statuses == [200, 401, 200]


async def test_streams_a_chunked_request_body_to_the_upstream(gw: Running) -> None:
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    resp = await roundtrip(gw.port, get("/up", "Transfer-Encoding: chunked", method="POST") + body)
    echo = resp.json()
    assert resp.status == 200
    assert echo["body"] == "hello world"
    assert resp.upstream_headers()["transfer-encoding"] == ["chunked"]


async def test_forwards_a_content_length_body_unchanged(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/up", method="PUT", body=b"x" * 5000))
    echo = resp.json()
    assert echo["body_len"] == 5000
    assert resp.upstream_headers()["content-length"] == ["5000"]


async def test_sends_content_length_zero_for_a_post_without_body(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/empty", method="POST"))
    assert resp.upstream_headers()["content-length"] == ["0"]


async def test_re_frames_a_chunked_upstream_response_as_chunked(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/chunked?parts=4&size=3"))
    assert resp.framing == "chunked"
    assert resp.body == b"0-xxx1-xxx2-xxx3-xxx"


async def test_re_frames_a_close_delimited_upstream_response_as_chunked(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/eof"))
    resp = await client.read_response()
    assert (resp.framing, resp.body) == ("chunked", b"until-eof-body")
    await client.send(get("/after-eof"))
    assert (await client.read_response()).status == 200
    await client.close()


async def test_http10_client_gets_an_unframed_body_and_a_close(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(b"GET /chunked?parts=2&size=2 HTTP/1.0\r\n\r\n")
    resp = await client.read_response()
    await client.close()
    assert resp.framing == "close" and resp.header("connection") == "close"
    assert resp.body == b"0-xx1-xx"


async def test_http10_keep_alive_is_honoured_with_a_length_framed_body(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    for _ in range(2):
        await client.send(b"GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = await client.read_response()
        assert resp.header("connection") == "keep-alive" and resp.framing == "length"
        assert resp.json()["version"] == "HTTP/1.1"
    await client.close()


async def test_connection_close_from_the_client_closes_after_the_response(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/bye", "Connection: close") + get("/ignored"))
    resp = await client.read_response()
    assert resp.status == 200 and resp.header("connection") == "close"
    assert await client.closed_by_server()
    await client.close()


async def test_head_response_has_no_body_and_both_connections_stay_usable(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/before-head"))
    before = (await client.read_response()).json()["conn"]
    await client.send(get("/h", method="HEAD"))
    head = await client.read_response(head_request=True)
    assert head.status == 200 and int(head.header("content-length") or 0) > 0
    await client.send(get("/after-head"))
    after = (await client.read_response()).json()
    assert after["target"] == "/after-head" and after["conn"] == before
    await client.close()


async def test_204_and_304_have_no_body_and_keep_alive(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    for code in (204, 304):
        await client.send(get(f"/status?code={code}"))
        resp = await client.read_response()
        assert resp.status == code and resp.body == b"" and resp.header("transfer-encoding") is None
    await client.send(get("/after"))
    assert (await client.read_response()).status == 200
    await client.close()


async def test_interim_responses_from_the_upstream_are_not_forwarded(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/interim"))
    assert resp.status == 200 and resp.json()["target"] == "/interim"


async def test_a_response_head_in_pieces_after_interim_heads_is_forwarded_as_received(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    await client.send(get("/dribble"))
    head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5)
    body = await asyncio.wait_for(client.reader.readexactly(7), 5)
    await client.close()
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"dribble"
    # Leading blanks dropped, trailing kept (as llhttp reports values); a colon inside a value stays.
    assert b"\r\nX-Spaced: v1 \t\r\n" in head and b"\r\nX-Ok: a:b\r\n" in head and b"\r\nX-Empty: \r\n" in head
    assert head.count(b"HTTP/1.1 ") == 1 and b"Link" not in head  # the interim heads stay behind


async def test_an_upstream_response_head_over_64_kib_is_a_502_and_one_under_it_passes(gw: Running) -> None:
    # Ends just past the limit; never ends (refused when the limit is passed, not at the read timeout).
    for query in ("bytes=70000", "bytes=300000&open=1"):
        big = await roundtrip(gw.port, get(f"/big-head?{query}"))
        assert big.status == 502 and big.json()["code"] == "upstream_unavailable"
    fits = await roundtrip(gw.port, get("/big-head?bytes=60000"))
    assert fits.status == 200 and fits.body == b"ok" and len(fits.header("x-big") or "") == 60_000


async def test_strips_the_route_prefix_and_prepends_the_target_prefix(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/svc/items?q=1"))
    assert resp.json()["target"] == "/base/items?q=1"


async def test_rotates_round_robin_over_the_route_targets(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    seen = []
    for _ in range(4):
        await client.send(get("/rr"))
        seen.append((await client.read_response()).json()["target"])
    await client.close()
    assert seen == ["/one/rr", "/two/rr", "/one/rr", "/two/rr"]


async def test_absolute_form_target_is_routed_by_its_path_and_authority(gw: Running) -> None:
    resp = await roundtrip(gw.port, b"GET http://other.test/abs?z=2 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert resp.json()["target"] == "/abs?z=2"
    assert resp.upstream_headers()["x-forwarded-host"] == ["other.test"]


async def test_a_large_pipelined_burst_is_answered_completely(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"limits": {"max_pipelined": 4}})
    client = await RawClient.open(running.port)
    await client.send(b"".join(get(f"/burst{i}") for i in range(40)))
    targets = [(await client.read_response()).json()["target"] for _ in range(40)]
    await client.close()
    assert targets == [f"/burst{i}" for i in range(40)]
