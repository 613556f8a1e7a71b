"""Writes wait for the end of the event-loop pass and leave together; closing never loses them."""

from __future__ import annotations

import asyncio

import pytest

from subwarden.http.clientio import ClientIO
from subwarden.http.outbox import BatchedWrites, Outbox


class Transport(asyncio.Transport):
    """Records what reaches the socket, one entry per send call."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.sends: list[bytes] = []
        self.events: list[str] = []
        self.fail = fail
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.fail:
            raise RuntimeError("transport refused the write")
        self.sends.append(bytes(data))

    def writelines(self, list_of_data: object) -> None:
        if self.fail:
            raise RuntimeError("transport refused the write")
        self.sends.append(b"".join(list_of_data))  # type: ignore[arg-type]

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.events.append("close")
        self.closed = True

    def abort(self) -> None:
        self.events.append("abort")
        self.closed = True


def sender(outbox: Outbox, transport: Transport) -> BatchedWrites:
    protocol = BatchedWrites(outbox)
    protocol.transport = transport
    return protocol


async def test_writes_of_one_pass_leave_together_at_its_end() -> None:
    outbox = Outbox()
    a, b = Transport(), Transport()
    first, second = sender(outbox, a), sender(outbox, b)
    first.write(b"HTTP/1.1 200 OK\r\n")
    second.write(b"GET / HTTP/1.1\r\n\r\n")
    first.writelines((b"content-length: 2\r\n\r\n", b"ok"))
    assert a.sends == [] and b.sends == []  # nothing before the pass ends
    await asyncio.sleep(0)
    assert a.sends == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]  # one send, in write order
    assert b.sends == [b"GET / HTTP/1.1\r\n\r\n"]
    first.write(b"next")
    await asyncio.sleep(0)
    assert a.sends[-1] == b"next" and len(a.sends) == 2


async def test_sending_early_then_writing_again_keeps_order_and_sends_once() -> None:
    outbox = Outbox()
    transport = Transport()
    protocol = sender(outbox, transport)
    protocol.write(b"1")
    protocol.send_pending()  # what a close does first
    protocol.write(b"2")
    await asyncio.sleep(0)
    assert transport.sends == [b"1", b"2"]


async def test_writes_after_closing_or_a_lost_transport_are_dropped() -> None:
    outbox = Outbox()
    transport = Transport()
    protocol = sender(outbox, transport)
    protocol.write(b"kept")
    protocol.send_pending()
    protocol.closing = True
    protocol.write(b"after close")
    lost = sender(outbox, Transport())
    lost.write(b"never sent")
    lost.closed = True  # connection_lost came within the same pass
    await asyncio.sleep(0)
    assert transport.sends == [b"kept"]
    assert lost.transport is not None and lost.transport.sends == []  # type: ignore[attr-defined]
    empty = sender(outbox, Transport())
    empty.writelines(())
    assert empty.pending == [] and outbox._due == []


async def test_a_transport_that_fails_is_aborted_and_the_others_still_send(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox()
    bad, good = Transport(fail=True), Transport()
    failing = sender(outbox, bad)
    failing.write(b"x")
    sender(outbox, good).write(b"y")
    await asyncio.sleep(0)
    assert bad.events == ["abort"] and good.sends == [b"y"]
    assert "sending on a connection failed: RuntimeError" in caplog.text
    failing.write(b"after the failure")  # dropped, as after a close: nothing queued, nothing sent
    assert failing.closing and failing.pending == [] and outbox._due == []


def test_without_a_running_loop_a_write_is_sent_at_once() -> None:
    transport = Transport()
    sender(Outbox(), transport).write(b"now")
    assert transport.sends == [b"now"]


async def test_a_client_connection_that_fails_to_send_is_aborted_and_stops_reading() -> None:
    outbox = Outbox()
    client = ClientIO((1.0, 1.0, 1.0, 1.0), outbox)
    transport = Transport(fail=True)
    client.transport = transport
    client.write(b"HTTP/1.1 200 OK\r\n\r\n")
    await asyncio.sleep(0)
    assert transport.events == ["abort"]
    assert client._stopped and client.closing  # no further request is parsed or answered on it
