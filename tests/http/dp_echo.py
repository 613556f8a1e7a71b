"""Standalone echo upstream for data-plane tests (stdlib only): `python dp_echo.py` prints `PORT <n>`.

Answers with JSON describing what it received (method, target, headers in order, body length and
hash). Special paths shape the response: /chunked, /big, /slow, /slow-read, /stall-body,
/close-mid, /close-now, /drop-next (the next request on
that connection is dropped unanswered), /garbage, /status, /eof, /hop, /interim, /dribble,
/big-head, /upstream-rid.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import sys
from urllib.parse import parse_qs, urlsplit

_conn_ids = itertools.count(1)


class Request:
    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]]) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        parts = urlsplit(target)
        self.path = parts.path
        self.args = {k: v[0] for k, v in parse_qs(parts.query).items()}

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return None

    def arg(self, name: str, default: float) -> float:
        return float(self.args.get(name, default))


async def read_head(reader: asyncio.StreamReader) -> Request | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = raw[:-4].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    return Request(method, target, version, headers)


async def read_body(reader: asyncio.StreamReader, req: Request, slow: float) -> tuple[int, str, bytes]:
    digest = hashlib.sha256()
    size = 0
    kept = bytearray()

    def take(data: bytes) -> None:
        nonlocal size
        size += len(data)
        digest.update(data)
        if len(kept) < 65536:
            kept.extend(data[: 65536 - len(kept)])

    if (req.header("transfer-encoding") or "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                await reader.readuntil(b"\r\n")
                break
            take(await reader.readexactly(n))
            await reader.readexactly(2)
            if slow:
                await asyncio.sleep(slow)
    else:
        remaining = int(req.header("content-length") or 0)
        while remaining:
            data = await reader.read(min(remaining, 65536))
            if not data:
                raise ConnectionError("body cut short")
            remaining -= len(data)
            take(data)
            if slow:
                await asyncio.sleep(slow)
    return size, digest.hexdigest(), bytes(kept)


def head_bytes(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def respond(writer: asyncio.StreamWriter, req: Request, conn_id: int, body_info: tuple[int, str, bytes]) -> bool:
    """Write the response; return False when the connection must close."""
    path = req.path
    size, sha, kept = body_info
    if path == "/close-now":
        return False
    if path == "/slow":
        await asyncio.sleep(req.arg("delay", 1.0))
    if path == "/interim":
        writer.write(head_bytes(103, [("Link", "</x>; rel=preload")]))
    if path == "/dribble":  # two interim heads, then the final head, split mid-terminator and mid-field
        pieces = [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r",
            b"\nHTTP/1.1 200 OK\r\nX-Spaced:\t  v1 \t\r\nX-Ok: a:b\r\nX-Emp",
            b"ty:\r\nContent-Length: 7\r\n\r\ndribble",
        ]
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)
        return True
    if path == "/big-head":  # one header field of ``bytes`` bytes, sent in 16 KiB pieces; ``open=1``: never ended
        raw = head_bytes(200, [("X-Big", "z" * int(req.arg("bytes", 70_000))), ("Content-Length", "2")]) + b"ok"
        if req.arg("open", 0):
            raw = raw[: raw.index(b"\r\nContent-Length")]
        for start in range(0, len(raw), 16_384):
            writer.write(raw[start : start + 16_384])
            await writer.drain()
            await asyncio.sleep(0.005)
        if req.arg("open", 0):
            await asyncio.sleep(30)
            return False
        return True
    if path == "/chunked":
        writer.write(head_bytes(200, [("Transfer-Encoding", "chunked")]))
        for i in range(int(req.arg("parts", 3))):
            part = (b"%d-" % i) + b"x" * int(req.arg("size", 10))
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True
    if path == "/big":
        total = int(req.arg("bytes", 1_000_000))
        writer.write(head_bytes(200, [("Content-Length", str(total))]))
        block = b"y" * 65536
        sent = 0
        while sent < total:
            piece = block[: total - sent]
            writer.write(piece)
            sent += len(piece)
            await writer.drain()
        return True
    if path == "/stall-body":
        writer.write(head_bytes(200, [("Content-Length", "100")]) + b"0123456789")
        await writer.drain()
        await asyncio.sleep(30)
        return False
    if path == "/close-mid":
        writer.write(head_bytes(200, [("Content-Length", "1000")]) + b"0123456789")
        await writer.drain()
        return False
    if path == "/status":
        code = int(req.arg("code", 204))
        body = b"" if code in (204, 304) else b"status body"
        headers = [] if code == 204 else [("Content-Length", str(len(body)))]
        writer.write(head_bytes(code, headers) + (b"" if req.method == "HEAD" else body))
        return True
    if path == "/garbage":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        return False
    if path == "/eof":
        writer.write(head_bytes(200, [("Content-Type", "text/plain")]) + b"until-eof-body")
        await writer.drain()
        return False
    extra: list[tuple[str, str]] = []
    if path == "/hop":
        extra = [
            ("Connection", "x-drop-me"),
            ("X-Drop-Me", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("Upgrade", "h2c"),
            ("Trailer", "x-t"),
            ("X-Keep", "1"),
        ]
    if path == "/upstream-rid":
        extra = [("X-Request-ID", "from-upstream")]
    payload = {
        "method": req.method,
        "target": req.target,
        "version": req.version,
        "headers": req.headers,
        "body_len": size,
        "body_sha256": sha,
        "body": kept.decode("latin-1"),
        "conn": conn_id,
    }
    data = json.dumps(payload).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *extra]
    writer.write(head_bytes(200, headers) + (b"" if req.method == "HEAD" else data))
    return True


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn_id = next(_conn_ids)
    drop_next = False
    try:
        while True:
            req = await read_head(reader)
            if req is None or drop_next:
                break
            drop_next = req.path == "/drop-next"
            slow = req.arg("read_delay", 0.0) if req.path == "/slow-read" else 0.0
            body_info = await read_body(reader, req, slow)
            keep = await respond(writer, req, conn_id, body_info)
            await writer.drain()
            if not keep or (req.header("connection") or "").lower() == "close":
                break
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
