"""Causes of token failures: format, issuer, keys, algorithm, signature, audience, claims."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from subwarden.diagnose.evidence import Evidence
from subwarden.diagnose.report import Finding
from subwarden.diagnose.words import granted_scopes, q, scope_hint, timestamp


def pick(ev: Evidence, *names: str) -> Any:
    """The first of ``names`` found in the error's detail, then in the stage facts."""
    for source in (ev.detail, ev.facts):
        for name in names:
            if source.get(name) not in (None, "", []):
                return source[name]
    return None


def claim(ev: Evidence, name: str) -> Any:
    return ev.claims.get(name) if ev.claims else None


def token_missing(ev: Evidence) -> list[Finding]:
    return [Finding(
        "token_missing", "No token was given",
        "The request carried no bearer token, so nothing could be verified.",
        ["Pass the token with --token TOKEN, --token @file or --token - (stdin)."],
    )]


_SHAPES = {
    "opaque": (
        "The token is opaque, not a JWT",
        "It has no dots, so it is a reference token the gateway cannot verify locally. Many IdPs issue "
        "opaque access tokens unless the client names an API (audience/resource).",
        ["Request a JWT access token: Auth0 — pass `audience=<your API identifier>`; Okta — use a custom "
         "authorization server; Entra ID — request a scope of your API (`api://<app-id>/.default`); Keycloak "
         "access tokens are JWTs by default."],
    ),
    "jwe": (
        "The token is encrypted (JWE), not a signed JWT",
        "It has five dot-separated parts: an encrypted token. The gateway verifies signed tokens (JWS) only.",
        ["Turn off access-token encryption for this client at the IdP, or decrypt before the gateway."],
    ),
}


def token_not_jws(ev: Evidence) -> list[Finding]:
    code = ev.code or "token_malformed"
    if ev.token_shape in _SHAPES:
        title, text, fix = _SHAPES[ev.token_shape]
        return [Finding("token_not_jws", title, text, fix, {"code": code, "shape": ev.token_shape})]
    if code == "token_too_large":
        limit = ev.config.tokens.max_bytes
        return [Finding(
            "token_not_jws", "The token is larger than the gateway accepts",
            f"tokens.max_bytes is {limit}; large tokens usually carry many groups or roles.",
            [f"Raise tokens.max_bytes (now {limit}) or make the IdP emit fewer claims (e.g. group overage)."],
            {"code": code, "max_bytes": limit},
        )]
    reason = ev.error.reason if ev.error else ""
    hint = ev.error.hint if ev.error else ""
    return [Finding(
        "token_not_jws", "The token is not a well-formed signed JWT",
        f"{reason}. {hint}",
        ["Send the token exactly as the IdP issued it: no quotes, no line breaks, no 'Bearer ' inside the value, "
         "no re-encoding (base64url without padding)."],
        {"code": code, "reason": reason},
    )]


def token_rejected(ev: Evidence) -> list[Finding]:
    reason = ev.error.reason if ev.error else ""
    return [Finding(
        "token_rejected", "The request's Authorization is not usable",
        f"{reason}. {ev.error.hint if ev.error else ''}",
        ["Send exactly one 'Authorization: Bearer <token>' header (and a matching cookie, if one is configured)."],
        {"code": ev.code},
    )]


def _issuer_variants(value: str) -> str:
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port or ''}{parts.path.rstrip('/')}"


def issuer_unknown(ev: Evidence) -> list[Finding]:
    iss = claim(ev, "iss")
    configured = [i.issuer for i in ev.config.issuers]
    evidence = {"iss": iss, "configured": configured}
    if iss is None:
        return [Finding(
            "issuer_unknown", "The token has no iss claim",
            f"Without iss the gateway cannot pick an issuer; configured issuers: {', '.join(configured)}.",
            ["Make the IdP include iss (every OpenID Connect token has it); a token without it is probably not "
             "from your IdP."],
            evidence,
        )]
    near = [c for c in configured if isinstance(iss, str) and _issuer_variants(c) == _issuer_variants(iss)]
    if near:
        index = configured.index(near[0])
        return [Finding(
            "issuer_unknown", "The token's issuer differs from the configured one only in spelling",
            f"iss is {q(iss)} but issuers[{index}].issuer is {q(near[0])}: issuers are compared exactly "
            "(scheme, case, trailing slash).",
            [f"Set issuers[{index}].issuer to exactly {q(iss)} (copy it from the 'issuer' of the IdP's discovery "
             "document)."],
            {**evidence, "near_match": near[0]},
        )]
    return [Finding(
        "issuer_unknown", "The token comes from an issuer this gateway does not trust",
        f"iss is {q(iss)}; the configured issuers are {', '.join(q(c) for c in configured)}. Either the client got "
        "its token from another IdP, realm or tenant (often another environment's), or this issuer is missing.",
        ["Get the token from this environment's IdP (check the client's authority/realm/tenant URL).",
         f"If this gateway should accept it, add an entry to issuers with issuer: {q(iss)} and its key source.",
         "Run diagnose with --compare-config OTHER.yaml to check whether the token belongs to another environment."],
        evidence,
    )]


