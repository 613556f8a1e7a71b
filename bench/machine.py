"""What the benchmark needs installed (Debian packages, py-spy) and what machine it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: executable → Debian package providing it.
DEBIAN_TOOLS = {"nginx": "nginx-light", "haproxy": "haproxy", "wrk": "wrk", "taskset": "util-linux"}


def _missing_tools(tools: dict[str, str]) -> list[str]:
    return [tool for tool in tools if not _which(tool)]


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def tool_path(tool: str) -> str:
    path = _which(tool)
    if not path:
        raise RuntimeError(f"{tool} is not installed")
    return path


def ensure_tools(tools: dict[str, str] = DEBIAN_TOOLS) -> None:
    """apt-get install what is missing of ``tools`` (executable → package; one ``apt-get update`` first); needs root."""
    missing = _missing_tools(tools)
    if not missing:
        return
    packages = sorted({tools[t] for t in missing})
    print(f"installing {' '.join(packages)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, env=env, stdout=subprocess.DEVNULL)
    still = _missing_tools(tools)
    if still:
        raise RuntimeError(f"still missing after apt-get: {still}")


def ensure_py_spy() -> str:
    """Path of py-spy, pip-installing it into this interpreter's environment if needed."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(beside)


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _version(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    return match.group(1) if match else text


def machine_info() -> dict[str, object]:
    """CPU model, cores, memory, kernel and the versions of every program measured."""
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "nginx": _version(r"nginx/(\S+)", _first_line([tool_path("nginx"), "-v"])),
        "haproxy": _version(r"version (\S+)", _first_line([tool_path("haproxy"), "-v"])),
        "wrk": _version(r"wrk (\S+)", _first_line([tool_path("wrk"), "--version"])),
        "subwarden": _subwarden_version(),
    }


def _subwarden_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("subwarden")
    except PackageNotFoundError:
        return "?"
