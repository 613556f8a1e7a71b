"""LDAP over TLS on a slapd with a throwaway CA: ldaps:// and StartTLS work with the CA, and every
TLS failure is store_unavailable, never a missing user."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from stores_ldap import LdapHarness
from stores_tls import make_tls_files

from subwarden.errors import StoreUnavailable


@pytest.fixture(scope="module")
def tls_ldap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapHarness]:
    # Certificates are checked against the real time by the TLS stack, so they are minted now.
    files = make_tls_files(tmp_path_factory.mktemp("tls"), dt.datetime.now(dt.UTC))
    harness = LdapHarness(tmp_path_factory.mktemp("slapd-tls"), tls=files)
    try:
        harness.setup()
        yield harness
    finally:
        harness.teardown()


async def test_ldaps_with_the_ca_finds_the_user(tls_ldap: LdapHarness) -> None:
    store = tls_ldap.store(url=f"ldaps://127.0.0.1:{tls_ldap.slapd.tls_port}", ldap={"ca_file": tls_ldap.ca})
    try:
        assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]
    finally:
        await store.close()


async def test_start_tls_with_the_ca_finds_the_user(tls_ldap: LdapHarness) -> None:
    store = tls_ldap.store(ldap={"start_tls": True, "ca_file": tls_ldap.ca})
    try:
        assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]
        assert (await store.self_test("alice")).ok
    finally:
        await store.close()


async def test_an_untrusted_certificate_is_store_unavailable(tls_ldap: LdapHarness) -> None:
    store = tls_ldap.store(url=f"ldaps://127.0.0.1:{tls_ldap.slapd.tls_port}")
    try:
        with pytest.raises(StoreUnavailable):
            await store.lookup("user_id", "alice")
    finally:
        await store.close()


async def test_ldaps_to_a_plain_port_is_store_unavailable(tls_ldap: LdapHarness) -> None:
    store = tls_ldap.store(url=f"ldaps://127.0.0.1:{tls_ldap.slapd.port}", ldap={"ca_file": tls_ldap.ca})
    try:
        with pytest.raises(StoreUnavailable):
            await store.lookup("user_id", "alice")
    finally:
        await store.close()


async def test_start_tls_without_trusting_the_ca_is_store_unavailable(tls_ldap: LdapHarness) -> None:
    store = tls_ldap.store(ldap={"start_tls": True})
    try:
        with pytest.raises(StoreUnavailable):
            await store.lookup("user_id", "alice")
    finally:
        await store.close()


async def test_start_tls_refused_by_a_server_without_tls_never_binds_in_clear_text(ldap: LdapHarness) -> None:
    store = ldap.store(ldap={"start_tls": True, "ca_file": "/etc/ssl/certs/ca-certificates.crt"})
    try:
        with pytest.raises(StoreUnavailable, match="StartTLS"):
            await store.lookup("user_id", "alice")
    finally:
        await store.close()
