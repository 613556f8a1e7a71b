"""Request ids and W3C trace context."""

from __future__ import annotations

import re

from subwarden.http.ids import IdSource, parse_traceparent, valid_request_id

VALID = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_generated_request_ids_are_unique_and_safe() -> None:
    ids = IdSource()
    generated = {ids.request_id(None) for _ in range(1000)}
    assert len(generated) == 1000 and all(valid_request_id(i.encode()) for i in generated)


def test_generated_request_ids_are_the_prefix_and_a_count_in_eight_hex_digits() -> None:
    ids = IdSource()
    generated = [ids.request_id(None) for _ in range(600)]  # across two 256-id blocks
    prefix = generated[0][:12]
    assert [i[:12] for i in generated] == [prefix] * 600
    assert [int(i[12:], 16) for i in generated] == list(range(1, 601))
    assert all(len(i) == 20 for i in generated) and generated == sorted(generated)  # index-friendly order


def test_two_sources_never_share_a_prefix() -> None:
    assert IdSource().request_id(None)[:12] != IdSource().request_id(None)[:12]


def test_parses_a_valid_traceparent() -> None:
    assert parse_traceparent(VALID) == ("0af7651916cd43dd8448eb211c80319c", "01")


def test_accepts_a_future_version_with_extra_fields() -> None:
    assert parse_traceparent(b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra") is not None


def test_rejects_invalid_traceparents() -> None:
    for bad in (
        VALID + b"-extra",
        VALID.replace(b"00-", b"ff-", 1),
        b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01",
        b"00-0af7651916cd43dd8448eb211c80319c-" + b"0" * 16 + b"-01",
        VALID.upper(),
        b"",
    ):
        assert parse_traceparent(bad) is None, bad


def test_trace_keeps_the_trace_id_and_makes_a_new_span() -> None:
    trace_id, header = IdSource().trace(VALID)
    assert trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert re.fullmatch(r"00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01", header)
    assert "b7ad6b7169203331" not in header


def test_trace_starts_fresh_without_a_valid_parent() -> None:
    trace_id, header = IdSource().trace(None)
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id) and header.startswith(f"00-{trace_id}-")
