"""One request's life on the data plane: admission, body to the upstream, response back, record.

An ``Exchange`` is created per parsed request head. It runs only when it is the first in its
connection's queue (responses stay in order). Everything is driven by callbacks; a task exists
only while a pipeline stage or an upstream connect actually waits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from time import perf_counter_ns
from typing import TYPE_CHECKING, Final

from subwarden.errors import BodyTooLarge, GatewayError, InternalError, UpstreamTimeout, UpstreamUnavailable
from subwarden.http.forward import RoutePlan, TargetPlan, request_head
from subwarden.http.head import RequestHead
from subwarden.http.response import CHUNKED, NO_BODY, UNTIL_CLOSE, ResponseHead, client_head
from subwarden.http.upstream import UpstreamConnection, UpstreamPool
from subwarden.pipeline.context import RequestContext, outcome_rule

if TYPE_CHECKING:
    from subwarden.http.connection import ClientConnection

log = logging.getLogger("subwarden.http")

QUEUED: Final = 0
ADMITTING: Final = 1
CONNECTING: Final = 2
SENDING: Final = 3
RESPONDING: Final = 4
DONE: Final = 5
#: The body limit before admission sets the route's (``sys.maxsize``, a module attribute lookup per request).
NO_LIMIT: Final = 2**63 - 1
#: Methods retried once on a fresh connection when a reused one closed before answering.
_RETRYABLE: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "TRACE"})


def chunk(data: bytes) -> tuple[bytes, bytes, bytes]:
    return b"%x\r\n" % len(data), data, b"\r\n"


class Exchange:
    __slots__ = (
        "_buf",
        "_buffered",
        "_framing",
        "_gone",
        "_limit",
        "_plan",
        "_request_bytes",
        "_responded",
        "_retried",
        "_t0",
        "_target",
        "body_done",
        "broken",
        "close_after",
        "conn",
        "ctx",
        "head",
        "received",
        "state",
        "upstream",
    )

    def __init__(
        self, conn: ClientConnection, head: RequestHead, ctx: RequestContext, broken: GatewayError | None = None
    ) -> None:
        self.conn = conn
        self.head = head
        self.ctx = ctx
        self.state = QUEUED
        self.broken = broken
        self.close_after = broken is not None or not head.keep_alive
        self.body_done = not head.has_body
        self.received = 0
        self.upstream: UpstreamConnection | None = None
        self._buf: list[bytes] = []
        self._buffered = 0
        self._limit = NO_LIMIT
        self._plan: RoutePlan | None = None
        self._target: TargetPlan | None = None
        self._request_bytes = b""
        self._framing = NO_BODY
        self._responded = False
        self._retried = False
        self._gone = False
        self._t0 = 0

    # ------------------------------------------------------------ admission
    def start(self) -> None:
        """Run this exchange (it is now first in its connection's queue)."""
        self.state = ADMITTING
        try:
            if self.broken is not None:
                self.fail(self.broken)
                return
            pending = self.conn.plane.gateway.pipeline.admit(self.ctx)
            if pending is None:
                self._admitted()
            else:
                self.conn.plane.spawn(self._admit_later(pending))
        except Exception as exc:  # noqa: BLE001 - a bug must become a 500, never a stack trace
            self._crash(exc)

    async def _admit_later(self, pending: Awaitable[None]) -> None:
        try:
            await pending
            self._admitted()
        except Exception as exc:  # noqa: BLE001
            self._crash(exc)

    def _admitted(self) -> None:
        if self._gone:
            self._complete()
            return
        ctx = self.ctx
        err = ctx.error or self.broken
        if err is not None:
            self.fail(err)
            return
        if ctx.route is None:
            self.fail(InternalError("admitted without a route"))
            return
        self._limit = ctx.route.max_body_bytes
        if self.head.content_length > self._limit or self.received > self._limit:
            self.fail(BodyTooLarge("request body exceeds the route's limit", limit=self._limit))
            return
        plane = self.conn.plane
        plan = self._plan = plane.plan_for(ctx.route)
        self._target = plan.pick()
        try:
            self._request_bytes = request_head(plan, self._target, self.head, ctx, self.conn.peer)
        except GatewayError as refused:
            log.error("refusing to forward: %s", refused.reason)
            self.fail(refused)
            return
        if self.head.expect_continue and self.received == 0 and not self.body_done:
            self.conn.send_continue()
        self._connect(plane.pool_for(self._target), reuse=True)

    # ------------------------------------------------------------ upstream connection
    def _connect(self, pool: UpstreamPool, reuse: bool) -> None:
        self.state = CONNECTING
        self.conn.disarm_upstream()
        if not self._t0:
            self._t0 = perf_counter_ns()
        upstream = pool.acquire() if reuse else None
        if upstream is not None:
            self._send(upstream)
        else:
            self.conn.plane.spawn(self._open(pool))

    async def _open(self, pool: UpstreamPool) -> None:
        assert self._plan is not None
        err: GatewayError | None = None
        try:
            upstream = await pool.connect(self._plan.route.connect_timeout)
        except TimeoutError:
            err = UpstreamTimeout("upstream connect timed out", target=pool.label)
        except OSError as exc:
            err = UpstreamUnavailable("upstream connect failed", target=pool.label, errno=exc.errno)
        except Exception as exc:
            log.error("upstream connect to %s failed unexpectedly", pool.label, exc_info=exc)
            err = UpstreamUnavailable("upstream connect failed", target=pool.label, exception=type(exc).__name__)
        try:
            if self._gone or self.state != CONNECTING:
                if err is None:
                    pool.release(upstream)
                if self._gone:
                    self._complete()
            elif err is not None:
                self.ctx.upstream_target = pool.label
                self.fail(err)
            else:
                self._send(upstream)
        except Exception as exc:  # noqa: BLE001
            self._crash(exc)

    def _send(self, upstream: UpstreamConnection) -> None:
        assert self._plan is not None
        self.state = SENDING
        self.upstream = upstream
        self.ctx.upstream_target = upstream.pool.label
        upstream.bind(self, expect_body=self.head.method != "HEAD")
        parts = [self._request_bytes]
        if self._buf:
            for data in self._buf:
                parts.extend(chunk(data) if self.head.chunked else (data,))
            self._unbuffer()
        if self.body_done and self.head.chunked:
            parts.append(b"0\r\n\r\n")
        upstream.writelines(parts)
        conn = self.conn
        if conn.write_paused:
            upstream.set_reading(False)
        conn.arm_upstream(self._plan.route.read_timeout)

    def _unbuffer(self) -> None:
        self.conn.unbuffer(self._buffered)
        self._buf = []
        self._buffered = 0

    def _drop_upstream(self) -> None:
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.close()

    # ------------------------------------------------------------ request body (from the client parser)
    def body_chunk(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self._limit:
            self.body_failed(BodyTooLarge("request body exceeds the route's limit", limit=self._limit))
            return
        state = self.state
        upstream = self.upstream
        if upstream is not None and state in (SENDING, RESPONDING):
            if self.head.chunked:
                upstream.writelines(chunk(data))
            else:
                upstream.write(data)
            if state == SENDING:
                self.on_upstream_progress()
        elif state < SENDING:
            self._buf.append(data)
            self._buffered += len(data)
            self.conn.buffer(len(data))

    def body_end(self) -> None:
        self.body_done = True
        if self.upstream is not None and self.head.chunked and self.state in (SENDING, RESPONDING):
            self.upstream.write(b"0\r\n\r\n")

    def body_failed(self, err: GatewayError) -> None:
        """The request body broke (framing, limit, timeout): answer if still possible, and close."""
        self.broken = err
        self.close_after = True
        if self.state in (CONNECTING, SENDING, RESPONDING):
            self.fail(err)

    # ------------------------------------------------------------ response (from the upstream connection)
    def on_response_head(self, status: int, head: ResponseHead) -> None:
        self.state = RESPONDING
        self._responded = True
        conn = self.conn
        request = self.head
        framing = head.framing(request.method != "HEAD" and status not in (204, 304), request.http11)
        close = self.close_after or not self.body_done or framing == UNTIL_CLOSE or conn.closing_after(self)
        self.close_after = close
        self._framing = framing
        ctx = self.ctx
        ctx.status = ctx.upstream_status = status
        rid = ctx.request_id.encode()
        http10_keep_alive = not request.http11
        conn.write(client_head(status, head, framing, close=close, http10_keep_alive=http10_keep_alive, request_id=rid))

    def on_response_body(self, data: bytes) -> None:
        if self._framing == CHUNKED:
            self.conn.writelines(chunk(data))
        else:
            self.conn.write(data)

    def on_response_end(self, reusable: bool) -> None:
        upstream, self.upstream = self.upstream, None
        if self._framing == CHUNKED:
            self.conn.write(b"0\r\n\r\n")
        if upstream is not None:
            if reusable and self.body_done:
                upstream.pool.release(upstream)
            else:
                upstream.close()
        self._complete()

    def on_upstream_failed(self, err: GatewayError) -> None:
        self.upstream = None
        self.fail(err)

    def on_upstream_lost(self) -> None:
        upstream, self.upstream = self.upstream, None
        if self._responded:
            self._abort(UpstreamUnavailable("upstream closed the connection mid-response"))
        elif upstream is not None and self._may_retry(upstream):
            self._retried = True
            self._connect(upstream.pool, reuse=False)
        else:
            self.fail(UpstreamUnavailable("upstream closed the connection before responding"))

    def _may_retry(self, upstream: UpstreamConnection) -> bool:
        head = self.head
        return upstream.reused and not upstream.got_bytes and not self._retried and not head.has_body and (
            head.method in _RETRYABLE
        )

    def on_upstream_progress(self) -> None:
        self.conn.upstream_deadline = 0.0  # restart the read timer armed in _send

    def on_upstream_writable(self, writable: bool) -> None:
        self.conn.set_upstream_blocked(not writable)
        if writable:
            self.on_upstream_progress()

    def upstream_timed_out(self) -> None:
        self._drop_upstream()
        self.fail(UpstreamTimeout("upstream read timed out", target=self.ctx.upstream_target))

    def set_client_writable(self, writable: bool) -> None:
        if self.upstream is not None:
            self.upstream.set_reading(writable)
        if writable:
            self.on_upstream_progress()

    # ------------------------------------------------------------ endings
    def fail(self, err: GatewayError) -> None:
        """Answer with a problem response (or abort if the response already started)."""
        if self.state == DONE:
            return
        if self._responded:
            self._abort(err)
            return
        ctx = self.ctx
        if ctx.error is None:
            ctx.error = err
            ctx.failed_stage = err.stage
        self._drop_upstream()
        conn = self.conn
        close = self.close_after or not self.body_done or err.stage == "http" or conn.closing_after(self)
        self.close_after = close
        renderer = conn.plane.renderer
        ctx.status = renderer.status(err)
        conn.write(renderer.render(err, ctx.request_id, close=close, head_only=self.head.method == "HEAD"))
        self._complete()

    def _abort(self, err: GatewayError) -> None:
        ctx = self.ctx
        if ctx.error is None:
            ctx.error = err
            ctx.failed_stage = err.stage
        self._drop_upstream()
        self.close_after = True
        self.conn.abort()
        self._complete()

    def client_gone(self) -> None:
        """The client disconnected; a running admission or connect finishes first, then records."""
        self._gone = True
        if self.state in (SENDING, RESPONDING):
            self._drop_upstream()
            self._complete()

    def _crash(self, exc: Exception) -> None:
        log.error("unexpected exception while proxying", exc_info=exc)
        try:
            self.fail(InternalError("unexpected exception", exception=type(exc).__name__))
        except Exception:
            log.exception("could not answer after an unexpected exception")
            self.conn.abort()

    def _complete(self) -> None:
        if self.state == DONE:
            return
        self.state = DONE
        if self._buffered:
            self._unbuffer()
        ctx = self.ctx
        if self._t0:  # whole microseconds, in ms (what round(..., 3) gave, without its cost)
            ctx.upstream_ms = ((perf_counter_ns() - self._t0) // 1000) / 1000
        ctx.outcome = outcome_rule(ctx.error, ctx.status, ctx.shadow_error, ctx.anonymous)
        conn = self.conn
        conn.plane.record(ctx)
        conn.exchange_done(self)
