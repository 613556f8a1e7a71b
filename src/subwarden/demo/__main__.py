"""`make run`: the gateway on its embedded default, with a demo issuer and upstream.

Starts a demo upstream and the gateway as child processes, then prints ready-to-paste curl
lines — one that succeeds, one rejected as user_not_found (with its diagnosis), one
user_disabled — and keeps serving until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from subwarden.demo.seed import DEMO_AUDIENCE, DEMO_ISSUER, DemoFiles, prepare

ROOT = Path("var/demo")


def free_port(preferred: int) -> int:
    for candidate in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early with status {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def mint(files: DemoFiles, sub: str) -> str:
    from subwarden.tokens.mint import mint_token

    now = int(time.time())
    claims = {"iss": DEMO_ISSUER, "aud": DEMO_AUDIENCE, "sub": sub, "iat": now, "nbf": now, "exp": now + 3600}
    return mint_token(claims, str(files.private_key), alg="RS256")


def call(port: int, token: str) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/hello", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def subwarden_cmd() -> list[str]:
    exe = shutil.which("subwarden", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "subwarden"]


def show(title: str, port: int, token: str) -> None:
    status, body = call(port, token)
    print(f"\n── {title}: HTTP {status}")
    print(f"curl -si http://127.0.0.1:{port}/hello -H 'Authorization: Bearer {token}'")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = body
    shown = parsed.get("identity", parsed) if isinstance(parsed, dict) else parsed
    print(json.dumps(shown, indent=2) if not isinstance(shown, str) else shown)


def main() -> int:
    port, upstream_port, admin_port = free_port(8080), free_port(8081), free_port(9090)
    files = prepare(ROOT, port, upstream_port, admin_port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    upstream = subprocess.Popen([sys.executable, "-m", "subwarden.demo.upstream", "--port", str(upstream_port)])
    gateway = subprocess.Popen([*subwarden_cmd(), "serve", "--config", str(files.config)], env=env)
    children = [gateway, upstream]
    try:
        wait_for_port(upstream_port, upstream)
        wait_for_port(port, gateway)
        print(f"\nsubwarden is up: data plane 127.0.0.1:{port}, control plane 127.0.0.1:{admin_port}")
        print(f"config {files.config}; users {files.users_db}; records {files.records_db}")
        show("alice (active) — allowed; identity headers the upstream received", port, mint(files, "alice"))
        missing = mint(files, "Alice")
        show("'Alice' — user_not_found (the store has 'alice')", port, missing)
        print("\nits diagnosis:")
        subprocess.run([*subwarden_cmd(), "diagnose", "--config", str(files.config), "--token", missing], check=False)
        show("bob (disabled) — user_disabled", port, mint(files, "bob"))
        print("\nserving until Ctrl-C …")
        gateway.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
