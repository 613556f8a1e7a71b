"""Causes of time failures: how far outside the validity window, and whether clock skew explains it."""

from __future__ import annotations

from subwarden.diagnose.evidence import Evidence
from subwarden.diagnose.report import Finding
from subwarden.diagnose.words import as_epoch, duration, timestamp

#: Misses smaller than this look like clock skew rather than a stale token.
SKEW_SUSPECT = 300.0
_TIME_CODES = frozenset({"token_expired", "token_not_yet_valid", "token_iat_invalid"})


def _window(ev: Evidence) -> dict[str, object]:
    claims = ev.claims or {}
    return {
        "now": timestamp(ev.now),
        "exp": timestamp(as_epoch(claims.get("exp"))) if "exp" in claims else None,
        "nbf": timestamp(as_epoch(claims.get("nbf"))) if "nbf" in claims else None,
        "iat": timestamp(as_epoch(claims.get("iat"))) if "iat" in claims else None,
        "leeway_s": _leeway(ev),
    }


def _leeway(ev: Evidence) -> float:
    return ev.issuer.leeway if ev.issuer else 0.0


def _at_note(ev: Evidence) -> str:
    return ", set by --at" if ev.facts.get("clock") == "frozen" else ""


def token_expired(ev: Evidence) -> list[Finding]:
    exp = as_epoch((ev.claims or {}).get("exp"))
    if exp is None:
        return []
    late = ev.now - exp
    iat = as_epoch((ev.claims or {}).get("iat"))
    lifetime = f" Its lifetime was {duration(exp - iat)} (iat → exp)." if iat is not None and exp > iat else ""
    text = (f"The token expired {duration(late)} ago (exp {timestamp(exp)}, now {timestamp(ev.now)}{_at_note(ev)}); "
            f"the leeway of {duration(_leeway(ev))} does not cover it.{lifetime}")
    fix = ["The client must refresh its token before exp (refresh_token grant or silent renew) instead of reusing it."]
    if late - _leeway(ev) < SKEW_SUSPECT:
        text += (f" It is only {duration(late - _leeway(ev))} beyond the leeway: if the client believes it fresh, the "
                 "gateway's clock may be ahead of the IdP's.")
        fix.append("Compare `date -u` on the gateway and IdP hosts and check NTP (chronyc tracking / timedatectl).")
    return [Finding("token_expired", f"Expired {duration(late)} ago", text, fix,
                    {**_window(ev), "seconds_outside": round(late - _leeway(ev), 3)})]


def _too_early(ev: Evidence, claim: str, cause_id: str) -> list[Finding]:
    at = as_epoch((ev.claims or {}).get(claim))
    if at is None:
        return []
    early = at - ev.now
    skew = early - _leeway(ev)
    text = (f"{claim} is {timestamp(at)}, {duration(early)} after now ({timestamp(ev.now)}{_at_note(ev)}); the "
            f"leeway is {duration(_leeway(ev))}. A freshly issued token from the future means the gateway's clock "
            f"is at least {duration(skew)} behind the IdP's (or the IdP's is ahead).")
    fix = ["Synchronise the clocks of the gateway and the IdP (NTP: chronyc tracking / timedatectl).",
           f"If some skew is unavoidable, raise {ev.issuer_path}.leeway to at least {int(early) + 1} s (max 3600)."]
    return [Finding(cause_id, f"{claim} is {duration(early)} in the future", text, fix,
                    {**_window(ev), "seconds_outside": round(skew, 3)})]


def token_not_yet_valid(ev: Evidence) -> list[Finding]:
    return _too_early(ev, "nbf", "token_not_yet_valid")


def token_iat_invalid(ev: Evidence) -> list[Finding]:
    claims = ev.claims or {}
    iat = as_epoch(claims.get("iat"))
    if iat is not None and iat > ev.now:
        return _too_early(ev, "iat", "token_iat_invalid")
    max_age = ev.issuer.max_token_age if ev.issuer else None
    if iat is None or max_age is None:
        return []
    age = ev.now - iat
    return [Finding(
        "token_iat_invalid", f"The token is {duration(age)} old",
        f"It was issued at {timestamp(iat)}, {duration(age)} ago; {ev.issuer_path}.max_token_age is "
        f"{duration(max_age)}.",
        ["The client must get a new token; or raise max_token_age if such old tokens are acceptable."],
        {**_window(ev), "seconds_outside": round(age - max_age, 3)},
    )]


def skew_warning(ev: Evidence) -> list[Finding]:
    """A token accepted only thanks to the leeway: worth a warning even when allowed."""
    if not ev.claims_verified or ev.code in _TIME_CODES or ev.failed_stage in {"extract", "verify", "validate"}:
        return []
    claims = ev.claims or {}
    exp, nbf, iat = (as_epoch(claims.get(name)) for name in ("exp", "nbf", "iat"))
    if exp is not None and ev.now > exp:
        gap = f"exp passed {duration(ev.now - exp)} ago"
    elif nbf is not None and ev.now < nbf:
        gap = f"nbf is {duration(nbf - ev.now)} ahead"
    elif iat is not None and ev.now < iat:
        gap = f"iat is {duration(iat - ev.now)} ahead"
    else:
        return []
    return [Finding(
        "clock_skew", "Accepted only thanks to the leeway",
        f"{gap}, within the {duration(_leeway(ev))} leeway. Either the client reuses tokens until the last second or "
        "the clocks of gateway and IdP differ.",
        ["Check NTP on the gateway and IdP hosts; make clients refresh earlier."],
        _window(ev), severity="warning",
    )]
