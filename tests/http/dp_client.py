"""Raw-socket HTTP/1.1 client for data-plane tests: bytes in, bytes out, plus a strict response reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, framing: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        #: "length", "chunked", "close" or "none": how the body was delimited on the wire.
        self.framing = framing

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)

    def upstream_headers(self) -> dict[str, list[str]]:
        """For echo responses: request header name (lower) → values the upstream received."""
        seen: dict[str, list[str]] = {}
        for name, value in self.json()["headers"]:
            seen.setdefault(name.lower(), []).append(value)
        return seen

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers!r}, {self.body[:200]!r})"


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_response(self, *, head_request: bool = False, timeout: float = 5.0) -> Response:
        return await asyncio.wait_for(self._read_response(head_request), timeout)

    async def _read_response(self, head_request: bool) -> Response:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw[:-4].decode("latin-1").split("\r\n")
        version, status, _ = (lines[0] + " ").split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip(), f"malformed header line {line!r}"
            headers.append((name, value.strip()))
        code = int(status)
        response = Response(code, headers, b"", "none")
        if head_request or code < 200 or code in (204, 304):
            return response
        te = response.header("transfer-encoding")
        if te is not None:
            assert te.lower() == "chunked" and response.header("content-length") is None
            response.body, response.framing = await self._read_chunked(), "chunked"
        elif response.header("content-length") is not None:
            response.body = await self.reader.readexactly(int(response.header("content-length") or 0))
            response.framing = "length"
        else:
            response.body, response.framing = await self.reader.read(), "close"
        return response

    async def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line[:-2], 16)
            if size == 0:
                assert await self.reader.readuntil(b"\r\n") == b"\r\n"
                return bytes(body)
            body += await self.reader.readexactly(size)
            assert await self.reader.readexactly(2) == b"\r\n"

    async def read_all(self, timeout: float = 5.0) -> bytes:
        """Everything until the server closes the connection."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(1), timeout)
        except (ConnectionResetError, BrokenPipeError):
            return True
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def get(path: str = "/", *headers: str, method: str = "GET", host: str = "gw.test", body: bytes = b"") -> bytes:
    """A request as bytes; extra header lines are given verbatim ("Name: value")."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *headers]
    if body and not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def roundtrip(port: int, data: bytes, *, head_request: bool = False) -> Response:
    client = await RawClient.open(port)
    try:
        await client.send(data)
        return await client.read_response(head_request=head_request)
    finally:
        await client.close()


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds (state that settles asynchronously, e.g. a closed connection)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
