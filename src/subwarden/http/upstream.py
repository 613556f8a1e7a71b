"""Keep-alive connections to upstream targets: one response parser per connection, pooled per target."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Final, cast

import httptools

from subwarden.errors import GatewayError, InternalError, UpstreamUnavailable
from subwarden.http.outbox import BatchedWrites, Outbox
from subwarden.http.response import ResponseHead

if TYPE_CHECKING:
    # The one kind of sink: typed concretely so the compiled build calls it directly.
    from subwarden.http.exchange import Exchange as ResponseSink

log = logging.getLogger("subwarden.http")
#: Longest upstream response head accepted (status line and header fields); nginx's default is 4-8 KiB.
MAX_RESPONSE_HEAD: Final = 65_536


class UpstreamConnection(BatchedWrites):
    """One keep-alive connection; serves one exchange at a time (no pipelining upstream)."""

    def __init__(self, pool: UpstreamPool) -> None:
        super().__init__(pool.outbox)
        self.pool = pool
        self.sink: ResponseSink | None = None
        self.reused = False
        self.got_bytes = False
        self._parser = httptools.HttpResponseParser(self)
        self._head = ResponseHead()
        #: Bytes of the reads that left this response's head incomplete (``MAX_RESPONSE_HEAD``).
        self._head_bytes = 0
        self._expect_body = True
        self._head_done = False
        self._complete = False
        self._until_eof = False
        self._dirty = False
        self._keep_alive = True

    # ------------------------------------------------------------ use by the exchange
    def bind(self, sink: ResponseSink, expect_body: bool) -> None:
        self.sink = sink
        self._expect_body = expect_body
        self._head.reset()  # the exchange that read the last one used it within on_response_head only
        self._head_done = self._complete = self._until_eof = False
        self._head_bytes = 0
        self.got_bytes = False

    def set_reading(self, reading: bool) -> None:
        if self.transport is None or self.closed:
            return
        if reading:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def close(self) -> None:
        self.sink = None
        if not self.closed:
            self.send_pending()
            self.closed = True
            self.pool.forget(self)
            if self.transport is not None:
                self.transport.close()

    # ------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        sink, self.sink = self.sink, None
        if sink is None:
            return
        if self._head_done and self._until_eof and not self._complete:
            sink.on_response_end(False)
        else:
            sink.on_upstream_lost()

    def data_received(self, data: bytes) -> None:
        sink = self.sink
        if sink is None:  # bytes nobody asked for: the connection can no longer be trusted
            self.close()
            return
        self.got_bytes = True
        sink.on_upstream_progress()
        head_open = not self._head_done
        self._feed(sink, data)
        # A head still open after this many bytes (llhttp buffers a field until it ends) is refused.
        if head_open and not self._head_done and self.sink is sink:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_RESPONSE_HEAD:
                self._fail(sink, _head_too_large())

    def _feed(self, sink: ResponseSink, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            self._fail(sink, _callback_error(exc))
            return
        except httptools.HttpParserError:
            self._dirty = True
            if not self._complete:
                self._fail(sink, UpstreamUnavailable("upstream sent an invalid response"))
                return
        if self._complete:
            self._finish(sink)

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.on_upstream_writable(False)

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.on_upstream_writable(True)

    # ------------------------------------------------------------ parser callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._head_done:
            head = self._head
            head.size += len(name) + len(value) + 4
            if head.size > MAX_RESPONSE_HEAD:  # a long head that ends within one read
                raise _head_too_large()
            head.add(name, value)

    def on_headers_complete(self) -> None:
        if self._complete:  # a second response nobody asked for
            self._dirty = True
            return
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:
                raise UpstreamUnavailable("upstream switched protocols unasked")
            self._head.reset()  # interim response (100, 103): not forwarded
            return
        head = self._head
        self._head_done = True
        self._keep_alive = self._parser.should_keep_alive()
        body_allowed = self._expect_body and status not in (204, 304)
        self._until_eof = body_allowed and head.length is None and not head.chunked
        sink = self.sink
        if sink is not None:
            sink.on_response_head(status, head)
        if not body_allowed:
            self._complete = True
            if not self._expect_body:  # HEAD: llhttp would wait for Content-Length bytes
                self._parser = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        if self._complete:
            self._dirty = True
        elif body and self.sink is not None:
            self.sink.on_response_body(body)

    def on_message_complete(self) -> None:
        if self._head_done:
            self._complete = True

    # ------------------------------------------------------------ internals
    def _finish(self, sink: ResponseSink) -> None:
        self.sink = None
        sink.on_response_end(self._keep_alive and not self._dirty)

    def _fail(self, sink: ResponseSink, err: GatewayError) -> None:
        self.close()
        sink.on_upstream_failed(err)


def _head_too_large() -> UpstreamUnavailable:
    return UpstreamUnavailable("upstream response head too large", limit=MAX_RESPONSE_HEAD)


def _callback_error(exc: httptools.HttpParserCallbackError) -> GatewayError:
    cause = exc.__context__
    if isinstance(cause, GatewayError):
        return cause
    log.error("response handling failed", exc_info=cause or exc)
    return InternalError("response handling failed", exception=type(cause).__name__)


class UpstreamPool:
    """Idle keep-alive connections to one target, most recently used first."""

    __slots__ = ("_idle", "closed", "host", "label", "max_idle", "outbox", "port")

    def __init__(self, host: str, port: int, max_idle: int, outbox: Outbox) -> None:
        self.outbox = outbox
        self.host = host
        self.port = port
        self.label = f"{host}:{port}"
        self.max_idle = max_idle
        self.closed = False
        self._idle: list[UpstreamConnection] = []

    @property
    def idle(self) -> int:
        return len(self._idle)

    def acquire(self) -> UpstreamConnection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.reused = True
                return conn
        return None

    async def connect(self, timeout: float) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port), timeout
        )
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        if self.closed or conn.closed or len(self._idle) >= self.max_idle:
            conn.close()
        else:
            conn.sink = None
            self._idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        if conn in self._idle:
            self._idle.remove(conn)

    def close(self) -> None:
        self.closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
