"""subwarden side by side with nginx proxy_pass and HAProxy jwt_verify (`make bench`; `--smoke` for a quick check)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import machine
import memory
import pyspy
import report
import targets
import tokens
import users
from precheck import build_checks
from procs import ProcessGroup, install_signal_handlers
from scenario import Outcome, Settings, run_layout

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--smoke", action="store_true", help="a few seconds, subwarden only: it runs and pre-checks hold")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each measured run")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (medians reported)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections")
    p.add_argument("--users", type=int, default=10_000, help="users in the store = distinct cached tokens")
    # Enough for ~7 s at 20k req/s: in a 3 s run the start-up transient weighed on the p99.
    p.add_argument("--new-tokens", type=int, default=240_000, help="never-repeated tokens for the every-token-new run")
    p.add_argument("--memory-users", type=int, default=1_000_000, help="users in the memory-per-user measurement")
    p.add_argument("--traced-users", type=int, default=100_000, help="users in the tracemalloc breakdown")
    p.add_argument("--targets", default="nginx,haproxy,subwarden", help="comma-separated subset of targets")
    p.add_argument("--layouts", default="pinned,unpinned", help="comma-separated subset of layouts")
    p.add_argument("--no-memory", action="store_true", help="skip the memory-per-user measurement")
    p.add_argument("--no-profile", action="store_true", help="skip py-spy on subwarden")
    p.add_argument("--no-records-off-variant", action="store_true",
                   help="skip subwarden with records off (pinned), which shows what records cost")
    p.add_argument("--no-floor", action="store_true",
                   help="skip the Python floor (bench/floor.py, pinned): what the event loop and sockets alone cost")
    p.add_argument("--no-cold", action="store_true", help="skip bench/stores (cold user path on PostgreSQL)")
    p.add_argument("--out", type=Path, default=None, help="results dir (default bench/results; smoke: --work)")
    p.add_argument("--work", type=Path, default=HERE / "results" / "tmp", help="keys, tokens, configs, logs")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.repeats, args.users = 2.0, 0.5, 1, 1000
        args.targets, args.layouts = "subwarden", "pinned"
        args.no_memory = args.no_profile = args.no_cold = args.no_records_off_variant = args.no_floor = True
    if args.out is None:
        args.out = args.work if args.smoke else HERE / "results"
    return args


def prepare(args: argparse.Namespace) -> tuple[targets.Fixtures, Path, Path | None]:
    work = args.work.resolve()
    keys = tokens.ensure_keys(work / "keys")
    ids = users.user_ids(args.users)
    fx = targets.Fixtures(work, keys, work / "users.db", work / "roles.map")
    users.write_sqlite(fx.users_db, ids)
    users.write_haproxy_map(fx.roles_map, ids)
    cached = tokens.token_file(keys, work, f"cached-{args.users}", ids)
    new = None
    if not args.smoke:
        new_ids = [ids[i % len(ids)] for i in range(args.new_tokens)]
        new = tokens.token_file(keys, work, f"new-{args.new_tokens}", new_ids)
    return fx, cached, new


def plan(args: argparse.Namespace) -> list[tuple[targets.Layout, list[targets.TargetSpec], set[str]]]:
    wanted = set(args.targets.split(","))
    all_layouts = targets.layouts()
    out = []
    for name in args.layouts.split(","):
        layout = all_layouts[name]
        specs = [s for s in (targets.NGINX, targets.HAPROXY, targets.SUBWARDEN) if s.name in wanted]
        if name == "unpinned" and "subwarden" in wanted:
            specs.append(targets.subwarden_with(1))
            if layout.workers != 2:
                specs.append(targets.subwarden_with(2))
        if name == "pinned" and "subwarden" in wanted:
            if not args.no_records_off_variant:
                specs.append(targets.SUBWARDEN_NO_RECORDS)
            if not args.no_floor:
                specs.append(targets.PYTHON_FLOOR)
        new = {"haproxy", "subwarden"} & wanted if name == "pinned" else set()
        out.append((layout, specs, new))
    return out


def profile_hook(group: ProcessGroup, work: Path, sink: dict[str, Any]) -> Any:
    py_spy = machine.ensure_py_spy()

    def hook(running: targets.Running, seconds: float) -> Any:
        if running.spec.name != "subwarden" or "pinned" in sink:
            return None
        raw = work / "py-spy.txt"
        proc = pyspy.start_record(group, py_spy, running.proc.pid, seconds, raw)

        def finish() -> None:
            pyspy.wait(proc, seconds + 30)
            group.stop(proc)
            sink["pinned"] = pyspy.summarize(raw) if raw.exists() else {"error": proc.tail()}
        return finish
    return hook


_COLD_LINES = {
    "raw_rps": re.compile(r"^asyncpg fetchrow\s*:\s*([\d.]+) lookups/s", re.M),
    "store_rps": re.compile(r"^PostgresStore.(?:fetch|lookup)\s*:\s*([\d.]+) lookups/s", re.M),
    "stage_rps": re.compile(r"^ResolveUserStage.run\s*:\s*([\d.]+) lookups/s", re.M),
    "store_pct": re.compile(r"^store ratio \(median\)\s*:\s*([\d.]+)%", re.M),
    "paired_pct": re.compile(r"^ratio \(median\)\s*:\s*([\d.]+)%", re.M),
}


def parse_cold(stdout: str) -> dict[str, float] | None:
    """The cold-path numbers of pg_cold.py's output. The goal's ratio is the resolve stage's (the gateway's
    whole cold path: cache miss, coalescing, breaker, budget, store, cache fill) as the median of per-round
    ratios (each round runs the sides back to back, so drift on a shared host cancels), not the ratio of
    two medians; the store calls' own ratio is kept beside it."""
    found = {k: float(m.group(1)) for k, rx in _COLD_LINES.items() if (m := rx.search(stdout))}
    if len(found) != len(_COLD_LINES):
        return None
    return {"raw_rps": found["raw_rps"], "store_rps": found["store_rps"], "stage_rps": found["stage_rps"],
            "ratio": round(found["paired_pct"] / 100, 3), "store_ratio": round(found["store_pct"] / 100, 3),
            "ratio_of_medians": round(found["stage_rps"] / found["raw_rps"], 3)}


