"""50 MB bodies stream through a gateway process both ways with back-pressure: its peak memory stays bounded."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from conftest import GatewayProcess
from dp_client import RawClient, get

FIFTY_MB = 50 * 1024 * 1024
#: Far below the 50 MB moved: the gateway may hold a few socket buffers, never the body.
BOUND_KB = 24 * 1024


def peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1))


async def warm_up(port: int) -> None:
    client = await RawClient.open(port)
    await client.send(get("/warm", method="POST", body=b"w" * 100_000) + get("/chunked?parts=50&size=1000"))
    await client.read_response()
    await client.read_response()
    await client.close()


async def test_a_50mb_chunked_upload_to_a_slow_upstream_streams_in_bounded_memory(
    gateway_process: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_process(listen={"limits": {"max_body_bytes": 100 * 1024 * 1024}})
    await warm_up(gateway.port)
    before = peak_rss_kb(gateway.proc.pid)
    client = await RawClient.open(gateway.port)
    await client.send(get("/slow-read?read_delay=0.0005", "Transfer-Encoding: chunked", method="POST"))
    digest = hashlib.sha256()
    block = bytes(range(256)) * 1024
    for _ in range(FIFTY_MB // len(block)):
        digest.update(block)
        await client.send(b"%x\r\n%s\r\n" % (len(block), block))
    await client.send(b"0\r\n\r\n")
    echo = (await client.read_response(timeout=60)).json()
    await client.close()
    assert (echo["body_len"], echo["body_sha256"]) == (FIFTY_MB, digest.hexdigest())
    assert peak_rss_kb(gateway.proc.pid) - before < BOUND_KB


async def test_a_50mb_response_to_a_client_that_reads_late_streams_in_bounded_memory(
    gateway_process: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_process()
    await warm_up(gateway.port)
    before = peak_rss_kb(gateway.proc.pid)
    client = await RawClient.open(gateway.port)
    await client.send(get(f"/big?bytes={FIFTY_MB}"))
    await asyncio.sleep(0.5)  # not reading: the gateway must stop reading the upstream
    head = await client.reader.readuntil(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0] and f"content-length: {FIFTY_MB}".encode() in head.lower()
    received = 0
    while received < FIFTY_MB:
        data = await asyncio.wait_for(client.reader.read(1 << 20), 30)
        assert data, "connection closed early"
        received += len(data)
    await client.close()
    assert received == FIFTY_MB
    assert peak_rss_kb(gateway.proc.pid) - before < BOUND_KB
