"""Regenerate the test key material in this directory (run once; the files are committed)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from joserfc.jwk import OctKey, RSAKey

HERE = Path(__file__).parent


def write_pair(name: str, private: object) -> None:
    pem = private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (HERE / f"{name}.pem").write_bytes(pem)
    public = private.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (HERE / f"{name}.pub.pem").write_bytes(public)


def main() -> None:
    for name in ("rsa-a", "rsa-b", "rsa-c"):
        write_pair(name, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    write_pair("rsa-1024", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    for name, curve in (("ec-p256", ec.SECP256R1()), ("ec-p384", ec.SECP384R1()), ("ec-p521", ec.SECP521R1())):
        write_pair(name, ec.generate_private_key(curve))
    write_pair("ed25519", ed25519.Ed25519PrivateKey.generate())
    write_pair("ed448", ed448.Ed448PrivateKey.generate())
    oct_key = OctKey.import_key(secrets.token_bytes(64), {"kid": "hs-1"})
    (HERE / "hmac.jwk").write_text(json.dumps(oct_key.as_dict(private=True), indent=2) + "\n")
    rsa_a = RSAKey.import_key((HERE / "rsa-a.pub.pem").read_bytes(), {"kid": "rsa-a", "use": "sig"})
    (HERE / "rsa-a.jwks.json").write_text(json.dumps({"keys": [rsa_a.as_dict()]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
