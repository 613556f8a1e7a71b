"""PostgreSQL- and MariaDB-only behaviour: bound parameters, custom queries, collations,
password from the environment, unknown database."""

from __future__ import annotations

import asyncmy
import pytest
from stores_sql import MYSQL, MysqlHarness, PostgresHarness

from subwarden.config.loader import ConfigError
from subwarden.errors import StoreMisconfigured
from subwarden.identity.stores import _sql
from subwarden.identity.stores.mysql import MysqlStore
from subwarden.identity.stores.postgres import PostgresStore

INJECTION = "x' OR '1'='1' --"


# ---------------------------------------------------------------- pure query building
def test_postgres_binds_the_subject_as_a_parameter(postgresql: PostgresHarness) -> None:
    query = postgresql.store().build_query("email", INJECTION)
    assert INJECTION not in query.text and query.params == (INJECTION,)
    assert query.text == (
        f'SELECT "user_id", "status", "status_since", "roles", "email", "display_name" FROM "{postgresql.table}"'
        ' WHERE "email" = $1 LIMIT 10'
    )


def test_mysql_compares_under_a_binary_collation(mariadb: MysqlHarness) -> None:
    query = mariadb.store().build_query("user_id", INJECTION)
    assert INJECTION not in query.text and query.params == (INJECTION,)
    assert "`user_id` = %(value)s AND CONVERT(`user_id` USING utf8mb4) COLLATE utf8mb4_bin = %(value)s" in query.text


def test_identifiers_are_quoted_not_trusted() -> None:
    assert _sql.POSTGRES.ident('we"ird') == '"we""ird"'
    assert _sql.MYSQL.ident("we`ird%") == "`we``ird%%`"
    assert _sql.POSTGRES.table("app.users") == '"app"."users"'


def test_custom_queries_get_the_dialects_placeholders() -> None:
    text = "SELECT * FROM u WHERE CASE WHEN :attribute = 'email' THEN email ELSE id::text END = :value AND n LIKE 'a%'"
    assert _sql.custom_query_text(text, _sql.POSTGRES) == (
        "SELECT * FROM u WHERE CASE WHEN $2 = 'email' THEN email ELSE id::text END = $1 AND n LIKE 'a%'"
    )
    assert _sql.custom_query_text(text, _sql.MYSQL) == (
        "SELECT * FROM u WHERE CASE WHEN %(attribute)s = 'email' THEN email ELSE id::text END = %(value)s"
        " AND n LIKE 'a%%'"
    )


def test_a_custom_query_without_value_is_a_config_error(postgresql: PostgresHarness) -> None:
    with pytest.raises(ConfigError):
        postgresql.store(query="SELECT * FROM users")


# ---------------------------------------------------------------- custom queries on the servers
def custom_query(table: str) -> str:
    return (
        "SELECT user_id, status, roles, email, display_name, status_since FROM " + table
        + " WHERE (CASE WHEN :attribute = 'email' THEN email ELSE user_id END) = :value"
    )


async def test_postgres_runs_a_custom_query_with_both_parameters(postgresql: PostgresHarness) -> None:
    store = postgresql.store(query=custom_query(postgresql.table))
    try:
        assert [u.user_id for u in await store.lookup("email", "bob@example.com")] == ["bob"]
        assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]
        assert (await store.self_test("alice")).ok
    finally:
        await store.close()


async def test_mysql_custom_query_rows_are_still_matched_exactly(mariadb: MysqlHarness) -> None:
    store = mariadb.store(query=custom_query(mariadb.table))
    try:
        assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]
        assert await store.lookup("user_id", "ALICE") == []  # the ci collation matched; the post-filter did not
        assert (await store.self_test("alice")).ok
    finally:
        await store.close()


async def test_a_custom_query_missing_a_mapped_column_fails_the_mapping_step(postgresql: PostgresHarness) -> None:
    store = postgresql.store(query=f"SELECT user_id, status FROM {postgresql.table} WHERE user_id = :value")
    try:
        report = await store.self_test()
        assert report.failed_step is not None and report.failed_step.name == "mapping"
        assert "roles" in report.failed_step.detail
    finally:
        await store.close()


