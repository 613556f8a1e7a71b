"""Config loading: unknown keys, key paths, env overrides, duplicate keys, fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from subwarden.config import ConfigError, fingerprint, load_config, parse_config, redact_url

MINIMAL = {
    "issuers": [{"issuer": "https://idp.test", "keys": {"files": ["keys/public.pem"]}}],
    "routes": [{"name": "api", "upstream": {"targets": ["http://127.0.0.1:9000"]}}],
}


def write(tmp_path: Path, data: object, name: str = "gw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env={})
    assert cfg.issuers[0].algorithms == ["RS256"]
    assert cfg.issuers[0].mapping[0].claim == "sub"
    assert cfg.identity.store.url.startswith("sqlite:///")
    assert cfg.errors.user_not_found_status == 401


def test_unknown_key_is_rejected_with_file_and_key_path(tmp_path: Path) -> None:
    data = {**MINIMAL, "routes": [{**MINIMAL["routes"][0], "upstrem": {}}]}
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, data), env={})
    text = str(exc.value)
    assert "gw.yaml" in text
    assert "routes.0.upstrem: unknown key" in text


def test_constraint_violation_names_the_key_path(tmp_path: Path) -> None:
    data = {**MINIMAL, "identity": {"cache": {"negative_ttl": -1}}}
    with pytest.raises(ConfigError, match=r"identity\.cache\.negative_ttl"):
        load_config(write(tmp_path, data), env={})


def test_mapping_to_an_unknown_lookup_attribute_is_rejected(tmp_path: Path) -> None:
    issuer = {**MINIMAL["issuers"][0], "mapping": [{"claim": "email", "attribute": "email"}]}
    with pytest.raises(ConfigError, match=r"not in identity\.store\.lookup"):
        load_config(write(tmp_path, {**MINIMAL, "issuers": [issuer]}), env={})


def test_mixing_hmac_and_rsa_algorithms_is_rejected(tmp_path: Path) -> None:
    issuer = {**MINIMAL["issuers"][0], "algorithms": ["RS256", "HS256"]}
    with pytest.raises(ConfigError, match="key confusion"):
        load_config(write(tmp_path, {**MINIMAL, "issuers": [issuer]}), env={})


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path) -> None:
    text = "issuers: []\nissuers: []\nroutes: []\n"
    with pytest.raises(ConfigError, match="duplicate key 'issuers'"):
        load_config(write(tmp_path, text), env={})


def test_unreadable_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", env={})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [1,\n"), env={})


def test_store_url_env_override_wins(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env={"SUBWARDEN_STORE_URL": "postgresql://app:pw@db/users"})
    assert cfg.identity.store.url == "postgresql://app:pw@db/users"


def test_fingerprint_is_stable_and_ignores_the_store_password() -> None:
    a = parse_config({**MINIMAL, "identity": {"store": {"url": "postgresql://app:one@db/users"}}}, env={})
    b = parse_config({**MINIMAL, "identity": {"store": {"url": "postgresql://app:two@db/users"}}}, env={})
    c = parse_config({**MINIMAL, "identity": {"store": {"url": "postgresql://app:two@other/users"}}}, env={})
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)
    assert len(fingerprint(a)) == 16


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://app:s3cret@db:5432/users") == "postgresql://app:***@db:5432/users"
    assert redact_url("sqlite:///var/users.db") == "sqlite:///var/users.db"


def test_every_field_has_a_description() -> None:
    from pydantic import BaseModel

    from subwarden.config import models

    missing = []
    for name in dir(models):
        obj = getattr(models, name)
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not models.Strict:
            for field_name, field in obj.model_fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
    assert missing == []
