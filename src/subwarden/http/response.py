"""The response head sent to the client: upstream headers minus hop-by-hop, re-framed for this client.

Header lines are classified as the parser reports them (one cached dict lookup per name) and the
ones forwarded are rendered right away, so building the client's head is one join.
"""

from __future__ import annotations

from typing import Final

from subwarden.errors import UpstreamUnavailable
from subwarden.http.forward import HOP_BY_HOP
from subwarden.http.problem import status_line

#: Body framing towards the client.
NO_BODY: Final = 0
LENGTH: Final = 1
CHUNKED: Final = 2
UNTIL_CLOSE: Final = 3
#: How a response header name is handled.
_FORWARD: Final = 0
_CONTENT_LENGTH: Final = 1
_TRANSFER_ENCODING: Final = 2
_CONNECTION: Final = 3
_HOP: Final = 4
_REQUEST_ID: Final = 5
_SPECIAL_KINDS: Final = {
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"connection": _CONNECTION,
    b"x-request-id": _REQUEST_ID,
}
_NAME_KINDS: Final[dict[bytes, int]] = {}
#: Lengths of the names handled specially: a name of any other length is forwarded without hashing it
#: (most of a response's names: Server, Date, Content-Type, ...; a lookup hashes the new bytes each time).
_SPECIAL_LENGTHS: Final = frozenset(len(name) for name in (*_SPECIAL_KINDS, *HOP_BY_HOP))
_NAME_KINDS_MAX: Final = 4096  # distinct spellings remembered; the rest are classified each time
_STATUS_LINES: Final[dict[int, bytes]] = {}
_NO_TOKENS: Final[frozenset[bytes]] = frozenset()
#: Connection options naming headers that are dropped anyway.
_ALREADY_DROPPED: Final = frozenset({b"keep-alive"})


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = status_line(status)
    return line


def name_kind(name: bytes) -> int:
    """How the response header ``name`` (any case) is handled; remembered per spelling."""
    if len(name) not in _SPECIAL_LENGTHS:
        return _FORWARD
    kind = _NAME_KINDS.get(name)
    if kind is None:
        lower = name.lower()
        kind = _SPECIAL_KINDS.get(lower, _HOP if lower in HOP_BY_HOP else _FORWARD)
        if len(_NAME_KINDS) < _NAME_KINDS_MAX:
            _NAME_KINDS[name] = kind
    return kind


class ResponseHead:
    """The upstream response head, classified while it is parsed: framing, what to drop, what to forward."""

    __slots__ = ("chunked", "connection_tokens", "has_request_id", "length", "lines", "size")

    #: Bytes of the header fields so far (name, value, ": ", CRLF), for the upstream head limit.
    size: int
    length: bytes | None
    chunked: bool
    has_request_id: bool
    connection_tokens: frozenset[bytes]
    #: Rendered header lines to forward (name, ": ", value, CRLF, ...), before Connection filtering.
    lines: list[bytes]

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Empty, for the connection's next response (one object per connection, not one per response)."""
        self.size = 0
        self.length = None
        self.chunked = False
        self.has_request_id = False
        self.connection_tokens = _NO_TOKENS
        self.lines = []

    def add(self, name: bytes, value: bytes) -> None:
        kind = name_kind(name)
        if kind == _FORWARD:
            self.lines += (name, b": ", value, b"\r\n")
        elif kind == _REQUEST_ID:
            self.has_request_id = True
            self.lines += (name, b": ", value, b"\r\n")
        elif kind == _CONTENT_LENGTH:
            self.length = value.strip()
        elif kind == _TRANSFER_ENCODING:
            if value.strip().lower() != b"chunked":
                raise UpstreamUnavailable("upstream used a transfer coding other than chunked")
            self.chunked = True
        # "keep-alive" (nginx, every response) names only a header that is dropped anyway: nothing to split.
        elif kind == _CONNECTION and value != b"keep-alive" and value != b"Keep-Alive":
            self.connection_tokens = self.connection_tokens | {t.strip().lower() for t in value.split(b",")}

    def framing(self, body_allowed: bool, client_http11: bool) -> int:
        if not body_allowed:
            return NO_BODY
        if self.length is not None and not self.chunked:
            return LENGTH
        return CHUNKED if client_http11 else UNTIL_CLOSE

    def forwarded_lines(self) -> list[bytes]:
        """The header lines to forward: minus those the upstream's Connection header named."""
        tokens = self.connection_tokens
        lines = self.lines
        if not tokens or tokens <= _ALREADY_DROPPED:  # nginx: "Connection: keep-alive" on every response
            return lines
        kept: list[bytes] = []
        for i in range(0, len(lines), 4):
            if lines[i].lower() not in tokens:
                kept += lines[i : i + 4]
        return kept


def client_head(
    status: int, upstream: ResponseHead, framing: int, *, close: bool, http10_keep_alive: bool, request_id: bytes
) -> bytes:
    """Bytes of the response head for the client (``framing`` from ``ResponseHead.framing``)."""
    out = [_status_line(status), *upstream.forwarded_lines()]
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
