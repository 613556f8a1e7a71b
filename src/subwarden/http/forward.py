"""The request head sent upstream: hop-by-hop removed, identity headers strip-then-set, X-Forwarded-*.

Everything that depends only on the route (names to drop, Host lines, path prefixes) is computed
once per route in ``RoutePlan``; per request only the header loop and the joins remain.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from subwarden.errors import InternalError
from subwarden.http.head import RequestHead
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.routing import Route, Target

if TYPE_CHECKING:
    from subwarden.http.upstream import UpstreamPool

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
    }
)
#: Request headers the gateway sets itself (or re-frames), never copied from the client.
MANAGED: Final = frozenset(
    {
        b"host",
        b"content-length",
        b"expect",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"traceparent",
        b"forwarded",
    }
)
_KNOWN_MAX: Final = 16_384  # identity header sets remembered per route
_UNSAFE_VALUE: Final = re.compile(rb"[\x00\r\n]")
_TOKEN: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class Peer:
    """The client end of one connection, as far as forwarding headers care."""

    __slots__ = ("forwarding", "ip", "ip_bytes", "trusted")

    def __init__(self, ip: str, trusted: bool) -> None:
        self.ip = ip
        self.ip_bytes = ip.encode("latin-1")
        self.trusted = trusted
        #: (scheme, host) → rendered X-Forwarded-* lines; an untrusted peer's depend on nothing else.
        self.forwarding: dict[tuple[str, str], bytes] = {}


class TargetPlan:
    __slots__ = ("host_line", "label", "pool", "prefix", "target")

    def __init__(self, target: Target) -> None:
        self.target = target
        #: The data plane's pool for this target, looked up once (``DataPlane.pool_for``).
        self.pool: UpstreamPool | None = None
        self.label = target.authority
        self.host_line = b"host: " + target.authority.encode("latin-1") + b"\r\n"
        self.prefix = target.path_prefix.encode("latin-1")


class RoutePlan:
    """Per-route forwarding data, precomputed at start-up; ``pick`` rotates the targets."""

    __slots__ = ("_drops", "_identity", "_rotation", "drop", "rewrites_path", "route", "targets")

    def __init__(self, route: Route, identity_names: frozenset[bytes] = frozenset()) -> None:
        self.route = route
        self.targets = tuple(TargetPlan(t) for t in route.targets)
        drop = HOP_BY_HOP | MANAGED | route.strip_headers | identity_names
        if not route.forward_authorization:
            drop |= {b"authorization"}
        self.drop = drop
        #: False: the client's request target is forwarded byte for byte (after the target's prefix).
        self.rewrites_path = route.strip_prefix and route.path_prefix != "/"
        self._rotation = itertools.cycle(self.targets)
        #: identity headers → (names to drop, their rendered lines); identity repeats per user.
        self._identity: dict[tuple[tuple[bytes, bytes], ...], tuple[frozenset[bytes], bytes]] = {}
        self._drops: dict[frozenset[bytes], frozenset[bytes]] = {}

    def pick(self) -> TargetPlan:
        return next(self._rotation)

    def identity_part(self, identity: list[tuple[bytes, bytes]]) -> tuple[frozenset[bytes], bytes]:
        """Names to drop from the client's headers and the identity header lines (checked once)."""
        key = tuple(identity)
        known = self._identity.get(key)
        if known is None:
            names = frozenset(name.lower() for name, _ in identity)
            lines: list[bytes] = []
            _append_identity(lines, identity)
            drop = self._drops.get(names)
            if drop is None:
                if len(self._drops) >= _KNOWN_MAX:
                    self._drops.clear()
                drop = self._drops[names] = self.drop | names
            known = (drop, b"".join(lines))
            if len(self._identity) >= _KNOWN_MAX:
                self._identity.clear()
            self._identity[key] = known
        return known


def identity_names(routes: Iterable[Route]) -> frozenset[bytes]:
    """Every header name some route sets from claims or attributes: stripped on all routes."""
    return frozenset(name.lower() for r in routes for name, _ in (*r.claim_headers, *r.attribute_headers))


def request_head(plan: RoutePlan, target: TargetPlan, head: RequestHead, ctx: RequestContext, peer: Peer) -> bytes:
    """The bytes of the request head for ``target`` (body framing included, body not)."""
    if plan.rewrites_path:
        path = target.prefix + plan.route.upstream_path(ctx.path).encode("latin-1")
        if ctx.query:
            path += b"?" + ctx.query.encode("latin-1")
    else:
        path = target.prefix + head.target
    out = [head.method_bytes, b" ", path, b" HTTP/1.1\r\n", target.host_line]
    identity = ctx.identity_headers
    drop, lines = plan.identity_part(identity) if identity else (plan.drop, b"")
    if head.connection_tokens:
        drop = drop | head.connection_tokens
    _copy_client_headers(out, ctx.headers, drop)
    if lines:
        out.append(lines)
    _append_forwarding(out, head, ctx, peer)
    if head.chunked:
        out.append(b"transfer-encoding: chunked\r\n")
    elif head.content_length or head.sends_empty_length:
        out.append(b"content-length: %d\r\n" % head.content_length)
    out.append(b"\r\n")
    return b"".join(out)


def _copy_client_headers(out: list[bytes], headers: list[tuple[bytes, bytes]], drop: frozenset[bytes]) -> None:
    for name, value in headers:
        if name not in drop:
            out += (name, b": ", value, b"\r\n")


def _append_identity(out: list[bytes], identity: list[tuple[bytes, bytes]]) -> None:
    for name, value in identity:
        # The enrich stage already refuses these; a bad one here is a bug, so fail closed.
        if _UNSAFE_VALUE.search(value) or not _TOKEN.fullmatch(name):
            raise InternalError("identity header with a forbidden character", header=name.decode("latin-1"))
        out += (name, b": ", value, b"\r\n")


def _append_forwarding(out: list[bytes], head: RequestHead, ctx: RequestContext, peer: Peer) -> None:
    if peer.trusted:
        xff = b", ".join([*head.xff, peer.ip_bytes]) if head.xff else peer.ip_bytes
        proto = head.fwd_proto or ctx.scheme.encode()
        host = head.fwd_host or ctx.host.encode("latin-1")
        out.append(_forwarding_lines(xff, proto, host))
        for value in head.forwarded:
            out += (b"forwarded: ", value, b"\r\n")
    else:  # what an untrusted peer's lines depend on is only the scheme and Host: rendered once per peer
        key = (ctx.scheme, ctx.host)
        lines = peer.forwarding.get(key)
        if lines is None:
            if len(peer.forwarding) >= 16:
                peer.forwarding.clear()
            host = ctx.host.encode("latin-1")
            lines = peer.forwarding[key] = _forwarding_lines(peer.ip_bytes, ctx.scheme.encode(), host)
        out.append(lines)
    out += (b"x-request-id: ", ctx.request_id.encode(), b"\r\ntraceparent: ", ctx.traceparent.encode(), b"\r\n")


def _forwarding_lines(xff: bytes, proto: bytes, host: bytes) -> bytes:
    lines = b"x-forwarded-for: " + xff + b"\r\nx-forwarded-proto: " + proto + b"\r\n"
    return lines + b"x-forwarded-host: " + host + b"\r\n" if host else lines