# ---------------------------------------------------------------- collations
async def test_the_mariadb_default_collation_folds_case_but_the_store_does_not(mariadb: MysqlHarness) -> None:
    conn = await asyncmy.connect(**MYSQL)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"SELECT user_id FROM {mariadb.table} WHERE user_id = %s", ("ALICE",))
            assert await cur.fetchall() == (("alice",),)
    finally:
        conn.close()
    store = mariadb.store()
    try:
        assert await store.lookup("user_id", "ALICE") == []
        report = await store.self_test()
        assert "user_id: utf8mb4_general_ci (case-insensitive; compared exactly" in report.steps[1].detail
    finally:
        await store.close()


async def test_an_accent_insensitive_collation_does_not_equate_nfc_and_nfd(mariadb: MysqlHarness) -> None:
    table = mariadb.table + "_uca"
    await mariadb._run(
        f"CREATE TABLE {table} (user_id VARCHAR(64) COLLATE utf8mb4_unicode_ci, status VARCHAR(16),"
        " roles TEXT, email VARCHAR(64), display_name VARCHAR(64), status_since DATETIME) CHARSET utf8mb4",
        f"INSERT INTO {table} VALUES ('Zo\u00eb', 'active', '', 'z@x', 'Z', NULL),"
        " ('Zoe', 'active', '', 'e@x', 'E', NULL)",
    )
    store = mariadb.store(table=table)
    try:
        assert [u.user_id for u in await store.lookup("user_id", "Zo\u00eb")] == ["Zo\u00eb"]
        assert await store.lookup("user_id", "Zoe\u0308") == []
        assert [u.user_id for u in await store.lookup("user_id", "Zoe")] == ["Zoe"]
    finally:
        await store.close()
        await mariadb._run(f"DROP TABLE {table}")


# ---------------------------------------------------------------- credentials and databases
async def test_postgres_reads_the_password_from_the_environment(postgresql: PostgresHarness) -> None:
    url = f"postgresql://{postgresql.role}@127.0.0.1:5432/test"
    store = PostgresStore(postgresql.config(url=url, password_env="SW_TEST_PG_PASSWORD"), env=postgresql.env)
    try:
        assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]
        assert "***" not in store.identity and postgresql.password not in store.identity
    finally:
        await store.close()


async def test_mysql_reads_the_password_from_the_environment(mariadb: MysqlHarness) -> None:
    url = f"mysql://{mariadb.user}@127.0.0.1:3306/test"
    store = MysqlStore(mariadb.config(url=url, password_env="SW_TEST_MYSQL_PASSWORD"), env=mariadb.env)
    try:
        assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]
    finally:
        await store.close()


def test_the_identity_redacts_a_password_in_the_url(postgresql: PostgresHarness) -> None:
    store = postgresql.store(**postgresql.wrong_credentials)
    assert store.identity == f"postgresql://{postgresql.role}:***@127.0.0.1:5432/test"


@pytest.mark.parametrize(
    ("harness", "url"),
    [
        ("postgresql", "postgresql://postgres@127.0.0.1:5432/sw_no_such_db"),
        ("mariadb", "mysql://root@127.0.0.1:3306/sw_no_such_db"),
    ],
)
async def test_an_unknown_database_is_misconfigured(request: pytest.FixtureRequest, harness: str, url: str) -> None:
    store = request.getfixturevalue(harness).store(url=url)
    try:
        with pytest.raises(StoreMisconfigured):
            await store.lookup("user_id", "alice")
    finally:
        await store.close()


async def test_an_unknown_table_is_misconfigured(postgresql: PostgresHarness) -> None:
    store = postgresql.store(table="sw_no_such_table")
    try:
        with pytest.raises(StoreMisconfigured):
            await store.lookup("user_id", "alice")
    finally:
        await store.close()
