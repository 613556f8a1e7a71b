"""The users every backend fixture seeds, so the contract suite asks every store the same questions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeedUser:
    user_id: str
    status: str = "active"
    roles: tuple[str, ...] = ()
    email: str | None = None
    name: str | None = None


ZOE_NFC = "Zo\u00eb"
ZOE_NFD = "Zoe\u0308"
META_ID = "*)(uid=*"
ESCAPED_STAR_ID = "\\2a"
QUOTE_ID = "o'brien"

USERS: tuple[SeedUser, ...] = (
    SeedUser("alice", roles=("admin", "dev"), email="alice@example.com", name="Alice Liddell"),
    SeedUser("bob", roles=("dev",), email="bob@example.com", name="Bob Builder"),
    SeedUser(ZOE_NFC, roles=("dev",), email="zoe@example.com", name="Zo\u00eb Kravitz"),
    SeedUser("dave", status="disabled", email="dave@example.com", name="Dave"),
    SeedUser("erin", status="locked", email="erin@example.com", name="Erin"),
    SeedUser("frank", status="deleted", email="frank@example.com", name="Frank"),
    SeedUser(META_ID, roles=("odd",), email="meta@example.com", name="Meta Characters"),
    SeedUser(ESCAPED_STAR_ID, email="backslash@example.com", name="Backslash"),
    SeedUser(QUOTE_ID, email="obrien@example.com", name="Pat O'Brien"),
)

#: The lookup attributes every backend maps (attribute → its field name differs per backend).
ATTRIBUTES = ("user_id", "email")
