"""build_tokens: key problems surface at start-up as ConfigError naming the issuer and the path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokens_kit import issuer, key_path, make_config

import subwarden.tokens as tokens_pkg
from subwarden.clock import FrozenClock
from subwarden.config import ConfigError
from subwarden.tokens import ExtractStage, ValidateStage, VerifyStage, build_tokens


def build_error(clock: FrozenClock, environ: dict[str, str] | None = None, **overrides: object) -> str:
    with pytest.raises(ConfigError) as err:
        build_tokens(make_config([issuer(name="idp", **overrides)]), clock, environ=environ or {})
    return str(err.value)


def test_builds_extract_verify_validate_in_order(clock: FrozenClock) -> None:
    runtime = build_tokens(make_config(), clock)
    assert [type(s) for s in runtime.stages] == [ExtractStage, VerifyStage, ValidateStage]
    assert [s.name for s in runtime.stages] == ["extract", "verify", "validate"]


def test_exports_only_the_curated_public_api() -> None:
    assert sorted(tokens_pkg.__all__) == sorted(n for n in tokens_pkg.__all__ if hasattr(tokens_pkg, n))


def test_names_issuer_and_path_of_a_missing_key_file(clock: FrozenClock) -> None:
    message = build_error(clock, keys={"files": ["/nonexistent/k.pem"]})
    assert "'idp'" in message and "/nonexistent/k.pem" in message


def test_rejects_an_rsa_key_shorter_than_2048_bits(clock: FrozenClock) -> None:
    message = build_error(clock, keys={"files": [key_path("rsa-1024.pub.pem")]})
    assert "rsa-1024.pub.pem" in message and "RSA 1024" in message


def test_rejects_a_key_that_fits_none_of_the_allowed_algorithms(clock: FrozenClock) -> None:
    assert "fits none" in build_error(clock, algorithms=["ES256"], keys={"files": [key_path("rsa-a.pub.pem")]})


def test_rejects_an_rsa_public_key_offered_for_hmac(clock: FrozenClock) -> None:
    message = build_error(clock, algorithms=["HS256"], keys={"files": [key_path("rsa-a.pub.pem")]})
    assert "fits none" in message


def test_rejects_a_file_that_is_neither_pem_nor_jwk(clock: FrozenClock, tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    assert "neither a PEM key nor a JSON JWK/JWKS" in build_error(clock, keys={"files": [str(junk)]})


def test_rejects_a_jwk_reserved_for_encryption(clock: FrozenClock, tmp_path: Path) -> None:
    jwk = json.loads(Path(key_path("rsa-a.jwks.json")).read_text())["keys"][0] | {"use": "enc"}
    path = tmp_path / "enc.jwk"
    path.write_text(json.dumps(jwk))
    assert "fits none" in build_error(clock, keys={"files": [str(path)]})


def test_names_the_unset_secret_variable(clock: FrozenClock) -> None:
    message = build_error(clock, algorithms=["HS256"], keys={"secret_env": "IDP_SECRET"})
    assert "IDP_SECRET" in message and "'idp'" in message


def test_rejects_an_hmac_secret_shorter_than_the_hash(clock: FrozenClock) -> None:
    message = build_error(clock, {"IDP_SECRET": "tiny-secret"}, algorithms=["HS256"], keys={"secret_env": "IDP_SECRET"})
    assert "IDP_SECRET" in message and "oct 11 bytes" in message and "tiny-secret" not in message


def test_rejects_a_jwks_uri_that_is_not_http(clock: FrozenClock) -> None:
    assert "not an http(s) URL" in build_error(clock, keys={"jwks_uri": "file:///etc/passwd"})
