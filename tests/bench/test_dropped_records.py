"""A run during which subwarden dropped call records (queue full) is not a data point. No timing."""

from __future__ import annotations

from typing import Any

import precheck
import scenario  # bench/ is on pytest's pythonpath (pyproject.toml)
from targets import SUBWARDEN, Layout, Running

LAYOUT = Layout("pinned", target_cpus="1", load_cpus="0", workers=1, wrk_threads=1)


def _wrk(requests: int = 1000) -> dict[str, Any]:
    return {"rps": 1000.0, "latency_us": {"p50": 900, "p99": 2000}, "error_count": 0, "errors": {},
            "requests": requests, "duration_us": 1_000_000, "target_cpu_pct": 99.0,
            "cpu_busy_pct": {"cpu0": 50.0, "cpu1": 99.0}, "wraps": 0, "tokens": 10}


def _running() -> Running:
    return Running(SUBWARDEN, proc=None, port=1, workers=1, admin_port=2)


def test_a_run_that_dropped_records_is_invalid_and_says_how_many() -> None:
    row = scenario._row(LAYOUT, SUBWARDEN, "cached", 0, _running(), _wrk(), records_dropped=37.0)
    assert row["valid"] is False
    assert row["invalid"] == "37 call records dropped (record queue full)"
    assert row["records_dropped"] == 37.0


def test_a_run_without_drops_or_without_a_count_stays_valid() -> None:
    for dropped in (0.0, None):
        row = scenario._row(LAYOUT, SUBWARDEN, "cached", 0, _running(), _wrk(), records_dropped=dropped)
        assert row["valid"] is True and row["records_dropped"] == dropped


def test_the_count_is_read_from_the_metrics_text() -> None:
    text = "# TYPE subwarden_records_dropped_total counter\nsubwarden_records_dropped_total 12.0\n"
    assert precheck.dropped_in(text) == 12.0
    assert precheck.dropped_in("subwarden_records_written_total 5.0\n") is None
