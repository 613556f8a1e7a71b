"""One client connection: parses requests with llhttp, queues them in order, enforces limits and timeouts.

Input is fed to the parser in slices; when too many requests are queued or too many body bytes
are buffered, the rest is stashed and reading pauses, so memory per connection stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Final, cast

import httptools

from subwarden.errors import GatewayError, HeadersTooLarge, InternalError, RequestInvalid, RequestTimeout
from subwarden.http.clientio import BODY, HEADER, IDLE, NO_TIMER, PAUSE_INPUT, PAUSE_UPSTREAM, ClientIO
from subwarden.http.exchange import Exchange
from subwarden.http.forward import Peer
from subwarden.http.head import RequestHead, head_size, method_name, parse_head
from subwarden.http.intake import refused_request, request_context

if TYPE_CHECKING:
    from subwarden.http.server import DataPlane

log = logging.getLogger("subwarden.http")

SLICE: Final = 16_384
BODY_SLICE: Final = 65_536
BUFFER_HIGH: Final = 256 * 1024
#: Bytes of size line and CRLFs allowed per chunk (chunk extensions beyond it count as abuse).
CHUNK_LINE_ALLOWANCE: Final = 64


def http_version(parser: httptools.HttpRequestParser, headers: list[tuple[bytes, bytes]]) -> str:
    """The parsed request's HTTP version, as ``parser.get_http_version()`` gives it.

    That call formats a string (~2.2k instructions a request). llhttp answers keep-alive for a head
    without Connection or Proxy-Connection headers (the flags it reads come only from those) by the
    version alone: yes for major and minor both above 0, and the only such version it accepts is 1.1.
    So that answer settles the usual request; any other asks the parser. ``headers`` are lower-cased.
    """
    if parser.should_keep_alive():
        for name, _ in headers:
            if name == b"connection" or name == b"proxy-connection":
                return parser.get_http_version()
        return "1.1"
    return parser.get_http_version()


class ParseLimits:
    """The request-parsing limits as plain ints: read per request, and a config model's attribute is a
    dictionary lookup each time (~330 instructions compiled) where these are a field load."""

    __slots__ = ("max_header_bytes", "max_headers", "max_pipelined")

    def __init__(self, max_header_bytes: int, max_headers: int, max_pipelined: int) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_pipelined = max_pipelined


class _Stop(Exception):
    """Raised from a parser callback: parse nothing more on this connection."""


class ClientConnection(ClientIO):
    __slots__ = (
        "_buffered",
        "_draining",
        "_framing_budget",
        "_head_first",
        "_head_later",
        "_head_open",
        "_headers",
        "_keep_alive",
        "_parsing",
        "_slice_len",
        "_stash",
        "_url",
        "limits",
        "parser",
        "peer",
        "plane",
        "queue",
    )

    def __init__(self, plane: DataPlane) -> None:
        super().__init__(plane.timeouts, plane.outbox)
        self.plane = plane
        self.limits: ParseLimits = plane.parse_limits
        self.peer = Peer("", False)
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Exchange] = deque()
        self._stash: deque[bytes] = deque()
        self._buffered = 0
        self._draining = False
        self._keep_alive = True
        self._parsing: Exchange | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_open = False
        self._head_first = self._head_later = self._slice_len = 0
        self._framing_budget = 0

    # ------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        ip = peer[0] if peer else ""
        self.peer = Peer(ip, self.plane.is_trusted(ip))
        self._arm(HEADER)
        self.plane.attach(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stopped = True
        self._stash.clear()
        self.plane.detach(self)
        if self.queue:
            active = self.queue[0]
            self.queue.clear()
            active.client_gone()

    def data_received(self, data: bytes) -> None:
        if self._stopped:
            return
        if self._stash or self._input_blocked():
            self._stash.append(data)
            self._pause(PAUSE_INPUT)
            return
        rest = self._feed(data)
        if rest is not None:
            self._stash.append(rest)
            self._pause(PAUSE_INPUT)

    def eof_received(self) -> bool | None:
        """The client half-closed: answer what is queued, then close; a half-sent body is refused."""
        self._stopped = True
        self._client_eof = True
        if self._lingering or not self.queue:
            return None
        if self._parsing is not None:
            self._fail_parsing(RequestInvalid("client closed the connection mid-body"))
        return True

    def _writable(self, writable: bool) -> None:
        if self.queue:
            self.queue[0].set_client_writable(writable)

    # ------------------------------------------------------------ feeding the parser
    def _feed(self, data: bytes) -> bytes | None:
        """Feed ``data``; return the unfed remainder when input became blocked."""
        if len(data) <= SLICE:
            self._feed_slice(data)
            return None
        view = memoryview(data)
        start = 0
        while start < len(data):
            if self._stopped:
                return None
            if start and self._input_blocked():
                return data[start:]
            # Small slices bound how many pipelined heads one slice can queue; bodies go faster.
            end = start + (BODY_SLICE if self._parsing is not None else SLICE)
            self._feed_slice(view[start:end])
            start = end
        return None

    def _feed_slice(self, data: bytes | memoryview) -> None:
        if self._head_open:
            self._head_later += len(data)
        elif self._parsing is not None:
            self._framing_budget -= len(data)
        self._slice_len = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stopped = True  # nothing after an upgrade request is parsed; it is answered and closed
        except httptools.HttpParserCallbackError as exc:
            if not self._stopped:
                self._callback_failed(exc)
        except httptools.HttpParserError as exc:
            self._parse_failed(exc)
        else:
            if self._head_open and self._head_later > self.limits.max_header_bytes:
                self._reject(HeadersTooLarge("request head exceeds listen.limits.max_header_bytes"))
            elif self._framing_budget < 0 and self._parsing is not None:
                # Trailers (and chunk-size lines) are buffered by the parser until complete: cap them.
                self._fail_parsing(HeadersTooLarge("chunk framing or trailers too large"))

    def _drain_stash(self) -> None:
        stash = self._stash
        while stash and not self._stopped and not self._input_blocked():
            rest = self._feed(stash.popleft())
            if rest is not None:
                stash.appendleft(rest)
                break
        if self._stopped:
            stash.clear()
        if not stash and not self._input_blocked():
            self._resume(PAUSE_INPUT)

    def _input_blocked(self) -> bool:
        if self._buffered > BUFFER_HIGH:
            return True
        return self._parsing is None and len(self.queue) >= self.limits.max_pipelined

    # ------------------------------------------------------------ parser callbacks
    def on_message_begin(self) -> None:
        self._head_open = True
        self._url = b""
        self._headers = []
        self._head_first = self._slice_len
        self._head_later = 0
        if self._timer != HEADER:
            self._arm(HEADER)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._head_open:
            self._headers.append((name.lower(), value))
        # else: a trailer after a chunked body; never forwarded (its size is capped by the budget)

    def on_chunk_header(self) -> None:
        self._framing_budget += CHUNK_LINE_ALLOWANCE

    def on_headers_complete(self) -> None:
        self._head_open = False
        try:
            head = self._parse_head()
        except GatewayError as err:
            self._reject(err)
            raise _Stop from None
        self._keep_alive = head.keep_alive
        exchange = Exchange(self, head, request_context(self.plane, head, self._headers, self.peer))
        if head.has_body:
            self._parsing = exchange
            self._framing_budget = self.limits.max_header_bytes if head.chunked else 1 << 62
            self._arm(NO_TIMER if head.expect_continue else BODY)
        else:
            self._arm(NO_TIMER)
        self.queue.append(exchange)
        if len(self.queue) == 1:
            exchange.start()

    def on_body(self, body: bytes) -> None:
        exchange = self._parsing
        if exchange is not None:
            self._framing_budget += len(body)
            if self._timer == BODY:
                self._arm(BODY)
            exchange.body_chunk(body)

    def on_message_complete(self) -> None:
        exchange, self._parsing = self._parsing, None
        if exchange is not None:
            self._arm(NO_TIMER)
            exchange.body_end()
        if not self._keep_alive:
            self._stopped = True
            raise _Stop

    # ------------------------------------------------------------ request heads
    def _parse_head(self) -> RequestHead:
        limits = self.limits
        headers = self._headers
        if len(headers) > limits.max_headers:
            raise HeadersTooLarge("too many header fields", count=len(headers))
        max_bytes = limits.max_header_bytes
        if self._head_first + self._head_later > max_bytes and head_size(self._url, headers) > max_bytes:
            raise HeadersTooLarge("request head exceeds listen.limits.max_header_bytes")
        parser = self.parser
        head = parse_head(method_name(parser.get_method()), http_version(parser, headers), self._url, headers)
        if parser.should_upgrade():
            if head.has_body:
                raise RequestInvalid("upgrade request with a body")
            head.keep_alive = False
        return head

    def _reject(self, err: GatewayError) -> None:
        """Refuse the request being parsed (answered in turn, then the connection closes)."""
        self._stopped = True
        self._head_open = False
        method = method_name(self.parser.get_method()) if self._url else ""
        head, ctx = refused_request(self.plane, method, self._url, self.peer)
        exchange = Exchange(self, head, ctx, broken=err)
        self._arm(NO_TIMER)
        self.queue.append(exchange)
        if len(self.queue) == 1:
            exchange.start()

    def _parse_failed(self, exc: httptools.HttpParserError) -> None:
        self._fail_parsing(RequestInvalid("malformed request", parser=str(exc)[:120]))

    def _callback_failed(self, exc: httptools.HttpParserCallbackError) -> None:
        cause = exc.__context__
        log.error("request handling failed", exc_info=cause or exc)
        self._fail_parsing(InternalError("request handling failed", exception=type(cause).__name__))

    def _fail_parsing(self, err: GatewayError) -> None:
        """Fail the request whose body is being parsed, or refuse the head being parsed."""
        exchange, self._parsing = self._parsing, None
        if exchange is not None:
            self._stopped = True
            exchange.body_failed(err)
        else:
            self._reject(err)

    # ------------------------------------------------------------ used by exchanges
    def send_continue(self) -> None:
        self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self._parsing is not None:
            self._arm(BODY)

    def closing_after(self, exchange: Exchange) -> bool:
        """Whether the response of ``exchange`` is this connection's last."""
        return self._draining and len(self.queue) <= 1

    def set_upstream_blocked(self, blocked: bool) -> None:
        if blocked:
            self._pause(PAUSE_UPSTREAM)
        else:
            self._resume(PAUSE_UPSTREAM)

    def buffer(self, size: int) -> None:
        self._buffered += size

    def unbuffer(self, size: int) -> None:
        self._buffered -= size
        if self._paused & PAUSE_INPUT and not self._input_blocked():
            self.plane.loop.call_soon(self._drain_stash)

    def exchange_done(self, exchange: Exchange) -> None:
        queue = self.queue
        if queue and queue[0] is exchange:
            queue.popleft()
        self.upstream_timeout = 0.0
        if self.closed:
            return
        self._resume(PAUSE_UPSTREAM)  # that exchange's upstream will never report writable again
        if exchange.close_after or (not queue and (self._draining or self._stopped)):
            self.close()
            return
        if queue:
            queue[0].start()
        elif not self._head_open and self._parsing is None:
            self._arm(IDLE)
        if self._paused & PAUSE_INPUT and not self._input_blocked():
            self.plane.loop.call_soon(self._drain_stash)

    # ------------------------------------------------------------ lifecycle
    def drain(self) -> None:
        """Graceful shutdown: finish what is queued, then close; idle connections close now."""
        self._draining = True
        if not self.queue and not self._head_open:
            self.close()

    def _timed_out(self, kind: int) -> None:
        if kind == BODY and self._parsing is not None:
            self._fail_parsing(RequestTimeout("request body stalled"))
        elif kind == HEADER and self._head_open:
            self._reject(RequestTimeout("request head not received in time"))
        elif not self.queue:
            self.close()

    def _upstream_timed_out(self) -> None:
        if self.queue:
            self.queue[0].upstream_timed_out()