def algorithm_not_allowed(ev: Evidence) -> list[Finding]:
    alg = (ev.header or {}).get("alg")
    allowed = list(ev.issuer.algorithms) if ev.issuer else []
    evidence = {"alg": alg, "allowed": allowed, "issuer": claim(ev, "iss")}
    if not alg or str(alg).lower() == "none":
        text, fix = ("The token is unsigned (alg none); it is refused by design.",
                     ["Do not accept unsigned tokens; find out who produced this token."])
    elif str(alg).startswith("HS") and allowed and not allowed[0].startswith("HS"):
        text = (f"The token is HMAC-signed ({alg}) but the issuer uses public keys ({', '.join(allowed)}): a "
                "misconfigured client or an algorithm-confusion attack.")
        fix = ["Never add HS* to a public-key issuer. Check which system minted this token."]
    else:
        text = (f"The token is signed with {alg}, but {ev.issuer_path}.algorithms allows only "
                f"{', '.join(allowed) or 'nothing'}.")
        fix = [f"If the IdP legitimately signs with {alg} (Keycloak: realm 'Default signature algorithm'; Auth0: "
               f"'JsonWebToken Signature Algorithm'), add {alg} to {ev.issuer_path}.algorithms.",
               f"Otherwise set the IdP back to {', '.join(allowed)}."]
    return [Finding("algorithm_not_allowed", f"Algorithm {alg} is not allowed for this issuer", text, fix, evidence)]


def _key_sources(ev: Evidence) -> list[str]:
    if ev.issuer is None:
        return []
    keys = ev.issuer.keys
    sources = [f"file:{f}" for f in keys.files]
    if keys.jwks_uri:
        sources.append(f"jwks:{keys.jwks_uri}")
    if keys.discovery:
        sources.append(f"discovery:{ev.issuer.issuer.rstrip('/')}/.well-known/openid-configuration")
    if keys.secret_env:
        sources.append(f"env:{keys.secret_env}")
    return sources


def key_unknown_kid(ev: Evidence) -> list[Finding]:
    kid = (ev.header or {}).get("kid")
    known = pick(ev, "known_kids", "kids", "available_kids")
    fetched = pick(ev, "jwks_fetched_at", "fetched_at", "keys_fetched_at")
    sources = _key_sources(ev)
    files_only = ev.issuer is not None and not (ev.issuer.keys.jwks_uri or ev.issuer.keys.discovery)
    known_text = ", ".join(map(str, known or [])) or "unknown"
    text = (f"The token's kid {q(kid)} is not among the issuer's keys ({known_text}), "
            f"even after refetching. Keys from: {', '.join(sources) or '?'}"
            + (f"; last fetched {fetched if isinstance(fetched, str) else timestamp(fetched)}." if fetched else "."))
    fix = []
    if files_only:
        fix.append("The keys come from static files: the IdP has rotated its signing key. Replace the files with the "
                   "IdP's current JWKS, or use keys.jwks_uri / keys.discovery so rotation is picked up automatically.")
    else:
        fix.append("Compare the kid with the JWKS the gateway fetches (curl the jwks_uri): if it is absent there, the "
                   "token was signed by another IdP instance or environment that uses the same issuer URL.")
        cooldown = ev.issuer.keys.refetch_cooldown if ev.issuer else "?"
        fix.append(f"If the IdP just rotated, the refetch cooldown ({cooldown} s) may have delayed the refetch; "
                   "retry after it.")
    return [Finding("key_unknown_kid", f"No key with kid {q(kid)}", text, fix,
                    {"kid": kid, "known_kids": known, "key_sources": sources, "fetched_at": fetched})]


