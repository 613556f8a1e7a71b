"""The admission memo: a repeat of an admitted token answers as every stage would, and anything that can
change between two requests (the clock, revocations, the user cache, keys, the route) is re-checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from admission_kit import (
    FIELDS,
    admit,
    code,
    gateway_config,
    learnt,
    memoized,
    request,
    set_status,
    stages_only,
    started,
    token,
    users_db,
)

from subwarden.clock import FrozenClock
from subwarden.pipeline.gateway import Gateway
from subwarden.pipeline.stage import Pipeline


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return users_db(tmp_path / "users.db")


@pytest.fixture
async def gateway(db: Path, clock: FrozenClock) -> Gateway:
    gw = await started(gateway_config(db), clock)
    yield gw  # type: ignore[misc]
    await gw.close()


async def test_a_repeat_is_answered_by_the_memo_with_every_field_the_stages_set(
    gateway: Gateway, clock: FrozenClock
) -> None:
    tok = token(clock)
    first = await admit(gateway, tok)
    assert code(first) is None and not first.admission_memo
    second = await admit(gateway, tok)  # the token's second sighting: verified-cache hit, learnt
    assert second.token_cache_hit and not second.admission_memo
    clock.advance(1.5)  # the user-cache age moves on: both answers must show it
    memo = await admit(gateway, tok)
    stages = await stages_only(gateway, tok)
    assert memo.admission_memo and not stages.admission_memo
    for field in FIELDS:
        assert getattr(memo, field) == getattr(stages, field), field
    assert memo.cache_state == "hit" and memo.cache_age == pytest.approx(1.5)
    assert memo.identity_headers == [(b"X-User-Id", b"alice"), (b"X-User-Roles", b"user,admin"), (b"X-Tenant", b"t1")]
    assert memo.identity_headers is not stages.identity_headers
    assert list(stages.timings) == [s.name for s in gateway.pipeline.stages]
    assert memo.timings == {}  # no stage ran (docs/records.md)
    assert gateway.identity.stats()["admission_memo_hits"] == 1


async def test_a_token_seen_once_leaves_no_entry_and_its_second_sighting_is_learnt(
    gateway: Gateway, clock: FrozenClock
) -> None:
    memo = gateway.pipeline.memo
    assert memo is not None
    once = [token(clock, jti=str(i)) for i in range(5)]
    for tok in once:
        assert code(await admit(gateway, tok)) is None
    assert len(memo) == 0  # per-request tokens never cost an entry
    second = await admit(gateway, once[0])
    assert second.token_cache_hit and not second.admission_memo and len(memo) == 1
    assert (await admit(gateway, once[0])).admission_memo


async def test_a_token_seen_once_leaves_nothing_in_the_per_claims_caches(gateway: Gateway, clock: FrozenClock) -> None:
    stages = {stage.name: stage for stage in gateway.pipeline.stages}
    tok = token(clock)
    first = await admit(gateway, tok)
    assert code(first) is None and not first.token_cache_hit
    policy = first.issuer.policy  # type: ignore[union-attr]
    remembered = (stages["map"]._known, stages["enrich"]._known, policy._passed)  # type: ignore[attr-defined]
    assert [len(cache) for cache in remembered] == [0, 0, 0]  # a new token's claims dict never comes back
    second = await admit(gateway, tok)
    assert second.token_cache_hit and [len(cache) for cache in remembered] == [1, 1, 1]


async def test_a_memo_hit_counts_the_cache_hits_the_stages_would_count(gateway: Gateway, clock: FrozenClock) -> None:
    tok = token(clock)
    await learnt(gateway, tok)
    users, verified = gateway.identity.cache, gateway.tokens.cache
    before = (users.hits, verified.hits, verified.misses)
    await stages_only(gateway, tok)
    by_stages = (users.hits - before[0], verified.hits - before[1], verified.misses - before[2])
    before = (users.hits, verified.hits, verified.misses)
    assert (await admit(gateway, tok)).admission_memo
    assert (users.hits - before[0], verified.hits - before[1], verified.misses - before[2]) == by_stages == (1, 1, 0)


async def test_the_token_expires_on_the_memo_exactly_when_the_stages_would_say_so(
    db: Path, clock: FrozenClock
) -> None:
    gw = await started(gateway_config(db, cache={"positive_ttl": 3600}), clock)
    try:
        tok = token(clock)  # exp = now + 300, leeway 30
        await learnt(gw, tok)
        clock.advance(329.5)
        assert (await admit(gw, tok)).admission_memo
        clock.advance(0.5)  # now == exp + leeway: expired
        ctx = await admit(gw, tok)
        assert code(ctx) == "token_expired" == code(await stages_only(gw, tok))
        assert not ctx.admission_memo and ctx.failed_stage == "validate"
    finally:
        await gw.close()


async def test_a_max_token_age_is_enforced_on_a_memo_hit(db: Path, clock: FrozenClock) -> None:
    gw = await started(gateway_config(db, issuer={"max_token_age": 100}, cache={"positive_ttl": 3600}), clock)
    try:
        tok = token(clock, exp=int(clock.now()) + 3600)
        await learnt(gw, tok)
        clock.advance(130)  # max_token_age + leeway: still inside
        assert (await admit(gw, tok)).admission_memo
        clock.advance(0.25)
        ctx = await admit(gw, tok)
        assert code(ctx) is not None and code(ctx) == code(await stages_only(gw, tok))
        assert not ctx.admission_memo
    finally:
        await gw.close()


async def test_a_token_revoked_after_it_was_memoized_is_refused_on_the_next_request(
    gateway: Gateway, clock: FrozenClock
) -> None:
    tok = token(clock, jti="j-1")
    other = token(clock, sub="bob", jti="j-2")
    for t in (tok, other, tok, other):
        await admit(gateway, t)
    gateway.identity.revocations.revoke_jti("idp", "j-1", clock.now() + 600)
    ctx = await admit(gateway, tok)
    assert code(ctx) == "token_revoked" and ctx.failed_stage == "revocation" and not ctx.admission_memo
    assert (await admit(gateway, other)).admission_memo  # another token's revocation refuses only that one


async def test_a_subject_revoked_after_it_was_memoized_is_refused_on_the_next_request(
    gateway: Gateway, clock: FrozenClock
) -> None:
    tok = token(clock)
    await memoized(gateway, tok)
    gateway.identity.revocations.revoke_subject("idp", "alice", clock.now() + 1)
    assert code(await admit(gateway, tok)) == "token_revoked"


class SharedRevocations:
    """A revocation list without a generation counter (as a shared one may be): asked on every request."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.asked = 0

    def revoke_jti(self, issuer: str, jti: str, until: float) -> None:
        self.revoked.add(jti)

    def revoke_subject(self, issuer: str, user_id: str, before: float) -> None:
        raise NotImplementedError

    def is_revoked(self, issuer_label: str, jti: str | None, user_id: str | None, iat: float | None) -> bool:
        self.asked += 1
        return jti in self.revoked


