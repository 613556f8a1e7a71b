"""Turn individual runs into medians, same-run ratios and goal verdicts; write latest.json and latest.md."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

#: Suffix of a ratio taken per repeat (the targets' runs of one interleaved pass) and then the median.
PAIRED = ", median of per-repeat ratios"
#: The pinned ratios also taken per repeat: (name, mode, target, other target, field).
_PAIRED: tuple[tuple[str, str, str, str, str], ...] = (
    ("pinned/cached subwarden ÷ haproxy", "cached", "subwarden", "haproxy", "rps"),
    ("pinned/cached subwarden ÷ nginx", "cached", "subwarden", "nginx", "rps"),
    ("pinned/cached p99 subwarden ÷ nginx", "cached", "subwarden", "nginx", "p99_ms"),
    ("pinned/new subwarden ÷ haproxy", "new", "subwarden", "haproxy", "rps"),
    ("pinned/cached subwarden ÷ subwarden records off", "cached", "subwarden", "subwarden-norecords", "rps"),
)
#: goal name → (how it is computed, comparison, threshold)
GOALS: dict[str, tuple[str, str, float]] = {
    "cached: subwarden / haproxy req/s": ("pinned/cached subwarden ÷ haproxy" + PAIRED, ">=", 2.0),
    "cached: subwarden / nginx req/s": ("pinned/cached subwarden ÷ nginx" + PAIRED, ">=", 0.6),
    "cached: subwarden p99 / nginx p99": ("pinned/cached p99 subwarden ÷ nginx" + PAIRED, "<=", 2.0),
    "every token new: subwarden / haproxy req/s": ("pinned/new subwarden ÷ haproxy" + PAIRED, ">=", 0.35),
    "bytes per cached user": ("RSS growth ÷ users", "<=", 1024.0),
    "2 workers / 1 worker req/s": ("unpinned/cached subwarden-2w ÷ subwarden-1w", ">=", 1.7),
    "cold user path / asyncpg raw rate": ("bench/stores", ">=", 0.70),
}


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Medians per ``layout/mode/target`` over the valid repeats."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(f"{run['layout']}/{run['mode']}/{run['target']}", []).append(run)
    return {key: _median_of(items) for key, items in groups.items()}


def _median_of(items: list[dict[str, Any]]) -> dict[str, Any]:
    valid = [r for r in items if r["valid"]]

    def med(field: str) -> float | None:
        values = [r[field] for r in valid]
        return round(statistics.median(values), 2) if values else None

    # Requests per second of the target's own CPU time: on a shared machine whose pinned core is
    # partly taken by other tenants, req/s falls with the stolen time but this stays put.
    per_cpu = [r["rps"] / (r["target_cpu_pct"] / 100) for r in valid if r.get("target_cpu_pct")]

    return {
        "workers": items[0]["workers"], "repeats": len(items), "valid_repeats": len(valid),
        "rps": med("rps"), "p50_ms": med("p50_ms"), "p99_ms": med("p99_ms"), "errors": med("errors"),
        "target_cpu_pct": med("target_cpu_pct"),
        "rps_per_cpu": round(statistics.median(per_cpu), 0) if per_cpu else None,
        "load_cpu_pct": med("load_cpu_pct") if all(r["load_cpu_pct"] is not None for r in valid) else None,
        "rps_each": [r["rps"] for r in items], "invalid_reasons": sorted({r["invalid"] for r in items if r["invalid"]}),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def get(key: str, field: str = "rps") -> float | None:
        value = summary.get(key, {}).get(field)
        return float(value) if value is not None else None

    out: dict[str, float | None] = {}
    for layout in ("pinned", "unpinned"):
        sw = f"{layout}/cached/subwarden"
        out[f"{layout}/cached subwarden ÷ nginx"] = _ratio(get(sw), get(f"{layout}/cached/nginx"))
        out[f"{layout}/cached subwarden ÷ haproxy"] = _ratio(get(sw), get(f"{layout}/cached/haproxy"))
        nginx_p99 = get(f"{layout}/cached/nginx", "p99_ms")
        out[f"{layout}/cached p99 subwarden ÷ nginx"] = _ratio(get(sw, "p99_ms"), nginx_p99)
    out["pinned/new subwarden ÷ haproxy"] = _ratio(get("pinned/new/subwarden"), get("pinned/new/haproxy"))
    # What records cost: the same build with records off, same run.
    out["pinned/cached subwarden ÷ subwarden records off"] = _ratio(
        get("pinned/cached/subwarden"), get("pinned/cached/subwarden-norecords"))
    for mode in ("cached", "new"):
        sw = get(f"pinned/{mode}/subwarden", "rps_per_cpu")
        for other in ("haproxy", "nginx") if mode == "cached" else ("haproxy",):
            out[f"pinned/{mode} subwarden ÷ {other}, per CPU-second"] = _ratio(
                sw, get(f"pinned/{mode}/{other}", "rps_per_cpu"))
    # The Python floor (bench/floor.py): how far the goal and subwarden are from what the event loop allows.
    floor = get("pinned/cached/python-floor")
    out["pinned/cached python-floor ÷ haproxy"] = _ratio(floor, get("pinned/cached/haproxy"))
    out["pinned/cached python-floor ÷ nginx"] = _ratio(floor, get("pinned/cached/nginx"))
    out["pinned/cached subwarden ÷ python-floor"] = _ratio(get("pinned/cached/subwarden"), floor)
    out["unpinned/cached subwarden-2w ÷ subwarden-1w"] = _ratio(
        _subwarden_with(summary, 2), _subwarden_with(summary, 1))
    return out


def paired_ratios(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """The pinned goal ratios taken within each repeat, then their median.

    Targets run interleaved, one pass per repeat, so the two runs of a pair are a few seconds apart: on a
    shared host whose speed drifts between passes (the same nginx 49k in one pass, 62k in the next), a
    per-pass ratio cancels the drift that a ratio of two medians taken from different passes keeps.
    Only repeats where both runs are valid count.
    """
    by_key = {(r["layout"], r["mode"], r["target"], r["repeat"]): r for r in runs if r["valid"]}
    out: dict[str, float | None] = {}
    for name, mode, target, other, field in _PAIRED:
        pairs = []
        for (layout, run_mode, run_target, repeat), run in by_key.items():
            if layout != "pinned" or run_mode != mode or run_target != target:
                continue
            base = by_key.get(("pinned", mode, other, repeat))
            if base is not None and run[field] is not None and base[field]:
                pairs.append(run[field] / base[field])
        out[name + PAIRED] = round(statistics.median(pairs), 3) if pairs else None
    return out


def _subwarden_with(summary: dict[str, dict[str, Any]], workers: int) -> float | None:
    """Unpinned cached req/s of subwarden run with ``workers`` workers (``subwarden`` or ``subwarden-Nw``)."""
    for key, s in summary.items():
        if key.startswith("unpinned/cached/subwarden") and s["workers"] == workers and s["rps"] is not None:
            return float(s["rps"])
    return None


def goals(ratio_values: dict[str, float | None], memory: dict[str, Any] | None,
          cold: dict[str, Any] | None) -> list[dict[str, Any]]:
    measured = dict(ratio_values)
    measured["RSS growth ÷ users"] = (memory or {}).get("rss", {}).get("bytes_per_user")
    measured["bench/stores"] = (cold or {}).get("ratio")
    rows = []
    for name, (source, op, threshold) in GOALS.items():
        value = measured.get(source)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        rows.append({"goal": name, "target": f"{op} {threshold:g}", "measured": value, "met": met})
    return rows


def write(out_dir: Path, name: str, result: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(result))
    return json_path, md_path


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# subwarden benchmark ({result['started']})", "", _machine_table(result["machine"]), ""]
    settings = result["settings"]
    lines += [f"wrk: {settings['connections']} connections, {settings['duration']:g}s per run after "
              f"{settings['warmup']:g}s warm-up, {settings['repeats']} interleaved repeats, medians shown; "
              f"{settings['cached_tokens']:,} rotating RS256 tokens (cached) / {settings['new_tokens']:,} "
              f"never-repeated tokens (new). subwarden started by: {settings.get('subwarden_launcher', 'cli')}.", ""]
    lines += [*_runs_table(result["summary"]), ""]
    lines += ["| ratio (same run) | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v, 3)} |" for k, v in result["ratios"].items()] + [""]
    lines += ["The goals' wrk ratios are medians of per-repeat ratios (each target's run of one interleaved pass "
              "against the other's of the same pass); the ratios of the medians are listed above them.", ""]
    lines += ["| goal | target | measured | met |", "|---|---|---|---|"]
    for g in result["goals"]:
        verdict = {True: "yes", False: "**no**", None: "not measured"}[g["met"]]
        lines.append(f"| {g['goal']} | {g['target']} | {_fmt(g['measured'], 3)} | {verdict} |")
    lines += ["", *_extras(result)]
    return "\n".join(lines) + "\n"


def _machine_table(machine: dict[str, Any]) -> str:
    rows = ["| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in machine.items()]
    return "\n".join(rows)


def _runs_table(summary: dict[str, dict[str, Any]]) -> list[str]:
    rows = ["| layout / tokens / target | req/s | p50 ms | p99 ms | errors | target CPU % | req per CPU-s | load CPU % "
            "| valid runs |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, s in summary.items():
        note = f" ({'; '.join(s['invalid_reasons'])})" if s["invalid_reasons"] else ""
        cells = [key, _fmt(s["rps"], 0), _fmt(s["p50_ms"]), _fmt(s["p99_ms"]), _fmt(s["errors"], 0),
                 _fmt(s["target_cpu_pct"], 0), _fmt(s.get("rps_per_cpu"), 0), _fmt(s["load_cpu_pct"], 0),
                 f"{s['valid_repeats']}/{s['repeats']}{note}"]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def cpu_us(summary: dict[str, dict[str, Any]], key: str) -> float | None:
    """Target CPU µs per request (from req per CPU-second) of a summary row, if it ran."""
    per_cpu = summary.get(key, {}).get("rps_per_cpu")
    return 1e6 / per_cpu if per_cpu else None


def _floor_budget(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The 2x-HAProxy goal as a CPU budget per request, next to the Python floor and subwarden."""
    floor, haproxy = cpu_us(summary, "pinned/cached/python-floor"), cpu_us(summary, "pinned/cached/haproxy")
    sw, off = cpu_us(summary, "pinned/cached/subwarden"), cpu_us(summary, "pinned/cached/subwarden-norecords")
    if floor is None or haproxy is None or sw is None:
        return []
    goal = haproxy / 2
    text = (f"CPU per request (pinned, cached): the Python floor (bench/floor.py: uvloop, no auth, no checks) "
            f"{floor:.1f} µs, HAProxy {haproxy:.1f} µs, subwarden {sw:.1f} µs")
    text += f" ({off:.1f} µs with records off)" if off is not None else ""
    text += (f". 2x HAProxy allows {goal:.1f} µs: {goal - floor:.1f} µs above the floor for all of subwarden's "
             f"own work, which takes {sw - floor:.1f} µs.")
    return [text, ""]


