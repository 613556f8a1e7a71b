"""Causes of store failures (unreachable, credentials, mapping, latency) and inactive or revoked users."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from subwarden.diagnose.causes_identity import admin_curl
from subwarden.diagnose.evidence import Evidence
from subwarden.diagnose.report import Finding
from subwarden.diagnose.words import as_epoch, q, timestamp


def _self_test(ev: Evidence) -> dict[str, Any]:
    report = ev.self_test
    if report is None:
        return {"ran": False}
    failed = report.failed_step
    return {
        "ran": True,
        "ok": report.ok,
        "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail} for s in report.steps],
        "failed_step": failed.name if failed else None,
    }


def _failing_step(ev: Evidence) -> str:
    report = ev.self_test
    if report is None:
        return ""
    failed = report.failed_step
    if failed is None:
        return " The self-test passes now: the failure was transient (flapping network, restart, overload)."
    return f" Self-test: step '{failed.name}' fails" + (f" — {failed.detail}." if failed.detail else ".")


def _env_checks(ev: Evidence) -> list[str]:
    """Secret env vars the store config names, and whether they are set here (never their values)."""
    store = ev.config.identity.store
    names = [store.password_env, store.ldap.bind_password_env, store.http.bearer_token_env]
    return [f"{n} is {'set' if os.environ.get(n) else 'NOT set'} in this environment" for n in names if n]


def _probe_command(url: str) -> str:
    parts = urlsplit(url)
    host, port = parts.hostname or "?", parts.port
    scheme = parts.scheme.lower()
    if scheme.startswith("postgres"):
        return f"pg_isready -h {host} -p {port or 5432}"
    if scheme in {"mysql", "mariadb"}:
        return f"mysqladmin -h {host} -P {port or 3306} ping"
    if scheme.startswith("ldap"):
        return f"ldapsearch -H {scheme}://{host}:{port or (636 if scheme == 'ldaps' else 389)} -x -b '' -s base"
    if scheme.startswith("http"):
        return f"curl -sS -o /dev/null -w '%{{http_code}}' {scheme}://{host}{':' + str(port) if port else ''}/"
    return f"ls -l {parts.path}" if scheme == "sqlite" else "a native client of the store"


def _evidence(ev: Evidence) -> dict[str, Any]:
    return {"store": ev.store_identity, "self_test": _self_test(ev), "error_detail": ev.detail}


def store_unreachable(ev: Evidence) -> list[Finding]:
    store = ev.config.identity.store
    return [Finding(
        "store_unreachable", "The user store cannot be reached",
        f"The gateway could not connect to {ev.store_identity}.{_failing_step(ev)} This is an outage, not a missing "
        "user: the gateway answers 503 and never caches it as 'not found'.",
        [f"From the gateway host: {_probe_command(store.url)} — check host, port, DNS, firewall and TLS (CA file).",
         "Check identity.store.url (or the SUBWARDEN_STORE_URL override) points at this environment's store."],
        _evidence(ev),
    )]


def store_auth_failed(ev: Evidence) -> list[Finding]:
    env = _env_checks(ev)
    return [Finding(
        "store_auth_failed", "The user store rejects the gateway's credentials",
        f"{ev.store_identity} refused the login.{_failing_step(ev)}" + (f" {'; '.join(env)}." if env else ""),
        ["Check the password/bind DN/service token the gateway uses" + (f" ({', '.join(env)})" if env else "")
         + ", that it was not rotated, and that the account may read the users.",
         "Try the same credentials with the store's own client from the gateway host."],
        {**_evidence(ev), "secret_env": env},
    )]


def store_misconfigured(ev: Evidence) -> list[Finding]:
    store = ev.config.identity.store
    mapping = {
        "table": store.table, "id_field": store.id_field, "lookup": store.lookup,
        "status_field": store.status_field, "roles_field": store.roles_field, "query": store.query,
    }
    return [Finding(
        "store_misconfigured", "The store answers, but the lookup's table, field or query is wrong",
        f"{ev.store_identity} rejected the lookup ({ev.error.reason if ev.error else '?'}).{_failing_step(ev)} The "
        "mapping names a table, column or attribute the store does not have — often a schema that differs between "
        "environments.",
        ["Correct identity.store (table, id_field, lookup, status_field, roles_field, query or LDAP attributes) to "
         "the store's real schema, or migrate the schema.",
         "Run `subwarden config check` to re-run the store self-test."],
        {**_evidence(ev), "mapping": mapping},
    )]


def store_timeout(ev: Evidence) -> list[Finding]:
    store = ev.config.identity.store
    took = ev.facts.get("self_test_ms")
    return [Finding(
        "store_timeout", "The user lookup took longer than the store timeout",
        f"The lookup exceeded identity.store.timeout ({store.timeout} s) on {ev.store_identity}; the gateway answers "
        "503 with Retry-After (not 'user not found')."
        + (f" The self-test just took {took} ms." if took is not None else "") + _failing_step(ev),
        ["Check the store's load and latency (slow queries, locks, network), and that the lookup field is indexed.",
         f"Check pool saturation (identity.store.pool_size = {store.pool_size}) under load.",
         f"Raise identity.store.timeout (now {store.timeout} s) only if the store is slow by nature."],
        {**_evidence(ev), "timeout_s": store.timeout, "self_test_ms": took},
    )]


def store_circuit_open(ev: Evidence) -> list[Finding]:
    store = ev.config.identity.store
    return [Finding(
        "store_circuit_open", "The store's circuit breaker is open",
        f"After {store.breaker_failures} consecutive store failures the gateway fails fast for "
        f"{store.breaker_reset} s, then probes again.{_failing_step(ev)}",
        ["Fix the underlying store failure (see the self-test); the breaker closes after a successful probe."],
        {**_evidence(ev), "breaker_failures": store.breaker_failures, "breaker_reset_s": store.breaker_reset},
    )]


_VERBS = {"user_disabled": "disabled", "user_locked": "locked", "user_deleted": "deleted"}


def user_inactive(ev: Evidence) -> list[Finding]:
    code = ev.code or "user_disabled"
    status = _VERBS.get(code, "inactive")
    user = ev.user
    user_id = user.user_id if user else ev.detail.get("user_id")
    since = (user.status_since if user else None) or ev.detail.get("status_since")
    iat = as_epoch((ev.claims or {}).get("iat"))
    text = f"User {q(user_id)} exists but is {status}" + (f" since {since}" if since else "") + "."
    text += _issued_note(iat, parse_time(since))
    iss = (ev.claims or {}).get("iss")
    fix = [f"If intended: revoke the user's tokens so they are refused before any lookup: "
           f"{admin_curl(ev, '/admin/revocations', {'user_id': user_id, 'issuer': iss, 'before': int(ev.now)})}",
           "Also block the account at the IdP so it stops issuing tokens for it."]
    if code == "user_locked":
        fix.append("To unlock: OpenLDAP — delete pwdAccountLockedTime; AD — set lockoutTime to 0; SQL — set the status "
                   "to an active value; then invalidate the cache entry.")
    elif code == "user_disabled":
        fix.append(f"To re-enable: set {ev.config.identity.store.status_field or 'the status'} to an active value "
                   f"({', '.join(ev.config.identity.store.status_values.active)}) and invalidate the cache entry.")
    evidence = {"user_id": user_id, "status": status, "status_since": since,
                "token_iat": timestamp(iat) if iat is not None else None}
    return [Finding(code, f"The user account is {status}", text, fix, evidence)]


def parse_time(value: Any) -> float | None:
    """A store's status-since value (ISO 8601 text, datetime or epoch number) as epoch seconds."""
    from datetime import UTC, datetime

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def _issued_note(iat: float | None, since: float | None) -> str:
    if iat is None:
        return ""
    if since is not None and since <= iat:
        return (f" The token was issued at {timestamp(iat)}, after the change: the IdP still issues tokens for this "
                "account, so the IdP and the store disagree about it.")
    return (f" The token was issued at {timestamp(iat)}" + (" before the change" if since is not None else "")
            + ": tokens issued earlier keep circulating until they expire.")


