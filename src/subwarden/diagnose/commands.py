"""The CLI commands: ``diagnose``, ``replay`` and ``config diff`` (registered by cli.py via ``register``).

Exit codes: diagnose 0 allowed / 1 denied / 2 config or usage error; config diff 0 same / 1 different /
2 error; replay 0 / 2 error.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from subwarden.config.loader import ConfigError, load_config
from subwarden.config.models import GatewayConfig
from subwarden.diagnose.report import EXIT_ERROR, Report, error_report
from subwarden.diagnose.timeparse import parse_moment, parse_since

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Gateway config file (YAML).")]


class UsageError(Exception):
    """A problem with the command line or its inputs (exit 2)."""


def _load(path: Path) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def read_token(value: str) -> str:
    """The token from the value, ``@file`` or ``-`` (stdin); a leading "Bearer " is dropped."""
    try:
        if value == "-":
            text = sys.stdin.read()
        elif value.startswith("@"):
            text = Path(value[1:]).read_text(encoding="utf-8")
        else:
            text = value
    except OSError as exc:
        raise UsageError(f"--token {value}: cannot read: {exc.strerror}") from None
    token = text.strip()
    token = token[7:].strip() if token[:7].lower() == "bearer " else token
    if not token:
        raise UsageError("--token is empty")
    return token


def _fail(problem: str, as_json: bool) -> typer.Exit:
    if as_json:
        typer.echo(json.dumps(error_report(problem).to_json(), indent=2, ensure_ascii=False))
    else:
        typer.echo(f"error: {problem}", err=True)
    return typer.Exit(EXIT_ERROR)


def diagnose_command(
    config: ConfigOption,
    token: Annotated[str, typer.Option("--token", "-t", help="The token, @FILE, or - to read it from stdin.")],
    route: Annotated[
        str | None, typer.Option("--route", help="Request path; picks the route as the gateway would (default: "
                                 "the first route's prefix).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Host header, for host-bound routes.")] = "",
    method: Annotated[str, typer.Option("--method", help="Request method.")] = "GET",
    at: Annotated[str | None, typer.Option("--at", help="Check time claims at TIME (ISO 8601 or epoch).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the token and user caches.")] = False,
    compare_config: Annotated[
        Path | None, typer.Option("--compare-config", help="Another environment's config to compare with.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the documented JSON structure.")] = False,
    live: Annotated[
        bool | None,
        typer.Option("--live/--offline", help="Ask the running gateway (POST /admin/diagnose), so its caches and "
                     "loaded config count; default: ask it when the admin token is set and it answers."),
    ] = None,
    timings: Annotated[bool, typer.Option("--timings/--no-timings", help="Show per-stage timings.")] = True,
) -> None:
    """Explain what the gateway does with TOKEN: each stage, then the code, the cause and the fix."""
    try:
        report = _diagnose(config, read_token(token), route, host, method, at, no_cache, compare_config, live)
    except UsageError as exc:
        raise _fail(str(exc), as_json) from None
    _print(report, as_json, timings)
    raise typer.Exit(report.exit_code)


def _diagnose(config: Path, token: str, route: str | None, host: str, method: str, at: str | None, no_cache: bool,
              compare_config: Path | None, live: bool | None) -> Report:
    from subwarden.diagnose.run import DiagnoseRequest, diagnose

    try:
        moment = parse_moment(at) if at is not None else None
    except ValueError as exc:
        raise UsageError(f"--at: {exc}") from None
    cfg = _load(config)
    path = None if route is None else route if route.startswith("/") else "/" + route
    request = DiagnoseRequest(token, path=path, host=host,
                              method=method, at=moment, no_cache=no_cache, config_source=str(config))
    if compare_config is not None:
        request.compare, request.compare_source = _load(compare_config), str(compare_config)
    if live:
        return _ask_live(cfg, request)
    try:
        local = asyncio.run(diagnose(cfg, request))
    except ConfigError as exc:
        raise UsageError(f"{config}: {exc}") from None
    return _auto_live(cfg, request, local) if live is None else local


def _ask_live(cfg: GatewayConfig, request: Any) -> Report:
    from subwarden.diagnose.live import LiveUnavailable, ask

    if request.compare is not None:
        raise UsageError("--live cannot be combined with --compare-config")
    try:
        return ask(cfg, request)
    except LiveUnavailable as exc:
        raise UsageError(f"--live: {exc}") from None


def _auto_live(cfg: GatewayConfig, request: Any, local: Report) -> Report:
    """Without --live/--offline: also ask the running gateway when that is possible and meaningful."""
    from subwarden.diagnose.live import LiveUnavailable, ask, can_ask, reconcile

    if not can_ask(cfg) or request.at is not None or request.no_cache or request.compare is not None:
        return local
    try:
        live = ask(cfg, request, timeout=10.0)
    except LiveUnavailable:
        return local
    return reconcile(local, live, request.config_source)


def _print(report: Report, as_json: bool, timings: bool) -> None:
    from subwarden.diagnose.render import render_text

    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_text(report, show_timings=timings), nl=False)


def config_diff_command(
    a: Annotated[Path, typer.Argument(help="First config (e.g. dev).")],
    b: Annotated[Path, typer.Argument(help="Second config (e.g. prod).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
) -> None:
    """Semantic difference of two configs (secrets stripped) and both fingerprints; exit 1 if they differ."""
    from subwarden.config.diff import diff_configs, render_diff

    try:
        diff = diff_configs(_load(a), _load(b))
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    if as_json:
        typer.echo(json.dumps({"a": str(a), "b": str(b), **diff.to_json()}, indent=2, ensure_ascii=False))
    else:
        typer.echo(render_diff(diff, str(a), str(b)), nl=False)
    raise typer.Exit(0 if diff.identical else 1)


def replay_command(
    config: ConfigOption,
    since: Annotated[str, typer.Option("--since", help="How far back: 24h, 30m, 7d, or a time.")] = "24h",
    records: Annotated[
        Path | None, typer.Option("--records", help="Records database (default: records.sqlite of --config).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Re-evaluate recorded identity failures under --config (current or new): pass / still fail / differ."""
    import time

    try:
        cfg = _load(config)
        start = parse_since(since, time.time())
        path = records or (Path(cfg.records.sqlite) if cfg.records.sqlite else None)
        if path is None:
            raise UsageError("no records database: give --records or set records.sqlite")
        summary = asyncio.run(_replay(cfg, path, start))
    except (UsageError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    except ConfigError as exc:
        typer.echo(f"error: {config}: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    from subwarden.diagnose.replay import render_replay

    if as_json:
        typer.echo(json.dumps({"records": str(path), **summary.to_json()}, indent=2, ensure_ascii=False))
    else:
        typer.echo(render_replay(summary, str(config), str(path)), nl=False)


async def _replay(cfg: GatewayConfig, path: Path, since: float) -> Any:
    from subwarden.diagnose.replay import read_failures, replay
    from subwarden.observe.query import RecordReader
    from subwarden.pipeline.build import build_gateway

    failures, truncated = read_failures(RecordReader(path), since)
    gateway = build_gateway(cfg)
    try:
        summary = await replay(gateway, failures, since)
    finally:
        await gateway.close()
    summary.truncated = truncated
    return summary


def register(app: typer.Typer, config_app: typer.Typer) -> None:
    """Add ``diagnose`` and ``replay`` to the main app and ``diff`` to the ``config`` sub-app."""
    app.command("diagnose")(diagnose_command)
    app.command("replay")(replay_command)
    config_app.command("diff")(config_diff_command)