def _extras(result: dict[str, Any]) -> list[str]:
    lines = []
    memory = result.get("memory")
    if memory:
        rss, traced = memory.get("rss", {}), memory.get("tracemalloc", {})
        lines += [f"Memory per cached user: {_fmt(rss.get('bytes_per_user'), 0)} B RSS growth with "
                  f"{rss.get('users', 0):,} users; {_fmt(traced.get('bytes_per_user'), 0)} B traced by tracemalloc "
                  f"with {traced.get('users', 0):,}.", ""]
    cold = result.get("cold_path")
    if cold and "ratio" in cold:
        lines += [f"Cold user path on PostgreSQL (bench/stores/{cold['script']}, every lookup a distinct user): "
                  f"the resolve stage {_fmt(cold.get('stage_rps'), 0)}/s and the store calls alone "
                  f"{_fmt(cold['store_rps'], 0)}/s vs asyncpg raw fetchrow {_fmt(cold['raw_rps'], 0)}/s (medians); "
                  f"median of the per-round ratios: resolve stage {_fmt(cold['ratio'], 3)} (the goal's), "
                  f"store calls {_fmt(cold.get('store_ratio'), 3)}.",
                  ""]
    elif cold:
        lines += [f"Cold user path: bench/stores/{cold['script']} failed: {cold.get('error')}", ""]
    lines += _floor_budget(result["summary"])
    profile = result.get("profile")
    if profile and profile.get("self"):
        lines += [f"py-spy on subwarden ({profile['samples']} samples, pinned, cached tokens):", "",
                  "| self % | function | inclusive % | function |", "|---:|---|---:|---|"]
        pairs = zip(profile["self"][:12], profile["inclusive"][:12], strict=False)
        lines += [f"| {s['pct']} | {s['function']} | {i['pct']} | {i['function']} |" for s, i in pairs]
        lines.append("")
    if (result["machine"].get("cores") or 0) <= 2 and any(k.startswith("unpinned/") for k in result["summary"]):
        lines += ["Note: on a 2-core machine the unpinned layout shares both cores between the target, wrk and "
                  "the upstream, so N-worker numbers (and 2 vs 1 workers) are bounded by the load generator too.", ""]
    for problem in result.get("problems", []):
        lines.append(f"- problem: {problem}")
    return lines
