"""Shared helpers for the diagnose tests: tokens minted against a frozen time, configs, and a runner
that validates every --json report against the shipped schema."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema

from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.config import GatewayConfig, parse_config
from subwarden.diagnose.report import Report, load_schema
from subwarden.diagnose.run import DiagnoseRequest, diagnose
from subwarden.pipeline.gateway import Gateway
from subwarden.tokens.mint import mint_token

NOW = 1_800_000_000
KEYS = Path(__file__).parent / "keys"
ISS_A = "https://idp-a.test/realms/main"
ISS_B = "https://idp-b.test/realms/main"
AUD = "orders-api"

_VALIDATOR = jsonschema.Draft202012Validator(load_schema())


def mint(*, iss: str = ISS_A, key: str = "idp-a", kid: str | None = None, alg: str = "RS256",
         **claims: Any) -> str:
    """A token from test IdP ``key``, valid around NOW; a claim given as None is left out."""
    base: dict[str, Any] = {"iss": iss, "aud": AUD, "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 600,
                            "scope": "openid profile"}
    base.update(claims)
    return mint_token({k: v for k, v in base.items() if v is not None}, str(KEYS / f"{key}.pem"), alg=alg, kid=kid)


def issuer(iss: str = ISS_A, key: str = "idp-a", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": iss.split("//", 1)[1].split(".", 1)[0],
        "issuer": iss,
        "audiences": [AUD],
        "keys": {"files": [str(KEYS / f"{key}.pub.pem")]},
        "mapping": [{"claim": "sub", "attribute": "user_id"}],
    }
    data.update(overrides)
    return data


def config(store: dict[str, Any], *, issuers: list[dict[str, Any]] | None = None, **top: Any) -> GatewayConfig:
    data: dict[str, Any] = {
        "issuers": issuers or [issuer()],
        "identity": {"store": copy.deepcopy(store), "cache": {"negative_ttl": 30}},
        "routes": [{"name": "api", "match": {"path_prefix": "/api"},
                    "upstream": {"targets": ["http://127.0.0.1:9/backend"]}}],
        "records": {"sqlite": None},
        "admin": {"port": 9191},
    }
    data.update(top)
    return parse_config(data, env={})


def validate(data: dict[str, Any]) -> None:
    _VALIDATOR.validate(data)


async def run(cfg: GatewayConfig, token: str, *, path: str | None = "/api/orders", live: Gateway | None = None,
              clock: Clock | None = None, **request: Any) -> Report:
    """Diagnose ``token`` at NOW; the JSON form is schema-checked and must not contain the token."""
    req = DiagnoseRequest(token, path=path, at=request.pop("at", NOW), config_source="gw.yaml", **request)
    report = await diagnose(cfg, req, live=live, clock=clock or SYSTEM_CLOCK)
    data = report.to_json()
    validate(data)
    assert_no_secret(data, token)
    return report


def assert_no_secret(data: Any, token: str) -> None:
    import json

    text = json.dumps(data, ensure_ascii=False)
    signature = token.rsplit(".", 1)[-1]
    assert token not in text
    assert signature not in text


def cause_ids(report: Report) -> list[str]:
    return [f.id for f in report.findings if f.severity == "cause"]


def fix_text(report: Report) -> str:
    cause = report.cause
    assert cause is not None, report.findings
    return "\n".join(cause.fix)
