"""Fixtures for data-plane tests: a real echo upstream process, dead and black-hole ports, gateways on uvloop."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from dp_stages import make_config, make_gateway

from subwarden.config.models import GatewayConfig
from subwarden.http.server import DataPlane, bind_socket
from subwarden.pipeline.context import RequestContext

HERE = Path(__file__).parent


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    return {"uvloop": uvloop.new_event_loop}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def echo_port() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, str(HERE / "dp_echo.py")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"echo upstream did not start: {line!r}")
    yield int(line.split()[1])
    proc.terminate()
    proc.wait(5)


@pytest.fixture(scope="session")
def dead_port() -> int:
    """A port nothing listens on: connecting is refused."""
    return free_port()


@pytest.fixture(scope="session")
def blackhole_port() -> Iterator[int]:
    """A listener whose accept queue is full: new connects hang (a connect timeout on loopback)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for s in [*fillers, server]:
        s.close()


class Running:
    def __init__(self, plane: DataPlane, port: int, config: GatewayConfig, records: list[RequestContext]) -> None:
        self.plane = plane
        self.port = port
        self.config = config
        self.records = records


GatewayFactory = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_gateway(echo_port: int, dead_port: int, blackhole_port: int) -> AsyncIterator[GatewayFactory]:
    started: list[Running] = []

    async def start(**sections: Any) -> Running:
        config = make_config(echo_port, dead_port, blackhole_port, **sections)
        records: list[RequestContext] = []
        plane = DataPlane(make_gateway(config, records.append), config.listen)
        port = await plane.start(bind_socket("127.0.0.1", 0))
        running = Running(plane, port, config, records)
        started.append(running)
        return running

    yield start
    for running in started:
        await running.plane.drain()


@pytest.fixture
async def gw(start_gateway: GatewayFactory) -> Running:
    return await start_gateway()


class GatewayProcess:
    """The gateway as a child process (``serve``), for signals, workers and memory measurements."""

    def __init__(self, config: dict[str, Any], port: int) -> None:
        self.port = port
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "dp_gateway.py"), json.dumps(config)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early: {self.stderr()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not start listening")

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read() if self.proc.poll() is not None else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def gateway_process(echo_port: int, dead_port: int, blackhole_port: int) -> Iterator[Callable[..., GatewayProcess]]:
    procs: list[GatewayProcess] = []

    def spawn(**sections: Any) -> GatewayProcess:
        port = free_port()
        listen = {"host": "127.0.0.1", "port": port, **sections.pop("listen", {})}
        config = make_config(echo_port, dead_port, blackhole_port, listen=listen, **sections)
        proc = GatewayProcess(config.model_dump(mode="json", exclude_none=True), port)
        procs.append(proc)
        proc.wait_listening()
        return proc

    yield spawn
    for proc in procs:
        proc.stop()
