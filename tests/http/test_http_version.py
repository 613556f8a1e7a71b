"""http_version: the version the parser reports, without its string formatting for the usual head."""

from __future__ import annotations

import itertools

import httptools
import pytest

from subwarden.http.connection import http_version


class _Head:
    """Collects what the data plane's connection collects: lower-cased header names and values."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.version: str | None = None
        self.ours: str | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.version = parser.get_http_version()
        self.ours = http_version(parser, self.headers)


parser: httptools.HttpRequestParser
VERSIONS = [b"0.9", b"1.0", b"1.1", b"1.2", b"2.0", b"2.1", b"3.0", b"9.9"]
CONNECTION = [
    b"", b"Connection: close\r\n", b"Connection: keep-alive\r\n", b"Connection: Keep-Alive, Upgrade\r\n",
    b"connection: x-foo\r\n", b"Proxy-Connection: keep-alive\r\n", b"Proxy-Connection: close\r\n",
    b"Connection: close\r\nConnection: keep-alive\r\n",
]


@pytest.mark.parametrize(("version", "connection"), list(itertools.product(VERSIONS, CONNECTION)))
@pytest.mark.parametrize("method", [b"GET", b"POST"])
def test_every_head_the_parser_accepts_gets_the_version_the_parser_reports(
    method: bytes, version: bytes, connection: bytes
) -> None:
    global parser
    head = _Head()
    parser = httptools.HttpRequestParser(head)
    body = b"Content-Length: 2\r\n\r\nab" if method == b"POST" else b"\r\n"
    try:
        parser.feed_data(method + b" / HTTP/" + version + b"\r\nHost: x\r\n" + connection + body)
    except httptools.HttpParserError:
        assert head.version is None  # refused before the head completed: nothing to report
        return
    assert head.version is not None
    assert head.ours == head.version


def test_the_usual_request_is_http11_without_asking_for_the_formatted_version() -> None:
    global parser
    head = _Head()
    parser = httptools.HttpRequestParser(head)

    class Counting:
        calls = 0

        def __init__(self, inner: httptools.HttpRequestParser) -> None:
            self.inner = inner

        def should_keep_alive(self) -> bool:
            return bool(self.inner.should_keep_alive())

        def get_http_version(self) -> str:
            Counting.calls += 1
            return str(self.inner.get_http_version())

    parser.feed_data(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n")
    counting = Counting(parser)
    assert http_version(counting, head.headers) == "1.1" and Counting.calls == 0  # type: ignore[arg-type]
    assert http_version(counting, [*head.headers, (b"connection", b"x")]) == "1.1"  # type: ignore[arg-type]
    assert Counting.calls == 1
