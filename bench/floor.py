"""The floor of any Python proxy on this machine: uvloop, one upstream connection per client, no auth.

Not a product and not a gateway: it forwards each request head unchanged and frames the answer by its
Content-Length, with no header checks, routing, identity or records. What it costs per request is
what the event loop, the sockets and the kernel cost; whatever subwarden spends above it is its own
work. Run by the harness as the ``python-floor`` target (pinned layout), one process:

    python bench/floor.py --port 8081 --upstream-port 8080

Enough HTTP for the harness's loads only (GET without a body, upstream answers with Content-Length);
anything else closes the connection.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import cast

import uvloop

_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"
_MAX_HEAD = 65_536


class Upstream(asyncio.Protocol):
    """Answers from the upstream, passed to the client whole (a response at a time)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while buffer:
            end = buffer.find(_END)
            if end < 0:
                break
            start = buffer.lower().find(_LENGTH, 0, end)
            if start < 0:
                self.client.close()
                return
            line_end = buffer.find(b"\r\n", start + 2)
            total = end + 4 + int(buffer[start + len(_LENGTH) : line_end])
            if len(buffer) < total:
                break
            self.client.send(buffer[:total])
            buffer = buffer[total:]
        self.buffer = buffer

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class Client(asyncio.Protocol):
    """Requests from wrk: queued until the upstream connection is up, then written straight through."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.buffer = b""
        self.waiting: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            upstream, _ = await asyncio.get_running_loop().create_connection(
                lambda: Upstream(self), "127.0.0.1", self.upstream_port)
        except OSError:
            self.close()
            return
        self.upstream = upstream
        if self.transport is None or self.transport.is_closing():  # the client left while we connected
            upstream.close()
            return
        for head in self.waiting:
            upstream.write(head)
        self.waiting.clear()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while (end := buffer.find(_END)) >= 0:
            head, buffer = buffer[: end + 4], buffer[end + 4 :]
            if self.upstream is None:
                self.waiting.append(head)
            else:
                self.upstream.write(head)
        if len(buffer) > _MAX_HEAD:
            self.close()
        self.buffer = buffer

    def send(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)

    def close(self) -> None:
        for transport in (self.transport, self.upstream):
            if transport is not None and not transport.is_closing():
                transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()


async def serve(port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(upstream_port), "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"python-floor listening on 127.0.0.1:{port} -> 127.0.0.1:{upstream_port}", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.upstream_port))


if __name__ == "__main__":
    main()
