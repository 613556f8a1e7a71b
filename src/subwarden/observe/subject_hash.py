"""Keyed hashes of subjects for records: correlatable across requests, not reversible without the key."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KEY_FILE_NAME = "subject_hash.key"
_KEY_BYTES = 32
#: Subjects whose hash is remembered (cleared when full). Above the number of active users it stops
#: thrashing: with 8192 and 10k rotating users every lookup missed (~2 us of HMAC each). ~150 B an entry.
_MEMO_SIZE = 65_536
_MIN_KEY_BYTES = 16


class SubjectHashKeyError(ValueError):
    """The configured subject hash key cannot be used; ``str()`` says why and where (never the key)."""


class SubjectHasher:
    """HMAC-SHA256 of a subject under a secret key, as 32 hex characters (128 bits)."""

    __slots__ = ("_done", "_key")

    def __init__(self, key: bytes) -> None:
        self._key = _usable(key, "the subject hash key")
        # Subjects repeat across requests: one HMAC (~2 µs) per subject, not per request.
        self._done: dict[str, str] = {}

    def hash(self, subject: Any) -> str | None:
        """The keyed hash of ``subject`` (None stays None; non-strings are hashed as text)."""
        if subject is None:
            return None
        if type(subject) is str:
            done = self._done.get(subject)
            if done is None:
                if len(self._done) >= _MEMO_SIZE:
                    self._done.clear()
                done = self._done[subject] = self._digest(subject)
            return done
        return self._digest(subject if isinstance(subject, str) else repr(subject))

    def _digest(self, text: str) -> str:
        return hmac.digest(self._key, text.encode("utf-8", "surrogatepass"), "sha256").hex()[:32]


def load_subject_hash_key(env_var: str, var_dir: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The key from ``env_var`` if set, else from ``var_dir/subject_hash.key`` (created once, mode 0600).

    Raises ``SubjectHashKeyError`` for a key shorter than 16 bytes (checked at start-up, before any worker).
    """
    env = os.environ if environ is None else environ
    value = env.get(env_var, "")
    if value:
        return _usable(
            value.encode("utf-8", "surrogateescape"),
            f"{env_var} is set but", f"unset it to use a generated key in {var_dir / KEY_FILE_NAME}",
        )
    return _load_or_create_key_file(var_dir / KEY_FILE_NAME)


def _load_or_create_key_file(path: Path) -> bytes:
    if path.exists():
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(_KEY_BYTES).encode("ascii"))
    finally:
        os.close(fd)
    try:
        # link() never replaces: when workers race, the first key wins and all read it.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    return _usable(path.read_bytes().strip(), f"subject hash key file {path}", "too short: delete it to regenerate")


def _usable(key: bytes, where: str, remedy: str = "") -> bytes:
    """``key`` if long enough, else ``SubjectHashKeyError`` saying ``where`` and how many bytes (never the key)."""
    if len(key) < _MIN_KEY_BYTES:
        fix = f" ({remedy})" if remedy else ""
        raise SubjectHashKeyError(f"{where} holds {len(key)} bytes; it needs at least {_MIN_KEY_BYTES} bytes{fix}")
    return key
