"""CPU per proxied request in-process, without sockets: the part of the cost that is subwarden's own Python.

A real gateway (as `serve` builds it: records and metrics on) handles requests fed straight into its
client connection objects; the upstream side is a pooled connection fed a canned response. Socket
syscalls and the event loop are not in the number, so it is steady enough to compare one change
with the next (the wrk runs in `run.py` remain the measurement that counts).

    .venv/bin/python bench/hotpath.py [--requests 60000] [--records-off] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from confs import subwarden as subwarden_conf  # noqa: E402
from subwarden.config.loader import parse_config  # noqa: E402
from subwarden.http.connection import ClientConnection  # noqa: E402
from subwarden.http.server import DataPlane  # noqa: E402
from subwarden.http.upstream import UpstreamConnection  # noqa: E402
from subwarden.pipeline.context import RequestContext  # noqa: E402
from subwarden.pipeline.stage import Pipeline  # noqa: E402
from subwarden.serve import build_serving_gateway  # noqa: E402
from tokens import ensure_keys, read_tokens, token_file  # noqa: E402
from users import user_ids, write_sqlite  # noqa: E402

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 09:21:01 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 23\r\nConnection: keep-alive\r\n\r\n"
    b'{"ok":true,"user":"u1"}'
)


class FakeTransport(asyncio.Transport):
    """Takes writes like a socket (one copy each) and keeps only the last, for error messages; never blocks.

    Keeping them all grew and trimmed the heap every batch, and the page faults (~9 % of the samples)
    were the harness's, not the gateway's.
    """

    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.out = [bytes(data)]

    def writelines(self, parts: Any) -> None:
        self.out = [b"".join(parts)]

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _config(work: Path, records: bool, users: int) -> Any:
    keys = ensure_keys(work / "keys")
    db = work / "users.db"
    write_sqlite(db, user_ids(users))
    text = subwarden_conf(
        port=0, admin_port=0, upstream_port=9, workers=1, public_jwks=keys.public_jwks, users_db=db,
        records_db=(work / "records.db") if records else None,
    )
    data = yaml.safe_load(text)
    data["admin"]["enabled"] = False
    return parse_config(data), keys


async def _run(args: argparse.Namespace) -> None:
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    (work / "records.db").unlink(missing_ok=True)
    config, keys = _config(work, not args.records_off, args.users)
    tokens = read_tokens(token_file(keys, work, f"cached-{args.users}", user_ids(args.users)))
    gateway = build_serving_gateway(config)
    await gateway.start()
    plane = DataPlane(gateway, config.listen)
    plane.loop = asyncio.get_running_loop()
    pool = next(iter(plane._pools.values()))
    for _ in range(args.connections):
        upstream = UpstreamConnection(pool)
        upstream.connection_made(FakeTransport())
        pool.release(upstream)
    conns = []
    for _ in range(args.connections):
        conn = ClientConnection(plane)
        conn.connection_made(FakeTransport())
        conns.append(conn)
    requests = [_request(t) for t in tokens]
    writer = next(r for r in gateway.runtimes if hasattr(r, "flush_sync"))
    if args.new_tokens:  # every measured request carries a token never seen before (its user is cached)
        new = read_tokens(token_file(keys, work, f"new-{args.requests}", user_ids(args.users) * (
            -(-args.requests // args.users))))
        measured = [_request(t) for t in new[:args.requests]]
    else:
        measured = [requests[i % len(requests)] for i in range(args.requests)]

    flush = plane.outbox.flush

    def one(i: int, raw: bytes) -> None:
        conn = conns[i % len(conns)]
        conn.data_received(raw)
        flush()  # the end of the loop pass: the request goes to the upstream
        exchange = conn.queue[0]
        upstream = exchange.upstream
        if upstream is None:
            raise RuntimeError(f"request {i} not forwarded: {conn.transport.out[-1][:300]!r}")
        upstream.data_received(RESPONSE)
        flush()  # and the response to the client

    def batch(start: int, items: list[bytes]) -> None:
        for i, raw in enumerate(items, start):
            one(i, raw)
            if i % 512 == 511:
                writer.flush_sync()

    # Every token twice: verified and its user cached (awaiting the store), then learnt by the admission memo.
    for i in range(2 * len(requests)):
        conn = conns[i % len(conns)]
        conn.data_received(requests[i % len(requests)])
        for _ in range(1000):
            if conn.queue[0].upstream is not None:
                break
            await asyncio.sleep(0.001)
        conn.queue[0].upstream.data_received(RESPONSE)
    writer.flush_sync()
    await asyncio.sleep(0)
    if args.plane_only:
        _stub_admission(gateway, requests)
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    profiler = cProfile.Profile() if args.profile else None
    t0 = time.process_time()
    if profiler:
        profiler.enable()
    batch(len(requests), measured)
    if profiler:
        profiler.disable()
    cpu = time.process_time() - t0
    what = "data plane only" if args.plane_only else f"records {'off' if args.records_off else 'on'}"
    what += ", every token new" if args.new_tokens else ""
    print(f"{args.requests} requests, {what}: "
          f"{cpu / args.requests * 1e6:.1f} us CPU per request (in-process, no sockets)")
    last = conns[(len(requests) + args.requests - 1) % len(conns)].transport.out
    if args.show and last:
        print(last[-1].decode("latin-1"))
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    await gateway.close()


def _request(token: str) -> bytes:
    return b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n"


class _AdmittedStub:
    """Admission replaced by one stage copying a precomputed result: what is left is the data plane's own cost."""

    name = "stub"

    def __init__(self, route: Any, identity: dict[bytes, list[tuple[bytes, bytes]]]) -> None:
        self.route, self.identity = route, identity

    def run(self, ctx: Any) -> None:
        ctx.route = self.route
        ctx.identity_headers = self.identity[ctx.headers[1][1]]


def _stub_admission(gateway: Any, requests: list[bytes]) -> None:
    identity: dict[bytes, list[tuple[bytes, bytes]]] = {}
    route = gateway.routes.routes[0]
    for raw in requests:
        auth = raw.split(b"Authorization: ", 1)[1].split(b"\r\n", 1)[0]
        ctx = RequestContext("GET", "/bench", [(b"host", b"x"), (b"authorization", auth)], host="x")
        pending = gateway.pipeline.admit(ctx)
        if pending is not None or ctx.error is not None:
            raise RuntimeError("warm-up left a token unadmitted")
        identity[auth] = ctx.identity_headers
    gateway.pipeline = Pipeline([_AdmittedStub(route, identity)])
    gateway.record = lambda ctx: None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=60_000)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--records-off", action="store_true", help="records.sqlite off (metrics still on)")
    p.add_argument("--plane-only", action="store_true", help="admission and records stubbed: the data plane alone")
    p.add_argument("--new-tokens", action="store_true", help="every measured request a never-seen token")
    p.add_argument("--profile", action="store_true", help="cProfile the measured requests")
    p.add_argument("--work", type=Path, default=HERE / "results" / "tmp" / "hotpath", help="keys, tokens, dbs")
    p.add_argument("--show", action="store_true", help="print the last response")
    args = p.parse_args()
    uvloop.run(_run(args))


if __name__ == "__main__":
    main()
