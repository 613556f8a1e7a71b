"""Drive a target with wrk (rotating pre-built token requests) and measure CPU use while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from machine import tool_path
from procs import pinned

LUA = Path(__file__).with_name("rotate.lua")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    tokens: Path
    duration: float
    connections: int
    threads: int
    cpus: str | None
    #: Start this many tokens into each thread's share (warm-up chunks continue where the last stopped).
    offset: int = 0


def _group_ticks(pgid: int) -> int:
    """CPU ticks (user + system) used so far by every process in ``pgid``."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total


def _cpu_times() -> dict[str, tuple[int, int]]:
    """Per-CPU (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *vals = line.split()
            nums = [int(v) for v in vals]
            idle = nums[3] + nums[4]
            out[name] = (sum(nums) - idle, sum(nums))
    return out


def _busy_pct(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, float]:
    pct = {}
    for name, (busy, total) in after.items():
        b0, t0 = before.get(name, (0, 0))
        pct[name] = round(100.0 * (busy - b0) / max(1, total - t0), 1)
    return pct


def run_wrk(port: int, load: Load, target_pgid: int | None) -> dict[str, Any]:
    """One wrk run; returns wrk's numbers plus req/s, target CPU % and per-CPU busy %."""
    cmd = pinned([
        tool_path("wrk"), f"-t{load.threads}", f"-c{load.connections}", f"-d{max(1, round(load.duration))}s",
        "--timeout", "5s", "--latency", "-s", str(LUA), f"http://127.0.0.1:{port}/bench",
    ], load.cpus)
    env = {**os.environ, "BENCH_TOKENS": str(load.tokens), "BENCH_THREADS": str(load.threads), "BENCH_PATH": "/bench",
           "BENCH_OFFSET": str(load.offset)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(load.duration + 120, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        head = _until_ready(proc.stdout, load.threads)
        # The CPU window opens once every wrk thread has built its requests (120,000 took ~0.5 s more
        # than 10,000), so start-up does not dilute the target's CPU share.
        ticks0 = _group_ticks(target_pgid) if target_pgid else 0
        cpu0, wall0 = _cpu_times(), time.monotonic()
        rest = proc.stdout.read()
        proc.wait()
        cpu1, wall = _cpu_times(), time.monotonic() - wall0
        ticks1 = _group_ticks(target_pgid) if target_pgid else 0
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = _parse(head + rest, "")
    seconds = result["duration_us"] / 1e6
    result["rps"] = round(result["requests"] / seconds, 1) if seconds else 0.0
    # Over wrk's wall time after its start-up (connection set-up and the end report included): a slight
    # underestimate, never an overestimate.
    result["target_cpu_pct"] = round(100.0 * (ticks1 - ticks0) / TICKS / wall, 1)
    result["cpu_busy_pct"] = _busy_pct(cpu0, cpu1)
    result["error_count"] = sum(result["errors"].values())
    return result


def _until_ready(stdout: IO[str], threads: int) -> str:
    """Read wrk's output until each thread reported its requests built (or wrk ended); returns what was read."""
    seen, lines = 0, []
    while seen < threads:
        line = stdout.readline()
        if not line:
            break
        if line.strip() == "BENCH_READY":
            seen += 1
        else:
            lines.append(line)
    return "".join(lines)


def _parse(stdout: str, stderr: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            return parsed
    raise RuntimeError(f"wrk printed no result:\n{stdout[-2000:]}\n{stderr[-2000:]}")
