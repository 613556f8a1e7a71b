"""Request ids and W3C trace context: keep what the client sent when it is valid, else generate."""

from __future__ import annotations

import itertools
import os
import random
import re

_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+=@/-]{1,128}")
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16


def valid_request_id(value: bytes) -> bool:
    return _SAFE_REQUEST_ID.fullmatch(value) is not None


def parse_traceparent(value: bytes) -> tuple[str, str] | None:
    """(trace_id, flags) of a valid ``traceparent`` value, else None."""
    m = _TRACEPARENT.fullmatch(value)
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id.decode(), flags.decode()


class IdSource:
    """Per-process id generator; create it after ``fork`` so workers never share a prefix."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def request_id(self, supplied: bytes | None) -> str:
        """The client's X-Request-ID if it is short and safe, else a new unique one."""
        if supplied is not None and _SAFE_REQUEST_ID.fullmatch(supplied):
            return supplied.decode()
        return f"{self._prefix}{next(self._counter):08x}"

    def trace(self, supplied: bytes | None) -> tuple[str, str]:
        """(trace_id, outgoing traceparent): keep a valid trace id, always a new parent span id."""
        parsed = parse_traceparent(supplied) if supplied is not None else None
        if parsed is None:
            trace_id, flags = f"{random.getrandbits(128) or 1:032x}", "00"
        else:
            trace_id, flags = parsed
        span_id = f"{random.getrandbits(64) or 1:016x}"
        return trace_id, f"00-{trace_id}-{span_id}-{flags}"
