"""Process model: SIGTERM drains in-flight requests; --workers N forks SO_REUSEPORT workers and restarts crashes."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest
from conftest import GatewayProcess
from dp_client import RawClient, eventually, get, roundtrip


async def connect_refused(port: int) -> bool:
    try:
        client = await RawClient.open(port)
    except OSError:
        return True
    await client.close()
    return False


async def test_sigterm_finishes_the_in_flight_request_then_exits_cleanly(
    gateway_process: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_process()
    idle = await RawClient.open(gateway.port)
    await idle.send(get("/idle-first"))
    assert (await idle.read_response()).status == 200
    busy = await RawClient.open(gateway.port)
    await busy.send(get("/slow?delay=0.6"))
    await asyncio.sleep(0.2)
    gateway.proc.send_signal(signal.SIGTERM)
    assert await idle.closed_by_server()
    assert await connect_refused(gateway.port)
    resp = await busy.read_response()
    assert resp.status == 200 and resp.json()["target"] == "/slow?delay=0.6"
    assert resp.header("connection") == "close"
    await busy.close()
    await idle.close()
    assert await asyncio.to_thread(gateway.proc.wait, 10) == 0


async def test_drain_gives_up_after_the_drain_timeout(gateway_process: Callable[..., GatewayProcess]) -> None:
    gateway = gateway_process(listen={"drain_timeout": 0.3})
    client = await RawClient.open(gateway.port)
    await client.send(get("/slow?delay=5"))
    await asyncio.sleep(0.1)
    gateway.proc.send_signal(signal.SIGTERM)
    with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
        await client.read_response(timeout=5)
    await client.close()
    assert await asyncio.to_thread(gateway.proc.wait, 10) == 0


async def worker_pids(port: int, connections: int = 24) -> set[int]:
    """Pids of the workers that answered; a connection queued at a worker as it dies is reset (skipped)."""
    pids = set()
    for _ in range(connections):
        try:
            resp = await roundtrip(port, get("/pid", "X-Test-Pid: 1"))
        except (ConnectionError, asyncio.IncompleteReadError):
            continue
        pids.add(int(resp.upstream_headers()["x-worker-pid"][0]))
    return pids


async def test_two_workers_both_serve_and_a_crashed_one_is_replaced(
    gateway_process: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_process(listen={"workers": 2})
    pids = await worker_pids(gateway.port)
    assert len(pids) == 2 and gateway.proc.pid not in pids
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    replaced = set()
    for _ in range(20):
        replaced = await worker_pids(gateway.port)
        if len(replaced) == 2 and victim not in replaced:
            break
        await asyncio.sleep(0.1)
    assert len(replaced) == 2 and victim not in replaced and max(pids) in replaced
    gateway.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(gateway.proc.wait, 10) == 0
    for pid in replaced:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_workers_stop_when_the_supervisor_is_killed(gateway_process: Callable[..., GatewayProcess]) -> None:
    gateway = gateway_process(listen={"workers": 2})
    pids = await worker_pids(gateway.port)
    gateway.proc.kill()
    gateway.proc.wait(5)

    def all_gone() -> bool:
        return not any(os.path.exists(f"/proc/{pid}") and "Z" not in _state(pid) for pid in pids)

    assert await eventually(all_gone, timeout=10)
    assert await connect_refused(gateway.port)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0]
    except OSError:
        return "Z"
