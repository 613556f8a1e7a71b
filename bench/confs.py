"""Config files for every process the benchmark runs: upstream, nginx proxy, HAProxy jwt_verify, subwarden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tokens import AUDIENCE, ISSUER, KID

#: Seconds of clock skew every authenticating target tolerates for exp and nbf (subwarden's default).
LEEWAY = 30
#: Identity headers clients may not set; each target strips them and sets its own.
IDENTITY_HEADERS = ("X-User-Id", "X-User-Roles")

# The upstream echoes the identity headers it received so pre-checks can see what each target forwarded.
UPSTREAM_BODY = '{"ok":true,"user":"$http_x_user_id","roles":"$http_x_user_roles"}'


def _nginx_common(work: Path, name: str, workers: int) -> str:
    tmp = work / f"nginx-{name}"
    tmp.mkdir(parents=True, exist_ok=True)
    return f"""daemon off;
master_process on;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 8192; multi_accept on; }}
"""


def _nginx_http_common(work: Path, name: str) -> str:
    tmp = work / f"nginx-{name}"
    return f"""  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  keepalive_requests 10000000; keepalive_timeout 120s;
"""


def nginx_upstream(work: Path, port: int, workers: int = 1) -> str:
    """The fast upstream: a fixed small JSON body (plus the identity headers it got)."""
    return _nginx_common(work, "upstream", workers) + f"""http {{
{_nginx_http_common(work, "upstream")}  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type application/json; return 200 '{UPSTREAM_BODY}'; }}
  }}
}}
"""


def nginx_proxy(work: Path, port: int, upstream_port: int, workers: int) -> str:
    """nginx proxy_pass with a keep-alive pool and no auth: the floor of one proxy hop."""
    return _nginx_common(work, "proxy", workers) + f"""http {{
{_nginx_http_common(work, "proxy")}  upstream backend {{
    server 127.0.0.1:{upstream_port};
    keepalive 512;
    keepalive_requests 10000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""


def haproxy(port: int, upstream_port: int, threads: int, public_pem: Path, roles_map: Path) -> str:
    """HAProxy with jwt_verify: alg and kid pinned, iss/aud/exp/nbf checked, sub → roles from a map."""
    deny = "http-request deny deny_status 401"
    strip = "\n".join(f"  http-request del-header {h}" for h in IDENTITY_HEADERS)
    return f"""global
  nbthread {threads}
  maxconn 8000
  tune.bufsize 16384

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend bench
  bind 127.0.0.1:{port}
{strip}
  {deny} unless {{ http_auth_bearer -m found }}
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request set-var(txn.kid) var(txn.bearer),jwt_header_query('$.kid')
  {deny} unless {{ var(txn.alg) -m str RS256 }}
  {deny} unless {{ var(txn.kid) -m str {KID} }}
  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('$.iss')
  http-request set-var(txn.aud) var(txn.bearer),jwt_payload_query('$.aud')
  {deny} unless {{ var(txn.iss) -m str {ISSUER} }}
  {deny} unless {{ var(txn.aud) -m str {AUDIENCE} }}
  {deny} unless {{ var(txn.bearer),jwt_verify(txn.alg,"{public_pem}") -m int 1 }}
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.nbf) var(txn.bearer),jwt_payload_query('$.nbf','int')
  http-request set-var(txn.earliest) date(-{LEEWAY})
  http-request set-var(txn.latest) date({LEEWAY})
  {deny} unless {{ var(txn.exp),sub(txn.earliest) -m int ge 0 }}
  {deny} unless {{ var(txn.nbf),sub(txn.latest) -m int le 0 }}
  http-request set-var(txn.sub) var(txn.bearer),jwt_payload_query('$.sub')
  http-request set-var(txn.roles) var(txn.sub),map({roles_map})
  {deny} unless {{ var(txn.roles) -m found }}
  http-request set-header X-User-Id %[var(txn.sub)]
  http-request set-header X-User-Roles %[var(txn.roles)]
  default_backend upstream

backend upstream
  server up 127.0.0.1:{upstream_port}
"""


def subwarden(
    *, port: int, admin_port: int, upstream_port: int, workers: int, public_jwks: Path, users_db: Path,
    records_db: Path | None,
) -> str:
    """subwarden as a user would run it: SQLite store, user cache, records and metrics on (records_db=None:
    records off, a diagnostic variant that shows what records cost)."""
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port, "workers": workers},
        "issuers": [{
            "name": "bench", "issuer": ISSUER, "audiences": [AUDIENCE], "algorithms": ["RS256"],
            "keys": {"files": [str(public_jwks)]}, "leeway": LEEWAY,
            "mapping": [{"claim": "sub", "attribute": "user_id"}],
        }],
        "identity": {"store": {"url": f"sqlite:///{users_db}", "attributes": {"email": "email"}}},
        "routes": [{
            "name": "bench", "match": {"path_prefix": "/"},
            "upstream": {"targets": [f"http://127.0.0.1:{upstream_port}"]},
        }],
        "records": {"sqlite": str(records_db) if records_db else None},
        "admin": {"enabled": True, "host": "127.0.0.1", "port": admin_port},
    }
    return yaml.safe_dump(config, sort_keys=False)
