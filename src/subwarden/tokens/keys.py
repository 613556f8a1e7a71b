"""Verification keys: parsed once (PEM/JWK/JWKS → joserfc key objects), each tagged with the algorithms it may verify.

Which algorithm a key may verify follows from its type alone (RSA → RS*/PS*,
EC → ES* of its curve, OKP → EdDSA, oct → HS*), so a token can never pick
`none` or make an RSA public key act as an HMAC secret.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)
from cryptography.x509 import load_pem_x509_certificate
from joserfc.jwk import ECKey, JWKRegistry, Key, OctKey, OKPKey, RSAKey

#: alg → (key type, allowed curves or None, minimum size: RSA bits / oct bytes).
ALGORITHM_KEYS: dict[str, tuple[str, frozenset[str] | None, int]] = {
    **{f"HS{n}": ("oct", None, n // 8) for n in (256, 384, 512)},
    **{f"RS{n}": ("RSA", None, 2048) for n in (256, 384, 512)},
    **{f"PS{n}": ("RSA", None, 2048) for n in (256, 384, 512)},
    "ES256": ("EC", frozenset({"P-256"}), 0),
    "ES384": ("EC", frozenset({"P-384"}), 0),
    "ES512": ("EC", frozenset({"P-521"}), 0),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"}), 0),
}
_PARAMETERS = ("kid", "alg", "use", "key_ops")


class KeyLoadError(ValueError):
    """A key file or JWK cannot be used; ``str()`` says why (never key material)."""


class VerifyKey:
    """One public (or HMAC) key of an issuer, with the algorithms it may verify."""

    __slots__ = ("algorithms", "fetched_at", "key", "kid", "retired", "source")

    def __init__(self, key: Key, algorithms: frozenset[str], source: str, fetched_at: float | None = None) -> None:
        self.key = key
        self.kid: str | None = key.kid
        self.algorithms = algorithms
        #: Where the key came from: "file:/path", "env:NAME", "jwks:https://…", "discovery:https://…".
        self.source = source
        #: Wall-clock time the key was fetched (remote keys only).
        self.fetched_at = fetched_at
        #: Set when a refresh dropped the key: cached tokens verified with it are re-verified.
        self.retired = False

    def __repr__(self) -> str:
        return f"VerifyKey(kid={self.kid!r}, {describe(self.key)}, source={self.source!r})"


def describe(key: Key) -> str:
    """Key type and size/curve, e.g. "RSA 2048" or "EC P-256" (never key material)."""
    if isinstance(key, OctKey):
        return f"oct {len(key.raw_value)} bytes"
    if isinstance(key, RSAKey):
        return f"RSA {key.raw_value.key_size}"
    if isinstance(key, ECKey | OKPKey):
        return f"{key.key_type} {key.curve_name}"
    return str(key.key_type)


def _key_size(key: Key) -> int:
    if isinstance(key, OctKey):
        return len(key.raw_value)
    if isinstance(key, RSAKey):
        return int(key.raw_value.key_size)
    return 0


def key_type_fits(key: Key, alg: str) -> bool:
    """Whether the key's type, curve and size suit ``alg`` (ignoring the key's own use/alg/key_ops)."""
    wanted = ALGORITHM_KEYS.get(alg)
    if wanted is None or key.key_type != wanted[0]:
        return False
    _, curves, min_size = wanted
    if curves is not None and getattr(key, "curve_name", None) not in curves:
        return False
    return _key_size(key) >= min_size


def key_fits(key: Key, alg: str) -> bool:
    """Whether ``key`` may verify ``alg``: type, curve, size, and the key's own use/alg/key_ops."""
    if not key_type_fits(key, alg):
        return False
    key_ops = key.get("key_ops")
    use_ok = key.get("use") in (None, "sig") and key.get("alg") in (None, alg)
    return use_ok and (key_ops is None or "verify" in key_ops)


def fitting(key: Key, allowed: Iterable[str]) -> frozenset[str]:
    return frozenset(alg for alg in allowed if key_fits(key, alg))


