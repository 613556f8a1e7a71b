"""Guide causes 2, 4 and 6 on real stores: unreachable, credentials, mapping, stale negative cache,
latency — never reported as a missing user — and deleted / disabled / locked accounts."""

from __future__ import annotations

import socket

from diagnose_backends import Backend, LdapBackend, PostgresBackend, SqliteBackend
from diagnose_kit import NOW, cause_ids, config, fix_text, mint, run

from subwarden.clock import FrozenClock
from subwarden.diagnose.run import DiagnoseRequest, request_context
from subwarden.pipeline.build import build_gateway


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_postgres_is_an_outage_with_the_failing_step(postgres_backend: PostgresBackend) -> None:
    port = closed_port()
    store = postgres_backend.store(url=f"postgresql://postgres@127.0.0.1:{port}/test", timeout=1.0)
    report = await run(config(store), mint(sub="alice"))
    assert (report.code, report.status) == ("store_unavailable", 503)
    assert cause_ids(report) == ["store_unreachable"]
    assert report.cause is not None and report.cause.evidence["self_test"]["failed_step"] == "connect"
    assert f"pg_isready -h 127.0.0.1 -p {port}" in fix_text(report)


async def test_unreadable_sqlite_file_is_an_outage(sqlite_backend: SqliteBackend) -> None:
    store = sqlite_backend.store(url=f"sqlite:///{sqlite_backend.path.parent}/missing/dir/users.db")
    report = await run(config(store), mint(sub="alice"))
    assert report.code == "store_unavailable"
    assert cause_ids(report) == ["store_unreachable"]


async def test_rejected_postgres_password_names_the_unset_password_variable(postgres_backend: PostgresBackend) -> None:
    store = postgres_backend.store(url=postgres_backend.role_url(), password_env="SW_DIAG_UNSET_PASSWORD")
    report = await run(config(store), mint(sub="alice"))
    assert report.code == "store_auth_failed"
    assert cause_ids(report) == ["store_auth_failed"]
    assert "SW_DIAG_UNSET_PASSWORD is NOT set" in report.cause.explanation  # type: ignore[union-attr]


async def test_unknown_column_is_a_misconfiguration_naming_the_mapping_step(backend: Backend) -> None:
    store = backend.store(lookup={"user_id": "userIdent", "email": "email"})
    report = await run(config(store), mint(sub="alice"))
    assert report.code == "store_misconfigured"
    assert cause_ids(report) == ["store_misconfigured"]
    evidence = report.cause.evidence  # type: ignore[union-attr]
    assert evidence["self_test"]["failed_step"] == "mapping"
    assert "userIdent" in report.cause.explanation  # type: ignore[union-attr]


async def test_slow_postgres_lookup_is_a_timeout_not_a_missing_user(postgres_backend: PostgresBackend) -> None:
    table = postgres_backend.table
    query = (f"SELECT user_id, email, status, status_since, roles FROM {table}, (SELECT pg_sleep(1)) AS slow "
             "WHERE user_id = :value")
    report = await run(config(postgres_backend.store(query=query, timeout=0.2)), mint(sub="alice"))
    assert (report.code, report.status) == ("store_timeout", 503)
    assert cause_ids(report) == ["store_timeout"]
    assert report.cause is not None and report.cause.guide_cause == 6
    assert "identity.store.timeout" in fix_text(report)


async def test_disabled_user_shows_since_when_and_that_the_idp_still_issues_tokens(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub="bob"))
    assert (report.code, cause_ids(report)) == ("user_disabled", ["user_disabled"])
    cause = report.cause
    assert cause is not None and cause.guide_cause == 4
    assert "since 2027-01-10T00:00:00+00:00" in cause.explanation
    assert "IdP still issues tokens" in cause.explanation
    assert "/admin/revocations" in fix_text(report)


async def test_locked_user_after_issuance_says_older_tokens_keep_circulating(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub="carol"))
    assert cause_ids(report) == ["user_locked"]
    assert "keep circulating" in report.cause.explanation  # type: ignore[union-attr]
    assert "pwdAccountLockedTime" in fix_text(report)


