"""The shared row mapping: the status table agrees with ``classify_status``; near-miss kinds."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from subwarden.config.models import StoreConfig
from subwarden.errors import StoreMisconfigured
from subwarden.identity.stores._records import RowMapper, is_exact, near_miss_kind, redact_url
from subwarden.identity.stores.base import classify_status

CONFIGS = [
    StoreConfig(),
    StoreConfig(status_field=None),
    StoreConfig(status_values={"active": ["Active", "1"], "disabled": ["0", "off"], "locked": ["LOCKED"],
                               "deleted": ["gone", "active"]}),
    # Configured texts with spaces never equal a stripped stored value: the direct lookup must not find them.
    StoreConfig(status_values={"active": [" on "], "disabled": ["off "], "locked": ["locked"], "deleted": ["x"]}),
]
RAW = [None, "active", " Active ", "ACTIVE", "1", 1, 0, "off", "locked", "Locked", "gone", "deleted", "weird", "",
       " on ", "on", "off ", "off"]


@pytest.mark.parametrize("config", CONFIGS)
def test_the_status_table_agrees_with_classify_status(config: StoreConfig) -> None:
    mapper = RowMapper(config, "test")
    assert [mapper.status(r) for r in RAW] == [classify_status(r, config) for r in RAW]


def test_a_row_maps_to_a_user_with_plain_values() -> None:
    config = StoreConfig(attributes={"email": "email", "key": "key", "born": "born"}, status_since_field="since")
    row = {"user_id": 42, "status": "active", "roles": ["a", "b"], "email": "x@y", "key": uuid.UUID(int=1),
           "born": dt.date(2000, 1, 2), "since": dt.datetime(2024, 5, 6, 7, 8, tzinfo=dt.UTC)}
    user = RowMapper(config, "test").record(row, "user_id")
    assert (user.user_id, user.roles, user.matched_value) == ("42", ("a", "b"), "42")
    assert user.attributes == {"email": "x@y", "key": str(uuid.UUID(int=1)), "born": "2000-01-02"}
    assert user.status_since == "2024-05-06T07:08:00+00:00"


def test_a_missing_mapped_field_is_misconfigured_unless_lenient() -> None:
    config = StoreConfig(attributes={"email": "email"})
    row = {"user_id": "u", "status": "active", "roles": None}
    with pytest.raises(StoreMisconfigured, match="email"):
        RowMapper(config, "test").record(row, "user_id")
    assert RowMapper(config, "test", strict=False).record(row, "user_id").attributes == {"email": None}
    with pytest.raises(StoreMisconfigured, match="user_id"):
        RowMapper(config, "test", strict=False).record({"status": "active"}, "user_id")


@pytest.mark.parametrize(
    ("stored", "value", "kind"),
    [("alice", "alice", None), ("alice", "Alice", "casefold"), ("alice", " alice", "trimmed"),
     ("alice", " ALICE ", "casefold_trimmed"), ("alice", "bob", None), ("stra\u00dfe", "STRASSE", "casefold")],
)
def test_near_miss_kinds(stored: str, value: str, kind: str | None) -> None:
    assert near_miss_kind(stored, value) == kind


def test_exactness_only_judges_text() -> None:
    assert is_exact({"f": "a"}, "f", "a") and not is_exact({"f": "A"}, "f", "a")
    assert is_exact({"f": "A"}, "f", "a", casefold=True)
    assert is_exact({"f": uuid.UUID(int=1)}, "f", "00000000-0000-0000-0000-000000000001")


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://app:s3cr%40t@db:5432/users") == "postgresql://app:***@db:5432/users"
    assert redact_url("mysql://root@db/x") == "mysql://root@db/x"
