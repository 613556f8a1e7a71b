"""The effective config as JSON with secrets redacted (store password, secret values, auth headers)."""

from __future__ import annotations

from typing import Any

from subwarden.config.loader import redact_url
from subwarden.config.models import GatewayConfig

MASK = "***"
_SECRET_WORDS = ("password", "secret", "token", "credential", "private")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"})


def redacted_config(config: GatewayConfig) -> dict[str, Any]:
    data = config.model_dump(mode="json")  # SecretStr fields already dump as "**********"
    store = data["identity"]["store"]
    store["url"] = redact_url(config.identity.store.url)
    headers = store.get("http", {}).get("headers", {})
    for name in headers:
        if name.lower() in _SECRET_HEADERS:
            headers[name] = MASK
    result = _mask_secret_named(data)
    assert isinstance(result, dict)
    return result


def _mask_secret_named(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask_secret_named(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secret_named(v, key) for v in value]
    # Fields ending in _env name a variable, not a secret, and stay visible.
    if isinstance(value, str) and not key.endswith("_env") and any(w in key.lower() for w in _SECRET_WORDS):
        return MASK
    return value
