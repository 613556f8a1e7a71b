"""Causes of user_not_found: each near miss the read-only searches found, or a plain absent user."""

from __future__ import annotations

import json
import re
from typing import Any

from subwarden.diagnose.evidence import Evidence, Lookup, Match
from subwarden.diagnose.report import Finding
from subwarden.diagnose.words import duration, q
from subwarden.identity.stores.base import UserRecord, UserStatus


def admin_curl(ev: Evidence, path: str, body: dict[str, Any]) -> str:
    """The admin API call an operator can paste (token from the configured env var, never inline)."""
    data = json.dumps(body, ensure_ascii=False)
    auth = f'-H "Authorization: Bearer ${ev.config.admin.token_env}"'
    return f"curl -X POST {auth} -H 'Content-Type: application/json' -d '{data}' {ev.admin_base}{path}"


def _user(user: UserRecord) -> str:
    text = q(user.user_id)
    if user.status is not UserStatus.active:
        since = f" since {user.status_since}" if user.status_since else ""
        text += f" (but that user is {user.status.value}{since})"
    return text


def _mapping_yaml(ev: Evidence, claim: str, attribute: str, *, first: bool = True) -> str:
    rules = [{"claim": claim, "attribute": attribute}]
    if ev.issuer is not None:
        existing = [
            {"claim": r.claim, "attribute": r.attribute}
            for r in ev.issuer.mapping
            if (r.claim, r.attribute) != (claim, attribute)
        ]
        rules = rules + existing if first else existing + rules
    text = ", ".join(f"{{claim: {r['claim']}, attribute: {r['attribute']}}}" for r in rules)
    return f"{ev.issuer_path}.mapping: [{text}]"


def _evidence(match: Match) -> dict[str, Any]:
    return {
        "searched": {"claim": match.lookup.claim, "attribute": match.lookup.attribute, "key": match.lookup.key},
        "found": {"attribute": match.attribute, "stored_value": match.value, "user_id": match.user.user_id,
                  "status": match.user.status.value, "status_since": match.user.status_since},
        **({"claim": match.claim} if match.claim else {}),
        **({"setting": match.setting} if match.setting else {}),
    }


def _norm(ev: Evidence) -> Any:
    return ev.issuer.normalization if ev.issuer else None


def case_mismatch(ev: Evidence, m: Match) -> Finding:
    lk = m.lookup
    text = (f"The {lk.claim} {q(lk.key)} matches user {_user(m.user)}, stored as {q(m.value)} under {m.attribute}, "
            "only when case is ignored. The gateway compares exactly by default.")
    fix = [f"Make the IdP emit the stored form {q(m.value)}, or correct the stored value to {q(lk.key)}.",
           f"Or compare case-insensitively: {ev.issuer_path}.normalization.casefold: true — only if no two users "
           "differ by case alone (the gateway refuses such a subject as subject_ambiguous)."]
    title = "The subject matches a user only when case is ignored"
    return Finding("subject_case_mismatch", title, text, fix, _evidence(m))


def whitespace(ev: Evidence, m: Match, *, with_case: bool = False) -> Finding:
    lk = m.lookup
    cause_id = "subject_case_and_whitespace" if with_case else "subject_whitespace"
    what = "ignoring case and surrounding whitespace" if with_case else "after trimming surrounding whitespace"
    text = (f"The {lk.claim} {q(lk.key)} matches user {_user(m.user)}, stored as {q(m.value)} under {m.attribute}, "
            f"only {what}.")
    key_has_space = lk.key != lk.key.strip()
    settings = ["trim: true"] + (["casefold: true"] if with_case else [])
    if key_has_space:
        fix = [f"Fix the IdP's mapper so {lk.claim} has no surrounding whitespace, or set "
               f"{ev.issuer_path}.normalization: {{{', '.join(settings)}}}."]
    else:
        fix = [f"The stored value carries the whitespace: correct it in the store to {q(m.value.strip())} "
               "(normalization cannot fix stored data)."]
        if with_case:
            fix.append(f"Case also differs: {ev.issuer_path}.normalization.casefold: true, or align the case.")
    return Finding(cause_id, f"The subject matches a user only {what}", text, fix, _evidence(m))


