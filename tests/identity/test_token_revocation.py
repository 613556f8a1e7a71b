"""Revocation by jti and by user cut-off; stage 'revocation' raises token_revoked."""

from __future__ import annotations

from pathlib import Path

import pytest
from identity_support import make_config, make_ctx

from subwarden.clock import FrozenClock
from subwarden.errors import TokenRevoked
from subwarden.identity.revocation import InMemoryRevocationList, RevocationStage
from subwarden.identity.stores.base import UserRecord


def test_a_revoked_jti_is_revoked_until_its_expiry_then_forgotten(clock: FrozenClock) -> None:
    revoked = InMemoryRevocationList(clock)
    revoked.revoke_jti("idp", "j1", until=clock.now() + 60)
    assert revoked.is_revoked("idp", "j1", None, None)
    assert not revoked.is_revoked("idp", "j2", None, None)
    assert not revoked.is_revoked("other", "j1", None, None)
    clock.advance(60)
    assert not revoked.is_revoked("idp", "j1", None, None)
    assert revoked.sweep() == 1


def test_a_subject_cut_off_revokes_tokens_issued_before_it_only(clock: FrozenClock) -> None:
    revoked = InMemoryRevocationList(clock)
    cut = clock.now()
    revoked.revoke_subject("idp", "alice", before=cut)
    assert revoked.is_revoked("idp", None, "alice", cut - 1)
    assert not revoked.is_revoked("idp", None, "alice", cut)
    assert not revoked.is_revoked("idp", None, "bob", cut - 1)
    assert not revoked.is_revoked("other", None, "alice", cut - 1)


def test_a_subject_cut_off_revokes_a_token_without_iat(clock: FrozenClock) -> None:
    revoked = InMemoryRevocationList(clock)
    revoked.revoke_subject("idp", "alice", before=clock.now())
    assert revoked.is_revoked("idp", None, "alice", None)


def test_a_later_cut_off_wins_over_an_earlier_one(clock: FrozenClock) -> None:
    revoked = InMemoryRevocationList(clock)
    revoked.revoke_subject("idp", "alice", before=200)
    revoked.revoke_subject("idp", "alice", before=100)
    assert revoked.is_revoked("idp", None, "alice", 150)


def test_expired_jti_entries_are_swept_as_new_ones_arrive(clock: FrozenClock) -> None:
    revoked = InMemoryRevocationList(clock, sweep_every=4)
    for i in range(3):
        revoked.revoke_jti("idp", f"old{i}", until=clock.now() + 1)
    clock.advance(2)
    revoked.revoke_jti("idp", "new", until=clock.now() + 60)
    assert revoked.stats()["revoked_jtis"] == 1


def test_the_stage_returns_token_revoked_for_a_revoked_jti_or_user(tmp_path: Path, clock: FrozenClock) -> None:
    config = make_config(tmp_path / "unused.db")
    revoked = InMemoryRevocationList(clock)
    stage = RevocationStage(revoked)
    iat = int(clock.now()) - 10
    ctx = make_ctx(config, {"sub": "alice", "jti": "j1", "iat": iat})
    ctx.user = UserRecord("alice")
    assert stage.run(ctx) is None
    revoked.revoke_subject("idp", "alice", before=clock.now())
    with pytest.raises(TokenRevoked) as caught:
        stage.run(ctx)
    assert caught.value.detail == {"jti": "j1", "user_id": "alice", "iat": iat}
    other = make_ctx(config, {"sub": "x", "jti": "j2", "iat": iat})
    assert stage.run(other) is None
    revoked.revoke_jti("idp", "j2", until=clock.now() + 60)
    with pytest.raises(TokenRevoked):
        stage.run(other)


def test_the_stage_checks_the_jti_even_when_the_user_is_unknown_on_an_anonymous_route(
    tmp_path: Path, clock: FrozenClock
) -> None:
    config = make_config(tmp_path / "unused.db")
    revoked = InMemoryRevocationList(clock)
    revoked.revoke_jti("idp", "j1", until=clock.now() + 60)
    ctx = make_ctx(config, {"sub": "nobody", "jti": "j1"})
    ctx.anonymous = True
    with pytest.raises(TokenRevoked):
        RevocationStage(revoked).run(ctx)


def test_the_stage_ignores_a_request_without_a_token(tmp_path: Path, clock: FrozenClock) -> None:
    ctx = make_ctx(make_config(tmp_path / "unused.db"), None)
    ctx.anonymous = True
    assert RevocationStage(InMemoryRevocationList(clock)).run(ctx) is None
