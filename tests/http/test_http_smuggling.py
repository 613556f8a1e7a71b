"""Request-smuggling shapes and malformed framing: 400 request_invalid, connection closed, nothing forwarded."""

from __future__ import annotations

import pytest
from conftest import Running
from dp_client import RawClient

POST = b"POST /s HTTP/1.1\r\nHost: gw.test\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n"

SHAPES = {
    "content-length and transfer-encoding": POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "transfer-encoding then content-length": POST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    "differing content-lengths": POST + b"Content-Length: 3\r\nContent-Length: 40\r\n\r\nabc",
    "repeated content-length": POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "content-length list": POST + b"Content-Length: 3, 3\r\n\r\nabc",
    "signed content-length": POST + b"Content-Length: +3\r\n\r\nabc",
    "te chunked, identity": POST + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "te identity, chunked": POST + b"Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
    "te xchunked": POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te chunked twice": POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te with vertical tab": POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
    "te folded onto the previous line": POST + b"X-A: b\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "space before the colon": POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te in http/1.0": b"POST /s HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "invalid chunk size": CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n",
    "negative chunk size": CHUNKED + b"-3\r\nabc\r\n0\r\n\r\n",
    "hex prefix chunk size": CHUNKED + b"0x3\r\nabc\r\n0\r\n\r\n",
    "space after chunk size": CHUNKED + b"3 \r\nabc\r\n0\r\n\r\n",
    "overflowing chunk size": CHUNKED + b"10000000000000001\r\nabc\r\n0\r\n\r\n",
    "chunk longer than its size": CHUNKED + b"3\r\nabcdef\r\n0\r\n\r\n",
    "obs-fold": b"GET /s HTTP/1.1\r\nHost: gw.test\r\nX-A: b\r\n c\r\n\r\n",
    "nul in a header value": b"GET /s HTTP/1.1\r\nHost: gw.test\r\nX-A: b\x00c\r\n\r\n",
    "cr in a header value": b"GET /s HTTP/1.1\r\nHost: gw.test\r\nX-A: b\rc\r\n\r\n",
    "bare lf line endings": b"GET /s HTTP/1.1\nHost: gw.test\n\n",
    "bare lf after a header": b"GET /s HTTP/1.1\r\nHost: gw.test\nX-A: b\r\n\r\n",
    "http/0.9": b"GET /s\r\n\r\n",
    "http/2.0 on http/1 framing": b"GET /s HTTP/2.0\r\nHost: gw.test\r\n\r\n",
    "http/1.2": b"GET /s HTTP/1.2\r\nHost: gw.test\r\n\r\n",
    "space inside a header name": b"GET /s HTTP/1.1\r\nHost: gw.test\r\nX A: b\r\n\r\n",
    "two host headers": b"GET /s HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
    "no host in http/1.1": b"GET /s HTTP/1.1\r\nX-A: b\r\n\r\n",
    "invalid host": b"GET /s HTTP/1.1\r\nHost: a b@c\r\n\r\n",
    "connect tunnel": b"CONNECT gw.test:443 HTTP/1.1\r\nHost: gw.test:443\r\n\r\n",
    "upgrade with a body": b"POST /s HTTP/1.1\r\nHost: gw.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
    b"Content-Length: 3\r\n\r\nabc",
    "dot segments": b"GET /public/../admin HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "encoded dot segments": b"GET /public/%2e%2E/admin HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    "lower-case method": b"get /s HTTP/1.1\r\nHost: gw.test\r\n\r\n",
}


@pytest.mark.parametrize("raw", list(SHAPES.values()), ids=list(SHAPES))
async def test_refuses_the_shape_with_400_closes_and_forwards_nothing(gw: Running, raw: bytes) -> None:
    client = await RawClient.open(gw.port)
    await client.send(raw + SMUGGLED)
    resp = await client.read_response()
    assert resp.status == 400, resp
    assert resp.json()["code"] == "request_invalid"
    assert resp.header("connection") == "close"
    assert await client.closed_by_server()
    await client.close()
    assert [r.error.code if r.error else None for r in gw.records] == ["request_invalid"]
    assert gw.records[0].upstream_target is None


async def test_a_request_before_the_bad_one_is_still_answered_first(gw: Running) -> None:
    client = await RawClient.open(gw.port)
    good = b"GET /first HTTP/1.1\r\nHost: gw.test\r\n\r\n"
    await client.send(good + SHAPES["content-length and transfer-encoding"] + SMUGGLED)
    first = await client.read_response()
    second = await client.read_response()
    assert (first.status, second.status) == (200, 400)
    assert await client.closed_by_server()
    await client.close()
