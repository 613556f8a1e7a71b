"""Request-head validation (pure): framing, target forms, Host, Expect, Connection tokens."""

from __future__ import annotations

import pytest

from subwarden.errors import ExpectationFailed, GatewayError, RequestInvalid
from subwarden.http.head import parse_head

HOST = [(b"host", b"gw.test")]


def test_reads_path_query_host_and_keep_alive() -> None:
    head = parse_head("GET", "1.1", b"/a/b?x=1&y", HOST)
    assert (head.path, head.query, head.host) == ("/a/b", "x=1&y", "gw.test")
    assert head.keep_alive and not head.has_body


def test_http10_keeps_alive_only_when_asked() -> None:
    assert not parse_head("GET", "1.0", b"/", []).keep_alive
    assert parse_head("GET", "1.0", b"/", [(b"connection", b"Keep-Alive")]).keep_alive


def test_connection_tokens_are_collected_lower_case() -> None:
    head = parse_head("GET", "1.1", b"/", [*HOST, (b"connection", b"close, X-Foo")])
    assert head.connection_tokens == {b"close", b"x-foo"} and not head.keep_alive


def test_chunked_is_accepted_case_insensitively() -> None:
    assert parse_head("POST", "1.1", b"/", [*HOST, (b"transfer-encoding", b"Chunked")]).chunked


def test_expect_100_continue_only_matters_with_a_body() -> None:
    with_body = [*HOST, (b"expect", b"100-Continue"), (b"content-length", b"3")]
    assert parse_head("POST", "1.1", b"/", with_body).expect_continue
    assert not parse_head("GET", "1.1", b"/", [*HOST, (b"expect", b"100-continue")]).expect_continue


def test_absolute_form_authority_replaces_host() -> None:
    head = parse_head("GET", "1.1", b"http://api.test:8080/p?q", HOST)
    assert (head.host, head.path, head.query) == ("api.test:8080", "/p", "q")


def test_keeps_a_single_request_id_and_traceparent_and_ignores_repeats() -> None:
    head = parse_head("GET", "1.1", b"/", [*HOST, (b"x-request-id", b"a"), (b"x-request-id", b"b")])
    assert head.request_id is None
    assert parse_head("GET", "1.1", b"/", [*HOST, (b"traceparent", b"t")]).traceparent == b"t"
    three = [(b"x-request-id", b"a"), (b"x-request-id", b"b"), (b"x-request-id", b"c")]
    assert parse_head("GET", "1.1", b"/", [*HOST, *three]).request_id is None  # counted, not just paired
    two = [(b"traceparent", b"t"), (b"traceparent", b"u")]
    assert parse_head("GET", "1.1", b"/", [*HOST, *two, (b"x-request-id", b"r")]).traceparent is None
    assert parse_head("GET", "1.1", b"/", [(b"x-request-id", b"r"), *HOST]).request_id == b"r"


@pytest.mark.parametrize(
    ("version", "url", "headers", "error"),
    [
        ("0.9", b"/", HOST, RequestInvalid),
        ("2.0", b"/", HOST, RequestInvalid),
        ("1.1", b"*", HOST, RequestInvalid),
        ("1.1", b"host:443", HOST, RequestInvalid),
        ("1.1", b"/a#frag", HOST, RequestInvalid),
        ("1.1", b"/a/./b", HOST, RequestInvalid),
        ("1.1", b"/a/%2E%2e", HOST, RequestInvalid),
        ("1.1", b"http://user@h/", HOST, RequestInvalid),
        ("1.1", b"/", [], RequestInvalid),
        ("1.1", b"/", [*HOST, *HOST], RequestInvalid),
        ("1.1", b"/", [(b"host", b"a b")], RequestInvalid),
        ("1.1", b"/", [*HOST, (b"transfer-encoding", b"gzip, chunked")], RequestInvalid),
        ("1.1", b"/", [*HOST, (b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")], RequestInvalid),
        ("1.1", b"/", [*HOST, (b"transfer-encoding", b"chunked"), (b"content-length", b"0")], RequestInvalid),
        ("1.0", b"/", [(b"transfer-encoding", b"chunked")], RequestInvalid),
        ("1.1", b"/", [*HOST, (b"expect", b"200-ok")], ExpectationFailed),
    ],
)
def test_refuses_invalid_heads(
    version: str, url: bytes, headers: list[tuple[bytes, bytes]], error: type[GatewayError]
) -> None:
    with pytest.raises(error):
        parse_head("POST", version, url, headers)


def test_dots_inside_segments_are_fine() -> None:
    assert parse_head("GET", "1.1", b"/a/..b/.c/file.tar.gz", HOST).path == "/a/..b/.c/file.tar.gz"