async def test_a_revocation_list_without_a_generation_is_asked_on_every_memo_hit(
    db: Path, clock: FrozenClock
) -> None:
    revocations = SharedRevocations()
    gw = await started(gateway_config(db), clock, revocations=revocations)
    try:
        tok = token(clock, jti="j-1")
        await learnt(gw, tok)
        asked = revocations.asked
        assert (await admit(gw, tok)).admission_memo and revocations.asked == asked + 1
        revocations.revoked.add("j-1")
        assert code(await admit(gw, tok)) == "token_revoked"
    finally:
        await gw.close()


async def test_an_expired_user_cache_entry_goes_through_the_store_again(gateway: Gateway, clock: FrozenClock) -> None:
    tok = token(clock)
    await learnt(gateway, tok)
    clock.advance(59.9)
    assert (await admit(gateway, tok)).admission_memo
    misses = gateway.identity.cache.misses
    clock.advance(0.1)  # positive_ttl reached
    ctx = await admit(gateway, tok)
    assert not ctx.admission_memo and ctx.cache_state == "miss"
    assert gateway.identity.cache.misses == misses + 1
    assert (await admit(gateway, tok)).admission_memo  # learnt again from the fresh entry


async def test_a_user_disabled_in_the_store_is_refused_once_the_cached_entry_expires(
    gateway: Gateway, db: Path, clock: FrozenClock
) -> None:
    tok = token(clock)
    await learnt(gateway, tok)
    set_status(db, "alice", "disabled")
    clock.advance(30)
    ctx = await admit(gateway, tok)  # within the TTL the cached user answers, with or without the memo
    assert ctx.admission_memo and code(ctx) is None and code(await stages_only(gateway, tok)) is None
    clock.advance(30)
    ctx = await admit(gateway, tok)
    assert code(ctx) == "user_disabled" and ctx.cache_state == "miss"
    assert code(await admit(gateway, tok)) == "user_disabled"  # and stays refused (nothing memoized)


