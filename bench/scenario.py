"""One layout's measurements: targets interleaved over repeats, each started fresh, pre-checked, warmed, measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load import Load, run_wrk
from precheck import Check, metrics_check, records_dropped, run_checks
from procs import ProcessGroup
from targets import Fixtures, Layout, Running, TargetSpec, start_target, start_upstream


@dataclass(frozen=True)
class Settings:
    duration: float
    warmup: float
    repeats: int
    connections: int
    cached_tokens: Path
    cached_token_count: int
    new_tokens: Path | None
    new_token_count: int


@dataclass
class Outcome:
    runs: list[dict[str, Any]] = field(default_factory=list)
    prechecks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


MAX_WARMUP = 120.0

#: Called with the running target just before its measured cached run (used to attach py-spy).
Hook = Callable[[Running, float], Any]


def run_layout(
    group: ProcessGroup, layout: Layout, targets: list[TargetSpec], new_targets: set[str], fx: Fixtures,
    settings: Settings, checks: list[Check], hook: Hook | None = None,
) -> Outcome:
    """Rotate the target order each repeat so no target always runs first or last."""
    outcome = Outcome()
    upstream, upstream_port = start_upstream(group, fx, layout.load_cpus)
    failed: set[str] = set()
    try:
        for repeat in range(settings.repeats):
            shift = repeat % len(targets)
            for spec in targets[shift:] + targets[:shift]:
                if spec.name in failed:
                    continue
                ok = _measure_target(group, layout, spec, spec.name in new_targets, fx, settings, checks,
                                     upstream_port, repeat, outcome, hook if repeat == 0 else None)
                if not ok:
                    failed.add(spec.name)
    finally:
        group.stop(upstream)
    return outcome


def _measure_target(
    group: ProcessGroup, layout: Layout, spec: TargetSpec, with_new: bool, fx: Fixtures, settings: Settings,
    checks: list[Check], upstream_port: int, repeat: int, outcome: Outcome, hook: Hook | None,
) -> bool:
    label = f"{layout.name}/{spec.name}"
    try:
        running = start_target(group, spec, layout, fx, upstream_port)
    except RuntimeError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        outcome.problems.append(f"{label}: did not start: {lines[0]} … {lines[-1] if len(lines) > 1 else ''}")
        print(f"  {label}: did not start — see {fx.work / 'logs' / (spec.name + '.log')}", flush=True)
        return False
    try:
        return _measure_running(running, layout, with_new, settings, checks, repeat, outcome, hook)
    except RuntimeError as exc:
        outcome.problems.append(f"{label}: measurement failed: {str(exc).splitlines()[0]}")
        return False
    finally:
        group.stop(running.proc)


def _measure_running(
    running: Running, layout: Layout, with_new: bool, settings: Settings, checks: list[Check],
    repeat: int, outcome: Outcome, hook: Hook | None,
) -> bool:
    spec, label = running.spec, f"{layout.name}/{running.spec.name}"
    results = run_checks(running.port, checks, spec.auth)
    outcome.prechecks.setdefault(label, results)
    bad = [r for r in results if not r["ok"]]
    if bad:
        outcome.problems += [f"{label}: pre-check failed: {r['check']}: {r['problem']}" for r in bad]
        print(f"  {label}: PRE-CHECK FAILED, not a data point: {bad[0]['check']}: {bad[0]['problem']}", flush=True)
        return False
    if not _warm_up(running, layout, settings):
        outcome.problems.append(f"{label}: warm-up did not send every cached token within {MAX_WARMUP}s")
    profiler = hook(running, settings.duration) if hook else None
    drops = _DropWatch(running)
    cached = run_wrk(running.port, _load(settings, layout, settings.cached_tokens, settings.duration), running.proc.pid)
    if profiler is not None:
        profiler()
    outcome.runs.append(_row(layout, spec, "cached", repeat, running, cached, drops.since_last()))
    if running.admin_port is not None and repeat == 0:
        _check_metrics(running.admin_port, label, outcome)
    if with_new and settings.new_tokens is not None:
        seconds = _new_duration(settings, cached["rps"])
        drops.since_last()
        new = run_wrk(running.port, _load(settings, layout, settings.new_tokens, seconds), running.proc.pid)
        outcome.runs.append(_row(layout, spec, "new", repeat, running, new, drops.since_last()))
    return running.proc.popen.poll() is None or _died(outcome, label)


def _check_metrics(admin_port: int, label: str, outcome: Outcome) -> None:
    result = metrics_check(admin_port)
    outcome.prechecks[label].append(result)
    if not result["ok"]:
        outcome.problems.append(f"{label}: {result['check']}: {result['problem']}")


def _warm_up(running: Running, layout: Layout, settings: Settings) -> bool:
    """Load until every cached token went through twice (verified and its user cached, then learnt by the
    admission memo), at least ``warmup`` s."""
    sent, elapsed = 0, 0.0
    while sent < 2 * settings.cached_token_count or elapsed < settings.warmup:
        if elapsed >= MAX_WARMUP:
            return False
        seconds = max(1.0, round(settings.warmup)) if elapsed == 0 else 2.0
        load = _load(settings, layout, settings.cached_tokens, seconds)
        load = Load(load.tokens, seconds, load.connections, load.threads, load.cpus, sent // load.threads)
        sent += run_wrk(running.port, load, None)["requests"]
        elapsed += seconds
    return True


def _died(outcome: Outcome, label: str) -> bool:
    outcome.problems.append(f"{label}: exited during the run")
    return False


def _new_duration(settings: Settings, cached_rps: float) -> float:
    """Short enough that no token repeats: the new-token rate is at most the cached rate."""
    fits = 0.6 * settings.new_token_count / max(cached_rps, 1.0)
    return float(max(1, min(round(settings.duration), int(fits))))


def _load(settings: Settings, layout: Layout, tokens: Path, seconds: float) -> Load:
    return Load(tokens, seconds, settings.connections, layout.wrk_threads, layout.load_cpus)


def _load_cpu(layout: Layout, busy: dict[str, float]) -> float | None:
    """Mean busy % of the load generator's CPUs (pinned layout only): near 100 means wrk + upstream limit."""
    if not layout.load_cpus:
        return None
    values = [busy.get(f"cpu{c}", 0.0) for c in layout.load_cpus.split(",")]
    return round(sum(values) / len(values), 1)


