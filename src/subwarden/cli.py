"""The `subwarden` command line: serve, config, errors, token, diagnose, replay."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from subwarden.config import ConfigError, GatewayConfig, fingerprint, load_config

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
config_app = typer.Typer(no_args_is_help=True, help="Validate, inspect and compare config files.")
token_app = typer.Typer(no_args_is_help=True, help="Mint (demo/test issuer) and decode tokens.")
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Gateway config file (YAML).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _load(path: Path) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


# ---------------------------------------------------------------- serve
@app.command()
def serve(
    config: ConfigOption,
    workers: Annotated[int | None, typer.Option(help="Worker processes (overrides listen.workers).")] = None,
    port: Annotated[int | None, typer.Option(help="Data-plane port (overrides listen.port).")] = None,
) -> None:
    """Run the gateway: data plane, control plane and record writers."""
    from subwarden.serve import run_gateway

    cfg = _load(config)
    listen_overrides: dict[str, Any] = {}
    if workers is not None:
        listen_overrides["workers"] = workers
    if port is not None:
        listen_overrides["port"] = port
    if listen_overrides:
        cfg = cfg.model_copy(update={"listen": cfg.listen.model_copy(update=listen_overrides)})
    raise typer.Exit(run_gateway(cfg))


# ---------------------------------------------------------------- config
@config_app.command("schema")
def config_schema() -> None:
    """Print the config file's JSON Schema."""
    typer.echo(json.dumps(GatewayConfig.model_json_schema(), indent=2))


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="Config file to validate.")]) -> None:
    """Validate FILE and build the whole pipeline without serving; non-zero exit with the reason."""
    import asyncio

    from subwarden.pipeline.build import build_gateway

    cfg = _load(path)
    try:
        gateway = build_gateway(cfg)
    except ConfigError as exc:
        raise _fail(f"{path}: {exc}") from None
    report = asyncio.run(_self_test(gateway))
    for line in report["lines"]:
        typer.echo(line)
    typer.echo(f"config fingerprint: {fingerprint(cfg)}")
    if not report["ok"]:
        raise _fail(f"{path}: store self-test failed at step {report['failed']!r}", 1)
    typer.echo(f"{path}: OK")


async def _self_test(gateway: Any) -> dict[str, Any]:
    store = gateway.identity.store
    try:
        result = await store.self_test(gateway.config.identity.store.canary_subject)
    finally:
        await store.close()
    lines = [f"store {result.store}"]
    lines += [f"  {'ok  ' if s.ok else 'FAIL'} {s.name}{': ' + s.detail if s.detail else ''}" for s in result.steps]
    failed = result.failed_step
    return {"ok": result.ok, "lines": lines, "failed": failed.name if failed else None}


# ---------------------------------------------------------------- errors
@app.command()
def errors(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/errors.md.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
) -> None:
    """Print the error catalog: code, status, stage, public message, operator hint."""
    from subwarden.errors_doc import catalog_rows, render_markdown

    if markdown:
        typer.echo(render_markdown(), nl=False)
        return
    rows = catalog_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("code", "status", "stage", "client sees", "what to check")
    for r in rows:
        table.add_row(r["code"], str(r["status"]), r["stage"], r["title"], r["hint"])
    Console().print(table)


# ---------------------------------------------------------------- token
def _read_token(value: str) -> str:
    if value == "-":
        return sys.stdin.read().strip()
    if value.startswith("@"):
        return Path(value[1:]).read_text(encoding="utf-8").strip()
    return value.strip()


@token_app.command("mint")
def token_mint(
    key: Annotated[Path, typer.Option(help="Private key (PEM) of the demo/test issuer.")],
    sub: Annotated[str | None, typer.Option(help="Subject claim.")] = None,
    iss: Annotated[str, typer.Option(help="Issuer claim.")] = "https://demo.subwarden.local",
    aud: Annotated[str | None, typer.Option(help="Audience claim.")] = None,
    ttl: Annotated[int, typer.Option(help="Seconds until exp.")] = 3600,
    alg: Annotated[str, typer.Option(help="Signing algorithm.")] = "RS256",
    kid: Annotated[str | None, typer.Option(help="Key id header.")] = None,
    claim: Annotated[
        list[str] | None, typer.Option(help="Extra claim NAME=VALUE (VALUE parsed as JSON if it can be).")
    ] = None,
) -> None:
    """Mint a token for the demo/test issuer (never for a production IdP)."""
    import time

    from subwarden.tokens.mint import mint_token

    now = int(time.time())
    claims: dict[str, Any] = {"iss": iss, "iat": now, "nbf": now, "exp": now + ttl}
    if sub is not None:
        claims["sub"] = sub
    if aud is not None:
        claims["aud"] = aud
    for item in claim or []:
        name, sep, raw = item.partition("=")
        if not sep:
            raise _fail(f"--claim {item!r}: expected NAME=VALUE")
        try:
            claims[name] = json.loads(raw)
        except ValueError:
            claims[name] = raw
    typer.echo(mint_token(claims, str(key), alg=alg, kid=kid))


@token_app.command("decode")
def token_decode(token: Annotated[str, typer.Argument(help="Token, @file, or - for stdin.")]) -> None:
    """Show a token's header and claims — UNVERIFIED; the signature is never printed."""
    from subwarden.tokens.decode import decode_unverified

    try:
        header, claims = decode_unverified(_read_token(token))
    except ValueError as exc:
        raise _fail(f"cannot decode: {exc}") from None
    typer.echo("UNVERIFIED — signature not checked, not shown")
    typer.echo(json.dumps({"header": header, "claims": claims}, indent=2, sort_keys=True))


def _register_diagnose() -> None:
    from subwarden.diagnose.commands import register

    register(app, config_app)


_register_diagnose()


def main() -> None:
    app()
