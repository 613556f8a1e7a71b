"""LDAP-only behaviour on the private slapd: RFC 4515 escaping, AD and ppolicy flags, group roles,
ambiguity, size limits, referrals, search-base order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ldap3.utils.conv import escape_filter_chars
from stores_ldap import LdapHarness

from subwarden.config.loader import ConfigError
from subwarden.errors import StoreAuthFailed, StoreMisconfigured
from subwarden.identity.stores._ldap_filter import (
    LdapUrl,
    check_filter,
    escape_filter_value,
    group_filter,
    lookup_filter,
    rdn_value,
)
from subwarden.identity.stores.base import UserStatus, UserStore

Make = Callable[..., UserStore]


@pytest.fixture
async def make(ldap: LdapHarness) -> AsyncIterator[Make]:
    made: list[UserStore] = []

    def build(**overrides: Any) -> UserStore:
        store = ldap.store(**overrides)
        made.append(store)
        return store

    yield build
    for store in made:
        await store.close()


def under(ldap: LdapHarness, ou: str, **options: Any) -> dict[str, Any]:
    return {"ldap": {"base_dns": [f"ou={ou},{ldap.suffix}"], **options}}


# ---------------------------------------------------------------- pure: escaping and filters
@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("alice", "alice"),
        ("*", "\\2a"),
        ("(", "\\28"),
        (")", "\\29"),
        ("\\", "\\5c"),
        ("\x00", "\\00"),
        ("*)(uid=*", "\\2a\\29\\28uid=\\2a"),
        (")(|(uid=*", "\\29\\28|\\28uid=\\2a"),
        ("\\2a", "\\5c2a"),
        ("Zo\u00eb", "Zo\\c3\\ab"),
        ("\u4e2d", "\\e4\\b8\\ad"),
        ("a\nb", "a\\0ab"),
    ],
)
def test_escapes_filter_metacharacters_and_non_ascii_per_rfc4515(value: str, escaped: str) -> None:
    assert escape_filter_value(value) == escaped


def test_escaping_agrees_with_ldap3_on_ascii_metacharacters() -> None:
    for value in ["*", "(", ")", "\\", "\x00", "a*b(c)d\\e", "*)(uid=*"]:
        assert escape_filter_value(value) == escape_filter_chars(value)


def test_the_lookup_filter_ands_the_object_filter_with_the_escaped_subject() -> None:
    expected = "(&(objectClass=person)(uid=\\2a\\29\\28uid=\\2a))"
    assert lookup_filter("(objectClass=person)", "uid", "*)(uid=*") == expected
    assert group_filter("(member={dn})", "cn=a*b,ou=x") == "(member=cn=a\\2ab,ou=x)"


def test_build_query_is_pure_and_shows_the_filter(ldap: LdapHarness) -> None:
    query = ldap.store().build_query("user_id", "a)(b")
    assert query.text == "(&(objectClass=inetOrgPerson)(cn=a\\29\\28b))"
    assert query.params == ("a)(b",) and query.field == "cn" and query.backend == "ldap"


@pytest.mark.parametrize(
    ("dn", "value"),
    [
        ("cn=admins,ou=groups,dc=x", "admins"),
        ("cn=Domain Admins\\, EU,ou=groups", "Domain Admins, EU"),
        ("cn=Zo\\c3\\ab,ou=g", "Zo\u00eb"),
        ("CN=Sales+OU=x,DC=corp", "Sales"),
        ("plain-role", "plain-role"),
    ],
)
def test_rdn_value_unescapes_the_first_rdn(dn: str, value: str) -> None:
    assert rdn_value(dn) == value


@pytest.mark.parametrize("text", ["objectClass=person", "(objectClass=person", "(a=b))(", ")("])
def test_an_unbalanced_object_filter_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        check_filter(text, "identity.store.ldap.object_filter")


def test_a_lookup_field_that_is_not_an_attribute_name_is_a_config_error(ldap: LdapHarness) -> None:
    with pytest.raises(ConfigError):
        ldap.store(lookup={"user_id": "cn)(uid=*"})


def test_ldap_urls_default_their_ports() -> None:
    assert LdapUrl.parse("ldaps://dir.example").port == 636
    assert LdapUrl.parse("ldap://dir.example/ou=people,dc=x").base_dn == "ou=people,dc=x"


# ---------------------------------------------------------------- account status
@pytest.mark.parametrize(
    ("account", "status"),
    [
        ("ad-active", UserStatus.active),
        ("ad-disabled", UserStatus.disabled),
        ("ad-locked", UserStatus.locked),
        ("ad-lockbit", UserStatus.locked),
        ("ad-unlocked", UserStatus.active),
    ],
)
async def test_reads_ad_user_account_control_and_lockout_time(
    ldap: LdapHarness, make: Make, account: str, status: UserStatus
) -> None:
    store = make(id_field="sAMAccountName", lookup={"user_id": "sAMAccountName"}, status_field=None,
                 attributes={}, **under(ldap, "ad", ad_user_account_control=True))
    [user] = await store.lookup("user_id", account)
    assert user.status is status


async def test_ad_member_of_gives_roles_by_rdn_value(ldap: LdapHarness, make: Make) -> None:
    store = make(id_field="sAMAccountName", lookup={"user_id": "sAMAccountName"}, status_field=None,
                 attributes={}, **under(ldap, "ad", ad_user_account_control=True))
    [user] = await store.lookup("user_id", "ad-unlocked")
    assert user.roles == ("Domain Admins, EU",)


async def test_a_status_attribute_missing_from_the_schema_is_misconfigured(make: Make) -> None:
    store = make(status_field="accountStatusX")
    with pytest.raises(StoreMisconfigured, match="accountStatusX"):
        await store.lookup("user_id", "alice")


@pytest.mark.parametrize(("account", "status"), [("pp-locked", UserStatus.locked), ("pp-open", UserStatus.active)])
async def test_reads_the_openldap_ppolicy_lock(ldap: LdapHarness, make: Make, account: str, status: UserStatus) -> None:
    store = make(status_field=None, roles_field=None, attributes={}, **under(ldap, "ppolicy"))
    [user] = await store.lookup("user_id", account)
    assert user.status is status


# ---------------------------------------------------------------- roles from a group search
async def test_roles_come_from_a_group_search_on_the_member_dn(ldap: LdapHarness, make: Make) -> None:
    store = make(roles_field=None, ldap={"group_search_base": ldap.groups, "size_limit": 2})
    [alice] = await store.lookup("user_id", "alice")
    [bob] = await store.lookup("user_id", "bob")
    assert sorted(alice.roles) == ["admins", "auditors", "devs"]  # more groups than the lookup's size limit
    assert bob.roles == ("devs",)


# ---------------------------------------------------------------- result shapes
async def test_returns_every_entry_when_several_match_exactly(ldap: LdapHarness, make: Make) -> None:
    store = make(status_field=None, roles_field=None, **under(ldap, "dups"))
    twins = await store.lookup("user_id", "twin")
    assert sorted(u.attributes["email"] for u in twins) == ["twin1@example.com", "twin2@example.com"]


async def test_exact_match_survives_a_case_insensitive_matching_rule(ldap: LdapHarness, make: Make) -> None:
    store = make(status_field=None, roles_field=None, **under(ldap, "dups", size_limit=10))
    assert [u.user_id for u in await store.lookup("user_id", "Carol")] == ["Carol"]


async def test_a_size_limit_hit_before_exact_filtering_is_misconfigured(ldap: LdapHarness, make: Make) -> None:
    store = make(status_field=None, roles_field=None, **under(ldap, "dups", size_limit=2))
    with pytest.raises(StoreMisconfigured, match="size_limit"):
        await store.lookup("user_id", "carol")


async def test_a_referral_only_answer_is_not_a_user(ldap: LdapHarness, make: Make) -> None:
    store = make(**under(ldap, "federated"))
    assert await store.lookup("user_id", "pat") == []


async def test_referrals_are_followed_when_configured(ldap: LdapHarness, make: Make) -> None:
    store = make(**under(ldap, "federated", follow_referrals=True))
    assert [u.user_id for u in await store.lookup("user_id", "pat")] == ["pat"]


async def test_search_bases_are_tried_in_order(ldap: LdapHarness, make: Make) -> None:
    store = make(ldap={"base_dns": [ldap.people, f"ou=partners,{ldap.suffix}"]})
    assert [u.user_id for u in await store.lookup("user_id", "pat")] == ["pat"]
    assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]


# ---------------------------------------------------------------- binding and bases
async def test_an_anonymous_bind_reads_the_directory(ldap: LdapHarness, make: Make) -> None:
    store = make(ldap={"bind_dn": None, "bind_password_env": None})
    assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]


async def test_an_unknown_bind_dn_is_store_auth_failed(ldap: LdapHarness, make: Make) -> None:
    store = make(ldap={"bind_dn": f"cn=nobody,ou=services,{ldap.suffix}"})
    with pytest.raises(StoreAuthFailed):
        await store.lookup("user_id", "alice")


async def test_a_missing_search_base_is_misconfigured_and_fails_the_mapping_step(ldap: LdapHarness, make: Make) -> None:
    store = make(**under(ldap, "nowhere"))
    with pytest.raises(StoreMisconfigured):
        await store.lookup("user_id", "alice")
    report = await store.self_test()
    assert report.failed_step is not None and report.failed_step.name == "mapping"


def test_a_missing_ca_file_is_a_config_error_at_start_up(ldap: LdapHarness) -> None:
    with pytest.raises(ConfigError, match="ca_file"):
        ldap.store(url="ldaps://127.0.0.1:1", ldap={"ca_file": "/nonexistent/ca.pem"})
