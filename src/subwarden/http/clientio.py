"""The transport side of a client connection: batched writes, lingering close, pausing and coarse timers.

Timers never read the clock on the hot path: arming one only sets attributes, and the data
plane's sweeper turns "(re)started" into a deadline on its next tick and fires expired ones.
"""

from __future__ import annotations

from typing import Final

from subwarden.http.outbox import BatchedWrites, Outbox

#: Client timer kinds (index into ``timeouts``).
NO_TIMER: Final = 0
HEADER: Final = 1
BODY: Final = 2
IDLE: Final = 3
LINGER: Final = 4
#: Reasons reading is paused.
PAUSE_UPSTREAM: Final = 1
PAUSE_INPUT: Final = 2


class ClientIO(BatchedWrites):
    """Write, close and timer plumbing; ``ClientConnection`` adds parsing and the request queue."""

    __slots__ = (
        "_client_eof",
        "_lingering",
        "_paused",
        "_stopped",
        "_timer",
        "client_deadline",
        "timeouts",
        "upstream_deadline",
        "upstream_timeout",
        "write_deadline",
        "write_paused",
    )

    def __init__(self, timeouts: tuple[float, ...], outbox: Outbox) -> None:
        super().__init__(outbox)
        self.timeouts = timeouts
        self.write_paused = False
        # 0.0 = "(re)started: count from the next sweep".
        self.client_deadline = self.upstream_deadline = self.write_deadline = 0.0
        self.upstream_timeout = 0.0
        self._timer = HEADER
        self._paused = 0
        self._stopped = False
        self._lingering = False
        self._client_eof = False

    # ------------------------------------------------------------ hooks for the subclass
    def _timed_out(self, kind: int) -> None:
        """The client timer ``kind`` (HEADER, BODY or IDLE) expired."""

    def _upstream_timed_out(self) -> None:
        """The upstream read timer expired."""

    def _writable(self, writable: bool) -> None:
        """The client's write buffer crossed a watermark."""

    # ------------------------------------------------------------ write flow control (writes: ``BatchedWrites``)
    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_deadline = 0.0
        self._writable(False)

    def resume_writing(self) -> None:
        self.write_paused = False
        self._writable(True)

    # ------------------------------------------------------------ closing
    def close(self) -> None:
        """Lingering close: FIN after the responses, then discard input until the client closes too.

        A plain close with unread client bytes makes the kernel send RST, which can destroy the
        response (a 413 or 400) before the client reads it.
        """
        self._stopped = True
        transport = self.transport
        if self.closed or self.closing or transport is None:
            return
        self.send_pending()
        self.closing = True
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
        self._stopped = True  # also stops reading: no new request starts on a connection that cannot answer
        super().abort()

    # ------------------------------------------------------------ timers
    def _arm(self, kind: int) -> None:
        """Start (or restart) the client timer ``kind``; it does not run while reading is paused."""
        self._timer = kind
        self.client_deadline = 0.0

    def arm_upstream(self, timeout: float) -> None:
        self.upstream_timeout = timeout
        self.upstream_deadline = 0.0

    def disarm_upstream(self) -> None:
        self.upstream_timeout = 0.0

    def check_timeouts(self, now: float) -> None:
        """Called by the sweeper every tick."""
        kind = self._timer
        if kind and not self._paused:
            if not self.client_deadline:
                self.client_deadline = now + self.timeouts[kind]
            elif now >= self.client_deadline:
                self._arm(NO_TIMER)
                if kind == LINGER and self.transport is not None:
                    self.transport.close()
                else:
                    self._timed_out(kind)
        if self.write_paused:
            if not self.write_deadline:
                self.write_deadline = now + self.timeouts[IDLE]
            elif now >= self.write_deadline:
                self.abort()
        elif self.upstream_timeout:
            if not self.upstream_deadline:
                self.upstream_deadline = now + self.upstream_timeout
            elif now >= self.upstream_deadline:
                self.upstream_timeout = 0.0
                self._upstream_timed_out()

    # ------------------------------------------------------------ reading
    def _pause(self, reason: int) -> None:
        if not self._paused and not self.closing and not self.closed and self.transport is not None:
            self.transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and not self.closing and not self.closed and self.transport is not None:
            self.transport.resume_reading()
            self._arm(self._timer)
