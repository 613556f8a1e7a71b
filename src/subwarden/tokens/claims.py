"""Claim checks of one issuer, compiled once from config (pure: claims and a time in, an error out)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

from subwarden.config.models import ClaimRule, IssuerConfig
from subwarden.errors import (
    AudienceInvalid,
    ClaimMissing,
    ClaimRuleFailed,
    ClaimTypeInvalid,
    TokenExpired,
    TokenIssuedInFuture,
    TokenNotYetValid,
)

_MISSING: Final[Any] = object()
_SHOWN_CHARS: Final = 120


def claim_value(claims: dict[str, Any], name: str) -> Any:
    """The claim ``name`` (a literal key first, then a dotted path), or ``_MISSING``."""
    value = claims.get(name, _MISSING)
    if value is not _MISSING or "." not in name:
        return value
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def is_missing(value: Any) -> bool:
    return value is _MISSING


def shown(value: Any) -> Any:
    """A claim value small enough for a record (strings and lists truncated)."""
    if isinstance(value, str):
        return value[:_SHOWN_CHARS]
    if isinstance(value, list):
        return [shown(v) for v in value[:10]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return f"({type(value).__name__})"


_PASSED_MAX: Final = 65_536  # claim sets remembered as passed (the verified-token cache holds the dicts anyway)
_MAX_DATE: Final = 10**18  # beyond this no NumericDate is sane, and int + float could overflow


def _finite(value: Any) -> float | int | None:
    """``value`` if it is a finite JSON number (not a bool) within ±1e18, else None."""
    kind = type(value)
    if kind is int:
        return value if -_MAX_DATE < value < _MAX_DATE else None
    if kind is float and math.isfinite(value):
        return value if -_MAX_DATE < value < _MAX_DATE else None
    return None


def _exact_float(value: Any) -> Any:
    """``value`` as a float when that is the same number (comparisons then stay exact), else unchanged."""
    if type(value) is int:
        as_float = float(value)
        return as_float if as_float == value else value
    return value


def numeric_date(claims: dict[str, Any], name: str) -> float | int | None:
    """A NumericDate claim; None if absent; ``ClaimTypeInvalid`` for strings, bools, inf, NaN, absurd sizes."""
    value = claims.get(name, _MISSING)
    if value is _MISSING:
        return None
    number = _finite(value)
    if number is not None:
        return number
    raise ClaimTypeInvalid(
        f"{name} is not a finite JSON number", claim=name, json_type=type(value).__name__, value=shown(value)
    )


def _same(a: Any, b: Any) -> bool:
    # JSON true is not 1: compare bools only with bools.
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    claim: str
    kind: str
    expected: Any
    pattern: re.Pattern[str] | None

    @classmethod
    def from_config(cls, rule: ClaimRule) -> CompiledRule:
        for kind in ("equals", "one_of", "contains", "regex"):
            expected = getattr(rule, kind)
            if expected is not None:
                pattern = re.compile(expected) if kind == "regex" else None
                return cls(rule.claim, kind, expected, pattern)
        raise ValueError("claim rule without a condition")

    def holds(self, value: Any) -> bool:
        if self.kind == "equals":
            return _same(value, self.expected)
        if self.kind == "one_of":
            return any(_same(value, e) for e in self.expected)
        if self.kind == "contains":
            items = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
            return any(_same(item, self.expected) for item in items)
        return isinstance(value, str) and self.pattern is not None and self.pattern.fullmatch(value) is not None

    def check(self, claims: dict[str, Any]) -> None:
        value = claim_value(claims, self.claim)
        if value is _MISSING:
            raise ClaimMissing(
                f"claim {self.claim} (needed by a claim rule) is absent",
                claim=self.claim,
                by="claim_rule",
                present=sorted(claims)[:50],
            )
        if not self.holds(value):
            raise ClaimRuleFailed(
                f"claim {self.claim} fails {self.kind}",
                claim=self.claim,
                rule=self.kind,
                expected=self.expected,
                actual=shown(value),
            )


class ClaimPolicy:
    """An issuer's claim checks: required claims, exp/nbf/iat with leeway, audience, rules."""

    __slots__ = (
        "_age_limit", "_leeway_float", "_passed", "audiences", "issuer", "leeway", "max_age", "required", "rules",
    )

    def __init__(self, config: IssuerConfig) -> None:
        self.issuer = config.issuer
        self.required = tuple(config.required_claims)
        self.leeway = config.leeway
        self.max_age = config.max_token_age
        self.audiences = frozenset(config.audiences)
        self.rules = tuple(CompiledRule.from_config(r) for r in config.claim_rules)
        # time_window's per-issuer numbers, made once (shared by every window of this issuer).
        self._leeway_float = _exact_float(self.leeway)
        self._age_limit = None if self.max_age is None else _exact_float(self.max_age + self.leeway)
        #: id(claims) → (claims, exp, nbf, iat) of claim sets that passed: only the clock can fail them now.
        self._passed: dict[int, tuple[dict[str, Any], Any, Any, Any]] = {}

    def check(self, claims: dict[str, Any], now: float, remember: bool = True) -> None:
        """Raise the first failing check's catalog error; return None if every check holds.

        ``remember``: keep the passed claim set so a repeat re-checks only the clock (off for a dict
        that will not come back, such as a new token's)."""
        known = self._passed.get(id(claims))
        if known is not None and known[0] is claims:
            _, exp, nbf, iat = known
            leeway = self.leeway
            if (exp is None or now < exp + leeway) and (nbf is None or now + leeway >= nbf) and (
                iat is None or (iat <= now + leeway and (self.max_age is None or now - iat <= self.max_age + leeway))
            ):
                return
        self._check_all(claims, now)
        if not remember:
            return
        passed = self._passed
        if len(passed) >= _PASSED_MAX:
            passed.clear()
        passed[id(claims)] = (claims, claims.get("exp"), claims.get("nbf"), claims.get("iat"))

    def time_window(self, claims: dict[str, Any]) -> tuple[Any, Any, Any, Any, Any]:
        """``(leeway, exp_limit, not_before, iat, age_limit)`` of claims that passed ``check``.

        With ``n = now + leeway`` the claims still pass at ``now`` exactly when ``now < exp_limit and
        n >= not_before and (age_limit is None or now - iat <= age_limit)``: the comparisons ``check`` makes,
        on the same numbers (``not_before`` is the larger of nbf and iat; an absent bound is ±inf). Numbers
        are floats where that is exact, so those comparisons take CPython's float fast path (the admission
        memo re-checks with them on every request).
        """
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        leeway = self.leeway
        lower = max(-math.inf if nbf is None else nbf, -math.inf if iat is None else iat)
        return (
            self._leeway_float,
            math.inf if exp is None else _exact_float(exp + leeway),
            _exact_float(lower),
            None if iat is None else _exact_float(iat),
            self._age_limit,
        )

    def _check_all(self, claims: dict[str, Any], now: float) -> None:
        for name in self.required:
            value = claims.get(name)
            if value is None:
                value = claim_value(claims, name)
            if value is _MISSING or value is None:
                raise ClaimMissing(
                    f"required claim {name} is absent", claim=name, by="required_claims", present=sorted(claims)[:50]
                )
        self._check_times(claims, now)
        if self.audiences:
            self._check_audience(claims.get("aud"))
        for rule in self.rules:
            rule.check(claims)

    def _check_times(self, claims: dict[str, Any], now: float) -> None:
        leeway = self.leeway
        exp = numeric_date(claims, "exp")
        if exp is not None and now >= exp + leeway:
            raise TokenExpired("token expired", exp=exp, now=now, expired_for=round(now - exp, 3), leeway=leeway)
        nbf = numeric_date(claims, "nbf")
        if nbf is not None and now + leeway < nbf:
            raise TokenNotYetValid("token not yet valid", nbf=nbf, now=now, valid_in=round(nbf - now, 3), leeway=leeway)
        iat = numeric_date(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise TokenIssuedInFuture(
                "iat is in the future", iat=iat, now=now, ahead_by=round(iat - now, 3), leeway=leeway
            )
        if self.max_age is not None:
            if iat is None:
                raise ClaimMissing(
                    "iat is needed for max_token_age", claim="iat", by="max_token_age", present=sorted(claims)[:50]
                )
            if now - iat > self.max_age + leeway:
                raise TokenIssuedInFuture(
                    "token older than max_token_age",
                    iat=iat,
                    now=now,
                    age=round(now - iat, 3),
                    max_token_age=self.max_age,
                    leeway=leeway,
                )

    def _check_audience(self, aud: Any) -> None:
        if isinstance(aud, str):
            if aud in self.audiences:
                return
        elif isinstance(aud, list):
            if not all(isinstance(a, str) for a in aud):
                raise ClaimTypeInvalid("aud list holds a non-string", claim="aud", json_type="list")
            if not self.audiences.isdisjoint(aud):
                return
        elif aud is not None:
            raise ClaimTypeInvalid("aud is neither a string nor a list", claim="aud", json_type=type(aud).__name__)
        raise AudienceInvalid("no accepted audience in aud", expected=sorted(self.audiences), actual=shown(aud))

    def facts(self, claims: dict[str, Any], now: float) -> dict[str, Any]:
        """What diagnose shows: the clock, the time claims and how far inside/outside the window, iss/aud."""
        out: dict[str, Any] = {"now": now, "leeway": self.leeway}
        for name, sign in (("exp", 1), ("nbf", -1), ("iat", -1)):
            value = claims.get(name)
            out[name] = shown(value)
            number = _finite(value)
            if number is not None:
                # exp: seconds left (negative = expired); nbf/iat: seconds since (negative = in the future).
                out[f"{name}_offset"] = round(sign * (number - now), 3)
        out["iss_expected"], out["iss_actual"] = self.issuer, shown(claims.get("iss"))
        out["aud_expected"], out["aud_actual"] = sorted(self.audiences), shown(claims.get("aud"))
        if self.max_age is not None:
            out["max_token_age"] = self.max_age
        return out
