"""Serving the control plane with uvicorn inside the gateway's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the gateway (which drains both planes)."""

    serve_task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_admin(app: ASGIApp, host: str, port: int) -> uvicorn.Server:
    """Bind ``host:port`` (0 = any free port), start serving ``app`` and return once it accepts connections.

    A bind failure raises ``OSError`` here. Stop it with ``stop_admin(server)``.
    """
    sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    config = uvicorn.Config(
        app, lifespan="off", access_log=False, log_level="warning", timeout_graceful_shutdown=5,
        server_header=False, proxy_headers=False,
    )
    server = _EmbeddedServer(config)
    server.serve_task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="subwarden-admin")
    while not server.started:
        if server.serve_task.done():
            sock.close()
            server.serve_task.result()  # re-raise the startup failure
            raise RuntimeError("the admin server stopped during start-up")
        await asyncio.sleep(0.01)
    return server


def bound_port(server: uvicorn.Server) -> int:
    """The port the server listens on (useful after binding port 0)."""
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


async def stop_admin(server: uvicorn.Server) -> None:
    """Stop accepting, finish in-flight requests (uvicorn's graceful timeout) and wait for the shutdown."""
    server.should_exit = True
    task = getattr(server, "serve_task", None)
    if task is not None:
        await task
