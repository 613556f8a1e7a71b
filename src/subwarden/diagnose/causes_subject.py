"""Causes of subject failures: missing, malformed or ambiguous subject; a user found only by a fallback rule."""

from __future__ import annotations

from subwarden.diagnose.causes_identity import _norm, _tried, other_claim
from subwarden.diagnose.evidence import Evidence
from subwarden.diagnose.report import Finding
from subwarden.diagnose.words import CLAIM_SCOPES, granted_scopes, q, scope_hint


def subject_missing(ev: Evidence) -> list[Finding]:
    expected = [r.claim for r in ev.issuer.mapping] if ev.issuer else ["sub"]
    claims = ev.claims or {}
    state = {c: ("empty" if c in claims else "absent") for c in expected}
    findings = [Finding(
        "subject_missing", "The token carries no usable subject",
        f"The mapping expects {', '.join(f'{c} ({s})' for c, s in state.items())}; the token has: "
        f"{', '.join(ev.claim_names) or 'no claims'}. " + " ".join(scope_hint(c, claims) for c in expected),
        [f"Request the scope that carries {expected[0]} (usually {_scopes_for(expected)}), and make sure the IdP "
         "user's profile has the attribute mapped to it (an empty email gives an empty claim).",
         f"Or map a claim the token does carry in {ev.issuer_path}.mapping."],
        {"expected": state, "claims_present": ev.claim_names, "granted_scopes": granted_scopes(claims)},
    )]
    findings += [other_claim(ev, m) for m in ev.matches_of("other_claim")]
    return findings


def _scopes_for(claims: list[str]) -> str:
    scopes = {CLAIM_SCOPES.get(c, "a custom scope").split(" ", 1)[0] for c in claims}
    return " ".join(sorted(scopes | {"openid"}))


_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}


def subject_malformed(ev: Evidence) -> list[Finding]:
    claim = ev.detail.get("claim") or (ev.issuer.mapping[0].claim if ev.issuer else "sub")
    value = (ev.claims or {}).get(str(claim))
    shape = ev.issuer.subject_shape if ev.issuer else None
    if not isinstance(value, str):
        text = f"{claim} is {_JSON_TYPES.get(type(value), type(value).__name__)} ({q(value)}), not a string"
        fix = [f"Make the IdP emit {claim} as a JSON string (a mapper that converts the attribute to text)."]
    else:
        pattern = f" {q(shape.pattern)}" if shape and shape.pattern else ""
        text = f"{claim} is {q(value)}: {ev.error.reason if ev.error else 'wrong shape'}"
        if shape is not None:
            text += f" ({ev.issuer_path}.subject_shape: {shape.kind}{pattern}, max_length {shape.max_length})"
        fix = [f"Make the IdP emit {claim} in the expected shape, or adjust {ev.issuer_path}.subject_shape."]
        if value != value.strip():
            text += ". It has surrounding whitespace"
            fix.insert(0, f"Enable {ev.issuer_path}.normalization.trim: true (or fix the IdP mapper).")
    return [Finding("subject_malformed", f"The subject claim {claim} is malformed", text + ".", fix,
                    {"claim": claim, "type": type(value).__name__, "shape": shape.kind if shape else None})]


def subject_ambiguous(ev: Evidence) -> list[Finding]:
    users = ev.detail.get("user_ids") or ev.detail.get("users") or []
    norm = _norm(ev)
    text = f"Several users match {_tried(ev.lookups)}: {', '.join(map(q, users)) or 'see the record'}."
    fix = ["Make the lookup field unique in the store (remove duplicates)."]
    if norm is not None and norm.casefold:
        text += " Case-folding is on, so users differing only by case collide."
        fix.insert(0, f"Turn off {ev.issuer_path}.normalization.casefold, or merge the users that differ only by case.")
    return [Finding("subject_ambiguous", "More than one user matches the subject", text, fix, {"users": users})]


def mapping_fallback(ev: Evidence) -> list[Finding]:
    if not ev.mapping_fallback:
        return []
    first = ev.issuer.mapping[0] if ev.issuer else None
    return [Finding(
        "mapping_fallback", "The user was found only through a fallback mapping rule",
        f"Resolved via {ev.mapping_rule}, not the first rule"
        + (f" ({first.claim}→{first.attribute})" if first else "")
        + ": what the IdP sends in the first claim no longer matches the store — a drift signal.",
        ["Check what changed at the IdP or in the store for the first rule's claim."],
        {"mapping_rule": ev.mapping_rule}, severity="warning",
    )]