async def test_deleted_user_is_named_deleted(backend: Backend) -> None:
    report = await run(config(backend.store()), mint(sub="dave"))
    assert (report.code, report.status, cause_ids(report)) == ("user_deleted", 403, ["user_deleted"])


async def test_stale_negative_cache_shows_the_entry_age_and_the_invalidation_command(backend: Backend) -> None:
    clock = FrozenClock(NOW)
    cfg = config(backend.store())
    live = build_gateway(cfg, clock=clock)
    token = mint(sub="grace")
    first = request_context(DiagnoseRequest(token, path="/api/orders"))
    first.facts = None
    await live.pipeline.admit(first)  # type: ignore[misc]
    assert first.error is not None and first.error.code == "user_not_found"
    await backend.add("grace", "grace@example.com")
    try:
        clock.advance(4)
        report = await run(cfg, token, live=live, clock=clock, at=None)
        assert report.code == "user_not_found"
        assert cause_ids(report)[0] == "stale_negative_cache"
        cause = report.cause
        assert cause is not None and cause.evidence["cache_age_s"] == 4
        assert "/admin/cache/invalidate" in fix_text(report) and '"subject": "grace"' in fix_text(report)
        fresh = await run(cfg, token, live=live, clock=clock, at=None, no_cache=True)
        assert fresh.verdict == "allowed"
    finally:
        await backend.remove("grace")
        await live.close()


async def test_user_hidden_by_the_lookup_filter_is_named_with_its_status(backend: Backend) -> None:
    if backend.name == "ldap":
        options = {**backend.store()["ldap"], "object_filter": "(&(objectClass=inetOrgPerson)(employeeType=active))"}
        store = backend.store(ldap=options)
    else:
        table = getattr(backend, "table", "users")
        store = backend.store(query=f"SELECT user_id, email, status, status_since, roles FROM {table} "
                                    "WHERE user_id = :value AND status = 'active'")
    report = await run(config(store), mint(sub="bob"))
    assert report.code == "user_not_found"
    assert cause_ids(report)[0] == "user_excluded_by_store_filter"
    cause = report.cause
    assert cause is not None and "disabled since 2027-01-10T00:00:00+00:00" in cause.title
    assert "status_field" in fix_text(report)


async def test_rejected_ldap_bind_is_an_auth_failure_not_a_missing_user(ldap_backend: LdapBackend) -> None:
    options = {**ldap_backend.store()["ldap"], "bind_password": "not-the-password"}
    report = await run(config(ldap_backend.store(ldap=options)), mint(sub="alice"))
    assert (report.code, report.status, cause_ids(report)) == ("store_auth_failed", 503, ["store_auth_failed"])


async def test_unreachable_ldap_names_the_probe_command(ldap_backend: LdapBackend) -> None:
    port = closed_port()
    report = await run(config(ldap_backend.store(url=f"ldap://127.0.0.1:{port}", timeout=1.0)), mint(sub="alice"))
    assert cause_ids(report) == ["store_unreachable"]
    assert f"ldapsearch -H ldap://127.0.0.1:{port} -x -b '' -s base" in fix_text(report)


async def test_cached_user_deleted_since_is_flagged_while_still_let_through(backend: Backend) -> None:
    clock = FrozenClock(NOW)
    cfg = config(backend.store())
    live = build_gateway(cfg, clock=clock)
    token = mint(sub="ivy")
    await backend.add("ivy", "ivy@example.com")
    try:
        first = request_context(DiagnoseRequest(token, path="/api/orders"))
        first.facts = None
        await live.pipeline.admit(first)  # type: ignore[misc]
        assert first.error is None
        await backend.remove("ivy")
        clock.advance(20)
        report = await run(cfg, token, live=live, clock=clock, at=None)
        assert report.verdict == "allowed"
        warning = next(f for f in report.findings if f.id == "stale_positive_cache")
        assert warning.guide_cause == 4 and "no longer exists" in warning.title
        assert warning.evidence["cache_age_s"] == 20
        assert '"user_id": "ivy"' in warning.fix[0] and "/admin/cache/invalidate" in warning.fix[0]
    finally:
        await backend.remove("ivy")
        await live.close()
