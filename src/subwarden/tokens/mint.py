"""Minting tokens for the demo/test issuer (CLI, `make run`, tests, bench) and generating its key pair."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jws
from joserfc.jwk import ECKey, JWKRegistry, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from subwarden.tokens.keys import KeyLoadError, key_type_fits


def _private_from_pem(data: bytes) -> Key:
    try:
        raw = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"not an unencrypted PEM private key ({type(exc).__name__})") from None
    if isinstance(raw, rsa.RSAPrivateKey):
        return RSAKey.import_key(raw)
    if isinstance(raw, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(raw)
    if isinstance(raw, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return OKPKey.import_key(raw)
    raise KeyLoadError(f"unsupported private key type {type(raw).__name__}")


def _private_from_json(data: bytes, kid: str | None) -> Key:
    doc = json.loads(data)
    jwks = doc["keys"] if isinstance(doc, dict) and "keys" in doc else [doc]
    matching = [j for j in jwks if kid is None or j.get("kid") == kid]
    if len(matching) != 1:
        raise KeyLoadError(f"expected one JWK{f' with kid {kid!r}' if kid else ''}, found {len(matching)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return JWKRegistry.import_key(matching[0])


def load_signing_key(key_path: str | Path, kid: str | None = None) -> Key:
    """A private key (PEM) or a private/oct JWK (JWK or JWKS file; ``kid`` picks from a JWKS)."""
    data = Path(key_path).read_bytes().strip()
    key = _private_from_json(data, kid) if data.startswith(b"{") else _private_from_pem(data)
    if key.key_type != "oct" and not key.is_private:
        raise KeyLoadError("a signing key must be private")
    return key


class TokenSigner:
    """Signs many tokens with one key loaded once (the bench mints thousands)."""

    def __init__(self, key_path: str | Path, alg: str = "RS256", kid: str | None = None) -> None:
        self.key = load_signing_key(key_path, kid)
        if not key_type_fits(self.key, alg):
            raise KeyLoadError(f"the key at {key_path} cannot sign {alg}")
        self.alg = alg
        self.kid = kid if kid is not None else self.key.kid
        self._registry = JWSRegistry(algorithms=[alg], strict_check_header=False)

    def mint(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        header: dict[str, Any] = {"alg": self.alg, "typ": "JWT"}
        if self.kid is not None:
            header["kid"] = self.kid
        if headers:
            if "alg" in headers:
                raise ValueError("the alg header is set by the signer")
            header.update(headers)
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EdDSA's deprecation SecurityWarning
            return jws.serialize_compact(header, payload, self.key, registry=self._registry)


def mint_token(
    claims: dict[str, Any],
    key_path: str,
    alg: str = "RS256",
    kid: str | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    """Sign ``claims`` as a compact JWS with the private key at ``key_path``."""
    return TokenSigner(key_path, alg, kid).mint(claims, headers)


def generate_demo_keys(directory: str | Path) -> tuple[Path, Path]:
    """Write a fresh RSA-2048 pair: ``demo-private.pem`` (mode 0600) and ``demo-public.pem``."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_path, public_path = root / "demo-private.pem", root / "demo-public.pem"
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path