class _DropWatch:
    """Call records subwarden dropped (queue full) during each run: a run that kept up only by dropping
    records did less work than a user's gateway would, so it is not a data point."""

    def __init__(self, running: Running) -> None:
        self._port = running.admin_port if running.spec.records and running.spec.kind == "subwarden" else None
        self._last = self._read()

    def _read(self) -> float | None:
        return records_dropped(self._port) if self._port is not None else None

    def since_last(self) -> float | None:
        now = self._read()
        dropped = None if now is None or self._last is None else now - self._last
        self._last = now
        return dropped


def _row(
    layout: Layout, spec: TargetSpec, mode: str, repeat: int, running: Running, r: dict[str, Any],
    records_dropped: float | None = None,
) -> dict[str, Any]:
    invalid = None
    if records_dropped:
        invalid = f"{records_dropped:.0f} call records dropped (record queue full)"
    elif r["requests"] == 0:
        invalid = "no requests completed"
    elif r["error_count"] > 0.01 * r["requests"]:
        invalid = "more than 1% errors"
    elif mode == "new" and r["wraps"] > 0:
        invalid = "tokens repeated (pool too small for the rate)"
    row = {
        "layout": layout.name, "mode": mode, "target": spec.name, "repeat": repeat, "workers": running.workers,
        "rps": r["rps"], "p50_ms": r["latency_us"]["p50"] / 1000, "p99_ms": r["latency_us"]["p99"] / 1000,
        "errors": r["error_count"], "error_detail": r["errors"], "requests": r["requests"],
        "duration_s": round(r["duration_us"] / 1e6, 2), "target_cpu_pct": r["target_cpu_pct"],
        "cpu_busy_pct": r["cpu_busy_pct"], "load_cpu_pct": _load_cpu(layout, r["cpu_busy_pct"]),
        "wraps": r["wraps"], "tokens": r["tokens"], "records_dropped": records_dropped,
        "valid": invalid is None, "invalid": invalid,
    }
    print(f"  {layout.name:8} {mode:6} {spec.name:13} #{repeat} {r['rps']:>10,.0f} req/s  "
          f"p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms  errors {r['error_count']}  "
          f"cpu {r['target_cpu_pct']:.0f}% load {str(row['load_cpu_pct']) + '%' if row['load_cpu_pct'] else '-'}"
          f"{'  INVALID: ' + invalid if invalid else ''}", flush=True)
    return row
