"""Sample a running subwarden with py-spy and summarize where its CPU goes (self and inclusive time)."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from procs import ProcessGroup

_ENTRY = re.compile(r"subwarden/(cli|serve|http/serve|__main__)\.py")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def start_record(group: ProcessGroup, py_spy: str, pid: int, seconds: float, out: Path) -> Any:
    """py-spy record (raw collapsed stacks, subprocesses included) for ``seconds``; returns the Proc."""
    cmd = [py_spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "250",
           "--duration", str(max(1, int(seconds))), "--format", "raw", "--output", str(out)]
    return group.start("py-spy", cmd)


def wait(proc: Any, timeout: float) -> None:
    try:
        proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.popen.kill()


def _short(frame: str, with_line: bool = False) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    where = match["file"].split("site-packages/")[-1].split("/src/")[-1]
    line = f":{match['line']}" if with_line and match["line"] else ""
    return f"{match['func']} ({where}{line})"


def summarize(raw: Path, limit: int = 15) -> dict[str, Any]:
    """Top functions by self samples (leaf frame), by inclusive samples (anywhere on the stack), and top lines."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if '";' in stack:  # drop the `process PID:"command line"` frame (its command line may span lines)
            stack = stack.split('";', 1)[1]
        raw_frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not raw_frames:
            continue
        frames = [_short(f) for f in raw_frames]
        total += count
        self_time[frames[-1]] += count
        lines[_short(raw_frames[-1], with_line=True)] += count
        for frame in set(frames):
            inclusive[frame] += count

    def top(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "pct": round(100.0 * n / total, 1)} for f, n in counter.most_common(limit)]

    # Inclusive time is only informative below the entry points every sample passes through.
    ours = Counter({f: n for f, n in inclusive.items() if "subwarden/" in f and not _ENTRY.search(f)})
    return {"samples": total, "self": top(self_time), "inclusive": top(ours), "lines": top(lines)}