def token_revoked(ev: Evidence) -> list[Finding]:
    return [Finding(
        "token_revoked", "The token is revoked",
        f"{ev.error.reason if ev.error else 'Revoked'}: its jti, or every token of the user issued before a "
        "cut-off, is on the revocation list.",
        ["The client must sign in again to get a new token; remove the revocation only if it was a mistake."],
        {"detail": ev.detail, "jti": (ev.claims or {}).get("jti")},
    )]


def insufficient_role(ev: Evidence) -> list[Finding]:
    required = ev.detail.get("required")
    held = ev.detail.get("held")
    return [Finding(
        "insufficient_role", "The user lacks a role, scope or group the route requires",
        f"Required {q(required)}, held {q(held)}" + (f" (user {q(ev.user.user_id)})" if ev.user else "") + ".",
        ["Grant the role in the store or at the IdP (role claim), or change the route's auth policy."],
        {"required": required, "held": held},
    )]


def route_not_found(ev: Evidence) -> list[Finding]:
    routes = [
        f"{r.name}: host {r.match.host or '*'} prefix {r.match.path_prefix} methods {','.join(r.match.methods) or '*'}"
        for r in ev.config.routes
    ]
    asked = f"{ev.detail.get('method', '')} {ev.detail.get('host', '') or '(any host)'} {ev.detail.get('path', '')}"
    return [Finding(
        "route_not_found", "No route matches the request",
        f"{asked}: the routes are {'; '.join(routes)}.",
        ["Pass --route with a path under one of the routes (and --host if routes are host-bound), or add a route."],
        {"routes": routes},
    )]


