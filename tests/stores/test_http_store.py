"""HTTP-only behaviour against the real user-service process: path escaping, single-object mode,
status codes and malformed answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from stores_http import HttpHarness
from stores_tls import make_tls_files

from subwarden.config.loader import ConfigError
from subwarden.errors import GatewayError, StoreAuthFailed, StoreMisconfigured, StoreUnavailable
from subwarden.identity.stores.base import UserStore
from subwarden.identity.stores.http import path_segment

Make = Callable[..., UserStore]


@pytest.fixture
async def make(http: HttpHarness) -> AsyncIterator[Make]:
    made: list[UserStore] = []

    def build(**overrides: Any) -> UserStore:
        store = http.store(**overrides)
        made.append(store)
        return store

    yield build
    for store in made:
        await store.close()


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("alice", "alice"),
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("../admin", "..%2Fadmin"),
        ("a?b#c", "a%3Fb%23c"),
        ("a.b@example.com", "a.b%40example.com"),
        ("Zo\u00eb", "Zo%C3%AB"),
        ("Zoe\u0308", "Zoe%CC%88"),
        ("%2e%2e", "%252e%252e"),
    ],
)
def test_the_subject_becomes_exactly_one_path_segment(value: str, segment: str) -> None:
    assert path_segment(value) == segment


@pytest.mark.parametrize("value", ["..", "../../admin", "x/../../y", "?admin=1", "#frag", "/"])
def test_the_subject_cannot_change_the_request_path(http: HttpHarness, value: str) -> None:
    query = http.store(http={"url_template": "{base}/users/{value}", "users_key": None}).build_query("user_id", value)
    raw_path = httpx.URL(query.text).raw_path.decode()
    assert raw_path.startswith("/users/") and raw_path.count("/") == 2
    assert "?" not in raw_path and "#" not in raw_path


@pytest.mark.parametrize("value", ["..", "../users/alice", "alice/..", "alice?x=1"])
async def test_path_tricks_find_no_user(make: Make, value: str) -> None:
    store = make(http={"url_template": "{base}/users/{value}", "users_key": None})
    assert await store.lookup("user_id", value) == []


async def test_a_single_object_answer_is_one_user_and_404_is_none(make: Make) -> None:
    store = make(http={"url_template": "{base}/users/{value}", "users_key": None})
    [alice] = await store.lookup("user_id", "alice")
    assert alice.roles == ("admin", "dev") and alice.attributes["name"] == "Alice Liddell"
    assert await store.lookup("user_id", "nobody") == []


@pytest.mark.parametrize(
    ("subject", "error"),
    [
        ("boom", StoreUnavailable),
        ("busy", StoreUnavailable),
        ("slow-down", StoreUnavailable),
        ("teapot", StoreMisconfigured),
        ("not-json", StoreUnavailable),
        ("a-list", StoreMisconfigured),
        ("no-users-key", StoreMisconfigured),
        ("no-id", StoreMisconfigured),
    ],
)
async def test_error_statuses_and_malformed_answers_are_never_not_found(
    make: Make, subject: str, error: type[GatewayError]
) -> None:
    with pytest.raises(error):
        await make().lookup("user_id", subject)


async def test_a_wrong_url_template_is_misconfigured(make: Make) -> None:
    with pytest.raises(StoreMisconfigured):
        await make(http={"url_template": "{base}/nope/{value}"}).lookup("user_id", "alice")


async def test_a_missing_token_is_store_auth_failed(make: Make) -> None:
    with pytest.raises(StoreAuthFailed):
        await make(http={"bearer_token_env": None}).lookup("user_id", "alice")


@pytest.mark.parametrize("template", ["{base}/users", "{base}/users/{subject}", "{base}/users/{value"])
def test_a_template_without_a_usable_value_placeholder_is_a_config_error(http: HttpHarness, template: str) -> None:
    with pytest.raises(ConfigError):
        http.store(http={"url_template": template})


def test_the_identity_names_the_token_variable_not_the_token(http: HttpHarness) -> None:
    identity = http.store().identity
    assert "SW_TEST_HTTP_TOKEN" in identity and http.token not in identity


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpHarness]:
    # Certificates are checked against the real time by the TLS stack, so they are minted now.
    files = make_tls_files(tmp_path_factory.mktemp("tls"), dt.datetime.now(dt.UTC))
    harness = HttpHarness(tmp_path_factory.mktemp("user-service-tls"), tls=files)
    try:
        harness.setup()
        yield harness
    finally:
        harness.teardown()


async def test_https_with_the_ca_finds_the_user(https: HttpHarness) -> None:
    assert https.tls is not None
    store = https.store(http={"ca_file": str(https.tls.ca)})
    try:
        assert [u.user_id for u in await store.lookup("user_id", "alice")] == ["alice"]
    finally:
        await store.close()


async def test_an_untrusted_https_certificate_is_store_unavailable(https: HttpHarness) -> None:
    store = https.store()
    try:
        with pytest.raises(StoreUnavailable):
            await store.lookup("user_id", "alice")
    finally:
        await store.close()


async def test_https_to_a_plain_http_port_is_store_unavailable(http: HttpHarness, make: Make) -> None:
    with pytest.raises(StoreUnavailable):
        await make(url=f"https://127.0.0.1:{http.port}").lookup("user_id", "alice")
