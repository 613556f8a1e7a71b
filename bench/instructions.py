"""Instructions per proxied request, counted by callgrind: repeatable where timings are not.

On a shared VM the same wrk run varies by 10-30 % and even ``bench/hotpath.py``'s CPU µs by ±8 %;
valgrind counts instructions, which stay within ~±2 % run to run whatever the neighbours do. This
runs ``bench/hotpath.py`` (in-process, the gateway as ``serve`` builds it) under callgrind twice, with
a short and a long measured phase, and divides the difference by the extra requests, so start-up,
token minting and warm-up cancel out. ``--top N`` lists, per request, the compiled functions'
instructions with what they call and every function's own, each from the long run minus the short one
(a single run's counts would include start-up and warm-up: ~1,000 RSA verifications and first lookups).

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
#: One function of a flat ``callgrind_annotate`` listing: instructions, then file:function (a call count
#: and the object file may follow).
_ROW = re.compile(r"\s*([\d,]+) \([^)]*\)\s+(\S+?)(?: \([\d,]+x\))?(?: \[.*\])?$")


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


def by_function(annotated: str) -> dict[str, int]:
    """Instructions per function (file and object dropped, same names summed) from ``callgrind_annotate``."""
    totals: dict[str, int] = {}
    for line in annotated.splitlines():
        row = _ROW.match(line)
        if row:
            name = row.group(2).rsplit(":", 1)[-1]
            totals[name] = totals.get(name, 0) + int(row.group(1).replace(",", ""))
    return totals


def per_request(short: str, long: str, requests: int) -> list[tuple[float, str]]:
    """(instructions per request, function): the long run's count minus the short run's, over the extra
    ``requests``, so start-up and warm-up (token verification, first store lookups) cancel out."""
    before, after = by_function(short), by_function(long)
    rows = [((count - before.get(name, 0)) / requests, name) for name, count in after.items()]
    return sorted(rows, reverse=True)


def _annotate(path: Path, inclusive: bool) -> str:
    cmd = ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


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
        short, short_file = run_counted(args.short, args.users, extra, Path(tmp) / "short")
        long, long_file = run_counted(args.long, args.users, extra, Path(tmp) / "long")
        extra_requests = args.long - args.short
        label = " ".join(extra) or "records on"
        print(f"{(long - short) / extra_requests:,.0f} instructions per request ({label}; "
              f"callgrind, {args.long:,} - {args.short:,} requests)")
        if args.top:
            inclusive = per_request(_annotate(short_file, True), _annotate(long_file, True), extra_requests)
            print("\ncompiled functions, instructions per request with what they call (long - short run):")
            for count, name in [row for row in inclusive if row[1].startswith("CPyDef_")][: args.top]:
                print(f"{count:>10,.0f}  {name[len('CPyDef_'):]}")
            own = per_request(_annotate(short_file, False), _annotate(long_file, False), extra_requests)
            print("\nall functions, own instructions per request (long - short run):")
            for count, name in own[: args.top]:
                print(f"{count:>10,.0f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
