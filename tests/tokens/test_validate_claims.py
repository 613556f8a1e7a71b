"""Validate stage: exp/nbf/iat with leeway, claim types, audience, required claims, claim rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tokens_kit import DROP, ISS, Harness, claims, issuer, make_config, sign

from subwarden.clock import FrozenClock
from subwarden.config.models import IssuerConfig
from subwarden.errors import GatewayError
from subwarden.tokens.claims import ClaimPolicy

Make = Callable[..., Harness]
NOW = 1_800_000_000.0


def policy(**overrides: Any) -> ClaimPolicy:
    return ClaimPolicy(IssuerConfig.model_validate(issuer(**overrides)))


def failure(p: ClaimPolicy, payload: dict[str, Any], now: float = NOW) -> GatewayError:
    with pytest.raises(GatewayError) as err:
        p.check(payload, now)
    return err.value


def base(**extra: Any) -> dict[str, Any]:
    return claims(FrozenClock(NOW), **extra)


def test_accepts_a_token_inside_its_window() -> None:
    policy().check(base(), NOW)


def test_returns_token_expired_beyond_the_leeway_with_how_long_ago() -> None:
    err = failure(policy(leeway=30), base(exp=NOW - 31))
    assert err.code == "token_expired"
    assert err.detail["expired_for"] == 31 and err.detail["leeway"] == 30


def test_accepts_an_expired_token_within_the_leeway() -> None:
    policy(leeway=30).check(base(exp=NOW - 29), NOW)


def test_returns_token_not_yet_valid_if_nbf_is_beyond_the_leeway() -> None:
    err = failure(policy(leeway=10), base(nbf=NOW + 11))
    assert err.code == "token_not_yet_valid" and err.detail["valid_in"] == 11


def test_returns_token_iat_invalid_if_iat_is_in_the_future() -> None:
    err = failure(policy(leeway=10), base(iat=NOW + 60))
    assert err.code == "token_iat_invalid" and err.detail["ahead_by"] == 60


def test_returns_token_iat_invalid_if_older_than_max_token_age() -> None:
    err = failure(policy(max_token_age=3600, leeway=0), base(iat=NOW - 3601))
    assert err.code == "token_iat_invalid" and err.detail["age"] == 3601


def test_max_token_age_needs_an_iat() -> None:
    err = failure(policy(max_token_age=3600), base(iat=DROP))
    assert err.code == "claim_missing" and err.detail["claim"] == "iat"


@pytest.mark.parametrize("value", [str(int(NOW) + 60), True, 1e400, None, [1], {"t": 1}, 10**400])
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_returns_claim_type_invalid_for_a_numeric_date_that_is_not_a_finite_number(claim: str, value: Any) -> None:
    err = failure(policy(required_claims=[]), base(**{claim: value}))
    assert err.code == "claim_type_invalid" and err.detail["claim"] == claim


def test_accepts_fractional_numeric_dates() -> None:
    policy().check(base(exp=NOW + 0.5, iat=NOW - 0.25), NOW)


@pytest.mark.parametrize("aud", ["api", ["other", "api"]])
def test_accepts_an_audience_given_as_string_or_list(aud: Any) -> None:
    policy(audiences=["api", "api2"]).check(base(aud=aud), NOW)


@pytest.mark.parametrize("aud", ["web", ["web", "mobile"], [], DROP])
def test_returns_audience_invalid_if_no_configured_audience_is_present(aud: Any) -> None:
    err = failure(policy(audiences=["api"]), base(aud=aud))
    assert err.code == "audience_invalid" and err.detail["expected"] == ["api"]


@pytest.mark.parametrize("aud", [5, ["api", 5], {"a": 1}])
def test_returns_claim_type_invalid_for_an_aud_of_the_wrong_type(aud: Any) -> None:
    assert failure(policy(audiences=["api"]), base(aud=aud)).code == "claim_type_invalid"


def test_does_not_check_aud_when_no_audience_is_configured() -> None:
    policy(audiences=[]).check(base(aud="anything"), NOW)


@pytest.mark.parametrize("value", [DROP, None])
def test_returns_claim_missing_naming_the_required_claim(value: Any) -> None:
    err = failure(policy(required_claims=["exp", "email"]), base(email=value))
    assert err.code == "claim_missing" and err.detail["claim"] == "email"
    assert "sub" in err.detail["present"]


def test_required_claims_accept_dotted_paths() -> None:
    p = policy(required_claims=["realm_access.roles"])
    p.check(base(realm_access={"roles": ["user"]}), NOW)
    assert failure(p, base(realm_access={})).detail["claim"] == "realm_access.roles"


RULES = [
    ({"claim": "tenant", "equals": "acme"}, {"tenant": "acme"}, {"tenant": "other"}),
    ({"claim": "admin", "equals": True}, {"admin": True}, {"admin": 1}),
    ({"claim": "level", "equals": 1}, {"level": 1}, {"level": True}),
    ({"claim": "env", "one_of": ["prod", "stage"]}, {"env": "stage"}, {"env": "dev"}),
    ({"claim": "scope", "contains": "read"}, {"scope": "openid read"}, {"scope": "openid reader"}),
    ({"claim": "realm.roles", "contains": "user"}, {"realm": {"roles": ["user"]}}, {"realm": {"roles": ["admin"]}}),
    ({"claim": "email", "regex": r"[^@]+@example\.com"}, {"email": "a@example.com"}, {"email": "a@example.com.evil"}),
    ({"claim": "email", "regex": r".+"}, {"email": "x"}, {"email": 5}),
]


@pytest.mark.parametrize(("rule", "good", "bad"), RULES)
def test_claim_rules_hold_or_return_claim_rule_failed(
    rule: dict[str, Any], good: dict[str, Any], bad: dict[str, Any]
) -> None:
    p = policy(claim_rules=[rule])
    p.check(base(**good), NOW)
    err = failure(p, base(**bad))
    assert err.code == "claim_rule_failed" and err.detail["claim"] == rule["claim"]


def test_a_claim_rule_on_an_absent_claim_returns_claim_missing() -> None:
    err = failure(policy(claim_rules=[{"claim": "tenant", "equals": "acme"}]), base())
    assert err.code == "claim_missing" and err.detail == {
        "claim": "tenant",
        "by": "claim_rule",
        "present": err.detail["present"],
    }


async def test_the_validate_stage_uses_the_injected_clock_even_on_cache_hits(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    token = sign(claims(clock))
    assert await h.code(token) is None
    clock.advance(300 + 30)
    ctx = await h.run(token)
    assert ctx.token_cache_hit is True
    assert ctx.error is not None and ctx.error.code == "token_expired"


async def test_records_window_and_audience_facts_when_diagnosing(harness: Make, clock: FrozenClock) -> None:
    h = harness(make_config())
    facts: dict[str, Any] = {}
    clock.advance(400)
    await h.run(sign(claims(FrozenClock(NOW))), facts=facts)
    assert facts["validate.now"] == NOW + 400 and facts["validate.exp_offset"] == -100
    assert facts["validate.leeway"] == 30 and facts["validate.iss_expected"] == ISS
    assert facts["validate.aud_expected"] == ["api"] and facts["validate.aud_actual"] == "api"


def _window_passes(p: ClaimPolicy, payload: dict[str, Any], now: float) -> bool:
    leeway, exp_limit, not_before, iat, age_limit = p.time_window(payload)
    return bool(
        now < exp_limit and now + leeway >= not_before and (age_limit is None or now - iat <= age_limit)
    )


def _check_passes(p: ClaimPolicy, payload: dict[str, Any], now: float) -> bool:
    try:
        p._check_all(payload, now)  # the full check, not its remembered fast path
    except GatewayError:
        return False
    return True


@pytest.mark.parametrize("leeway", [0, 30, 2.5])
@pytest.mark.parametrize("max_age", [None, 100, 0.75])
@pytest.mark.parametrize(
    "times",
    [
        {"exp": int(NOW) + 10, "nbf": int(NOW) - 10, "iat": int(NOW) - 20},
        {"exp": NOW + 10.5, "nbf": NOW - 0.25, "iat": NOW - 0.5},
        {"exp": int(NOW) + 10, "nbf": DROP, "iat": int(NOW) - 1},
        {"exp": int(NOW) + 90, "nbf": int(NOW) + 5, "iat": int(NOW) + 1},
        {"exp": int(NOW) + 90, "nbf": DROP, "iat": DROP},
    ],
)
def test_the_time_window_passes_exactly_when_the_checks_pass(
    leeway: float, max_age: float | None, times: dict[str, Any]
) -> None:
    p = policy(leeway=leeway, max_token_age=max_age, required_claims=[])
    payload = base(**times)
    if max_age is not None and "iat" not in payload:
        assert not _check_passes(p, payload, NOW)  # never admitted, so never given a window
        return
    edges = [NOW]
    for name in ("exp", "nbf", "iat"):
        value = payload.get(name)
        if value is not None:
            edges += [value - leeway, value + leeway]
            if max_age is not None:
                edges.append(value + max_age + leeway)
    for edge in edges:
        for now in (edge - 1, edge - 0.25, edge - 1e-6, edge, edge + 1e-6, edge + 0.25, edge + 1):
            for n in (now, float(now)):
                assert _window_passes(p, payload, n) == _check_passes(p, payload, n), (n, payload)


def test_time_window_numbers_are_floats_when_exact() -> None:
    leeway, exp_limit, not_before, iat, age_limit = policy(leeway=30, max_token_age=60).time_window(
        base(exp=int(NOW) + 300, nbf=DROP, iat=int(NOW))
    )
    assert all(type(x) is float for x in (leeway, exp_limit, not_before, iat, age_limit))
    assert (exp_limit, not_before, age_limit) == (NOW + 330, NOW, 90)
