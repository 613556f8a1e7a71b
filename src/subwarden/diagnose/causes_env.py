"""Environment drift (``--compare-config``): the token or user belongs to the other config's environment."""

from __future__ import annotations

from subwarden.config.diff import Change, describe_change
from subwarden.diagnose.evidence import CompareEvidence, Evidence
from subwarden.diagnose.report import Finding
from subwarden.diagnose.words import q

#: Which config sections can explain a failure at each stage.
_SECTIONS_BY_STAGE: dict[str, tuple[str, ...]] = {
    "route": ("routes",),
    "extract": ("tokens",),
    "verify": ("issuers", "keys"),
    "validate": ("issuers",),
    "map": ("claim mapping", "normalization"),
    "resolve": ("store", "claim mapping", "normalization", "cache", "timeouts"),
    "revocation": (),
    "authorize": ("routes",),
    "enrich": ("routes", "headers"),
}


def relevant_changes(cmp: CompareEvidence, stage: str | None) -> list[Change]:
    sections = _SECTIONS_BY_STAGE.get(stage or "", ())
    return cmp.diff.in_sections(*sections) if sections else []


def _diff_lines(changes: list[Change]) -> list[str]:
    return [describe_change(c) for c in changes[:12]]


def compare_findings(ev: Evidence) -> list[Finding]:
    cmp = ev.compare
    if cmp is None:
        return []
    findings: list[Finding] = []
    iss = (ev.claims or {}).get("iss")
    if not cmp.issuer_here and cmp.issuer_there:
        findings.append(_issuer_elsewhere(ev, cmp, iss))
    other_store = cmp.store_there is not None and cmp.store_there != ev.store_identity
    if ev.code in {"user_not_found", "subject_missing"} and cmp.user_there is not None and other_store:
        findings.append(_user_elsewhere(ev, cmp))
    if not findings and ev.code and cmp.other_verdict == "allowed":
        findings.append(_passes_elsewhere(ev, cmp))
    return findings


def _issuer_elsewhere(ev: Evidence, cmp: CompareEvidence, iss: object) -> Finding:
    changes = [c for c in cmp.diff.in_sections("issuers", "keys")]
    return Finding(
        "issuer_other_environment", "The token belongs to the other environment",
        f"Its issuer {q(iss)} is trusted by {cmp.source} but not by this config: the client got its token from the "
        "other environment's IdP.",
        ["Get the token from this environment's IdP (check the client's authority/realm URL), or, if both "
         "environments must accept it, add the issuer here.", *_diff_lines(changes)],
        {"iss": iss, "other_config": cmp.source, "other_fingerprint": cmp.fingerprint,
         "changes": [c.to_json() for c in changes]},
    )


def _user_elsewhere(ev: Evidence, cmp: CompareEvidence) -> Finding:
    user = cmp.user_there
    assert user is not None
    changes = cmp.diff.in_sections("store", "claim mapping", "normalization")
    lk = cmp.user_there_lookup
    how = f" via {lk.claim}→{lk.attribute} = {q(lk.key)}" if lk else ""
    return Finding(
        "user_other_environment", "The user exists only in the other environment's store",
        f"User {q(user.user_id)} is found in {cmp.store_there or cmp.source}{how}, but not in this config's store "
        f"({ev.store_identity}). The data (or the store the config points at) differs between environments.",
        ["Provision or sync the user into this environment's store, or point identity.store at the right database.",
         *_diff_lines(changes)],
        {"user_id": user.user_id, "other_store": cmp.store_there, "this_store": ev.store_identity,
         "other_config": cmp.source, "changes": [c.to_json() for c in changes]},
    )


def _passes_elsewhere(ev: Evidence, cmp: CompareEvidence) -> Finding:
    changes = relevant_changes(cmp, ev.failed_stage) or cmp.diff.changes
    return Finding(
        "token_other_environment", f"The token passes under {cmp.source} but fails here",
        f"Here it fails with {ev.code} at stage {ev.failed_stage}; under {cmp.source} it is allowed. "
        "The configs differ in: "
        + ("; ".join(_diff_lines(changes)) or "nothing relevant (check the stores' data)") + ".",
        [f"Align this config with {cmp.source} on these differences, or use the token in the environment it "
         "belongs to:", *_diff_lines(changes)],
        {"other_config": cmp.source, "other_verdict": cmp.other_verdict, "changes": [c.to_json() for c in changes]},
    )
