"""The response head sent to the client: upstream headers minus hop-by-hop, re-framed for this client."""

from __future__ import annotations

from subwarden.errors import UpstreamUnavailable
from subwarden.http.forward import HOP_BY_HOP
from subwarden.http.problem import status_line

#: Body framing towards the client.
NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = 0, 1, 2, 3

_DROP = HOP_BY_HOP | {b"content-length"}
_STATUS_LINES: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = status_line(status)
    return line


class ResponseHead:
    """The upstream response head, classified once: how its body is framed and what to drop."""

    __slots__ = ("chunked", "connection_tokens", "has_request_id", "kept", "length")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.length: bytes | None = None
        self.chunked = False
        self.has_request_id = False
        self.connection_tokens: set[bytes] = set()
        self.kept: list[tuple[bytes, bytes, bytes]] = []
        for name, value in headers:
            lower = name.lower()
            if lower in _DROP:
                self._hop(lower, value)
            else:
                self.has_request_id = self.has_request_id or lower == b"x-request-id"
                self.kept.append((lower, name, value))

    def _hop(self, lower: bytes, value: bytes) -> None:
        if lower == b"content-length":
            self.length = value.strip()
        elif lower == b"transfer-encoding":
            if value.strip().lower() != b"chunked":
                raise UpstreamUnavailable("upstream used a transfer coding other than chunked")
            self.chunked = True
        elif lower == b"connection":
            self.connection_tokens |= {t.strip().lower() for t in value.split(b",")}

    def framing(self, body_allowed: bool, client_http11: bool) -> int:
        if not body_allowed:
            return NO_BODY
        if self.length is not None and not self.chunked:
            return LENGTH
        return CHUNKED if client_http11 else UNTIL_CLOSE


def client_head(
    status: int, upstream: ResponseHead, framing: int, *, close: bool, http10_keep_alive: bool, request_id: bytes
) -> bytes:
    """Bytes of the response head for the client (``framing`` from ``ResponseHead.framing``)."""
    out = [_status_line(status)]
    tokens = upstream.connection_tokens
    for lower, name, value in upstream.kept:
        if not tokens or lower not in tokens:
            out += (name, b": ", value, b"\r\n")
    if framing == LENGTH or (framing == NO_BODY and upstream.length is not None and status != 204):
        out += (b"content-length: ", upstream.length or b"0", b"\r\n")
    elif framing == CHUNKED:
        out.append(b"transfer-encoding: chunked\r\n")
    if not upstream.has_request_id:
        out += (b"x-request-id: ", request_id, b"\r\n")
    if close or framing == UNTIL_CLOSE:
        out.append(b"connection: close\r\n")
    elif http10_keep_alive:
        out.append(b"connection: keep-alive\r\n")
    out.append(b"\r\n")
    return b"".join(out)
