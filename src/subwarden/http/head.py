"""Validation of a parsed request head: framing, smuggling shapes, target form, hop-by-hop tokens.

Pure functions over what the HTTP parser produced (llhttp already refuses most malformed
input); everything here adds the checks a proxy needs on top, and says why a request is refused.
"""

from __future__ import annotations

import re
from typing import Any, Final

import httptools

from subwarden.errors import ExpectationFailed, RequestInvalid

_HOST: Final = re.compile(rb"(?:[A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_DOT_SEGMENT: Final = re.compile(rb"(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)
#: Single bytes as ints: ``b"#" in data`` first tries the needle as an int, and the TypeError it raises
#: and clears costs ~130 ns a test; an int needle is a plain memchr.
_HASH: Final = ord("#")
_DOT: Final = ord(".")
_PERCENT: Final = ord("%")
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class RequestHead:
    """What the data plane needs to know about one request beyond the RequestContext."""

    __slots__ = (
        "chunked",
        "connection_tokens",
        "content_length",
        "expect_continue",
        "forwarded",
        "fwd_host",
        "fwd_proto",
        "host",
        "http11",
        "keep_alive",
        "method",
        "method_bytes",
        "path",
        "query",
        "request_id",
        "target",
        "traceparent",
        "xff",
    )

    def __init__(self, method: str, http11: bool) -> None:
        self.method = method
        self.method_bytes = method.encode("latin-1")
        self.http11 = http11
        self.path = "/"
        self.query = ""
        #: The request target as forwarded: origin-form path and query (absolute-form reduced to them).
        self.target = b"/"
        self.host = ""
        self.keep_alive = http11
        self.content_length = 0
        self.chunked = False
        self.expect_continue = False
        self.connection_tokens: frozenset[bytes] = frozenset()
        self.request_id: bytes | None = None
        self.traceparent: bytes | None = None
        #: Tuples, empty unless the headers came (the usual case): no two lists made and freed per request.
        self.xff: tuple[bytes, ...] = ()
        self.fwd_proto: bytes | None = None
        self.fwd_host: bytes | None = None
        self.forwarded: tuple[bytes, ...] = ()

    @property
    def has_body(self) -> bool:
        return self.chunked or self.content_length > 0

    @property
    def sends_empty_length(self) -> bool:
        """Forward ``content-length: 0`` for body methods that came without a body."""
        return self.method in _BODY_METHODS


_METHODS: Final = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


def method_name(raw: bytes) -> str:
    return _METHODS.get(raw) or raw.decode("latin-1")


def head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """Approximate bytes of a request head (request line and header lines)."""
    return len(url) + sum(len(n) + len(v) + 4 for n, v in headers) + 16


def parse_head(method: str, version: str, url: bytes, headers: list[tuple[bytes, bytes]]) -> RequestHead:
    """Check one request head; raise ``RequestInvalid`` / ``ExpectationFailed`` when it must be refused."""
    if version not in ("1.1", "1.0"):
        raise RequestInvalid("unsupported HTTP version", version=version)
    head = RequestHead(method, version == "1.1")
    _read_target(head, url)
    host, hosts = _read_headers(head, headers)
    _read_host(head, host, hosts)
    return head


def _read_target(head: RequestHead, url: bytes) -> None:
    if url.startswith(b"/"):
        path, _, query = url.partition(b"?")
    elif url[:7].lower() == b"http://" or url[:8].lower() == b"https://":
        path, query = _absolute_form(head, url)
    else:
        raise RequestInvalid("request target is not origin-form or absolute-form")
    if _HASH in url:
        raise RequestInvalid("fragment in request target")
    if (_DOT in path or _PERCENT in path) and _DOT_SEGMENT.search(path):
        raise RequestInvalid("dot-segment in request path")
    head.target = url if url[:1] == b"/" else (path + b"?" + query if query else path)
    head.path = path.decode("latin-1")
    head.query = query.decode("latin-1")


def _absolute_form(head: RequestHead, url: bytes) -> tuple[bytes, bytes]:
    try:
        # Any: httptools' stub says bytes, but absent parts are None (compiled code checks the stub's types).
        parsed: Any = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        raise RequestInvalid("invalid absolute-form request target") from None
    if parsed.userinfo or not parsed.host:
        raise RequestInvalid("invalid absolute-form request target")
    authority = parsed.host + (b":%d" % parsed.port if parsed.port else b"")
    head.host = authority.decode("latin-1")
    return parsed.path or b"/", parsed.query or b""


def _read_headers(head: RequestHead, headers: list[tuple[bytes, bytes]]) -> tuple[bytes, int]:
    """Read the headers the proxy acts on; the (first) Host value and how many Host headers came.

    Counts and first values rather than lists of each: three list allocations per request saved."""
    host = b""
    hosts = 0
    transfer_encodings = 0
    has_length = False
    request_id: bytes | None = None
    request_ids = 0
    traceparent: bytes | None = None
    traceparents = 0
    for name, value in headers:
        if name not in _SPECIAL:
            continue
        if name == b"host":
            if not hosts:
                host = value.strip()
            hosts += 1
        elif name == b"content-length":
            has_length = True
            head.content_length = int(value.strip())
        elif name == b"transfer-encoding":
            transfer_encodings += 1
            if value.strip().lower() != b"chunked":
                raise RequestInvalid("Transfer-Encoding other than exactly 'chunked'")
        elif name == b"connection":
            head.connection_tokens |= {t.strip().lower() for t in value.split(b",") if t.strip()}
        elif name == b"expect":
            _read_expect(head, value)
        elif name == b"x-request-id":
            request_id = value
            request_ids += 1
        elif name == b"traceparent":
            traceparent = value
            traceparents += 1
        else:
            _read_forwarding(head, name, value)
    _check_framing(head, transfer_encodings, has_length)
    head.request_id = request_id if request_ids == 1 else None
    head.traceparent = traceparent if traceparents == 1 else None
    if head.http11:
        head.keep_alive = b"close" not in head.connection_tokens
    else:
        head.keep_alive = b"keep-alive" in head.connection_tokens and b"close" not in head.connection_tokens
    return host, hosts


def _check_framing(head: RequestHead, transfer_encodings: int, has_length: bool) -> None:
    if transfer_encodings > 1:
        raise RequestInvalid("several Transfer-Encoding headers")
    if transfer_encodings and has_length:
        raise RequestInvalid("both Content-Length and Transfer-Encoding")
    if transfer_encodings and not head.http11:
        raise RequestInvalid("Transfer-Encoding in an HTTP/1.0 request")
    head.chunked = transfer_encodings == 1
    if not head.has_body:
        head.expect_continue = False


def _read_expect(head: RequestHead, value: bytes) -> None:
    if value.strip().lower() != b"100-continue":
        raise ExpectationFailed("unsupported expectation")
    head.expect_continue = head.http11


def _read_forwarding(head: RequestHead, name: bytes, value: bytes) -> None:
    if name == b"x-forwarded-for":
        head.xff += (value.strip(),)
    elif name == b"x-forwarded-proto":
        head.fwd_proto = value.strip()
    elif name == b"x-forwarded-host":
        head.fwd_host = value.strip()
    elif name == b"forwarded":
        head.forwarded += (value,)


def _read_host(head: RequestHead, host: bytes, hosts: int) -> None:
    if hosts > 1:
        raise RequestInvalid("several Host headers")
    if not hosts:
        if head.http11 and not head.host:
            raise RequestInvalid("HTTP/1.1 request without Host")
        return
    if host and not _valid_host(host):
        raise RequestInvalid("invalid Host header")
    if not head.host:  # absolute-form authority wins over Host
        head.host = host.decode("latin-1")


_VALID_HOSTS: Final[dict[bytes, bool]] = {}


def _valid_host(host: bytes) -> bool:
    """Host syntax check, remembered for the few distinct hosts a gateway sees (bounded)."""
    known = _VALID_HOSTS.get(host)
    if known is None:
        known = _HOST.fullmatch(host) is not None
        if len(_VALID_HOSTS) < 1024:
            _VALID_HOSTS[host] = known
    return known


_SPECIAL: Final = frozenset(
    {
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"expect",
        b"x-request-id",
        b"traceparent",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
    }
)
