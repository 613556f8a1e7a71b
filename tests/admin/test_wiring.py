"""An assembled gateway's runtimes behind the admin app: readiness, cache, revocations, records, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from admin_support import ADMIN_TOKEN, TOKEN_ENV, SwitchApp
from httpx import AsyncClient
from joserfc import jwt
from joserfc.jwk import ECKey

from subwarden.admin.wiring import admin_app_for_gateway
from subwarden.clock import FrozenClock
from subwarden.config.loader import parse_config
from subwarden.config.models import GatewayConfig
from subwarden.observe.build import build_record_writer, register_gateway_stats
from subwarden.observe.metrics import GatewayMetrics
from subwarden.pipeline.build import build_gateway
from subwarden.pipeline.context import RequestContext

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEYS = Path(__file__).parent / "keys"


def gateway_config(users_db: Path, records_db: Path) -> GatewayConfig:
    return parse_config(
        {
            "issuers": [{"name": "corp", "issuer": "https://idp.test", "algorithms": ["ES256"],
                         "keys": {"files": [str(KEYS / "es256.pub.pem")]}}],
            "identity": {"store": {"url": f"sqlite:///{users_db}", "canary_subject": "u-1"}},
            "routes": [{"name": "api", "upstream": {"targets": ["http://127.0.0.1:9"]}}],
            "records": {"sqlite": str(records_db)},
            "admin": {"token_env": TOKEN_ENV},
        },
        env={},
    )


def mint(clock: FrozenClock, sub: str) -> str:
    now = int(clock.now())
    claims = {"iss": "https://idp.test", "sub": sub, "iat": now, "exp": now + 300, "jti": "j-1"}
    return jwt.encode({"alg": "ES256"}, claims, ECKey.import_key((KEYS / "es256.pem").read_text()))


async def test_a_built_gateway_is_served_by_the_admin_app_with_its_records_and_runtime_metrics(
    admin_server: tuple[SwitchApp, int], users_db: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    config = gateway_config(users_db, tmp_path / "records.db")
    gateway = build_gateway(config, clock=clock)
    metrics = GatewayMetrics(process=False)
    writer = build_record_writer(config, gateway.fingerprint, metrics=metrics, clock=clock,
                                 var_dir=tmp_path / "var", environ={})
    register_gateway_stats(metrics, gateway)
    switch, port = admin_server
    switch.app = admin_app_for_gateway(gateway, records=writer, metrics=metrics, clock=clock,
                                       environ={TOKEN_ENV: ADMIN_TOKEN})
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["fingerprint"] == gateway.fingerprint

        token = mint(clock, "u-1")
        ctx = RequestContext("GET", "/orders", [(b"authorization", f"Bearer {token}".encode())], request_id="r-1")
        pending = gateway.pipeline.admit(ctx)
        if pending is not None:
            await pending
        assert ctx.error is None and ctx.user is not None
        writer.record(ctx)
        writer.flush_sync()

        [record] = (await client.get("/admin/records")).json()["records"]
        assert (record["request_id"], record["user_id"], record["issuer"]) == ("r-1", "u-1", "corp")
        assert token not in str(record)

        text = (await client.get("/metrics")).text
        for line in ("subwarden_user_cache_misses_total 1.0", "subwarden_store_breaker_state 0.0",
                     "subwarden_verified_token_cache_entries 1.0", "subwarden_records_written_total 1.0",
                     f'subwarden_config_info{{fingerprint="{gateway.fingerprint}"}} 1.0'):
            assert line in text

        invalidated = await client.post("/admin/cache/invalidate", json={"user_id": "u-1"})
        assert invalidated.json() == {"invalidated": 1, "scope": "user_id"}
        await client.post("/admin/revocations", json={"jti": "j-1", "issuer": "https://idp.test"})
        assert gateway.identity.revocations.is_revoked("corp", "j-1", None, None)
    switch.app = None
    await gateway.close()
