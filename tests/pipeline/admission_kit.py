"""A whole gateway (route → … → enrich) on a frozen clock, a real SQLite user file and real RS256 tokens.

Built by ``build_gateway`` exactly as serve builds it, so the admission memo is on; ``stages_only``
answers the same request with every stage run, to compare the memo's answer with.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from subwarden.clock import FrozenClock
from subwarden.config import GatewayConfig, parse_config
from subwarden.pipeline.build import build_gateway
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.gateway import Gateway
from subwarden.tokens.mint import TokenSigner

KEYS = Path(__file__).resolve().parent.parent / "tokens" / "keys"
ISS = "https://idp.test"
AUD = "api"
#: (user_id, email, status, roles)
USERS = [
    ("alice", "alice@example.com", "active", "user,admin"),
    ("bob", "bob@example.com", "active", "user"),
]

#: Every context field the data plane, records, metrics and diagnose read after admission.
FIELDS = (
    "route", "token", "token_source", "token_cache_hit", "jose_header", "claims", "issuer", "alg", "kid",
    "key_source", "subject", "candidates", "subject_key", "mapping_claim", "mapping_rule", "mapping_fallback",
    "user", "cache_state", "cache_age", "roles", "anonymous", "shadow_error", "identity_headers", "error",
    "failed_stage",
)

_SIGNER: TokenSigner | None = None


def users_db(path: Path, rows: list[tuple[str, str, str, str]] | None = None) -> Path:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, status TEXT, roles TEXT)")
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", USERS if rows is None else rows)
    db.close()
    return path


def set_status(db: Path, user_id: str, status: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE users SET status = ? WHERE user_id = ?", (status, user_id))
    conn.close()


def gateway_config(
    db: Path,
    *,
    issuer: dict[str, Any] | None = None,
    cache: dict[str, Any] | None = None,
    tokens: dict[str, Any] | None = None,
    open_auth: dict[str, Any] | None = None,
) -> GatewayConfig:
    upstream = {"targets": ["http://127.0.0.1:9"]}
    data: dict[str, Any] = {
        "issuers": [{
            "name": "idp", "issuer": ISS, "algorithms": ["RS256"], "audiences": [AUD],
            "keys": {"files": [str(KEYS / "rsa-a.pub.pem")]},
            "mapping": [{"claim": "sub", "attribute": "user_id"}],
            **(issuer or {}),
        }],
        "tokens": tokens or {},
        "identity": {
            "store": {
                "url": f"sqlite:///{db}", "lookup": {"user_id": "user_id", "email": "email"},
                "attributes": {"email": "email"},
            },
            "cache": {"positive_ttl": 60, "negative_ttl": 5, **(cache or {})},
        },
        "routes": [
            {"name": "admin", "match": {"path_prefix": "/admin"}, "upstream": upstream,
             "auth": {"required_roles": ["admin"]}},
            {"name": "open", "match": {"path_prefix": "/"}, "upstream": upstream, "auth": open_auth or {},
             "headers": {"set_from_claims": {"X-Tenant": "tenant"}}},
        ],
    }
    return parse_config(data, env={})


def token(clock: FrozenClock, **claims: Any) -> str:
    global _SIGNER
    if _SIGNER is None:
        _SIGNER = TokenSigner(KEYS / "rsa-a.pem", "RS256", "a")
    now = int(clock.now())
    payload: dict[str, Any] = {"iss": ISS, "sub": "alice", "aud": AUD, "iat": now, "exp": now + 300, "tenant": "t1"}
    payload.update(claims)
    return _SIGNER.mint({k: v for k, v in payload.items() if v is not None})


def request(tok: str | None, path: str = "/orders", **kw: Any) -> RequestContext:
    headers = [(b"host", b"gw.test")]
    if tok is not None:
        headers.append((b"authorization", f"Bearer {tok}".encode()))
    return RequestContext("GET", path, headers, host="gw.test", **kw)


async def admit(gateway: Gateway, tok: str | None, path: str = "/orders", **kw: Any) -> RequestContext:
    ctx = request(tok, path, **kw)
    pending = gateway.pipeline.admit(ctx)
    if pending is not None:
        await pending
    return ctx


async def learnt(gateway: Gateway, tok: str, path: str = "/orders") -> RequestContext:
    """Admit ``tok`` twice: the first sighting verifies it, the second (a verified-cache hit) is learnt by the memo."""
    await admit(gateway, tok, path)
    return await admit(gateway, tok, path)


async def memoized(gateway: Gateway, tok: str, path: str = "/orders") -> RequestContext:
    """Admit ``tok`` until the memo answers: learnt on its second sighting, answered on the third (asserted)."""
    await learnt(gateway, tok, path)
    ctx = await admit(gateway, tok, path)
    assert ctx.admission_memo
    return ctx


async def stages_only(gateway: Gateway, tok: str | None, path: str = "/orders") -> RequestContext:
    """The same request with the memo set aside: every stage runs (on the same caches)."""
    memo, gateway.pipeline.memo = gateway.pipeline.memo, None
    try:
        return await admit(gateway, tok, path)
    finally:
        gateway.pipeline.memo = memo


def code(ctx: RequestContext) -> str | None:
    return ctx.error.code if ctx.error is not None else None


async def started(config: GatewayConfig, clock: FrozenClock, **kw: Any) -> Gateway:
    gateway = build_gateway(config, clock=clock, **kw)
    await gateway.start()
    return gateway
