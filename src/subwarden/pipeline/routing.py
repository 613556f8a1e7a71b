"""Route table: compiled once at start-up, matched per request by host, path prefix and method."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from subwarden.config.models import AuthPolicy, GatewayConfig, RouteConfig
from subwarden.errors import RouteNotFound
from subwarden.pipeline.context import RequestContext


@dataclass(frozen=True, slots=True)
class Target:
    """One upstream server: where to connect and which path prefix to prepend."""

    host: str
    port: int
    path_prefix: str

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, parts.path.rstrip("/"))


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """A compiled route: everything per-request work needs, precomputed."""

    name: str
    host: str | None
    path_prefix: str
    methods: frozenset[str]
    targets: tuple[Target, ...]
    connect_timeout: float
    read_timeout: float
    pool_size: int
    strip_prefix: bool
    max_body_bytes: int
    auth: AuthPolicy
    #: Lower-case header names removed from the client request (identity headers + route strips).
    strip_headers: frozenset[bytes]
    forward_authorization: bool
    claim_headers: tuple[tuple[bytes, str], ...]
    attribute_headers: tuple[tuple[bytes, str], ...]

    def matches_path(self, path: str) -> bool:
        prefix = self.path_prefix
        if prefix == "/":
            return True
        return path == prefix or (path.startswith(prefix) and path[len(prefix)] == "/")

    def upstream_path(self, path: str) -> str:
        if self.strip_prefix and self.path_prefix != "/":
            path = path[len(self.path_prefix):] or "/"
        return path


def compile_route(rc: RouteConfig, config: GatewayConfig) -> Route:
    strip = {h.lower().encode("latin-1") for h in config.headers.identity_headers}
    strip |= {h.lower().encode("latin-1") for h in rc.headers.strip}
    strip |= {config.headers.user_id.lower().encode(), config.headers.roles.lower().encode()}
    strip |= {h.lower().encode() for h in rc.headers.set_from_claims}
    strip |= {h.lower().encode() for h in rc.headers.set_from_attributes}
    return Route(
        name=rc.name,
        host=rc.match.host.lower() if rc.match.host else None,
        path_prefix=rc.match.path_prefix.rstrip("/") or "/",
        methods=frozenset(m.upper() for m in rc.match.methods),
        targets=tuple(Target.parse(t) for t in rc.upstream.targets),
        connect_timeout=rc.upstream.connect_timeout,
        read_timeout=rc.upstream.read_timeout,
        pool_size=rc.upstream.pool_size,
        strip_prefix=rc.upstream.strip_prefix,
        max_body_bytes=rc.max_body_bytes if rc.max_body_bytes is not None else config.listen.limits.max_body_bytes,
        auth=rc.auth,
        strip_headers=frozenset(strip),
        forward_authorization=rc.headers.forward_authorization,
        claim_headers=tuple((h.encode(), c) for h, c in rc.headers.set_from_claims.items()),
        attribute_headers=tuple((h.encode(), a) for h, a in rc.headers.set_from_attributes.items()),
    )


class RouteTable:
    """Routes ordered most specific first: host-bound before any-host, longer prefixes first."""

    __slots__ = ("_always", "_checks", "_host_bound", "routes")

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(
            sorted(routes, key=lambda r: (r.host is None, -len(r.path_prefix), not r.methods))
        )
        #: Without a host-bound route the Host header never decides: skip normalizing it.
        self._host_bound = any(r.host is not None for r in self.routes)
        self._checks = tuple((r, r.host, r.methods, r.path_prefix) for r in self.routes)
        #: A first route taking any host, method and path is every request's answer (first match wins).
        first = self.routes[0] if self.routes else None
        catch_all = first is not None and first.host is None and not first.methods and first.path_prefix == "/"
        self._always = first if catch_all else None

    def match(self, host: str, path: str, method: str) -> Route | None:
        if self._always is not None:
            return self._always
        if self._host_bound:
            host = host.rsplit(":", 1)[0].lower() if host and not host.startswith("[") else host.lower()
        for route, route_host, methods, prefix in self._checks:
            if route_host is not None and route_host != host:
                continue
            if methods and method not in methods:
                continue
            # Route.matches_path, inlined: segment-aware prefix.
            if prefix == "/" or path == prefix or (path.startswith(prefix) and path[len(prefix)] == "/"):
                return route
        return None

    @classmethod
    def from_config(cls, config: GatewayConfig) -> RouteTable:
        return cls([compile_route(rc, config) for rc in config.routes])


class RouteStage:
    """Stage 'route': pick the route; everything after it reads its policy."""

    name = "route"

    def __init__(self, table: RouteTable) -> None:
        self.table = table

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        route = self.table.match(ctx.host, ctx.path, ctx.method)
        if route is None:
            raise RouteNotFound(host=ctx.host, path=ctx.path, method=ctx.method)
        ctx.route = route
        ctx.fact("route", route.name)
        return None
