"""Helpers for the token tests: config builders, signers, hand-forged tokens, a real JWKS HTTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import Counter
from collections.abc import Mapping
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from subwarden.clock import FrozenClock
from subwarden.config import GatewayConfig, parse_config
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.routing import RouteStage, RouteTable
from subwarden.pipeline.stage import Pipeline
from subwarden.tokens.build import TokenRuntime, build_tokens
from subwarden.tokens.fetch import HttpxKeyFetcher
from subwarden.tokens.mint import TokenSigner

KEYS = Path(__file__).parent / "keys"
ISS = "https://idp.test"
AUD = "api"


def key_path(name: str) -> str:
    return str(KEYS / name)


def issuer(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "issuer": ISS,
        "algorithms": ["RS256"],
        "audiences": [AUD],
        "keys": {"files": [key_path("rsa-a.pub.pem")]},
    }
    base.update(overrides)
    return base


def make_config(
    issuers: list[dict[str, Any]] | None = None,
    *,
    tokens: dict[str, Any] | None = None,
    unknown_user: str = "deny",
) -> GatewayConfig:
    raw = {
        "issuers": issuers or [issuer()],
        "tokens": tokens or {},
        "routes": [
            {"name": "r", "upstream": {"targets": ["http://127.0.0.1:9"]}, "auth": {"unknown_user": unknown_user}}
        ],
    }
    return parse_config(raw, env={})


def claims(clock: FrozenClock, **extra: Any) -> dict[str, Any]:
    now = int(clock.now())
    base: dict[str, Any] = {"iss": ISS, "sub": "alice", "aud": AUD, "iat": now, "nbf": now, "exp": now + 300}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not DROP}


DROP: Any = object()


@cache
def signer(name: str, alg: str = "RS256", kid: str | None = None) -> TokenSigner:
    return TokenSigner(key_path(name), alg, kid)


def sign(
    payload: dict[str, Any], name: str = "rsa-a.pem", alg: str = "RS256", kid: str | None = None, **headers: Any
) -> str:
    return signer(name, alg, kid).mint(payload, headers or None)


def b64(data: bytes | str | Mapping[str, Any]) -> str:
    if isinstance(data, Mapping):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: bytes | str | Mapping[str, Any], payload: bytes | str | Mapping[str, Any], signature: bytes = b"x" * 32
) -> str:
    """A token assembled by hand (its signature is whatever we say)."""
    return f"{b64(header)}.{b64(payload)}.{b64(signature)}"


def forge_signed(
    header: bytes | str | Mapping[str, Any], payload: bytes | str | Mapping[str, Any], key: Key, alg: str
) -> str:
    """A hand-assembled token with a genuine signature over exactly these bytes."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    model = JWSRegistry(algorithms=[alg]).get_alg(alg)
    return f"{signing_input}.{b64(model.sign(signing_input.encode(), key))}"


def forge_hmac(header: Mapping[str, Any], payload: Mapping[str, Any], secret: bytes) -> str:
    """An HS256 token MACed with arbitrary bytes (e.g. an RSA public key, as in the key-confusion attack)."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def private_key(name: str, alg: str) -> Key:
    return signer(name, alg).key


def public_jwk(pem_name: str, kid: str | None, **params: Any) -> dict[str, Any]:
    data = (KEYS / pem_name).read_bytes()
    for cls in (RSAKey, ECKey, OKPKey):
        try:
            key = cls.import_key(data, {"kid": kid, **params} if kid else params or None)
        except Exception:
            continue
        return dict(key.as_dict(private=False))
    raise ValueError(pem_name)


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


class Harness:
    """Route + token stages through the real pipeline runner, as the data plane runs them."""

    def __init__(
        self, config: GatewayConfig, clock: FrozenClock, fetcher: Any = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.runtime: TokenRuntime = build_tokens(config, clock, fetcher, environ=environ or {})
        self.pipeline = Pipeline([RouteStage(RouteTable.from_config(config)), *self.runtime.stages])

    async def run(
        self,
        token: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        facts: dict[str, Any] | None = None,
    ) -> RequestContext:
        hdrs = list(headers or [])
        if token is not None:
            hdrs += bearer(token)
        ctx = RequestContext("GET", "/x", hdrs, host="gw.test", facts=facts)
        pending = self.pipeline.admit(ctx)
        if pending is not None:
            await pending
        return ctx

    async def code(self, token: str | None = None, **kw: Any) -> str | None:
        ctx = await self.run(token, **kw)
        return ctx.error.code if ctx.error else None


class CountingFetcher:
    """The real httpx fetcher, counting how many fetches each URL got."""

    def __init__(self) -> None:
        self.inner = HttpxKeyFetcher()
        self.calls: Counter[str] = Counter()

    async def get_json(self, url: str, timeout: float) -> Any:
        self.calls[url] += 1
        return await self.inner.get_json(url, timeout)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving JSON documents we control; ``down`` answers 503."""

    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}
        self.hits: Counter[str] = Counter()
        self.down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                doc = server.docs.get(self.path)
                status = 503 if server.down else 200 if doc is not None else 404
                body = json.dumps(doc).encode() if status == 200 else b"{}"
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def set_jwks(self, *jwks: dict[str, Any], path: str = "/jwks") -> str:
        self.docs[path] = {"keys": list(jwks)}
        return self.url + path

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
