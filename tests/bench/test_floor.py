"""bench/floor.py (the Python floor target) proxies keep-alive requests whole, and the report turns it into
a CPU budget. No timing is asserted."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import report  # bench/ is on pytest's pythonpath (pyproject.toml)

ROOT = Path(__file__).resolve().parents[2]

BODY = b'{"ok":true}'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _upstream(listener: socket.socket, seen: list[bytes]) -> None:
    """Answers each request head; the second answer arrives in two pieces (head, then body)."""
    conn, _ = listener.accept()
    with conn:
        buffer = b""
        answered = 0
        while answered < 2:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                seen.append(head)
                answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(BODY)
                if answered == 0:
                    conn.sendall(answer + BODY)
                else:
                    conn.sendall(answer)
                    time.sleep(0.05)
                    conn.sendall(BODY)
                answered += 1


@pytest.fixture
def floor() -> Iterator[tuple[int, list[bytes]]]:
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []
    thread = threading.Thread(target=_upstream, args=(listener, seen), daemon=True)
    thread.start()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "floor.py"), "--port", str(port),
         "--upstream-port", str(listener.getsockname()[1])],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        yield port, seen
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        listener.close()


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(BODY):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def test_floor_forwards_each_request_and_frames_split_answers(floor: tuple[int, list[bytes]]) -> None:
    port, seen = floor
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        for n in (1, 2):
            client.sendall(b"GET /r%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
            response = _read_response(client)
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert response.count(BODY) == 1
    assert seen == [b"GET /r1 HTTP/1.1\r\nHost: x", b"GET /r2 HTTP/1.1\r\nHost: x"]


def _summary(key: str, rps_per_cpu: float) -> dict[str, dict[str, float]]:
    return {f"pinned/cached/{key}": {"rps_per_cpu": rps_per_cpu, "rps": rps_per_cpu}}


def test_floor_budget_states_the_goal_as_cpu_per_request() -> None:
    summary = _summary("python-floor", 50_000) | _summary("haproxy", 20_000) | _summary("subwarden", 25_000)
    (line, _) = report._floor_budget(summary)
    # floor 20 µs, HAProxy 50 µs, goal 25 µs: 5 µs above the floor; subwarden 40 µs takes 20.
    assert "floor" in line and "20.0 µs" in line and "HAProxy 50.0 µs" in line and "subwarden 40.0 µs" in line
    assert "2x HAProxy allows 25.0 µs: 5.0 µs above the floor" in line and "which takes 20.0 µs" in line
    assert report.ratios(summary)["pinned/cached subwarden ÷ python-floor"] == 0.5


def test_floor_budget_is_left_out_without_a_floor_run() -> None:
    assert report._floor_budget(_summary("haproxy", 20_000) | _summary("subwarden", 25_000)) == []
