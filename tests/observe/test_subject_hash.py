"""Keyed subject hashes: stable under one key, different under another, key kept once with mode 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from subwarden.observe.subject_hash import KEY_FILE_NAME, SubjectHasher, SubjectHashKeyError, load_subject_hash_key


def test_the_same_key_gives_the_same_hash_for_the_same_subject() -> None:
    key = b"k" * 32
    assert SubjectHasher(key).hash("alice") == SubjectHasher(key).hash("alice")
    assert SubjectHasher(key).hash("alice") != SubjectHasher(key).hash("Alice")


def test_another_key_gives_another_hash() -> None:
    assert SubjectHasher(b"a" * 32).hash("alice") != SubjectHasher(b"b" * 32).hash("alice")


def test_the_hash_is_hex_and_does_not_contain_the_subject() -> None:
    digest = SubjectHasher(b"k" * 32).hash("alice@example.test")
    assert digest is not None and len(digest) == 32 and int(digest, 16) >= 0


def test_a_missing_subject_has_no_hash_and_a_non_string_subject_is_hashed_as_text() -> None:
    hasher = SubjectHasher(b"k" * 32)
    assert hasher.hash(None) is None
    assert hasher.hash(42) == hasher.hash(42) != hasher.hash("x")


def test_a_repeated_subject_gives_the_same_hash_from_the_cache_as_computed_fresh() -> None:
    hasher = SubjectHasher(b"k" * 32)
    first = [hasher.hash(f"user-{i % 3}") for i in range(9)]
    assert first == [SubjectHasher(b"k" * 32).hash(f"user-{i % 3}") for i in range(9)]
    assert hasher.hash(b"user-1") != hasher.hash("user-1")  # non-strings are hashed as text, uncached


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SubjectHasher(b"short")


def test_the_key_comes_from_the_environment_variable_when_set(tmp_path: Path) -> None:
    key = load_subject_hash_key("HASH_KEY", tmp_path, {"HASH_KEY": "from-the-environment-0123"})
    assert key == b"from-the-environment-0123"
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_without_the_variable_a_key_file_is_created_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    first = load_subject_hash_key("HASH_KEY", tmp_path / "var", {})
    path = tmp_path / "var" / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_subject_hash_key("HASH_KEY", tmp_path / "var", {"HASH_KEY": ""}) == first
    assert len(first) == 64
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE_NAME]


def test_a_truncated_key_file_is_an_error_not_a_weak_key(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_bytes(b"abc")
    with pytest.raises(SubjectHashKeyError, match="too short"):
        load_subject_hash_key("HASH_KEY", tmp_path, {})


def test_a_short_key_in_the_environment_is_refused_by_name_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(SubjectHashKeyError, match="HASH_KEY is set but holds 5 bytes") as raised:
        load_subject_hash_key("HASH_KEY", tmp_path, {"HASH_KEY": "s3cr3"})
    assert "s3cr3" not in str(raised.value)
    assert not (tmp_path / KEY_FILE_NAME).exists()