def unicode_form(ev: Evidence, m: Match) -> Finding:
    lk = m.lookup
    return Finding(
        "subject_unicode_form", "The subject matches a user only in another Unicode normalization form",
        f"{q(lk.key)} and the stored {q(m.value)} (user {_user(m.user)}) look identical but are encoded differently "
        f"({m.setting}): one uses precomposed characters, the other combining marks.",
        ["Normalize ids to NFC in both the IdP and the store (e.g. when users are provisioned)."],
        _evidence(m),
    )


def prefix(ev: Evidence, m: Match) -> Finding:
    lk = m.lookup
    return Finding(
        "subject_prefix", "The subject matches a user once its provider prefix is removed",
        f"{q(lk.key)} matches user {_user(m.user)} after removing the prefix {q(m.setting)}: the IdP prefixes ids with "
        "the connection or provider name.",
        [f"Set {ev.issuer_path}.normalization.strip_prefix: {q(m.setting)}.",
         "Or store the prefixed ids, or map another claim that carries the bare id."],
        _evidence(m),
    )


def other_attribute(ev: Evidence, m: Match) -> Finding:
    lk = m.lookup
    return Finding(
        "subject_other_attribute", f"The subject is stored under {m.attribute}, not {lk.attribute}",
        f"The {lk.claim} {q(lk.key)} is the {m.attribute} of user {_user(m.user)}, but the mapping looks it up as "
        f"{lk.attribute}. The IdP and the store disagree on what the subject is (e.g. the IdP now sends an email or "
        "UUID in sub while the store keys users by another id).",
        [f"Look it up under {m.attribute}: {_mapping_yaml(ev, lk.claim, m.attribute)}",
         f"Or make the IdP put the user's {lk.attribute} into {lk.claim}."],
        _evidence(m),
    )


def other_claim(ev: Evidence, m: Match) -> Finding:
    lk = m.lookup
    found = f"the token's {m.claim} {q(m.value)} is the {m.attribute} of user {_user(m.user)}"
    fix = [f"Map that claim: {_mapping_yaml(ev, str(m.claim), m.attribute)} (or append it as a fallback rule)."]
    if ev.code == "subject_missing":
        text = f"The token carries no usable subject claim, but {found}."
    else:
        text = f"The mapping uses {lk.claim} ({q(lk.key)}), which matches no user, but {found}."
        fix.append(f"Or make the IdP emit the store's {lk.attribute} in {lk.claim}.")
    return Finding("other_claim_matches", f"Claim {m.claim} of the token identifies the user", text, fix, _evidence(m))


def excluded_by_filter(ev: Evidence, m: Match) -> Finding:
    store = ev.config.identity.store
    where = "identity.store.query" if store.query else "identity.store.ldap.object_filter"
    user = m.user
    state = "exists" if user.status is UserStatus.active else f"exists but is {user.status.value}"
    since = f" since {user.status_since}" if user.status_since and user.status is not UserStatus.active else ""
    return Finding(
        "user_excluded_by_store_filter", f"The user {state}{since}, and the lookup's filter hides it",
        f"User {q(user.user_id)} has {m.attribute} = {q(m.value)} exactly and status {user.status.value}{since}, yet "
        f"the serving lookup does not return it: {where} filters it out, so the gateway says user_not_found instead "
        f"of user_{user.status.value if user.status is not UserStatus.active else 'found'}.",
        [f"Let {where} return deactivated users and classify them with status_field (the gateway then answers "
         "user_disabled / user_locked / user_deleted, 403), instead of filtering them out.",
         "If the account was deactivated on purpose, the refusal is right: revoke the user's tokens and block it "
         "at the IdP."],
        {**_evidence(m), "filter": where},
    )