@pytest.mark.parametrize("how", ["user", "subject", "all"])
async def test_an_admin_invalidation_takes_effect_on_the_very_next_request(
    gateway: Gateway, db: Path, clock: FrozenClock, how: str
) -> None:
    tok = token(clock)
    await memoized(gateway, tok)
    set_status(db, "alice", "locked")
    identity = gateway.identity
    dropped = {
        "user": lambda: identity.cache.invalidate_user("alice"),
        "subject": lambda: identity.invalidate_subject("idp", "alice"),
        "all": identity.cache.invalidate_all,
    }[how]()
    assert dropped == 1
    ctx = await admit(gateway, tok)
    assert code(ctx) == "user_locked" and ctx.cache_state == "miss" and not ctx.admission_memo


async def test_routes_with_different_requirements_never_share_an_answer(gateway: Gateway, clock: FrozenClock) -> None:
    bob = token(clock, sub="bob")  # roles: user
    alice = token(clock)  # roles: user, admin
    for _ in range(3):
        assert code(await admit(gateway, bob, "/orders")) is None
        denied = await admit(gateway, bob, "/admin/panel")
        assert code(denied) == "insufficient_role" and denied.route is not None and denied.route.name == "admin"
        assert code(await admit(gateway, alice, "/admin/panel")) is None
    assert (await admit(gateway, bob, "/orders")).admission_memo
    assert (await admit(gateway, alice, "/admin/panel")).admission_memo


async def test_a_gateway_built_from_a_changed_config_does_not_reuse_an_earlier_answer(
    db: Path, clock: FrozenClock
) -> None:
    tok = token(clock, sub="bob")
    before = await started(gateway_config(db), clock)
    after = await started(gateway_config(db, open_auth={"required_roles": ["admin"]}), clock)
    try:
        for _ in range(2):
            assert code(await admit(before, tok)) is None
        assert code(await admit(after, tok)) == "insufficient_role"
    finally:
        await before.close()
        await after.close()


async def test_a_retired_key_sends_the_repeat_back_through_verification(gateway: Gateway, clock: FrozenClock) -> None:
    tok = token(clock)
    await admit(gateway, tok)
    verified = gateway.tokens.cache.peek(tok)
    assert verified is not None
    verified.key.retired = True  # as a JWKS refresh does when the key disappears
    try:
        ctx = await admit(gateway, tok)
        assert not ctx.admission_memo and not ctx.token_cache_hit
    finally:
        verified.key.retired = False


async def test_a_token_dropped_from_the_verified_cache_is_verified_again(gateway: Gateway, clock: FrozenClock) -> None:
    tok = token(clock)
    await memoized(gateway, tok)
    gateway.tokens.cache.discard(tok)
    ctx = await admit(gateway, tok)
    assert code(ctx) is None and not ctx.admission_memo and not ctx.token_cache_hit


async def test_a_token_evicted_from_the_verified_cache_is_verified_again(db: Path, clock: FrozenClock) -> None:
    gw = await started(gateway_config(db, tokens={"verified_cache_size": 1}), clock)
    try:
        first, second = token(clock, jti="1"), token(clock, jti="2")
        await admit(gw, first)
        await admit(gw, second)  # evicts the first token's verification
        ctx = await admit(gw, first)
        assert code(ctx) is None and not ctx.admission_memo and not ctx.token_cache_hit
    finally:
        await gw.close()