def _public_from_raw(raw: Any, parameters: Mapping[str, Any] | None = None) -> Key:
    params: Any = dict(parameters) if parameters else None
    if isinstance(raw, rsa.RSAPublicKey):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small RSA keys are refused by key_fits, with a clearer message
            return RSAKey.import_key(raw, params)
    if isinstance(raw, ec.EllipticCurvePublicKey):
        return ECKey.import_key(raw, params)
    if isinstance(raw, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return OKPKey.import_key(raw, params)
    raise KeyLoadError(f"unsupported key type {type(raw).__name__}")


def key_from_pem(data: bytes) -> Key:
    """The public key of a PEM public key, private key or certificate."""
    try:
        if b"CERTIFICATE" in data:
            raw: Any = load_pem_x509_certificate(data).public_key()
        elif b"PRIVATE" in data:
            raw = load_pem_private_key(data, password=None).public_key()
        else:
            raw = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"unreadable PEM ({type(exc).__name__})") from None
    return _public_from_raw(raw)


def key_from_jwk(jwk: Any, allow_oct: bool = True) -> Key:
    """Import one JWK dict, keeping only its public part (or the secret of an oct key)."""
    if not isinstance(jwk, dict):
        raise KeyLoadError("JWK is not a JSON object")
    if jwk.get("kty") == "oct" and not allow_oct:
        raise KeyLoadError("symmetric (oct) keys are not accepted from a remote JWKS")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = JWKRegistry.import_key(jwk)
    except Exception as exc:  # noqa: BLE001 - joserfc and cryptography raise many types for bad JWKs
        raise KeyLoadError(f"invalid JWK ({type(exc).__name__})") from None
    if isinstance(key, OctKey) or not key.is_private:
        return key
    return _public_from_raw(key.public_key, {p: jwk[p] for p in _PARAMETERS if p in jwk})


def secret_key(secret: bytes) -> Key:
    if not secret:
        raise KeyLoadError("HMAC secret is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OctKey.import_key(secret)


def parse_key_file(data: bytes) -> list[Key]:
    """Keys in a PEM, JWK or JWKS file."""
    text = data.strip()
    if text.startswith(b"{"):
        try:
            doc = json.loads(text)
        except ValueError:
            raise KeyLoadError("invalid JSON") from None
        if isinstance(doc, dict) and "keys" in doc:
            jwks = doc["keys"]
            if not isinstance(jwks, list) or not jwks:
                raise KeyLoadError("JWKS 'keys' is not a non-empty list")
            return [key_from_jwk(jwk) for jwk in jwks]
        return [key_from_jwk(doc)]
    if text.startswith(b"-----BEGIN"):
        return [key_from_pem(text)]
    raise KeyLoadError("neither a PEM key nor a JSON JWK/JWKS")


def verify_keys(
    keys: Iterable[Key], allowed: Iterable[str], source: str, fetched_at: float | None = None
) -> list[VerifyKey]:
    """Tag keys with the allowed algorithms they fit; raise if one fits none."""
    allowed = tuple(allowed)
    out: list[VerifyKey] = []
    for key in keys:
        algs = fitting(key, allowed)
        if not algs:
            raise KeyLoadError(
                f"key {key.kid or '(no kid)'} ({describe(key)}) fits none of the algorithms {list(allowed)}"
            )
        out.append(VerifyKey(key, algs, source, fetched_at))
    return out


def keys_from_jwks(
    doc: Any, allowed: Iterable[str], source: str, fetched_at: float
) -> tuple[list[VerifyKey], list[str]]:
    """Usable keys of a fetched JWKS, and one reason per skipped key (a bad key never spoils the set)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise KeyLoadError("JWKS document has no 'keys' list")
    allowed = tuple(allowed)
    usable: list[VerifyKey] = []
    skipped: list[str] = []
    for jwk in doc["keys"]:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        try:
            usable.extend(verify_keys([key_from_jwk(jwk, allow_oct=False)], allowed, source, fetched_at))
        except KeyLoadError as exc:
            skipped.append(f"kid {kid!r}: {exc}")
    return usable, skipped