def stale_cache(ev: Evidence, m: Match) -> Finding:
    cache = ev.cache
    age = cache.age if cache and cache.age is not None else None
    ttl = ev.config.identity.cache.negative_ttl
    iss = (ev.claims or {}).get("iss")
    text = (f"User {_user(m.user)} exists now (a direct lookup of {q(m.lookup.key)} finds it), but the gateway "
            f"answered from a cached 'not found' (negative-hit, age {duration(age) if age is not None else '?'}; "
            f"negative_ttl {duration(ttl)}). The user was probably created after the first failed request.")
    curl = admin_curl(ev, "/admin/cache/invalidate", {"subject": m.lookup.key, "issuer": iss})
    fix = [f"Invalidate the entry: {curl}"]
    if age is not None:
        fix.append(f"Or wait: it expires in {duration(max(ttl - age, 0))}.")
    fix.append("Keep identity.cache.negative_ttl short so newly provisioned users are seen quickly.")
    state = cache.state if cache else None
    evidence = {**_evidence(m), "cache_state": state, "cache_age_s": age, "negative_ttl_s": ttl}
    return Finding("stale_negative_cache", "A stale negative cache entry hides an existing user", text, fix, evidence)


_BUILDERS = {
    "casefold": case_mismatch,
    "trimmed": whitespace,
    "unicode_nfc": unicode_form,
    "unicode_nfd": unicode_form,
    "strip_prefix": prefix,
    "other_attribute": other_attribute,
    "other_claim": other_claim,
}


def _match_finding(ev: Evidence, m: Match) -> Finding | None:
    if m.kind == "exact":
        return stale_cache(ev, m)
    if m.kind == "unfiltered":
        return excluded_by_filter(ev, m)
    same_place = m.value == m.lookup.key and m.attribute == m.lookup.attribute
    if m.kind in {"casefold", "trimmed", "casefold_trimmed"} and same_place:
        return excluded_by_filter(ev, m)
    if m.kind == "casefold_trimmed":
        return whitespace(ev, m, with_case=True)
    builder = _BUILDERS.get(m.kind)
    return builder(ev, m) if builder else None


_ORDER = ("exact", "unfiltered", "casefold", "trimmed", "casefold_trimmed", "unicode_nfc", "unicode_nfd",
          "strip_prefix", "other_attribute", "other_claim")


def user_not_found(ev: Evidence) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, str, str, str] | None] = set()
    for m in sorted(ev.matches, key=lambda m: _ORDER.index(m.kind) if m.kind in _ORDER else len(_ORDER)):
        finding = _match_finding(ev, m)
        key = (finding.id, m.user.user_id, m.claim or "", m.attribute) if finding is not None else None
        if finding is not None and key not in seen:
            seen.add(key)
            findings.append(finding)
    return findings or [user_absent(ev)]


def _tried(lookups: list[Lookup]) -> str:
    return "; ".join(f"{lk.claim}→{lk.attribute} = {q(lk.key)}" for lk in lookups) or "nothing"


def _lookup_json(lk: Lookup) -> dict[str, Any]:
    return {"claim": lk.claim, "attribute": lk.attribute, "key": lk.key, "query": lk.query}


def user_absent(ev: Evidence) -> Finding:
    checked = ["case", "whitespace", "Unicode form", "provider prefix", "other store attributes",
               "other identity claims of the token"]
    text = (f"No user in {ev.store_identity or 'the store'} has {_tried(ev.lookups)}, and no near miss was found "
            f"({', '.join(checked)}).")
    if ev.investigation_errors:
        text += f" Some searches could not run: {', '.join(ev.investigation_errors)}."
    text += _shape_hint(ev.lookups[0]) if ev.lookups else ""
    return Finding(
        "user_absent", "No such user in this store",
        text,
        ["Provision the user in this store (or check the IdP account is meant to have access here).",
         "Check the store is the right one for this environment: run diagnose with --compare-config OTHER.yaml "
         "against the config of an environment where the user works."],
        {"lookups": [_lookup_json(lk) for lk in ev.lookups], "store": ev.store_identity},
    )


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _shape_hint(lk: Lookup) -> str:
    """What the key's shape suggests when nothing matches at all."""
    if _UUID.fullmatch(lk.key):
        return (f" The {lk.claim} is a UUID: IdPs such as Keycloak, Entra ID or Okta put their internal user id in "
                "sub; if the store keys users by email or username, map email or preferred_username instead "
                "(requested with the email / profile scopes).")
    if "@" in lk.key and lk.attribute not in {"email", "mail", "upn"}:
        return f" The {lk.claim} looks like an email address but is looked up as {lk.attribute}."
    return ""
