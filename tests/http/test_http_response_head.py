"""The upstream response head as the connection classifies it; one object serves a connection's responses."""

from __future__ import annotations

from subwarden.http import response
from subwarden.http.forward import HOP_BY_HOP
from subwarden.http.response import CHUNKED, LENGTH, ResponseHead, client_head


def _head(*headers: tuple[bytes, bytes]) -> ResponseHead:
    head = ResponseHead()
    for name, value in headers:
        head.add(name, value)
    return head


def test_a_reset_head_keeps_nothing_of_the_last_response() -> None:
    head = _head((b"Content-Length", b"5"), (b"Connection", b"x-secret"), (b"X-Secret", b"s"),
                 (b"X-Request-ID", b"up-1"), (b"Transfer-Encoding", b"chunked"))
    head.size = 900
    assert head.connection_tokens and head.has_request_id and head.chunked and head.length == b"5"
    head.reset()
    assert (head.size, head.length, head.chunked, head.has_request_id) == (0, None, False, False)
    assert not head.connection_tokens and head.lines == []
    head.add(b"Content-Length", b"2")
    head.add(b"X-Secret", b"kept")  # no longer named by a Connection header
    rendered = client_head(200, head, head.framing(True, True), close=False, http10_keep_alive=False, request_id=b"r")
    assert rendered == b"HTTP/1.1 200 OK\r\nX-Secret: kept\r\ncontent-length: 2\r\nx-request-id: r\r\n\r\n"


def test_connection_tokens_of_several_headers_add_up() -> None:
    head = _head((b"Connection", b"x-a"), (b"Connection", b"X-B, keep-alive"), (b"X-A", b"1"), (b"X-B", b"2"),
                 (b"X-C", b"3"))
    assert head.connection_tokens == {b"x-a", b"x-b", b"keep-alive"}
    assert head.forwarded_lines() == [b"X-C", b": ", b"3", b"\r\n"]
    assert head.framing(True, True) == CHUNKED and _head((b"Content-Length", b"0")).framing(True, True) == LENGTH


def test_every_special_or_hop_by_hop_name_is_recognised_in_any_case_and_others_are_forwarded() -> None:
    for name in (*response._SPECIAL_KINDS, *HOP_BY_HOP):
        for spelling in (name, name.upper(), name.title()):
            assert response.name_kind(spelling) != response._FORWARD, spelling
    for name in (b"Server", b"Date", b"Content-Type", b"X-Request-IDs", b"Connections", b"T"):
        assert response.name_kind(name) == response._FORWARD, name
