"""The human report: each stage ✓/✗ with timing and facts, then the verdict, the cause and the fix."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from subwarden.diagnose.report import Finding, Report, StageResult
from subwarden.diagnose.words import timestamp

WIDTH = 100
_MARK = {"ok": "✓", "failed": "✗", "skipped": "·"}
_LABEL = 9


def render_text(report: Report, *, show_timings: bool = True) -> str:
    """The whole report as text (no colour codes, stable for snapshots when timings are hidden)."""
    if report.verdict == "error":
        return f"ERROR    {report.problem}\n"
    lines = _header(report)
    width = max((len(s.name) for s in report.stages), default=8)
    for stage in report.stages:
        lines += _stage(stage, width, show_timings)
    lines.append("")
    lines += _verdict(report)
    return "\n".join(lines) + "\n"


def _header(report: Report) -> list[str]:
    req, cfg = report.request, report.config
    host = f" host {req['host']}" if req.get("host") else ""
    clock = "frozen clock, --at" if req.get("clock") == "frozen" else "system clock"
    cache = ", caches bypassed" if req.get("no_cache") else ""
    target = f"{req.get('method', 'GET')} {req.get('path', '/')}{host}"
    lines = [
        f"subwarden diagnose · {target} · at {req.get('at')} ({clock}{cache})",
        f"config {cfg.get('source', '?')} · fingerprint {cfg.get('fingerprint', '?')}",
    ]
    token = report.token
    if token:
        lines += _token_line(token)
    lines.append("")
    return lines


def _token_line(token: dict[str, Any]) -> list[str]:
    header = token.get("header") or {}
    if token.get("shape") != "jws" or not header:
        return [f"token  {token.get('shape')} — not a signed JWT; the token itself is never shown"]
    verified = "verified" if token.get("verified") else "NOT verified, shown as sent"
    names = ", ".join(token.get("claim_names") or []) or "none"
    return _wrap(f"token  {header.get('alg', '?')} kid {header.get('kid') or 'none'} · claims ({verified}): {names} "
                 "· the token and its signature are never shown", indent=7, lead="")


def _stage(stage: StageResult, width: int, show_timings: bool) -> list[str]:
    timing = ""
    if show_timings and stage.elapsed_ms is not None:
        timing = f"  {stage.elapsed_ms:8.3f} ms"
    tail = f"  {stage.error.code}" if stage.error else ("  skipped" if stage.status == "skipped" else "")
    lines = [f"  {_MARK[stage.status]} {stage.name.ljust(width)}{timing}{tail}".rstrip()]
    for key, value in stage.facts.items():
        lines += fact_lines(key, value, indent=6)
    return lines


_TIME_KEYS = frozenset({"now", "exp", "nbf", "iat", "fetched_at", "key_fetched_at", "jwks_fetched_at"})


def fact_lines(key: str, value: Any, *, indent: int) -> list[str]:
    """One fact: scalars and small mappings on one line, lists of records one item per line."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        lines = [" " * indent + f"{key}:"]
        for item in value:
            lines += _wrap(_pairs(item), indent=indent + 4, lead=" " * (indent + 2) + "- ")
        return lines
    return _wrap(f"{key}: {fact_text(value, key)}", indent=indent + 4, lead=" " * indent)


def _pairs(item: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fact_text(v, k)}" for k, v in item.items())


def fact_text(value: Any, key: str = "") -> str:
    """A fact value on one line: strings bare unless whitespace would hide, times also as ISO 8601."""
    if isinstance(value, str):
        return value if value == value.strip() and value else json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "none"
    if isinstance(value, (int, float)):
        number = f"{value:.10g}"
        if key in _TIME_KEYS and value > 1e9:
            return f"{timestamp(value)} ({number})"
        return f"{number} s" if key.endswith("_offset") else number
    if isinstance(value, dict):
        return "{" + _pairs(value) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fact_text(v) for v in value) + "]"
    return str(value)


def _verdict(report: Report) -> list[str]:
    if report.verdict == "allowed":
        lines = [f"{'ALLOWED'.ljust(_LABEL)}{_outcome(report)}"]
    else:
        where = f" · stage {report.failed_stage}" if report.failed_stage else ""
        lines = [f"{'DENIED'.ljust(_LABEL)}{report.code} · {report.status}{where}"]
    cause = report.cause
    if cause is not None:
        lines += _finding("CAUSE", cause)
    others = [f for f in report.findings if f is not cause and f.severity == "cause"]
    for other in others:
        lines += _finding("ALSO", other)
    for warning in (f for f in report.findings if f.severity == "warning"):
        lines += _finding("WARNING", warning)
    for note in (f for f in report.findings if f.severity == "info" and f.id != "allowed"):
        lines += _wrap(f"{note.title}: {note.explanation}", indent=_LABEL, lead="NOTE".ljust(_LABEL))
    lines += _compare(report)
    lines += _upstream(report)
    docs = sorted({f.doc for f in report.findings if f.severity != "info"})
    if docs:
        lines.append(f"{'DOCS'.ljust(_LABEL)}{', '.join(docs)}")
    return lines


def _outcome(report: Report) -> str:
    outcome = report.outcome or "allowed"
    return outcome if outcome != "allowed" else "every stage passed"


def _finding(label: str, finding: Finding) -> list[str]:
    guide = f"guide cause {finding.guide_cause} · " if finding.guide_cause else ""
    lines = _wrap(f"{finding.title}  [{guide}{finding.id}]", indent=_LABEL, lead=label.ljust(_LABEL))
    lines += _wrap(finding.explanation, indent=_LABEL)
    for i, step in enumerate(finding.fix):
        lines += _wrap(step, indent=_LABEL + 2, lead=("FIX" if i == 0 else "").ljust(_LABEL) + "• ")
    return lines


def _compare(report: Report) -> list[str]:
    cmp = report.compare
    if not cmp:
        return []
    verdict = cmp.get("verdict") or "?"
    code = f" ({cmp['code']})" if cmp.get("code") else ""
    return _wrap(f"{cmp.get('source')}: {verdict}{code}; fingerprint {cmp.get('fingerprint')}; "
                 f"{len(cmp.get('diff', {}).get('changes', []))} config difference(s) — see `subwarden config diff`",
                 indent=_LABEL, lead="COMPARE".ljust(_LABEL))


def _upstream(report: Report) -> list[str]:
    up = report.upstream
    if not up:
        return []
    lines = [f"{'UPSTREAM'.ljust(_LABEL)}{up['method']} {up['url']}  (dry run: nothing sent)"]
    for name, value in up.get("identity_headers", []):
        lines.append(f"{' ' * _LABEL}{name}: {value}")
    return lines


def _wrap(text: str, *, indent: int, lead: str | None = None) -> list[str]:
    """Wrap ``text`` at WIDTH; the first line starts with ``lead`` (default: the indent)."""
    first = lead if lead is not None else " " * indent
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]
