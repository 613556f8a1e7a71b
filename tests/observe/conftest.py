"""Fixtures for the record writer tests: a config, a frozen clock, a minted token, finished contexts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from observe_support import FINGERPRINT, HASH_KEY, KEYS, CtxFactory, frozen_perf_ns

from subwarden.clock import FrozenClock
from subwarden.config.loader import parse_config
from subwarden.config.models import GatewayConfig
from subwarden.errors import GatewayError
from subwarden.identity.stores.base import UserRecord, UserStatus
from subwarden.observe.record_shape import RecordShaper
from subwarden.observe.records import RecordWriter
from subwarden.observe.sinks import Sink, SqliteSink, StdoutSink
from subwarden.observe.subject_hash import SubjectHasher
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.routing import RouteTable


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000.0)


@pytest.fixture
def config(tmp_path: Path) -> GatewayConfig:
    return parse_config(
        {
            "issuers": [
                {
                    "name": "test-idp",
                    "issuer": "https://idp.test",
                    "algorithms": ["ES256"],
                    "keys": {"files": [str(KEYS / "es256.pub.pem")]},
                    "mapping": [{"claim": "sub", "attribute": "user_id"}, {"claim": "email", "attribute": "email"}],
                }
            ],
            "identity": {"store": {"lookup": {"user_id": "user_id", "email": "email"}}},
            "routes": [{"name": "api", "match": {"path_prefix": "/api"}, "upstream": {"targets": ["http://127.0.0.1:9"]}}],
            "records": {"stdout": True, "sqlite": str(tmp_path / "records.db"), "keep_claims": ["sub", "email"]},
        },
        env={},
    )


@pytest.fixture
def token(clock: FrozenClock) -> str:
    """A real ES256 token minted against the frozen clock."""
    key = ECKey.import_key((KEYS / "es256.pem").read_text())
    now = int(clock.now())
    claims = {"iss": "https://idp.test", "sub": "alice", "email": "alice@example.test", "iat": now, "exp": now + 300}
    return jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key)


@pytest.fixture
def make_ctx(config: GatewayConfig, token: str) -> CtxFactory:
    """A context as the pipeline and data plane leave it after a proxied or refused request."""
    route = RouteTable.from_config(config).routes[0]

    def factory(*, error: GatewayError | None = None, path: str = "/api/orders/7", **fields: Any) -> RequestContext:
        headers = [(b"authorization", f"Bearer {token}".encode())]
        ctx = RequestContext("GET", path, headers, host="gw.test", query="access_token=" + token,
                             request_id="req-1", trace_id="trace-1", started_ns=1_000_000)
        ctx.route = route
        ctx.token = token
        ctx.token_source = "header"
        ctx.claims = jwt.decode(token, ECKey.import_key((KEYS / "es256.pub.pem").read_text())).claims
        ctx.issuer = config.issuers[0]
        ctx.alg, ctx.kid = "ES256", "k1"
        ctx.subject, ctx.mapping_claim, ctx.mapping_rule = "alice", "sub", "sub->user_id"
        ctx.cache_state, ctx.cache_age = "hit", 1.25
        ctx.timings = {"route": 2_000, "verify": 45_000, "resolve": 120_500}
        if error is None:
            ctx.user = UserRecord("u-1", UserStatus.active, ("admin",))
            ctx.status, ctx.outcome = 200, "allowed"
            ctx.upstream_status, ctx.upstream_target, ctx.upstream_ms = 200, "127.0.0.1:9", 3.5
        else:
            ctx.error, ctx.failed_stage, ctx.status = error, error.stage, error.status
        for name, value in fields.items():
            setattr(ctx, name, value)
        return ctx

    return factory


@pytest.fixture
def shaper() -> RecordShaper:
    return RecordShaper(fingerprint=FINGERPRINT, hasher=SubjectHasher(HASH_KEY), keep_claims=["sub", "email"])


@pytest.fixture
def stdout() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def sinks(tmp_path: Path, stdout: io.StringIO, clock: FrozenClock) -> list[Sink]:
    return [StdoutSink(stdout), SqliteSink(tmp_path / "records.db", clock=clock)]


@pytest.fixture
def writer(shaper: RecordShaper, sinks: list[Sink], clock: FrozenClock) -> RecordWriter:
    return RecordWriter(
        shaper, sinks, queue_size=64, batch_size=16, flush_interval=0.05, clock=clock, perf_ns=frozen_perf_ns(clock)
    )
