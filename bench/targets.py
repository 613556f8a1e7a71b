"""The targets measured (nginx, HAProxy, subwarden, the Python floor), the upstream behind them, and the CPU layouts."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import confs
from machine import tool_path
from procs import Proc, ProcessGroup, free_port, pinned, wait_listening
from tokens import Keys


@dataclass(frozen=True)
class Layout:
    """Where the target runs: ``pinned`` to one core (load on the other) or ``unpinned`` with N workers."""

    name: str
    target_cpus: str | None
    load_cpus: str | None
    workers: int
    wrk_threads: int


def layouts() -> dict[str, Layout]:
    cores = os.cpu_count() or 1
    last = str(cores - 1)
    load = ",".join(str(c) for c in range(cores - 1)) or None
    return {
        "pinned": Layout("pinned", last if cores > 1 else None, load if cores > 1 else None, 1, 1),
        "unpinned": Layout("unpinned", None, None, cores, min(cores, 2)),
    }


@dataclass(frozen=True)
class TargetSpec:
    """``workers`` overrides the layout's worker count (used for the 1-vs-2-workers comparison)."""

    name: str
    kind: str
    auth: bool
    workers: int | None = None
    records: bool = True


NGINX = TargetSpec("nginx", "nginx", auth=False)
HAPROXY = TargetSpec("haproxy", "haproxy", auth=True)
SUBWARDEN = TargetSpec("subwarden", "subwarden", auth=True)


SUBWARDEN_NO_RECORDS = TargetSpec("subwarden-norecords", "subwarden", auth=True, records=False)
#: A uvloop proxy with no auth and no checks (bench/floor.py): the most a Python proxy reaches here.
PYTHON_FLOOR = TargetSpec("python-floor", "floor", auth=False)


def subwarden_with(workers: int) -> TargetSpec:
    return TargetSpec(f"subwarden-{workers}w", "subwarden", auth=True, workers=workers)


@dataclass(frozen=True)
class Fixtures:
    """Files every target shares, made once per run."""

    work: Path
    keys: Keys
    users_db: Path
    roles_map: Path


@dataclass
class Running:
    spec: TargetSpec
    proc: Proc
    port: int
    workers: int
    #: subwarden's control plane (metrics) when it is served.
    admin_port: int | None = None


def start_upstream(group: ProcessGroup, fx: Fixtures, cpus: str | None) -> tuple[Proc, int]:
    port = free_port()
    conf = fx.work / "upstream.nginx.conf"
    conf.write_text(confs.nginx_upstream(fx.work, port))
    proc = group.start("upstream", pinned([tool_path("nginx"), "-c", str(conf), "-p", str(fx.work)], cpus))
    wait_listening(proc, port)
    return proc, port


def start_target(group: ProcessGroup, spec: TargetSpec, layout: Layout, fx: Fixtures, upstream_port: int) -> Running:
    workers = spec.workers or layout.workers
    port = free_port()
    admin_port = free_port() if spec.kind == "subwarden" else None
    cmd, env = _command(spec, fx, port, upstream_port, workers, admin_port)
    proc = group.start(spec.name, pinned(cmd, layout.target_cpus), env)
    wait_listening(proc, port, timeout=60.0)
    return Running(spec, proc, port, workers, admin_port)


def _command(
    spec: TargetSpec, fx: Fixtures, port: int, upstream_port: int, workers: int, admin_port: int | None,
) -> tuple[list[str], dict[str, str]]:
    if spec.kind == "nginx":
        conf = fx.work / "proxy.nginx.conf"
        conf.write_text(confs.nginx_proxy(fx.work, port, upstream_port, workers))
        return [tool_path("nginx"), "-c", str(conf), "-p", str(fx.work)], {}
    if spec.kind == "haproxy":
        conf = fx.work / "haproxy.cfg"
        conf.write_text(confs.haproxy(port, upstream_port, workers, fx.keys.public_pem, fx.roles_map))
        return [tool_path("haproxy"), "-db", "-f", str(conf)], {}
    if spec.kind == "floor":
        floor = Path(__file__).resolve().parent / "floor.py"
        return [sys.executable, str(floor), "--port", str(port), "--upstream-port", str(upstream_port)], {}
    if spec.kind == "subwarden":
        return _subwarden_command(spec, fx, port, upstream_port, workers, admin_port or free_port())
    raise ValueError(f"unknown target kind {spec.kind!r}")


def _subwarden_command(
    spec: TargetSpec, fx: Fixtures, port: int, upstream_port: int, workers: int, admin_port: int,
) -> tuple[list[str], dict[str, str]]:
    records = fx.work / f"records-{spec.name}.db"
    records.unlink(missing_ok=True)
    # One file per worker count: the pinned 1-worker config stays as it was for runs by hand.
    conf = fx.work / (f"{spec.name}.yaml" if workers == 1 else f"{spec.name}-{workers}w.yaml")
    conf.write_text(confs.subwarden(
        port=port, admin_port=admin_port, upstream_port=upstream_port, workers=workers,
        public_jwks=fx.keys.public_jwks, users_db=fx.users_db, records_db=records if spec.records else None,
    ))
    # SUBWARDEN_NATIVE=1: a compiled build that no longer matches the sources (edited mid-run) stops the
    # target instead of silently measuring the pure-Python fallback.
    env = {"SUBWARDEN_ADMIN_TOKEN": secrets.token_urlsafe(24), "SUBWARDEN_SUBJECT_HASH_KEY": secrets.token_urlsafe(24),
           "SUBWARDEN_NATIVE": "1"}
    return [sys.executable, "-m", "subwarden", "serve", "--config", str(conf)], env


def subwarden_launcher() -> str:
    """How subwarden is started: always `subwarden serve`, as users run it."""
    return "cli"