async def test_a_fallback_match_is_memoized_while_the_negative_entry_before_it_is_fresh(
    db: Path, clock: FrozenClock
) -> None:
    mapping = [{"claim": "sub", "attribute": "user_id"}, {"claim": "email", "attribute": "email"}]
    gw = await started(gateway_config(db, issuer={"mapping": mapping}), clock)
    try:
        tok = token(clock, sub="a-renamed-subject", email="alice@example.com")
        first = await admit(gw, tok)
        assert code(first) is None and first.mapping_fallback and first.user is not None
        await admit(gw, tok)  # learnt on its second sighting
        negatives = gw.identity.cache.negative_hits
        memo = await admit(gw, tok)
        stages = await stages_only(gw, tok)
        assert memo.admission_memo
        for field in FIELDS:
            assert getattr(memo, field) == getattr(stages, field), field
        assert gw.identity.cache.negative_hits == negatives + 2  # one by the memo, one by the stages
        clock.advance(5)  # negative_ttl: the first candidate must be asked again
        misses = gw.identity.cache.misses
        ctx = await admit(gw, tok)
        assert not ctx.admission_memo and gw.identity.cache.misses == misses + 1 and ctx.mapping_fallback
    finally:
        await gw.close()


async def test_diagnose_facts_and_tracers_always_get_the_per_stage_view(gateway: Gateway, clock: FrozenClock) -> None:
    tok = token(clock)
    await learnt(gateway, tok)
    facts: dict[str, object] = {}
    ctx = await admit(gateway, tok, facts=facts)
    assert not ctx.admission_memo and "map.candidates" in facts

    seen: list[str] = []

    class Tracer:
        def stage_done(self, name: str, ctx: object, elapsed_ns: int, error: object) -> None:
            seen.append(name)

    gateway.pipeline.tracer = Tracer()
    try:
        ctx = await admit(gateway, tok)
        assert not ctx.admission_memo and seen == [s.name for s in gateway.pipeline.stages]
    finally:
        gateway.pipeline.tracer = None
    traced = Pipeline(gateway.pipeline.stages, Tracer())  # as diagnose builds it: no memo at all
    assert traced.memo is None


async def test_a_second_authorization_header_is_never_answered_from_the_memo(
    gateway: Gateway, clock: FrozenClock
) -> None:
    tok = token(clock)
    await memoized(gateway, tok)
    twice = request(tok)
    twice.headers.append((b"authorization", f"Bearer {tok}".encode()))
    assert gateway.pipeline.admit(twice) is None
    assert code(twice) is None and not twice.admission_memo  # the same token twice is allowed, by the stages
    conflict = request(tok)
    conflict.headers.append((b"authorization", f"Bearer {token(clock, sub='bob')}".encode()))
    assert gateway.pipeline.admit(conflict) is None
    assert code(conflict) == "token_conflict" and not conflict.admission_memo


async def test_the_memo_stays_within_its_bound(db: Path, clock: FrozenClock) -> None:
    gw = await started(gateway_config(db, tokens={"verified_cache_size": 3}), clock)
    try:
        memo = gw.pipeline.memo
        assert memo is not None and memo.max_entries == 3
        for i in range(5):
            await learnt(gw, token(clock, jti=str(i)))
        assert len(memo) == 3
    finally:
        await gw.close()


@pytest.mark.parametrize(
    ("tokens", "cache"),
    [
        ({"cookie": "session"}, {}),
        ({"verified_cache_size": 0}, {}),
        ({}, {"positive_ttl": 0}),
        ({}, {"max_entries": 0}),
    ],
)
async def test_no_memo_where_it_could_never_answer_or_a_cookie_could_conflict(
    db: Path, clock: FrozenClock, tokens: dict[str, object], cache: dict[str, object]
) -> None:
    gw = await started(gateway_config(db, tokens=tokens, cache=cache), clock)
    try:
        assert gw.pipeline.memo is None
        tok = token(clock)
        assert [code(await admit(gw, tok)) for _ in range(2)] == [None, None]
    finally:
        await gw.close()
