"""One client connection: parses requests with llhttp, queues them in order, enforces limits and timeouts.

Input is fed to the parser in slices; when too many requests are queued or too many body bytes
are buffered, the rest is stashed and reading pauses, so memory per connection stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from time import perf_counter_ns
from typing import TYPE_CHECKING, cast

import httptools

from subwarden.errors import GatewayError, HeadersTooLarge, InternalError, RequestInvalid, RequestTimeout
from subwarden.http.exchange import Exchange
from subwarden.http.forward import Peer
from subwarden.http.head import RequestHead, parse_head
from subwarden.pipeline.context import RequestContext

if TYPE_CHECKING:
    from subwarden.http.server import DataPlane

log = logging.getLogger("subwarden.http")

#: Client timer kinds (index into ``DataPlane.timeouts``).
NO_TIMER, HEADER, BODY, IDLE, LINGER = 0, 1, 2, 3, 4
#: Reasons reading is paused.
PAUSE_UPSTREAM, PAUSE_INPUT = 1, 2
SLICE = 16_384
BODY_SLICE = 65_536
BUFFER_HIGH = 256 * 1024
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


class _Stop(Exception):
    """Raised from a parser callback: parse nothing more on this connection."""


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    return len(url) + sum(len(n) + len(v) + 4 for n, v in headers) + 16


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "_buffered",
        "_client_eof",
        "_draining",
        "_head_first",
        "_head_later",
        "_head_open",
        "_headers",
        "_keep_alive",
        "_lingering",
        "_parsing",
        "_paused",
        "_slice_len",
        "_stash",
        "_stopped",
        "_timer",
        "_url",
        "client_deadline",
        "closed",
        "limits",
        "parser",
        "peer",
        "plane",
        "queue",
        "transport",
        "upstream_deadline",
        "write_deadline",
        "write_paused",
    )

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self.limits = plane.limits
        self.transport: asyncio.Transport | None = None
        self.peer = Peer("", False)
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Exchange] = deque()
        self.closed = False
        self.write_paused = False
        self.client_deadline = self.upstream_deadline = self.write_deadline = 0.0
        self._timer = HEADER
        self._paused = 0
        self._stash: deque[bytes] = deque()
        self._buffered = 0
        self._stopped = False
        self._draining = False
        self._keep_alive = True
        self._lingering = False
        self._client_eof = False
        self._parsing: Exchange | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_open = False
        self._head_first = self._head_later = self._slice_len = 0

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

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_deadline = self.plane.loop.time() + self.limits.idle_timeout
        if self.queue:
            self.queue[0].set_client_writable(False)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.queue:
            self.queue[0].set_client_writable(True)

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
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._head_open = False
        try:
            head = self._parse_head()
        except GatewayError as err:
            self._reject(err)
            raise _Stop from None
        self._keep_alive = head.keep_alive
        exchange = Exchange(self, head, self._context(head))
        if head.has_body:
            self._parsing = exchange
            self._arm(NO_TIMER if head.expect_continue else BODY)
        else:
            self._arm(NO_TIMER)
        self.queue.append(exchange)
        if len(self.queue) == 1:
            exchange.start()

    def on_body(self, body: bytes) -> None:
        exchange = self._parsing
        if exchange is not None:
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
        if self._head_first + self._head_later > max_bytes and _head_size(self._url, headers) > max_bytes:
            raise HeadersTooLarge("request head exceeds listen.limits.max_header_bytes")
        parser = self.parser
        raw = parser.get_method()
        head = parse_head(_METHODS.get(raw) or raw.decode(), parser.get_http_version(), self._url, headers)
        if parser.should_upgrade():
            if head.has_body:
                raise RequestInvalid("upgrade request with a body")
            head.keep_alive = False
        return head

    def _context(self, head: RequestHead) -> RequestContext:
        plane = self.plane
        trace_id, traceparent = plane.ids.trace(head.traceparent)
        return RequestContext(
            head.method,
            head.path,
            self._headers,
            host=head.host,
            query=head.query,
            client_ip=plane.client_ip(self.peer, head.xff),
            request_id=plane.ids.request_id(head.request_id),
            trace_id=trace_id,
            traceparent=traceparent,
            started_ns=perf_counter_ns(),
        )

    def _reject(self, err: GatewayError) -> None:
        """Refuse the request being parsed (answered in turn, then the connection closes)."""
        self._stopped = True
        self._head_open = False
        method = ""
        if self._url:
            raw = self.parser.get_method()
            method = _METHODS.get(raw) or raw.decode("latin-1")
        path = self._url.partition(b"?")[0][:1024].decode("latin-1")
        head = RequestHead(method, True)
        head.keep_alive = False
        ctx = RequestContext(
            method, path, [], client_ip=self.peer.ip, request_id=self.plane.ids.request_id(None),
            started_ns=perf_counter_ns(),
        )
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
    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        if not self.closed and self.transport is not None:
            self.transport.writelines(parts)

    def send_continue(self) -> None:
        self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self._parsing is not None:
            self._arm(BODY)

    def closing_after(self, exchange: Exchange) -> bool:
        """Whether the response of ``exchange`` is this connection's last."""
        return self._draining and len(self.queue) <= 1

    def arm_upstream(self, timeout: float) -> None:
        self.upstream_deadline = self.plane.loop.time() + timeout

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
        self.upstream_deadline = 0.0
        if self.closed:
            return
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
    def close(self) -> None:
        """Lingering close: send FIN after the responses, discard input until the client closes too.

        A plain close with unread client bytes makes the kernel send RST, which can destroy the
        response (a 413 or 400) before the client reads it.
        """
        self._stopped = True
        transport = self.transport
        if self.closed or self._lingering or transport is None:
            return
        if self._client_eof or not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        transport.write_eof()
        if self._paused:
            self._paused = 0
            transport.resume_reading()
        self._arm(LINGER)

    def abort(self) -> None:
        self._stopped = True
        if not self.closed and self.transport is not None:
            self.transport.abort()

    def drain(self) -> None:
        """Graceful shutdown: finish what is queued, then close; idle connections close now."""
        self._draining = True
        if not self.queue and not self._head_open:
            self.close()

    def check_timeouts(self, now: float) -> None:
        if self.client_deadline and now >= self.client_deadline:
            self._client_timed_out()
        if self.write_paused:
            if now >= self.write_deadline:
                self.abort()
        elif self.upstream_deadline and now >= self.upstream_deadline:
            self.upstream_deadline = 0.0
            if self.queue:
                self.queue[0].upstream_timed_out()

    def _client_timed_out(self) -> None:
        kind = self._timer
        self._arm(NO_TIMER)
        if kind == LINGER and self.transport is not None:
            self.transport.close()
        elif kind == BODY and self._parsing is not None:
            self._fail_parsing(RequestTimeout("request body stalled"))
        elif kind == HEADER and self._head_open:
            self._reject(RequestTimeout("request head not received in time"))
        elif not self.queue:
            self.close()

    # ------------------------------------------------------------ timers and flow control
    def _arm(self, kind: int) -> None:
        self._timer = kind
        if kind == NO_TIMER or self._paused:
            self.client_deadline = 0.0  # suspended while we are the ones not reading
        else:
            self.client_deadline = self.plane.loop.time() + self.plane.timeouts[kind]

    def _pause(self, reason: int) -> None:
        if not self._paused and not self.closed and self.transport is not None:
            self.transport.pause_reading()
            self.client_deadline = 0.0
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and not self.closed and self.transport is not None:
            self.transport.resume_reading()
            self._arm(self._timer)
