"""The data plane: accepts client connections, shares per-route plans and upstream pools, sweeps timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Coroutine
from typing import Any, Final

from subwarden.config.models import ListenConfig
from subwarden.http.connection import ClientConnection, ParseLimits
from subwarden.http.forward import Peer, RoutePlan, TargetPlan, identity_names
from subwarden.http.ids import IdSource
from subwarden.http.outbox import Outbox
from subwarden.http.problem import ProblemRenderer
from subwarden.http.upstream import UpstreamPool
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.gateway import Gateway
from subwarden.pipeline.routing import Route

log = logging.getLogger("subwarden.http")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: How long a closing connection keeps discarding client input after its last response.
LINGER_SECONDS: Final = 2.0


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, non-blocking TCP socket (SO_REUSEPORT when several workers share the port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


class DataPlane:
    """HTTP/1.1 proxy core for one worker process; ``start`` listens, ``drain`` stops gracefully."""

    def __init__(self, gateway: Gateway, listen: ListenConfig) -> None:
        self.gateway = gateway
        self.listen = listen
        limits = listen.limits
        self.parse_limits = ParseLimits(limits.max_header_bytes, limits.max_headers, limits.max_pipelined)
        self.renderer = ProblemRenderer(gateway.config.errors)
        self.ids = IdSource()
        self.outbox = Outbox()
        self.timeouts = (0.0, limits.header_timeout, limits.body_timeout, limits.idle_timeout, LINGER_SECONDS)
        self.draining = False
        self.loop: asyncio.AbstractEventLoop
        self._trusted: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in listen.trusted_proxies
        )
        routes = gateway.routes.routes
        self._identity_names = identity_names(routes)
        self._plans: dict[Route, RoutePlan] = {route: RoutePlan(route, self._identity_names) for route in routes}
        self._pools: dict[str, UpstreamPool] = {}
        for route in gateway.routes.routes:
            for target in route.targets:
                self._pool(target.host, target.port, route.pool_size)
        self._conns: set[ClientConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._empty = asyncio.Event()
        read_timeouts = [r.read_timeout for r in gateway.routes.routes]
        self._tick = min(1.0, max(0.02, min([*self.timeouts[1:4], *read_timeouts]) / 4))

    @property
    def connections(self) -> int:
        return len(self._conns)

    async def start(self, sock: socket.socket | None = None) -> int:
        """Listen on ``sock`` (or bind ``listen.host:listen.port``); returns the bound port."""
        self.loop = asyncio.get_running_loop()
        if sock is None:
            sock = bind_socket(self.listen.host, self.listen.port)
        self._server = await self.loop.create_server(
            lambda: ClientConnection(self), sock=sock, backlog=self.listen.backlog
        )
        self._timer = self.loop.call_later(self._tick, self._sweep)
        port: int = sock.getsockname()[1]
        return port

    async def drain(self) -> None:
        """Stop accepting, finish in-flight requests up to ``listen.drain_timeout``, then close."""
        if self.draining:
            return
        self.draining = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.drain()
        if self._conns:
            self._empty.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), self.listen.drain_timeout)
        for conn in list(self._conns):
            conn.abort()
        await asyncio.sleep(0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        if self._timer is not None:
            self._timer.cancel()
        for pool in self._pools.values():
            pool.close()

    # ------------------------------------------------------------ used by connections and exchanges
    def attach(self, conn: ClientConnection) -> None:
        self._conns.add(conn)
        if self.draining:
            conn.drain()

    def detach(self, conn: ClientConnection) -> None:
        self._conns.discard(conn)
        if not self._conns:
            self._empty.set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def record(self, ctx: RequestContext) -> None:
        try:
            self.gateway.record(ctx)
        except Exception:
            log.exception("recording a request failed")

    def plan_for(self, route: Route) -> RoutePlan:
        plan = self._plans.get(route)
        if plan is None:
            plan = self._plans[route] = RoutePlan(route, self._identity_names)
        return plan

    def pool_for(self, target: TargetPlan) -> UpstreamPool:
        pool: UpstreamPool | None = target.pool
        if pool is None:
            pool = target.pool = self._pool(target.target.host, target.target.port, 256)
        return pool

    def _pool(self, host: str, port: int, size: int) -> UpstreamPool:
        key = f"{host}:{port}"
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = UpstreamPool(host, port, size, self.outbox)
        else:
            pool.max_idle = max(pool.max_idle, size)
        return pool

    def is_trusted(self, ip: str) -> bool:
        if not self._trusted or not ip:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self._trusted)

    def client_ip(self, peer: Peer, xff: tuple[bytes, ...]) -> str:
        """The peer, or behind trusted proxies the right-most X-Forwarded-For address not trusted."""
        if not peer.trusted or not xff:
            return peer.ip
        hops = [h.strip().decode("latin-1") for value in xff for h in value.split(b",")]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop
        return hops[0] if hops else peer.ip

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self._conns):
            try:
                conn.check_timeouts(now)
            except Exception:
                log.exception("timeout handling failed")
                conn.abort()
        self._timer = self.loop.call_at(now + self._tick, self._sweep)
