"""Stage 'enrich': the identity headers sent upstream (user id, roles, claim and attribute headers).

A value carrying a control character (CR, LF, NUL, any C0/C1 control or DEL)
never reaches a header: it is dropped and noted. Stripping the client's own
identity headers is the data plane's job (``route.strip_headers``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any, Final

from subwarden.config.models import HeadersConfig
from subwarden.identity.claims import claim_value
from subwarden.pipeline.context import RequestContext

_KNOWN_MAX: Final = 65_536  # (route, user, claims, roles) header sets remembered
_Known = tuple[Any, Any, Any, tuple[tuple[bytes, bytes], ...]]
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def header_text(value: Any) -> str | None:
    """A claim or attribute as header text: strings and numbers as is, lists comma-joined; else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        parts = [header_text(v) for v in value if not isinstance(v, (list, tuple, dict))]
        return ",".join(p for p in parts if p is not None)
    return None


class EnrichStage:
    """Fills ``ctx.identity_headers``; counts dropped values in ``dropped``."""

    name = "enrich"

    def __init__(self, headers: HeadersConfig) -> None:
        self.user_id_header = headers.user_id.encode("latin-1")
        self.roles_header = headers.roles.encode("latin-1")
        self.dropped = 0
        #: (id route, id user, id claims, roles) → (route, user, claims, headers) for clean header sets.
        self._known: dict[tuple[int, int, int, tuple[str, ...]], _Known] = {}

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        user = ctx.user
        if ctx.anonymous or user is None:
            ctx.identity_headers = []
            return None
        if ctx.facts is None:
            route, claims = ctx.route, ctx.claims
            key = (id(route), id(user), id(claims), ctx.roles)
            known = self._known.get(key)
            if known is not None and known[0] is route and known[1] is user and known[2] is claims:
                ctx.identity_headers = list(known[3])
                return None
            # A dropped value is counted per request: not remembered; nor is a new token's claims dict,
            # which never comes round again (the admission memo asks only for a cached token's).
            if not self._build(ctx, user) and ctx.token_cache_hit:
                if len(self._known) >= _KNOWN_MAX:
                    self._known.clear()
                self._known[key] = (route, user, claims, tuple(ctx.identity_headers))
            return None
        self._build(ctx, user)
        return None

    def clean_headers(
        self, route: Any, user: Any, claims: Any, roles: tuple[str, ...]
    ) -> tuple[tuple[bytes, bytes], ...] | None:
        """The remembered header set of (route, user, claims, roles) if it was built with no value dropped."""
        known = self._known.get((id(route), id(user), id(claims), roles))
        if known is None or known[0] is not route or known[1] is not user or known[2] is not claims:
            return None
        return known[3]

    def _build(self, ctx: RequestContext, user: Any) -> int:
        """Fill ``ctx.identity_headers``; returns how many values were dropped."""
        dropped: list[str] = []
        out: list[tuple[bytes, bytes]] = []
        self._add(out, dropped, self.user_id_header, user.user_id)
        if ctx.roles:
            self._add(out, dropped, self.roles_header, ",".join(ctx.roles))
        route = ctx.route
        if route is not None:
            claims = ctx.claims or {}
            for name, claim in route.claim_headers:
                self._add(out, dropped, name, header_text(claim_value(claims, claim)))
            for name, attribute in route.attribute_headers:
                self._add(out, dropped, name, header_text(user.attributes.get(attribute)))
        ctx.identity_headers = out
        if dropped:
            self.dropped += len(dropped)
            ctx.fact("enrich.dropped", dropped)
        if ctx.facts is not None:
            ctx.fact("enrich.headers", [name.decode("latin-1") for name, _ in out])
        return len(dropped)

    @staticmethod
    def _add(out: list[tuple[bytes, bytes]], dropped: list[str], name: bytes, value: str | None) -> None:
        if value is None or value == "":
            return
        if not value.isprintable() and _CONTROL.search(value) is not None:
            dropped.append(name.decode("latin-1"))
            return
        out.append((name, value.encode("utf-8")))

    def stats(self) -> dict[str, float]:
        return {"identity_header_values_dropped": self.dropped}
