"""Quick data-plane throughput check (a measurement, not a test): wrk against nginx directly vs through
the gateway (pipeline = RouteStage only, one worker pinned to CPU 0; nginx and wrk on CPU 1).

    .venv/bin/python tests/http/dp_bench.py [--seconds 5] [--connections 50]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type application/json; return 200 '{{"ok":true}}'; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def wrk(port: int, seconds: int, connections: int) -> tuple[float, str]:
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, f"p99 {p99.group(1) if p99 else '?'}, non-2xx {errors.group(1) if errors else 0}"


def serve(config_json: str) -> int:
    from subwarden.config import parse_config
    from subwarden.http.serve import serve as run
    from subwarden.pipeline.gateway import Gateway
    from subwarden.pipeline.routing import RouteStage, RouteTable
    from subwarden.pipeline.stage import Pipeline

    config = parse_config(json.loads(config_json), env={})

    def build() -> Gateway:
        table = RouteTable.from_config(config)
        return Gateway(config=config, fingerprint="bench", routes=table, pipeline=Pipeline([RouteStage(table)]))

    return run(config, build)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--serve")
    args = parser.parse_args()
    if args.serve:
        sys.exit(serve(args.serve))
    with tempfile.TemporaryDirectory() as tmp:
        nginx_port, gw_port = free_port(), free_port()
        Path(tmp, "nginx.conf").write_text(NGINX_CONF.format(dir=tmp, port=nginx_port))
        nginx = subprocess.Popen(["taskset", "-c", "1", "nginx", "-c", f"{tmp}/nginx.conf", "-p", tmp])
        config = {
            "listen": {"host": "127.0.0.1", "port": gw_port},
            "issuers": [{"issuer": "https://idp.test", "keys": {"jwks_uri": "http://127.0.0.1:1/jwks"}}],
            "routes": [{"name": "all", "upstream": {"targets": [f"http://127.0.0.1:{nginx_port}"]}}],
            "records": {"sqlite": None},
            "admin": {"enabled": False},
        }
        gateway = subprocess.Popen(["taskset", "-c", "0", sys.executable, __file__, "--serve", json.dumps(config)])
        try:
            wait_port(nginx_port)
            wait_port(gw_port)
            wrk(gw_port, 1, args.connections)  # warm-up: upstream pool filled
            for name, port in (("nginx direct", nginx_port), ("gateway -> nginx", gw_port)):
                rps, detail = wrk(port, args.seconds, args.connections)
                print(f"{name:18} {rps:10.0f} req/s  ({detail})")
        finally:
            gateway.terminate()
            nginx.terminate()
            gateway.wait(10)
            nginx.wait(10)


if __name__ == "__main__":
    main()