def jwks_unavailable(ev: Evidence) -> list[Finding]:
    url = pick(ev, "jwks_url", "url", "jwks_uri", "discovery_url") or _remote_url(ev)
    error = pick(ev, "error", "fetch_error", "exception")
    sources = _key_sources(ev)
    timeout = ev.issuer.keys.fetch_timeout if ev.issuer else None
    return [Finding(
        "jwks_unavailable", "The issuer's signing keys could not be fetched",
        f"Fetching {url or ', '.join(sources)} failed ({error or 'see the record'}) and no cached key is usable; the "
        "gateway answers 503 (an outage, not a bad token).",
        [f"From the gateway host: curl -sS {url or '<jwks_uri>'} — check DNS, firewall/proxy, TLS CA and that the "
         "IdP is up.",
         f"With discovery, the document must list jwks_uri; fetch_timeout is {timeout} s."],
        {"url": url, "error": error, "key_sources": sources},
    )]


def _remote_url(ev: Evidence) -> str | None:
    if ev.issuer is None:
        return None
    if ev.issuer.keys.jwks_uri:
        return ev.issuer.keys.jwks_uri
    return f"{ev.issuer.issuer.rstrip('/')}/.well-known/openid-configuration" if ev.issuer.keys.discovery else None


def signature_invalid(ev: Evidence) -> list[Finding]:
    kid = (ev.header or {}).get("kid")
    source = pick(ev, "key_source") or ", ".join(_key_sources(ev))
    named = f"The token names kid {q(kid)} and the gateway has a key for it" if kid else (
        "The token names no kid and the gateway tried the issuer's key(s)")
    return [Finding(
        "signature_invalid", "The signature does not verify with the issuer's key",
        f"{named} ({source}), but the signature does not match: it was signed by a different key — typically "
        "another environment's IdP with the same issuer URL, a regenerated realm key behind stale key files — or "
        "the token was altered.",
        ["Check the key source is the IdP instance that minted this token (compare the JWKS of both environments).",
         "If keys come from files, refresh them from the IdP's current JWKS.",
         "Run diagnose with --compare-config OTHER.yaml to test the other environment's keys."],
        {"kid": kid, "key_source": source},
    )]


def audience_mismatch(ev: Evidence) -> list[Finding]:
    aud = claim(ev, "aud")
    expected = list(ev.issuer.audiences) if ev.issuer else []
    return [Finding(
        "audience_mismatch", "The token was issued for another audience",
        f"aud is {q(aud)}; {ev.issuer_path}.audiences accepts {', '.join(q(a) for a in expected)}.",
        ["Have the client request a token for this API: Auth0 `audience=`, Keycloak an audience mapper or client "
         "scope, Entra ID `scope=api://<app-id>/.default`.",
         f"If the token really is for this API, add {q(aud)} to {ev.issuer_path}.audiences."],
        {"aud": aud, "expected": expected, "azp": claim(ev, "azp")},
    )]


def claim_missing(ev: Evidence) -> list[Finding]:
    missing = pick(ev, "claim", "missing", "name") or "?"
    hint = scope_hint(str(missing), ev.claims)
    return [Finding(
        "claim_missing", f"The token lacks the required claim {q(missing)}",
        f"{ev.issuer_path}.required_claims lists {q(missing)}; the token has {', '.join(ev.claim_names)}. {hint}",
        [f"Request the scope that carries {q(missing)} when the client asks for tokens, or add a mapper at the IdP "
         "that puts it into access tokens (Keycloak: 'Add to access token'; Auth0: an Action; Entra ID: optional "
         "claims).",
         f"If the claim is not really needed, remove it from {ev.issuer_path}.required_claims."],
        {"claim": missing, "claims_present": ev.claim_names, "granted_scopes": granted_scopes(ev.claims)},
    )]


def claim_type_invalid(ev: Evidence) -> list[Finding]:
    name = pick(ev, "claim", "name")
    value = claim(ev, str(name)) if name else None
    return [Finding(
        "claim_type_invalid", f"Claim {q(name)} has the wrong JSON type",
        f"{q(name)} is {type(value).__name__} {q(value)}; registered time claims must be JSON numbers (seconds "
        "since the epoch).",
        ["Fix the IdP's claim mapper so it emits a number (not a string or boolean)."],
        {"claim": name, "type": type(value).__name__},
    )]


def claim_rule_failed(ev: Evidence) -> list[Finding]:
    rule = pick(ev, "rule", "claim_rule")
    name = pick(ev, "claim", "name")
    return [Finding(
        "claim_rule_failed", "A configured claim rule did not hold",
        f"Rule {q(rule)} on claim {q(name)} failed; the token has {q(claim(ev, str(name)) if name else None)}.",
        [f"Check {ev.issuer_path}.claim_rules against what the IdP emits, or fix the IdP mapper."],
        {"rule": rule, "claim": name},
    )]
