"""Instructions per proxied request, counted by callgrind: repeatable where timings are not.

On a shared VM the same wrk run varies by 10-30 % and even ``bench/hotpath.py``'s CPU µs by ±8 %;
valgrind counts instructions, which stay within ~±2 % run to run whatever the neighbours do. This
runs ``bench/hotpath.py`` (in-process, the gateway as ``serve`` builds it) under callgrind twice, with
a short and a long measured phase, and divides the difference by the extra requests, so start-up,
token minting and warm-up cancel out. ``--top N`` lists the compiled functions of the long run with
their instructions per call (inclusive).

    .venv/bin/python bench/instructions.py [--records-off | --plane-only | --new-tokens] [--top 25]

Instructions are not seconds (cache misses, syscalls and the kernel are not in them): use this to
compare one change with the next, and wrk (``bench/run.py``) for what a request costs end to end.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import ensure_tools

HERE = Path(__file__).resolve().parent
_COLLECTED = re.compile(r"==(\d+)== Collected : (\d+)")
_COMMAND = re.compile(r"==(\d+)== Command: ")
_CALLER = re.compile(r"\s*([\d,]+) \(.*?\)\s+<\s+\S+ \(([\d,]+)x\)")
_FUNCTION = re.compile(r"\s*([\d,]+) \(.*?\)\s+\*\s+(\S+)")


def run_counted(requests: int, users: int, extra: list[str], out: Path) -> tuple[int, Path]:
    """Instructions of the hotpath process (not of helpers it starts) for ``requests``, and its callgrind file."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", sys.executable,
           str(HERE / "hotpath.py"), "--users", str(users), "--requests", str(requests), *extra]
    # A fixed hash seed: dict layouts (and so instruction counts) repeat from run to run.
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if proc.returncode != 0:
        raise RuntimeError(f"hotpath under callgrind failed:\n{proc.stderr[-2000:]}")
    main = _COMMAND.search(proc.stderr)
    counts = dict(_COLLECTED.findall(proc.stderr))
    if main is None or main.group(1) not in counts:
        raise RuntimeError(f"no callgrind total for the hotpath process:\n{proc.stderr[-2000:]}")
    return int(counts[main.group(1)]), Path(f"{out}.{main.group(1)}")


def per_call(annotated: str, min_calls: int) -> list[tuple[int, int, str]]:
    """(instructions per call, calls, function) of compiled functions, from ``callgrind_annotate --tree=caller``."""
    rows, calls = [], 0
    for line in annotated.splitlines():
        caller = _CALLER.match(line)
        if caller:
            calls += int(caller.group(2).replace(",", ""))
            continue
        function = _FUNCTION.match(line)
        if function:
            name = function.group(2).rsplit(":", 1)[-1]
            if calls >= min_calls and name.startswith("CPyDef_"):
                rows.append((int(function.group(1).replace(",", "")) // calls, calls, name[len("CPyDef_"):]))
            calls = 0
    return sorted(rows, reverse=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=500, help="users (and cached tokens): few, so minting stays short")
    p.add_argument("--short", type=int, default=4_000, help="measured requests of the short run")
    p.add_argument("--long", type=int, default=12_000, help="measured requests of the long run")
    p.add_argument("--top", type=int, default=0, help="list the N compiled functions with most instructions a call")
    args, extra = p.parse_known_args(argv)
    if args.long <= args.short:
        p.error("--long must be larger than --short")
    ensure_tools({"valgrind": "valgrind", "callgrind_annotate": "valgrind"})
    with tempfile.TemporaryDirectory(prefix="subwarden-callgrind-") as tmp:
        short, _ = run_counted(args.short, args.users, extra, Path(tmp) / "short")
        long, long_file = run_counted(args.long, args.users, extra, Path(tmp) / "long")
        label = " ".join(extra) or "records on"
        print(f"{(long - short) / (args.long - args.short):,.0f} instructions per request ({label}; "
              f"callgrind, {args.long:,} - {args.short:,} requests)")
        if args.top:
            annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--tree=caller", str(long_file)],
                                       capture_output=True, text=True, check=True).stdout
            print("\ncompiled functions, long run (warm-up included), instructions per call (inclusive):")
            for instructions, calls, name in per_call(annotated, args.long)[: args.top]:
                print(f"{instructions:>10,} {calls:>9,}x  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
