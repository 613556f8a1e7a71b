"""run_admin serves inside the caller's event loop and stops cleanly; a taken port fails at once."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette

from subwarden.admin.server import bound_port, run_admin, stop_admin


async def test_run_admin_serves_in_this_loop_and_stop_admin_closes_the_port() -> None:
    server = await run_admin(Starlette(), "127.0.0.1", 0)
    port = bound_port(server)
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 404
    await stop_admin(server)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/")


async def test_run_admin_raises_oserror_if_the_port_is_taken() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken, pytest.raises(OSError):
        await run_admin(Starlette(), "127.0.0.1", taken.getsockname()[1])
