"""Headers towards the upstream and back: hop-by-hop removal, X-Forwarded-*, X-Request-ID, traceparent."""

from __future__ import annotations

import re

from conftest import GatewayFactory, Running
from dp_client import get, roundtrip

HOP_BY_HOP_REQUEST = (
    "Connection: x-custom, keep-alive",
    "X-Custom: 1",
    "Keep-Alive: timeout=5",
    "Proxy-Connection: keep-alive",
    "TE: trailers",
    "Trailer: x-t",
    "Upgrade: h2c",
    "Proxy-Authorization: Basic Zm9vOmJhcg==",
    "X-Other: kept",
)


async def test_removes_hop_by_hop_request_headers_and_the_names_connection_lists(gw: Running) -> None:
    seen = (await roundtrip(gw.port, get("/hop-req", *HOP_BY_HOP_REQUEST))).upstream_headers()
    for name in ("x-custom", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authorization"):
        assert name not in seen, name
    assert "connection" not in seen or seen["connection"] != ["x-custom, keep-alive"]
    assert seen["x-other"] == ["kept"]


async def test_removes_hop_by_hop_response_headers(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/hop"))
    names = {n.lower() for n, _ in resp.headers}
    assert names.isdisjoint({"x-drop-me", "keep-alive", "proxy-connection", "upgrade", "trailer", "connection"})
    assert resp.header("x-keep") == "1"


async def test_replaces_forwarding_headers_from_an_untrusted_peer(gw: Running) -> None:
    spoofed = (
        "X-Forwarded-For: 6.6.6.6",
        "X-Forwarded-Proto: https",
        "X-Forwarded-Host: evil.test",
        "Forwarded: for=6.6.6.6",
    )
    seen = (await roundtrip(gw.port, get("/xff", *spoofed, host="api.test:8443"))).upstream_headers()
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == ["api.test:8443"]
    assert "forwarded" not in seen
    assert seen["host"] == [f"127.0.0.1:{gw.config.routes[0].upstream.targets[0].rsplit(':', 1)[1]}"]


async def test_extends_forwarding_headers_from_a_trusted_proxy(start_gateway: GatewayFactory) -> None:
    running = await start_gateway(listen={"trusted_proxies": ["127.0.0.0/8"]})
    headers = ("X-Forwarded-For: 203.0.113.9, 10.0.0.1", "X-Forwarded-Proto: https")
    seen = (await roundtrip(running.port, get("/xff", *headers))).upstream_headers()
    assert seen["x-forwarded-for"] == ["203.0.113.9, 10.0.0.1, 127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["https"]
    assert running.records[-1].client_ip == "10.0.0.1"


async def test_keeps_a_safe_client_request_id_everywhere(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/rid", "X-Request-ID: client-id_42"))
    assert resp.upstream_headers()["x-request-id"] == ["client-id_42"]
    assert resp.header("x-request-id") == "client-id_42"
    assert gw.records[-1].request_id == "client-id_42"


async def test_replaces_an_unsafe_or_overlong_request_id(gw: Running) -> None:
    for bad in ("a" * 129, "<script>", "x,y"):
        resp = await roundtrip(gw.port, get("/rid", f"X-Request-ID: {bad}"))
        sent = resp.upstream_headers()["x-request-id"]
        assert sent != [bad] and re.fullmatch(r"[0-9a-f]{20}", sent[0])


async def test_keeps_the_upstreams_own_response_request_id(gw: Running) -> None:
    resp = await roundtrip(gw.port, get("/upstream-rid"))
    assert resp.all("x-request-id") == ["from-upstream"]


async def test_continues_a_valid_trace_with_a_new_parent_span(gw: Running) -> None:
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    seen = (await roundtrip(gw.port, get("/trace", f"traceparent: {incoming}"))).upstream_headers()
    version, trace_id, span_id, flags = seen["traceparent"][0].split("-")
    assert (version, trace_id, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "01")
    assert re.fullmatch(r"[0-9a-f]{16}", span_id) and span_id != "b7ad6b7169203331"
    assert gw.records[-1].trace_id == trace_id


async def test_starts_a_new_trace_when_traceparent_is_invalid_or_absent(gw: Running) -> None:
    invalid = (
        "traceparent: 00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "traceparent: ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "traceparent: 00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "traceparent: garbage",
    )
    for header in (*invalid, "X-None: 1"):
        seen = (await roundtrip(gw.port, get("/trace", header))).upstream_headers()
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", seen["traceparent"][0]), header
        assert "0af7651916cd43dd8448eb211c80319c" not in seen["traceparent"][0].lower()


async def test_drops_authorization_only_where_the_route_says_so(gw: Running) -> None:
    kept = (await roundtrip(gw.port, get("/x", "Authorization: Bearer abc"))).upstream_headers()
    dropped = (await roundtrip(gw.port, get("/noauthz", "Authorization: Bearer abc"))).upstream_headers()
    assert kept["authorization"] == ["Bearer abc"]
    assert "authorization" not in dropped