def cold_path() -> dict[str, Any] | None:
    """Run the stores helper's PostgreSQL cold-path benchmark (bench/stores/pg_cold.py) if present."""
    script = HERE / "stores" / "pg_cold.py"
    if not script.exists():
        return None
    print("cold user path: bench/stores/pg_cold.py", flush=True)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
    found = parse_cold(out.stdout)
    if found is None:
        return {"script": script.name, "error": (out.stderr or out.stdout).strip().splitlines()[-3:]}
    return {"script": script.name, **found, "output": out.stdout.strip().splitlines()}


def execute(args: argparse.Namespace) -> dict[str, Any]:
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    machine.ensure_tools()
    fx, cached, new = prepare(args)
    settings = Settings(args.duration, args.warmup, args.repeats, args.connections, cached, args.users, new,
                        args.new_tokens)
    checks = build_checks(fx.keys.private_pem, users.user_ids(args.users)[1], users.user_ids(args.users)[2])
    total, profile = Outcome(), dict[str, Any]()
    with ProcessGroup(fx.work / "logs") as group:
        hook = None if args.no_profile else profile_hook(group, fx.work, profile)
        for layout, specs, new_targets in plan(args):
            print(f"layout {layout.name}: target CPUs {layout.target_cpus or 'any'}, load CPUs "
                  f"{layout.load_cpus or 'any'}, {layout.workers} worker(s)", flush=True)
            got = run_layout(group, layout, specs, new_targets, fx, settings, checks, hook)
            total.runs += got.runs
            total.prechecks.update(got.prechecks)
            total.problems += got.problems
    summary = report.summarize_runs(total.runs)
    ratios = {**report.ratios(summary), **report.paired_ratios(total.runs)}
    mem = None if args.no_memory else memory.measure(args.memory_users, args.traced_users)
    cold = None if args.no_cold else cold_path()
    return {
        "started": started, "machine": machine.machine_info() | {"git": _git_head()},
        "settings": {"duration": args.duration, "warmup": args.warmup, "repeats": args.repeats,
                     "connections": args.connections, "cached_tokens": args.users,
                     "new_tokens": 0 if args.smoke else args.new_tokens, "smoke": args.smoke,
                     "subwarden_launcher": targets.subwarden_launcher()},
        "summary": summary, "ratios": ratios, "goals": report.goals(ratios, mem, cold),
        "memory": mem, "cold_path": cold, "profile": profile.get("pinned"),
        "prechecks": total.prechecks, "problems": total.problems, "runs": total.runs,
    }


def _git_head() -> str:
    out = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    try:
        result = execute(args)
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc}); every process the harness started has been stopped", file=sys.stderr)
        return 130
    json_path, md_path = report.write(args.out, "smoke" if args.smoke else "latest", result)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    if result["problems"]:
        print("problems:\n  " + "\n  ".join(result["problems"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
