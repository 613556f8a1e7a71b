"""Parse the times users type: ``--at`` (a moment) and ``--since`` (a moment or a span back from now)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_moment(text: str) -> float:
    """Epoch seconds from ISO 8601 (``2027-01-15T08:00:00Z``, naive = UTC) or a number of epoch seconds."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither ISO 8601 (2027-01-15T08:00:00Z) nor epoch seconds") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def parse_since(text: str, now: float) -> float:
    """``24h``, ``30m``, ``7d``, ``90s``, ``2w`` back from ``now``, or a moment (see ``parse_moment``)."""
    match = _SPAN.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT[match.group(2).lower()]
    try:
        return parse_moment(text)
    except ValueError:
        raise ValueError(f"{text!r}: give a span like 24h, 30m, 7d or a time like 2027-01-15T08:00:00Z") from None