def allowed(ev: Evidence) -> list[Finding]:
    user = ev.user
    roles = ", ".join(user.roles) if user else ""
    who = f"user {q(user.user_id)} ({user.status.value}, roles {roles or 'none'})" if user else "anonymous"
    return [Finding("allowed", "The request would be allowed",
                    f"Every stage passed; it would be forwarded as {who}.", [], {}, severity="info")]


def internal_error(ev: Evidence) -> list[Finding]:
    return [Finding(
        "internal_error", "An unexpected error inside the gateway",
        f"A stage raised {ev.detail.get('exception', 'an exception')} instead of a catalogued error: a bug.",
        ["Report it with the diagnose --json output (it contains no token)."], {"detail": ev.detail},
    )]


def unexplained(ev: Evidence) -> list[Finding]:
    err = ev.error
    return [Finding("unexplained", err.title if err else "Unexplained failure",
                    f"{err.reason if err else ''}. {err.hint if err else ''}", [], {"code": ev.code}, severity="cause")]



def stale_positive_cache(ev: Evidence) -> list[Finding]:
    """A user served from the cache whom the store now has deleted, deactivated or changed."""
    cached, now = ev.user, ev.user_now
    if cached is None or now is None or (len(now) == 1 and now[0].status == cached.status):
        return []
    state = "no longer exists" if not now else f"is now {now[0].status.value}" if len(now) == 1 else "is ambiguous"
    age = ev.cache.age if ev.cache else None
    ttl = ev.config.identity.cache.positive_ttl
    revoke = {"user_id": cached.user_id, "issuer": (ev.claims or {}).get("iss"), "before": int(ev.now)}
    return [Finding(
        "stale_positive_cache", f"The cached user {state} in the store",
        f"User {q(cached.user_id)} was served from the cache ({cached.status.value}, cached "
        f"{_age(age)} ago; positive_ttl {ttl:g} s), but the store says the user {state}. Until the entry expires "
        "the gateway keeps letting this user's tokens through.",
        [f"Invalidate now: {admin_curl(ev, '/admin/cache/invalidate', {'user_id': cached.user_id})}",
         f"Revoke the user's tokens: {admin_curl(ev, '/admin/revocations', revoke)}",
         "Keep identity.cache.positive_ttl short where deactivations must bite quickly."],
        {"user_id": cached.user_id, "cached_status": cached.status.value,
         "store_now": [u.status.value for u in now], "cache_age_s": age},
        severity="warning",
    )]


def _age(age: float | None) -> str:
    from subwarden.diagnose.words import duration

    return duration(age) if age is not None else "?"
