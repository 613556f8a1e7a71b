"""The SQLite store on real files: URLs, exact bound lookups, custom queries, self-test, near misses, errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from identity_support import make_users_db

from subwarden.config.loader import ConfigError
from subwarden.config.models import StoreConfig
from subwarden.errors import StoreMisconfigured, StoreUnavailable
from subwarden.identity.stores.base import UserStatus, create_store
from subwarden.identity.stores.sqlite import SqliteStore
from subwarden.identity.stores.sqlite_sql import sqlite_path

CUSTOM = (
    "SELECT u.user_id, u.status, u.roles, u.email, u.groups, u.dept, u.status_since FROM users u "
    "WHERE (:attribute = 'user_id' AND u.user_id = :value) OR (:attribute = 'email' AND u.email = :value)"
)


def store_config(db: Path | str, **extra: Any) -> StoreConfig:
    settings: dict[str, Any] = {
        "url": db if isinstance(db, str) else f"sqlite:///{db}",
        "lookup": {"user_id": "user_id", "email": "email"},
        "attributes": {"email": "email", "dept": "dept"},
        "status_since_field": "status_since",
    }
    settings.update(extra)
    return StoreConfig(**settings)


@pytest.fixture
def open_store(closing: list[object]) -> Any:
    def make(db: Path | str, **extra: Any) -> SqliteStore:
        store = create_store(store_config(db, **extra))
        assert isinstance(store, SqliteStore)
        closing.append(store)
        return store

    return make


def test_urls_name_relative_and_absolute_paths() -> None:
    assert sqlite_path("sqlite:///var/users.db") == "var/users.db"
    assert sqlite_path("sqlite:////srv/users.db") == "/srv/users.db"
    for bad in ("sqlite://users.db", "sqlite:///", "postgresql:///x"):
        with pytest.raises(ConfigError):
            sqlite_path(bad)


async def test_a_relative_url_resolves_from_the_working_directory(users_db: Path, open_store: Any) -> None:
    store = open_store(f"sqlite:///{os.path.relpath(users_db)}")
    assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]


def test_column_names_that_are_not_plain_identifiers_are_refused_at_start_up(users_db: Path) -> None:
    for extra in ({"id_field": 'user_id" --'}, {"lookup": {"user_id": "user id"}}, {"attributes": {"x": "a;b"}}):
        with pytest.raises(ConfigError):
            create_store(store_config(users_db, **extra))


def test_building_a_query_is_pure_and_binds_the_value(tmp_path: Path) -> None:
    store = SqliteStore(store_config(tmp_path / "does-not-exist.db"))
    query = store.build_query("user_id", "' OR '1'='1")
    assert query.params == ("' OR '1'='1",)
    assert "OR '1'" not in query.text and "[user_id] = ?" in query.text
    assert query.describe().endswith("-- params: [\"' OR '1'='1\"]")
    folded = store.build_casefold_query("email", "Alice@Example.COM")
    assert folded.casefold and folded.params == ("alice@example.com",)
    with pytest.raises(StoreMisconfigured):
        store.build_query("phone", "x")


async def test_a_found_user_carries_status_roles_attributes_and_status_date(users_db: Path, open_store: Any) -> None:
    store = open_store(users_db)
    (alice,) = await store.lookup("email", "alice@example.com")
    assert (alice.user_id, alice.status, alice.roles) == ("alice", UserStatus.active, ("user", "admin"))
    assert dict(alice.attributes) == {"email": "alice@example.com", "dept": "R&D"}
    assert alice.matched_value == "alice@example.com"
    (bob,) = await store.lookup("user_id", "bob")
    assert (bob.status, bob.status_since) == (UserStatus.disabled, "2024-01-02T03:04:05Z")


async def test_a_nocase_column_still_matches_exactly(tmp_path: Path, open_store: Any) -> None:
    db = make_users_db(
        tmp_path / "nocase.db",
        [("Alice", "a@example.com", "active", None, "", None, None)],
        schema="CREATE TABLE users (user_id TEXT COLLATE NOCASE, email TEXT COLLATE NOCASE, status TEXT,"
        " status_since TEXT, roles TEXT, groups TEXT, dept TEXT)",
    )
    store = open_store(db)
    assert await store.lookup("user_id", "alice") == []
    assert await store.lookup("email", "A@example.com") == []
    assert [u.user_id for u in await store.lookup("user_id", "Alice")] == ["Alice"]


async def test_an_integer_id_column_matches_its_decimal_text_only(tmp_path: Path, open_store: Any) -> None:
    db = make_users_db(
        tmp_path / "int.db",
        [(42, "n@example.com", "active", None, "[\"a\", \"b\"]", None, None)],
        schema="CREATE TABLE users (user_id INTEGER, email TEXT, status TEXT, status_since TEXT, roles TEXT,"
        " groups TEXT, dept TEXT)",
    )
    store = open_store(db)
    (user,) = await store.lookup("user_id", "42")
    assert (user.user_id, user.roles) == ("42", ("a", "b"))
    assert await store.lookup("user_id", "042") == []


async def test_an_unknown_status_value_fails_closed_as_disabled_and_no_status_field_means_active(
    tmp_path: Path, open_store: Any
) -> None:
    db = make_users_db(tmp_path / "s.db", [("u", None, "suspended-ish", None, None, None, None)])
    assert (await open_store(db).lookup("user_id", "u"))[0].status is UserStatus.disabled
    no_status = open_store(db, status_field=None)
    assert (await no_status.lookup("user_id", "u"))[0].status is UserStatus.active


async def test_a_custom_query_binds_value_and_attribute(users_db: Path, open_store: Any) -> None:
    store = open_store(users_db, query=CUSTOM)
    assert [u.user_id for u in await store.lookup("email", "carol@example.com")] == ["carol"]
    assert [u.user_id for u in await store.lookup("user_id", "carol")] == ["carol"]
    assert await store.lookup("user_id", "carol@example.com") == []
    assert await store.lookup("user_id", "' OR '1'='1") == []


def test_a_custom_query_without_the_value_parameter_is_refused(users_db: Path) -> None:
    with pytest.raises(ConfigError):
        create_store(store_config(users_db, query="SELECT * FROM users"))


async def test_returns_store_misconfigured_if_a_custom_query_omits_a_mapped_column(
    users_db: Path, open_store: Any
) -> None:
    store = open_store(users_db, query="SELECT user_id FROM users WHERE user_id = :value")
    with pytest.raises(StoreMisconfigured) as caught:
        await store.lookup("user_id", "alice")
    assert caught.value.detail["missing"] == ["status"]


async def test_store_errors_are_mapped_to_the_catalog(tmp_path: Path, users_db: Path, open_store: Any) -> None:
    with pytest.raises(StoreUnavailable):
        await open_store(tmp_path / "missing.db").lookup("user_id", "alice")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreMisconfigured):
        await open_store(garbage).lookup("user_id", "alice")
    with pytest.raises(StoreMisconfigured) as caught:
        await open_store(users_db, table="people").lookup("user_id", "alice")
    assert "no such table: people" in caught.value.detail["error"]
    with pytest.raises(StoreMisconfigured):
        await open_store(users_db, roles_field="role_list").lookup("user_id", "alice")


async def test_a_replaced_database_file_is_reopened(users_db: Path, open_store: Any) -> None:
    store = open_store(users_db)
    assert await store.lookup("user_id", "zoe") == []
    make_users_db(users_db, [("zoe", None, "active", None, None, None, None)])
    assert [u.user_id for u in await store.lookup("user_id", "zoe")] == ["zoe"]


async def test_the_store_works_again_after_close(users_db: Path, open_store: Any) -> None:
    store = open_store(users_db)
    await store.lookup("user_id", "alice")
    await store.close()
    assert len(await store.lookup("user_id", "alice")) == 1


async def test_self_test_passes_connect_mapping_and_canary(users_db: Path, open_store: Any) -> None:
    report = await open_store(users_db).self_test("alice")
    assert report.ok
    assert [s.name for s in report.steps] == ["connect", "mapping", "canary"]


@pytest.mark.parametrize(
    ("extra", "step", "mentions"),
    [
        ({"table": "people"}, "mapping", "people"),
        ({"status_field": "state"}, "mapping", "state"),
        ({"query": "SELECT user_id, roles FROM users WHERE user_id = :value"}, "mapping", "status"),
        ({"query": "SELECT user_id, status FROM nowhere WHERE user_id = :value"}, "mapping", "nowhere"),
    ],
)
async def test_self_test_names_the_failing_step_and_what_is_missing(
    users_db: Path, open_store: Any, extra: dict[str, Any], step: str, mentions: str
) -> None:
    report = await open_store(users_db, **extra).self_test()
    failed = report.failed_step
    assert failed is not None and failed.name == step and mentions in failed.detail


async def test_self_test_fails_at_connect_if_the_file_is_missing(tmp_path: Path, open_store: Any) -> None:
    report = await open_store(tmp_path / "missing.db").self_test("alice")
    assert [(s.name, s.ok) for s in report.steps] == [("connect", False)]
    assert "store_unavailable" in report.steps[0].detail


@pytest.mark.parametrize(("canary", "detail"), [("nobody", "matches 0 users"), ("bob", "disabled")])
async def test_self_test_fails_if_the_canary_does_not_resolve_to_an_active_user(
    users_db: Path, open_store: Any, canary: str, detail: str
) -> None:
    failed = (await open_store(users_db).self_test(canary)).failed_step
    assert failed is not None and failed.name == "canary" and detail in failed.detail


async def test_near_misses_find_case_whitespace_and_other_attribute_variants(users_db: Path, open_store: Any) -> None:
    store = open_store(users_db)

    async def kinds(attribute: str, value: str) -> list[tuple[str, str, str]]:
        return sorted((m.kind, m.attribute, m.user.user_id) for m in await store.near_misses(attribute, value))

    assert await kinds("user_id", "ALICE") == [("casefold", "user_id", "alice")]
    assert await kinds("user_id", "alice ") == [("trimmed", "user_id", "alice")]
    assert await kinds("user_id", " Alice") == [("casefold_trimmed", "user_id", "alice")]
    assert await kinds("user_id", "alice@example.com") == [("other_attribute", "email", "alice")]
    assert await kinds("email", "alice") == [("other_attribute", "user_id", "alice")]
    assert await kinds("user_id", "FRANK") == [("casefold", "user_id", "Frank"), ("casefold", "user_id", "frank")]
    assert await kinds("user_id", "alice") == []
