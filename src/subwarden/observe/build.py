"""Config → record writer, sinks and metrics: the one place the observe side is assembled."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.config.models import GatewayConfig
from subwarden.observe.metrics import GatewayMetrics
from subwarden.observe.query import RecordReader
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import Sink, SqliteSink, StdoutSink
from subwarden.observe.subject_hash import SubjectHasher, load_subject_hash_key


def build_record_writer(
    config: GatewayConfig,
    fingerprint: str,
    *,
    metrics: GatewayMetrics | None = None,
    clock: Clock = SYSTEM_CLOCK,
    stdout: TextIO | None = None,
    var_dir: Path = Path("var"),
    environ: Mapping[str, str] | None = None,
) -> RecordWriter:
    """A writer for ``config.records``; also registers its stats with ``metrics`` if given."""
    rc = config.records
    key = load_subject_hash_key(config.identity.subject_hash_key_env, var_dir, environ)
    shaper = RecordShaper(fingerprint=fingerprint, hasher=SubjectHasher(key), keep_claims=rc.keep_claims)
    sinks: list[Sink] = []
    if rc.stdout:
        sinks.append(StdoutSink(stdout))
    if rc.sqlite:
        sinks.append(SqliteSink(rc.sqlite, retention_days=rc.retention_days, clock=clock))
    writer = RecordWriter(
        shaper,
        sinks,
        queue_size=rc.queue_size,
        batch_size=rc.batch_size,
        flush_interval=rc.flush_interval,
        metrics=metrics,
        clock=clock,
    )
    if metrics is not None:
        metrics.add_stats_source("records", writer)
        metrics.set_fingerprint(fingerprint)
    return writer


def record_reader(config: GatewayConfig) -> RecordReader | None:
    """A reader over the SQLite sink, or None when that sink is off."""
    return RecordReader(config.records.sqlite) if config.records.sqlite else None
