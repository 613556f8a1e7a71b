"""RS256 key pair and bulk tokens for the benchmark, signed in parallel and reused while still fresh."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://bench.subwarden.local"
AUDIENCE = "bench-api"
KID = "bench-1"
TOKEN_TTL = 12 * 3600
#: A token file is reused only while it stays valid this much longer (a full run fits easily).
MIN_REMAINING = 3 * 3600


@dataclass(frozen=True)
class Keys:
    private_pem: Path
    public_pem: Path
    public_jwks: Path

    def fingerprint(self) -> str:
        return hashlib.sha256(self.public_pem.read_bytes()).hexdigest()[:16]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def ensure_keys(directory: Path) -> Keys:
    """An RSA-2048 key pair as PEM files plus a JWKS with the pinned kid; made once per work dir."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = Keys(directory / "private.pem", directory / "public.pem", directory / "public.jwks.json")
    if keys.private_pem.exists() and keys.public_pem.exists() and keys.public_jwks.exists():
        return keys
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys.private_pem.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    keys.private_pem.chmod(0o600)
    public = private.public_key()
    keys.public_pem.write_bytes(public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    numbers = public.public_numbers()
    jwk = {"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig", "n": _uint_b64(numbers.n), "e": _uint_b64(numbers.e)}
    keys.public_jwks.write_text(json.dumps({"keys": [jwk]}))
    return keys


def _load_private(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey, header: dict[str, Any] | None = None) -> str:
    head = header or {"alg": "RS256", "typ": "JWT", "kid": KID}
    signing_input = f"{b64url(json.dumps(head, separators=(',', ':')).encode())}." \
                    f"{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def claims_for(user_id: str, now: int, jti: str) -> dict[str, Any]:
    return {
        "iss": ISSUER, "sub": user_id, "aud": AUDIENCE, "iat": now - 60, "nbf": now - 60,
        "exp": now + TOKEN_TTL, "jti": jti, "scope": "read write",
    }


def _mint_chunk(args: tuple[str, list[str], int, str]) -> list[str]:
    key_path, user_ids, now, prefix = args
    key = _load_private(Path(key_path))
    return [sign(claims_for(uid, now, f"{prefix}-{i}"), key) for i, uid in enumerate(user_ids)]


def mint_many(keys: Keys, user_ids: list[str], prefix: str, workers: int = 2) -> list[str]:
    """One distinct token per entry of ``user_ids`` (jti ``prefix-<chunk>-<i>``), signed in parallel."""
    now = int(time.time())
    size = max(1, len(user_ids) // (workers * 8))
    chunks = [(str(keys.private_pem), user_ids[i:i + size], now, f"{prefix}{i}") for i in range(0, len(user_ids), size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [tok for chunk in pool.map(_mint_chunk, chunks) for tok in chunk]


def token_file(keys: Keys, directory: Path, name: str, user_ids: list[str]) -> Path:
    """Write (or reuse while fresh) ``name``.txt: one token per line, one per entry of ``user_ids``."""
    path = directory / f"{name}.txt"
    meta_path = directory / f"{name}.meta.json"
    wanted = {"key": keys.fingerprint(), "count": len(user_ids), "users": _digest(user_ids)}
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in wanted} == wanted and meta.get("exp", 0) - time.time() > MIN_REMAINING:
            return path
    started = time.monotonic()
    tokens = mint_many(keys, user_ids, prefix=f"{name}-{int(time.time())}-")
    path.write_text("\n".join(tokens) + "\n")
    meta_path.write_text(json.dumps({**wanted, "exp": int(time.time()) + TOKEN_TTL}))
    print(f"minted {len(tokens)} {name} tokens in {time.monotonic() - started:.1f}s", flush=True)
    return path


def _digest(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def read_tokens(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line]
